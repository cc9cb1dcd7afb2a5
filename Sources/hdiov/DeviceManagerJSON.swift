import Foundation
import HDIOVSysfs

/// `hdiov list --json`, schema version 1 (docs/cli-json.md). Every key is always present;
/// a value that is not known is null. New keys may be added within version 1; a change of
/// meaning or a removal bumps the version.
struct DeviceListJSON: Encodable {
    static let schemaVersion = 1

    var devices: [Vdev]

    enum Keys: String, CodingKey { case version, devices }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(Self.schemaVersion, forKey: .version)
        try c.encode(devices.map(DeviceJSON.init), forKey: .devices)
    }

    /// Pretty-printed, keys sorted, slashes unescaped.
    func rendered() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding plain strings and integers cannot fail.
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }
}

struct DeviceJSON: Encodable {
    var device: Vdev

    enum Keys: String, CodingKey {
        case uuid, parent, type, weight, pasid, stats
        case queuePairs = "queue_pairs"
        case qpIDs = "qp_ids"
        case iommuGroup = "iommu_group"
        case vfioGroupNode = "vfio_group_node"
        case sysfsPath = "sysfs_path"
    }

    enum StatsKeys: String, CodingKey { case submitted, completed, bytes, errors, irqs, kicks }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(device.uuid, forKey: .uuid)
        try c.encode(device.parent, forKey: .parent)
        try c.encode(device.type, forKey: .type)
        try c.encode(device.queuePairs, forKey: .queuePairs)
        try c.encode(device.weight, forKey: .weight)
        try c.encode(device.pasid, forKey: .pasid)
        try c.encode(device.qpIDsText, forKey: .qpIDs)
        try c.encode(device.iommuGroup.flatMap { Int($0) }, forKey: .iommuGroup)
        try c.encode(device.vfioGroupNode, forKey: .vfioGroupNode)
        try c.encode(device.sysfsPath, forKey: .sysfsPath)
        var s = c.nestedContainer(keyedBy: StatsKeys.self, forKey: .stats)
        try s.encode(device.stats.submitted, forKey: .submitted)
        try s.encode(device.stats.completed, forKey: .completed)
        try s.encode(device.stats.bytes, forKey: .bytes)
        try s.encode(device.stats.errors, forKey: .errors)
        try s.encode(device.stats.irqs, forKey: .irqs)
        try s.encode(device.stats.kicks, forKey: .kicks)
    }
}
