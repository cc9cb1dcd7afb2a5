import Foundation
import HDIOVSpec
import HDIOVSysfs

/// One thing the scenario does to the tree: a single sysfs write, as the kernel gets it.
public struct ConformanceStep: Sendable {
    public enum Target: Sendable {
        /// `<parent>/mdev_supported_types/<module>-<type>/create`
        case create(parent: String, type: String)
        /// `<device>/remove`
        case remove(device: String)
        /// `<device>/<module>/<attribute>`
        case attribute(device: String, name: String)
    }

    public var target: Target
    /// What is written (a device name is replaced by its UUID, see `ConformanceScenario.uuid`).
    public var value: String
    /// A few words on what this step is about, shown in the record.
    public var note: String
    /// Whether to list the whole tree after this step.
    public var listTree: Bool
    /// For a drain step: write to the device's `queue_pairs` whatever the pool has left
    /// (at most max_qps_per_vdev). `value` is ignored then.
    public var drainPool: String?

    public init(_ target: Target, _ value: String, _ note: String, listTree: Bool = false, drainPool: String? = nil) {
        self.target = target
        self.value = value
        self.note = note
        self.listTree = listTree
        self.drainPool = drainPool
    }
}

/// The conformance scenario: a fixed list of writes that touches every store of the
/// module (create of each type, its errors, weight and queue_pairs with good and bad
/// values, a drained pool, removes). Device names stand for fixed UUIDs, so two runs
/// (the mock, the real module) write exactly the same bytes.
public struct ConformanceScenario: Sendable {
    public let spec: DeviceSpec

    public init(spec: DeviceSpec) {
        self.spec = spec
    }

    /// The fixed UUID of every device name the scenario uses. `upper` is given to the
    /// kernel in upper case (the device must be named in lower case).
    public static let uuids: [(name: String, uuid: String)] = {
        var list: [(String, String)] = [
            ("dev-fixed1", "c0f0c0f0-0001-4000-8000-000000000001"),
            ("dev-fixed2", "c0f0c0f0-0002-4000-8000-000000000002"),
            ("dev-fixed3", "c0f0c0f0-0003-4000-8000-000000000003"),
            ("dev-flex", "c0f0c0f0-0004-4000-8000-000000000004"),
            ("dev-other", "c0f0c0f0-0005-4000-8000-000000000005"),
            ("dev-upper", "c0f0c0f0-0006-4000-8000-00000000abcd"),
            ("dev-nospace", "c0f0c0f0-0007-4000-8000-000000000007"),
        ]
        for i in 1...64 { list.append(("hog-\(i)", String(format: "c0f0c0f0-1%03d-4000-8000-000000000000", i))) }
        return list
    }()

    public static func uuid(_ name: String) -> String {
        uuids.first { $0.name == name }?.uuid ?? name
    }

    var module: String { spec.module }
    var p0: String { spec.parentNames[0] }
    var p1: String { spec.parentNames.count > 1 ? spec.parentNames[1] : spec.parentNames[0] }
    var fixedTypes: [MdevTypeSpec] { spec.types.filter { !$0.isFlex } }
    var flex: MdevTypeSpec? { spec.types.first { $0.isFlex } }

