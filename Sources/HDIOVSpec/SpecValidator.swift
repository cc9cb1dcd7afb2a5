import Yams

/// Turns a composed spec (a Yams node tree) into a `DeviceSpec`, reporting every problem.
///
/// Each key is checked on its own and gives nil when it is wrong; keys that depend on
/// another (`max_qps_per_vdev` on `queue_pairs`, a type's ops on the device's ops) use a
/// fallback when that other key is wrong, so one mistake is reported once. The
/// `DeviceSpec` is built only when nothing was wrong.
struct SpecValidator {
    var sink: DiagnosticSink

    init(file: String) {
        sink = DiagnosticSink(file: file)
    }

    static let topKeys = [
        "module", "description", "pfs", "queue_pairs", "max_vdevs", "max_qps_per_vdev",
        "max_ring", "max_xfer", "engine", "pci", "ops", "types",
    ]
    static let engineKeys = ["threads", "idle_polls"]

    mutating func validate(_ root: Node) -> DeviceSpec? {
        guard let top = MappingReader(root, path: .root, what: "spec keys (module, types, …)",
                                      allowedKeys: Self.topKeys, sink: &sink)
        else { return nil }

        let module = moduleName(top)
        let description = optionalCString(top, "description", maxLength: SpecLimits.descriptionMaxLength,
                                          default: SpecLimits.defaultDescription)
        let pfs = optionalInteger(top, "pfs", .from(SpecLimits.pfs), default: SpecLimits.defaultPfs)
        let queuePairs = optionalInteger(top, "queue_pairs", .from(SpecLimits.queuePairs),
                                         default: SpecLimits.defaultQueuePairs)
        let maxVdevs = optionalInteger(top, "max_vdevs", .from(SpecLimits.maxVdevs),
                                       default: SpecLimits.defaultMaxVdevs)
        let maxQps = maxQpsPerVdev(top, queuePairs: queuePairs)
        let maxRing = optionalInteger(top, "max_ring", .powerOfTwo(SpecLimits.maxRing),
                                      default: SpecLimits.defaultMaxRing)
        let maxXfer = optionalInteger(top, "max_xfer", .from(SpecLimits.maxXfer, note: "16 MiB"),
                                      default: SpecLimits.defaultMaxXfer)
        let engine = engineSettings(top)
        let pci = pciIdentity(top)
        let ops = deviceOps(top)
        let typeBound = maxQps ?? SpecLimits.defaultMaxQpsPerVdev(queuePairs: queuePairs ?? SpecLimits.queuePairs.upperBound)
        let types = mdevTypes(top, maxQps: typeBound, poolQueuePairs: queuePairs,
                              deviceOps: ops ?? Operation.allCases)
        if let queuePairs, let maxVdevs { warnAboutUnreachableVdevs(top, queuePairs: queuePairs, maxVdevs: maxVdevs) }

        guard !sink.hasErrors, let module, let description, let pfs, let queuePairs, let maxVdevs,
              let maxQps, let maxRing, let maxXfer, let engine, let pci, let ops, let types
        else { return nil }
        return DeviceSpec(
            module: module, description: description, pfs: pfs, queuePairs: queuePairs,
            maxVdevs: maxVdevs, maxQpsPerVdev: maxQps, maxRing: maxRing, maxXfer: maxXfer,
            engineThreads: engine.threads, idlePolls: engine.idlePolls, pci: pci, ops: ops, types: types)
    }

    /// `max_qps_per_vdev`: 1…min(256, queue_pairs), default min(256, queue_pairs).
    private mutating func maxQpsPerVdev(_ top: MappingReader, queuePairs: Int?) -> Int? {
        let cap = SpecLimits.maxQpsPerVdevCap
        let bound = min(cap, queuePairs ?? cap)
        var rule = IntegerRule.from(1...bound, note: bound < cap ? "queue_pairs" : nil)
        rule.hint = { value in
            if let queuePairs, value > queuePairs {
                return "a VDEV cannot have more queue pairs than its parent's pool (queue_pairs: \(queuePairs))"
            }
            if value > cap {
                return "QP i's registers sit at BAR0 0x1000 + 0x40*i, below the MSI-X table at 0x8000; the device caps VDEVs at \(cap) queue pairs"
            }
            return nil
        }
        let fallback = SpecLimits.defaultMaxQpsPerVdev(queuePairs: queuePairs ?? SpecLimits.defaultQueuePairs)
        return optionalInteger(top, "max_qps_per_vdev", rule, default: fallback)
    }

    private mutating func engineSettings(_ top: MappingReader) -> (threads: Int, idlePolls: Int)? {
        guard let node = top.value("engine") else {
            return (SpecLimits.defaultEngineThreads, SpecLimits.defaultIdlePolls)
        }
        guard let engine = MappingReader(node, path: .root.child("engine"), what: "engine settings (threads, idle_polls)",
                                         allowedKeys: Self.engineKeys, sink: &sink)
        else { return nil }
        let threads = optionalInteger(engine, "threads", .from(SpecLimits.engineThreads),
                                      default: SpecLimits.defaultEngineThreads)
        let idlePolls = optionalInteger(engine, "idle_polls", .from(SpecLimits.idlePolls),
                                        default: SpecLimits.defaultIdlePolls)
        guard let threads, let idlePolls else { return nil }
        return (threads, idlePolls)
    }

    /// Every VDEV takes at least one queue pair, so more VDEVs than queue pairs never exist.
    /// Only said of a `max_vdevs` the spec gives: the default is fine with a small pool.
    private mutating func warnAboutUnreachableVdevs(_ top: MappingReader, queuePairs: Int, maxVdevs: Int) {
        guard maxVdevs > queuePairs, let node = top.value("max_vdevs") else { return }
        sink.warning(at: node,
                     "max_vdevs (\(maxVdevs)) exceeds queue_pairs (\(queuePairs)): every VDEV takes at least one queue pair, so at most \(queuePairs) can exist",
                     hint: "lower max_vdevs to \(queuePairs) or less")
    }
}
