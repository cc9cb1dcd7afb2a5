import Foundation

/// A parent device ("physical function") as its sysfs directory shows it (contract §1).
public struct Parent: Equatable, Sendable {
    /// `hdiov0`, `hdiov1`, …
    public var name: String
    public var qpTotal: Int
    public var qpFree: Int
    public var vdevCount: Int
    public var vdevMax: Int
    /// `version`: "1.0".
    public var version: String
    /// Its mdev types, fixed QP counts ascending, flex last.
    public var types: [MdevType]

    public init(name: String, qpTotal: Int, qpFree: Int, vdevCount: Int, vdevMax: Int, version: String, types: [MdevType]) {
        self.name = name
        self.qpTotal = qpTotal
        self.qpFree = qpFree
        self.vdevCount = vdevCount
        self.vdevMax = vdevMax
        self.version = version
        self.types = types
    }
}

/// The queue pairs a type gives its devices, as its `description` states them.
public enum TypeQueuePairs: Equatable, Sendable {
    case fixed(Int)
    /// Chosen per device through `queue_pairs`, within this range.
    case flex(ClosedRange<Int>)

    /// From a description like `queue_pairs=4, max_ring=…` or `queue_pairs=1-256, …`.
    public init?(description: String) {
        guard let field = description.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) })
            .first(where: { $0.hasPrefix("queue_pairs=") }) else { return nil }
        let value = field.dropFirst("queue_pairs=".count)
        let bounds = value.split(separator: "-", omittingEmptySubsequences: false)
        if bounds.count == 1, let n = Int(bounds[0]), n > 0 {
            self = .fixed(n)
        } else if bounds.count == 2, let lo = Int(bounds[0]), let hi = Int(bounds[1]), lo >= 1, lo <= hi {
            self = .flex(lo...hi)
        } else {
            return nil
        }
    }

    public var isFlex: Bool {
        if case .flex = self { return true }
        return false
    }

    /// QPs one more instance needs in `available_instances` (1 for flex, contract §2).
    public var perInstance: Int {
        switch self {
        case .fixed(let n): n
        case .flex: 1
        }
    }
}

/// An mdev type of one parent (contract §2).
public struct MdevType: Equatable, Sendable {
    /// The sysfs directory name, `<module>-<id>`: `hdiov-4qp`.
    public var id: String
    /// The parent it belongs to.
    public var parent: String
    /// `name`: the pretty name.
    public var name: String
    /// `description`: `queue_pairs=4, max_ring=4096, ops=copy,fill,crc32c,compare`.
    public var description: String
    /// `device_api`: `vfio-pci`.
    public var deviceAPI: String
    public var availableInstances: Int
    /// Parsed from the description; nil when it does not say.
    public var queuePairs: TypeQueuePairs?

    public init(
        id: String, parent: String, name: String, description: String, deviceAPI: String,
        availableInstances: Int, queuePairs: TypeQueuePairs?
    ) {
        self.id = id
        self.parent = parent
        self.name = name
        self.description = description
        self.deviceAPI = deviceAPI
        self.availableInstances = availableInstances
        self.queuePairs = queuePairs
    }

    public var isFlex: Bool { queuePairs?.isFlex ?? false }
}

/// A VDEV's `stats` (contract §3).
public struct VdevStats: Equatable, Sendable, Codable {
    public var submitted: Int64
    public var completed: Int64
    public var bytes: Int64
    public var errors: Int64
    public var irqs: Int64
    public var kicks: Int64

    public static let zero = VdevStats(submitted: 0, completed: 0, bytes: 0, errors: 0, irqs: 0, kicks: 0)

    public init(submitted: Int64, completed: Int64, bytes: Int64, errors: Int64, irqs: Int64, kicks: Int64) {
        self.submitted = submitted
        self.completed = completed
        self.bytes = bytes
        self.errors = errors
        self.irqs = irqs
        self.kicks = kicks
    }

    /// The six counters in the order the file lists them.
    public var fields: [(name: String, value: Int64)] {
        [("submitted", submitted), ("completed", completed), ("bytes", bytes),
         ("errors", errors), ("irqs", irqs), ("kicks", kicks)]
    }

    /// The file's text: `submitted N` … `kicks N`, one per line (no trailing newline).
    public var text: String { fields.map { "\($0.name) \($0.value)" }.joined(separator: "\n") }

