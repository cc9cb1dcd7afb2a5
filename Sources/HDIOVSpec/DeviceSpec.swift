import CHDIOVABI
/// The validated model of an HD-IOV device spec.
///
/// Every value here has passed validation (`SpecParser` produces a `DeviceSpec` only when
/// it found no errors), so renderers and the mock sysfs tree can use it without checks.
/// The field names follow the `{braces}` of the device contract (docs/hdiov-device.md).
public struct DeviceSpec: Equatable, Sendable {
    /// Kernel module name; also the class name, the parent prefix (`hdiov0`), the type
    /// prefix (`hdiov-4qp`) and the VDEV attribute group (`hdiov/`).
    public var module: String
    /// One-line description, placed in MODULE_DESCRIPTION.
    public var description: String
    /// Number of parent devices ("physical functions").
    public var pfs: Int
    /// Queue pairs in each parent's pool.
    public var queuePairs: Int
    /// VDEVs each parent admits.
    public var maxVdevs: Int
    /// Upper bound of a flex type's `queue_pairs`.
    public var maxQpsPerVdev: Int
    /// Ring entries (both SQ and CQ) a QP may be programmed with.
    public var maxRing: Int
    /// Bytes one descriptor may move.
    public var maxXfer: Int
    /// Engine threads per module (module parameter `engine_threads` overrides).
    public var engineThreads: Int
    /// Empty polls of a QP before the engine sets NEED_KICK and stops polling it.
    public var idlePolls: Int
    /// PCI identity of every VDEV.
    public var pci: PCIIdentity
    /// Operations the device executes (NOP is always there and is not listed).
    public var ops: [Operation]
    /// mdev types, in sysfs order.
    public var types: [MdevTypeSpec]

    public init(
        module: String, description: String, pfs: Int, queuePairs: Int, maxVdevs: Int,
        maxQpsPerVdev: Int, maxRing: Int, maxXfer: Int, engineThreads: Int, idlePolls: Int,
        pci: PCIIdentity, ops: [Operation], types: [MdevTypeSpec]
    ) {
        self.module = module
        self.description = description
        self.pfs = pfs
        self.queuePairs = queuePairs
        self.maxVdevs = maxVdevs
        self.maxQpsPerVdev = maxQpsPerVdev
        self.maxRing = maxRing
        self.maxXfer = maxXfer
        self.engineThreads = engineThreads
        self.idlePolls = idlePolls
        self.pci = pci
        self.ops = ops
        self.types = types
    }

    /// Parent device names: `hdiov0`, `hdiov1`, …
    public var parentNames: [String] { (0..<pfs).map { "\(module)\($0)" } }
}

public struct PCIIdentity: Equatable, Sendable {
    public var vendor: UInt16
    public var device: UInt16
    /// 24-bit class code: base class, subclass, programming interface.
    public var classCode: UInt32
    public var subsystemVendor: UInt16
    public var subsystemDevice: UInt16
    public var revision: UInt8

    public init(
        vendor: UInt16, device: UInt16, classCode: UInt32, subsystemVendor: UInt16,
        subsystemDevice: UInt16, revision: UInt8
    ) {
        self.vendor = vendor
        self.device = device
        self.classCode = classCode
        self.subsystemVendor = subsystemVendor
        self.subsystemDevice = subsystemDevice
        self.revision = revision
    }
}

/// Descriptor operations (contract §7). The raw value is the spec spelling; `opcode` is
/// what a descriptor carries; `capsMask` is its CAPS register bit (both from hdiov_abi.h).
public enum Operation: String, CaseIterable, Equatable, Sendable {
    case copy, fill, crc32c, compare

    public var opcode: Int {
        switch self {
        case .copy: Int(HDIOV_OP_COPY)
        case .fill: Int(HDIOV_OP_FILL)
        case .crc32c: Int(HDIOV_OP_CRC32C)
        case .compare: Int(HDIOV_OP_COMPARE)
        }
    }

    /// The CAPS register bit that offers this operation.
    public var capsMask: UInt32 {
        switch self {
        case .copy: UInt32(HDIOV_CAPS_COPY)
        case .fill: UInt32(HDIOV_CAPS_FILL)
        case .crc32c: UInt32(HDIOV_CAPS_CRC32C)
        case .compare: UInt32(HDIOV_CAPS_COMPARE)
        }
    }
}

/// One mdev type: a fixed number of queue pairs, or `flex` (chosen per device).
public struct MdevTypeSpec: Equatable, Sendable {
    public enum QueuePairs: Equatable, Sendable {
        case fixed(Int)
        /// Chosen per device through the `queue_pairs` attribute, 1...max; starts at `default`.
        case flex(default: Int)
    }

    /// sysfs id; the type directory is `<module>-<id>`.
    public var id: String
    /// `name` attribute.
    public var name: String
    public var queuePairs: QueuePairs
    /// Operations this type offers; a subset of the device's ops.
    public var ops: [Operation]

    public init(id: String, name: String, queuePairs: QueuePairs, ops: [Operation]) {
        self.id = id
        self.name = name
        self.queuePairs = queuePairs
        self.ops = ops
    }

    public var isFlex: Bool {
        if case .flex = queuePairs { return true }
        return false
    }

    /// QPs a new device of this type takes (for flex: its default).
    public var initialQueuePairs: Int {
        switch queuePairs {
        case .fixed(let n): n
        case .flex(let d): d
        }
    }

    /// QPs per instance in `available_instances` (contract §2: 1 for flex).
    public var qpsPerInstance: Int {
        switch queuePairs {
        case .fixed(let n): n
        case .flex: 1
        }
    }
}

extension DeviceSpec {
    /// The `description` attribute of a type (contract §2).
    public func typeDescription(_ type: MdevTypeSpec) -> String {
        let qps: String
        switch type.queuePairs {
        case .fixed(let n): qps = "queue_pairs=\(n)"
        case .flex: qps = "queue_pairs=1-\(maxQpsPerVdev)"
        }
        let ops = type.ops.map(\.rawValue).joined(separator: ",")
        return "\(qps), max_ring=\(maxRing), ops=\(ops)"
    }

    /// CAPS register value for a type: its op bits plus NOTIFY_SUPPRESS.
    public func caps(of type: MdevTypeSpec) -> UInt32 {
        type.ops.reduce(UInt32(HDIOV_CAPS_NOTIFY_SUPPRESS)) { $0 | $1.capsMask }
    }

    /// `available_instances` for a type given a parent's state (contract §2).
    public func availableInstances(of type: MdevTypeSpec, qpFree: Int, vdevCount: Int) -> Int {
        max(0, min(qpFree / type.qpsPerInstance, maxVdevs - vdevCount))
    }
}