    /// The steps before the pool is drained; the drain itself depends on what the pool
    /// holds, so `ConformanceRecorder` runs `drainSteps` until `qp_free` is 0.
    public func openingSteps() -> [ConformanceStep] {
        var steps: [ConformanceStep] = []
        // One device of every type on the first parent (names dev-fixed1… by type order).
        for (i, t) in fixedTypes.enumerated() where i < 3 {
            steps.append(.init(.create(parent: p0, type: t.id), "dev-fixed\(i + 1)", "create \(t.id)"))
        }
        guard let flex, let first = fixedTypes.first else { return steps }
        steps.append(.init(.create(parent: p0, type: flex.id), "dev-flex", "create \(flex.id)"))
        steps.append(.init(.create(parent: p1, type: flex.id), "dev-other", "create \(flex.id) on the other parent", listTree: true))
        // Create errors.
        steps += [
            .init(.create(parent: p0, type: first.id), "dev-fixed1", "EEXIST: UUID in use"),
            .init(.create(parent: p1, type: first.id), "dev-fixed1", "EEXIST: in use on another parent"),
            .init(.create(parent: p0, type: first.id), "not-a-uuid", "EINVAL: malformed"),
            .init(.create(parent: p0, type: first.id), "c0f0c0f0-0008-4000-8000-00000000000", "EINVAL: 35 characters"),
            .init(.create(parent: p0, type: first.id), "c0f0c0f0-0008-4000-8000-0000000000000", "EINVAL: 37 characters"),
            .init(.create(parent: p0, type: first.id), "c0f0c0f0x0008-4000-8000-000000000008", "EINVAL: bad separator"),
            .init(.create(parent: p0, type: first.id), "", "EINVAL: empty"),
            .init(.create(parent: p0, type: first.id), Self.uuid("dev-upper").uppercased(), "upper case UUID: named in lower case"),
            .init(.remove(device: "dev-upper"), "1", "remove it again"),
        ]
        // weight
        steps += [
            .init(.attribute(device: "dev-fixed1", name: "weight"), "50", "weight 50"),
            .init(.attribute(device: "dev-fixed1", name: "weight"), "0", "weight below range"),
            .init(.attribute(device: "dev-fixed1", name: "weight"), "101", "weight above range"),
            .init(.attribute(device: "dev-fixed1", name: "weight"), "abc", "weight not a number"),
            .init(.attribute(device: "dev-fixed1", name: "weight"), "-1", "weight negative"),
            .init(.attribute(device: "dev-fixed1", name: "weight"), "", "weight empty"),
            .init(.attribute(device: "dev-fixed1", name: "weight"), "4294967296", "weight past UINT_MAX"),
            .init(.attribute(device: "dev-fixed1", name: "weight"), "0x20", "weight in hex"),
            .init(.attribute(device: "dev-fixed1", name: "weight"), "100", "weight at the top"),
            .init(.attribute(device: "dev-fixed1", name: "weight"), "1", "weight at the bottom"),
        ]
        // queue_pairs
        let top = spec.maxQpsPerVdev
        steps += [
            .init(.attribute(device: "dev-fixed2", name: "queue_pairs"), "2", "EACCES: a fixed type's queue_pairs"),
            .init(.attribute(device: "dev-flex", name: "queue_pairs"), "8", "flex grow"),
            .init(.attribute(device: "dev-flex", name: "queue_pairs"), "0", "flex below range"),
            .init(.attribute(device: "dev-flex", name: "queue_pairs"), "\(top + 1)", "flex above range"),
            .init(.attribute(device: "dev-flex", name: "queue_pairs"), "x", "flex not a number"),
            .init(.attribute(device: "dev-flex", name: "queue_pairs"), "-3", "flex negative"),
            .init(.attribute(device: "dev-flex", name: "queue_pairs"), "4294967296", "flex past UINT_MAX"),
            .init(.attribute(device: "dev-flex", name: "queue_pairs"), "0x10", "flex in hex"),
            .init(.attribute(device: "dev-flex", name: "queue_pairs"), "8", "flex the same size"),
            .init(.attribute(device: "dev-flex", name: "queue_pairs"), "1", "flex shrink"),
            .init(.attribute(device: "dev-other", name: "queue_pairs"), "\(top)", "flex to the maximum on the other parent"),
        ]
        return steps
    }

    /// Create hog `i` (flex) and grow it to what the pool has left.
    public func drainSteps(_ i: Int) -> [ConformanceStep] {
        guard let flex else { return [] }
        return [
            .init(.create(parent: p0, type: flex.id), "hog-\(i)", "drain: create a flex hog"),
            .init(.attribute(device: "hog-\(i)", name: "queue_pairs"), "", "drain: grow it", drainPool: p0),
        ]
    }

    /// With the pool empty: the refusals, then everything removed.
    public func closingSteps(hogs: Int) -> [ConformanceStep] {
        guard let flex, let first = fixedTypes.first else { return [] }
        var steps: [ConformanceStep] = [
            .init(.create(parent: p0, type: first.id), "dev-nospace", "ENOSPC: pool exhausted (\(first.id))"),
            .init(.create(parent: p0, type: flex.id), "dev-nospace", "ENOSPC: pool exhausted (\(flex.id))"),
            .init(.attribute(device: "dev-flex", name: "queue_pairs"), "2", "ENOSPC: flex grow, nothing changes"),
            .init(.attribute(device: "dev-flex", name: "queue_pairs"), "1", "flex the same size with the pool empty"),
            .init(.create(parent: p1, type: first.id), "dev-nospace", "the other parent still has room", listTree: true),
            .init(.remove(device: "dev-nospace"), "0", "remove 0 does nothing"),
            .init(.remove(device: "dev-nospace"), "abc", "remove not a number"),
            .init(.remove(device: "dev-nospace"), "1", "remove"),
        ]
        for i in 1...max(hogs, 1) where i <= hogs {
            steps.append(.init(.remove(device: "hog-\(i)"), "1", "remove hog"))
        }
        for i in 0..<min(3, fixedTypes.count) {
            steps.append(.init(.remove(device: "dev-fixed\(i + 1)"), "1", "remove"))
        }
        steps.append(.init(.remove(device: "dev-flex"), "1", "remove"))
        steps.append(.init(.remove(device: "dev-other"), "1", "remove", listTree: true))
        return steps
    }
}