    /// Parses the file; nil unless all six counters are there. (A plain scan of the bytes:
    /// `hdiov list` parses one of these per device.)
    public init?(text: String) {
        var values: [Int64?] = [nil, nil, nil, nil, nil, nil]
        let names: [[UInt8]] = ["submitted", "completed", "bytes", "errors", "irqs", "kicks"].map { Array($0.utf8) }
        var text = text
        let ok = text.withUTF8 { (bytes: UnsafeBufferPointer<UInt8>) -> Bool in
            var i = 0
            while i < bytes.count {
                var end = i
                while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
                if end > i {
                    guard let space = (i..<end).first(where: { bytes[$0] == UInt8(ascii: " ") }), space > i, space + 1 < end else { return false }
                    var v: Int64 = 0
                    var j = space + 1
                    let negative = bytes[j] == UInt8(ascii: "-")
                    if negative || bytes[j] == UInt8(ascii: "+") { j += 1 }
                    guard j < end else { return false }
                    while j < end {
                        let d = bytes[j]
                        guard d >= 0x30, d <= 0x39 else { return false }
                        let (m, o1) = v.multipliedReportingOverflow(by: 10)
                        let (a, o2) = m.addingReportingOverflow(Int64(d - 0x30))
                        guard !o1, !o2 else { return false }
                        v = a
                        j += 1
                    }
                    let name = UnsafeBufferPointer(rebasing: bytes[i..<space])
                    if let k = names.firstIndex(where: { $0.elementsEqual(name) }) { values[k] = negative ? -v : v }
                }
                i = end + 1
            }
            return true
        }
        guard ok, let s = values[0], let c = values[1], let b = values[2], let e = values[3], let i = values[4], let k = values[5] else { return nil }
        self.init(submitted: s, completed: c, bytes: b, errors: e, irqs: i, kicks: k)
    }
}

/// A VDEV (contract §3): what `/sys/bus/mdev/devices/<uuid>` shows.
public struct Vdev: Equatable, Sendable {
    /// Lowercase, as the kernel names the device.
    public var uuid: String
    public var parent: String
    /// The type directory name: `hdiov-4qp`.
    public var type: String
    public var queuePairs: Int
    public var weight: Int
    public var pasid: Int
    /// `qp_ids` exactly as the file shows it: `0-3,17`.
    public var qpIDsText: String
    public var stats: VdevStats
    /// The IOMMU group number (`iommu_group` link), nil when there is none.
    public var iommuGroup: String?
    /// The device's sysfs directory: what QEMU's `sysfsdev=` takes.
    public var sysfsPath: String
    /// The VFIO group node: `/dev/vfio/<group>`.
    public var vfioGroupNode: String?

    public init(
        uuid: String, parent: String, type: String, queuePairs: Int, weight: Int, pasid: Int,
        qpIDsText: String, stats: VdevStats, iommuGroup: String?, sysfsPath: String, vfioGroupNode: String?
    ) {
        self.uuid = uuid
        self.parent = parent
        self.type = type
        self.queuePairs = queuePairs
        self.weight = weight
        self.pasid = pasid
        self.qpIDsText = qpIDsText
        self.stats = stats
        self.iommuGroup = iommuGroup
        self.sysfsPath = sysfsPath
        self.vfioGroupNode = vfioGroupNode
    }

    /// The pool indices the VDEV holds, in its own QP order.
    public var qpIDs: [Int] { QPIDList.parse(qpIDsText) ?? [] }
}

/// The `qp_ids` syntax: comma-separated ascending runs, `0-3,17`.
public enum QPIDList {
    /// What the module prints for QP pool indices in the VDEV's order: each run of
    /// consecutive ascending indices as `first-last` (or `first` alone).
    public static func format(_ ids: [Int]) -> String {
        var parts: [String] = []
        var i = 0
        while i < ids.count {
            let first = ids[i]
            var last = first
            while i + (last - first) + 1 < ids.count, ids[i + (last - first) + 1] == last + 1 { last += 1 }
            parts.append(last == first ? "\(first)" : "\(first)-\(last)")
            i += last - first + 1
        }
        return parts.joined(separator: ",")
    }

    /// The indices of a `qp_ids` text; nil when it is not in that syntax.
    public static func parse(_ text: String) -> [Int]? {
        if text.isEmpty { return [] }
        var ids: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            if bounds.count == 1, let n = Int(bounds[0]) {
                ids.append(n)
            } else if bounds.count == 2, let a = Int(bounds[0]), let b = Int(bounds[1]), a <= b {
                ids.append(contentsOf: a...b)
            } else {
                return nil
            }
        }
        return ids
    }
}

/// Device UUIDs as the mdev core takes them: 8-4-4-4-12 hex digits.
public enum MdevUUID {
    /// The lowercase form when `text` is a UUID, else nil.
    public static func normalize(_ text: String) -> String? {
        let chars = Array(text.utf8)
        guard chars.count == 36 else { return nil }
        for (i, c) in chars.enumerated() {
            if i == 8 || i == 13 || i == 18 || i == 23 {
                guard c == UInt8(ascii: "-") else { return nil }
            } else {
                guard (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66) else { return nil }
            }
        }
        return text.lowercased()
    }

    /// A new random (version 4) UUID, lowercase.
    public static func generate() -> String { UUID().uuidString.lowercased() }
}
