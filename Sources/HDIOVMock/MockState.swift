import HDIOVSpec
import HDIOVSysfs

/// Everything the mock kernel knows, serialized as JSON in `<root>/.hdiov-mock`. The
/// pool bitmaps, PASID and IOMMU group allocations, `qp_free` and `vdev_count` are not
/// stored: they follow from the devices, as the module's own counters follow its VDEVs.
public struct MockState: Codable, Equatable, Sendable {
    public static let currentFormat = 1

    /// Layout version of this file.
    public var format: Int
    public var spec: MockSpec
    /// VDEVs in creation order.
    public var devices: [MockDevice]
    /// The next uevent's SEQNUM.
    public var nextSeqnum: Int

    public init(spec: MockSpec) {
        self.format = Self.currentFormat
        self.spec = spec
        self.devices = []
        self.nextSeqnum = 1
    }
}

/// What of a `DeviceSpec` the sysfs tree shows.
public struct MockSpec: Codable, Equatable, Sendable {
    public var module: String
    public var pfs: Int
    public var queuePairs: Int
    public var maxVdevs: Int
    public var maxQpsPerVdev: Int
    public var types: [MockTypeSpec]

    public init(_ spec: DeviceSpec) {
        module = spec.module
        pfs = spec.pfs
        queuePairs = spec.queuePairs
        maxVdevs = spec.maxVdevs
        maxQpsPerVdev = spec.maxQpsPerVdev
        types = spec.types.map { t in
            MockTypeSpec(id: t.id, name: t.name, description: spec.typeDescription(t),
                         queuePairs: t.initialQueuePairs, flex: t.isFlex)
        }
    }

    public var parentNames: [String] { (0..<pfs).map { "\(module)\($0)" } }

    /// `<module>-<id>`: the type's directory.
    public func typeDirectory(_ t: MockTypeSpec) -> String { "\(module)-\(t.id)" }
}

public struct MockTypeSpec: Codable, Equatable, Sendable {
    /// The spec's id (`4qp`); the directory is `<module>-<id>`.
    public var id: String
    public var name: String
    public var description: String
    /// A fixed type's count, or a flex type's default.
    public var queuePairs: Int
    public var flex: Bool

    /// QPs per instance in `available_instances` (1 for flex).
    public var perInstance: Int { flex ? 1 : queuePairs }
}

/// One VDEV.
public struct MockDevice: Codable, Equatable, Sendable {
    public var uuid: String
    /// Index of its parent.
    public var parent: Int
    /// The spec id of its type.
    public var type: String
    /// Pool indices, in the VDEV's QP order.
    public var qpIDs: [Int]
    public var weight: Int
    public var pasid: Int
    public var iommuGroup: Int
    /// Opened through VFIO (the mock's `open(uuid:)`): resize gives EBUSY.
    public var open: Bool
    public var stats: VdevStats
}

extension MockState {
    func devices(of parent: Int) -> [MockDevice] { devices.filter { $0.parent == parent } }

    func qpFree(_ parent: Int) -> Int {
        spec.queuePairs - devices(of: parent).reduce(0) { $0 + $1.qpIDs.count }
    }

    func vdevCount(_ parent: Int) -> Int { devices(of: parent).count }

    /// `hdiov_get_available`.
    func availableInstances(_ t: MockTypeSpec, parent: Int) -> Int {
        max(0, min(qpFree(parent) / t.perInstance, spec.maxVdevs - vdevCount(parent)))
    }

    /// `hdiov_pool_alloc`: the `n` lowest free pool indices (the caller checked qp_free).
    func lowestFreeQPs(_ parent: Int, _ n: Int) -> [Int] {
        var used = [Bool](repeating: false, count: spec.queuePairs)
        for d in devices(of: parent) { for i in d.qpIDs where i < used.count { used[i] = true } }
        return Array(used.indices.lazy.filter { !used[$0] }.prefix(n))
    }

    /// `ida_alloc_range(1, 2^20 - 1)` per parent.
    func lowestFreePASID(_ parent: Int) -> Int? {
        let used = Set(devices(of: parent).map(\.pasid))
        return (1...((1 << 20) - 1)).first { !used.contains($0) }
    }

    /// `iommu_group_alloc`: the lowest free group number, system-wide.
    func lowestFreeGroup() -> Int {
        let used = Set(devices.map(\.iommuGroup))
        var g = 0
        while used.contains(g) { g += 1 }
        return g
    }

    func typeSpec(_ id: String) -> MockTypeSpec? { spec.types.first { $0.id == id } }
}
