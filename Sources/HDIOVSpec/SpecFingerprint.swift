/// A spec's identity for the modules generated from it: a hash of everything the model holds
/// (not of the YAML text, so comments and key order do not change it).
extension DeviceSpec {
    /// The model as one line per value, in a fixed order.
    public var canonicalText: String {
        var lines = [
            "module \(module)", "description \(description)", "pfs \(pfs)", "queue_pairs \(queuePairs)",
            "max_vdevs \(maxVdevs)", "max_qps_per_vdev \(maxQpsPerVdev)", "max_ring \(maxRing)",
            "max_xfer \(maxXfer)", "engine_threads \(engineThreads)", "idle_polls \(idlePolls)",
            "pci \(pci.vendor) \(pci.device) \(pci.classCode) \(pci.subsystemVendor) \(pci.subsystemDevice) \(pci.revision)",
            "ops \(ops.map(\.rawValue).joined(separator: ","))",
        ]
        for type in types {
            let qps: String
            switch type.queuePairs {
            case .fixed(let n): qps = "fixed \(n)"
            case .flex(let d): qps = "flex \(d)"
            }
            lines.append("type \(type.id) \(type.name) \(qps) \(type.ops.map(\.rawValue).joined(separator: ","))")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// FNV-1a 64 of `canonicalText`, as 16 hex digits: the module's `hdiov_spec_hash`.
    public var fingerprint: String {
        let h = canonicalText.utf8.reduce(UInt64(14695981039346656037)) { ($0 ^ UInt64($1)) &* 1099511628211 }
        let s = String(h, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
