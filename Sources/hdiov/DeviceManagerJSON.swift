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

    /// Pretty-printed, keys sorted, slashes unescaped: byte for byte what JSONEncoder gives
    /// with `[.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]` (`encoded()`), written
    /// directly, since with thousands of devices the encoder was a good part of `hdiov list`.
    func rendered() -> String {
        var out = "{\n  \"devices\" : [\n"
        for (i, d) in devices.enumerated() {
            let group = d.iommuGroup.flatMap { Int($0) }.map { "\($0)" } ?? "null"
            out += "    {\n"
            out += "      \"iommu_group\" : \(group),\n"
            out += "      \"parent\" : \(Self.quoted(d.parent)),\n"
            out += "      \"pasid\" : \(d.pasid),\n"
            out += "      \"qp_ids\" : \(Self.quoted(d.qpIDsText)),\n"
            out += "      \"queue_pairs\" : \(d.queuePairs),\n"
            out += "      \"stats\" : {\n"
            out += "        \"bytes\" : \(d.stats.bytes),\n"
            out += "        \"completed\" : \(d.stats.completed),\n"
            out += "        \"errors\" : \(d.stats.errors),\n"
            out += "        \"irqs\" : \(d.stats.irqs),\n"
            out += "        \"kicks\" : \(d.stats.kicks),\n"
            out += "        \"submitted\" : \(d.stats.submitted)\n"
            out += "      },\n"
            out += "      \"sysfs_path\" : \(Self.quoted(d.sysfsPath)),\n"
            out += "      \"type\" : \(Self.quoted(d.type)),\n"
            out += "      \"uuid\" : \(Self.quoted(d.uuid)),\n"
            out += "      \"vfio_group_node\" : \(d.vfioGroupNode.map(Self.quoted) ?? "null"),\n"
            out += "      \"weight\" : \(d.weight)\n"
            out += i == devices.count - 1 ? "    }\n" : "    },\n"
        }
        if devices.isEmpty { out += "\n" }
        out += "  ],\n  \"version\" : \(Self.schemaVersion)\n}"
        return out
    }

    /// The same through JSONEncoder (what `rendered()` must equal).
    func encoded() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding plain strings and integers cannot fail.
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// A JSON string as JSONEncoder writes it (slashes unescaped).
    static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
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
