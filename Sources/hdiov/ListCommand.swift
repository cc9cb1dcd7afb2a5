import ArgumentParser
import Foundation
import HDIOVSysfs

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the VDEVs.",
        discussion: "--json prints the stable schema of docs/cli-json.md; no devices is an empty list, not an error.")

    @Flag(help: "Print JSON (docs/cli-json.md).")
    var json = false

    @Flag(help: "List the device definitions (`hdiov define`) instead, with whether each is running.")
    var defined = false

    @OptionGroup var target: DeviceManagerOptions

    struct DefinedJSON: Encodable {
        struct Entry: Encodable {
            var uuid: String
            var parent: String
            var type: String
            var start: String
            var queue_pairs: Int?
            var weight: Int?
            var active: Bool

            func encode(to encoder: any Encoder) throws {
                enum K: String, CodingKey { case uuid, parent, type, start, queue_pairs, weight, active }
                var c = encoder.container(keyedBy: K.self)
                try c.encode(uuid, forKey: .uuid)
                try c.encode(parent, forKey: .parent)
                try c.encode(type, forKey: .type)
                try c.encode(start, forKey: .start)
                try c.encode(queue_pairs, forKey: .queue_pairs)
                try c.encode(weight, forKey: .weight)
                try c.encode(active, forKey: .active)
            }
        }

        var version = 1
        var definitions: [Entry]
    }

    func listDefined(_ manager: DeviceManager) throws {
        let store = target.store()
        let defs = try managed { () throws(ManagerError) in try store.all() }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let out = DefinedJSON(definitions: defs.map {
                .init(uuid: $0.uuid, parent: $0.parent, type: $0.type, start: $0.start.rawValue,
                      queue_pairs: $0.queuePairs, weight: $0.weight, active: manager.isActive($0.uuid))
            })
            print(String(decoding: try encoder.encode(out), as: UTF8.self))
            return
        }
        if defs.isEmpty {
            noteIfInteractive("no definitions in \(target.environment.configDirectory)")
            return
        }
        print(table(["UUID", "PARENT", "TYPE", "START", "QPS", "WEIGHT", "ACTIVE"], defs.map { d in
            [d.uuid, d.parent, d.type, d.start.rawValue, d.queuePairs.map { "\($0)" } ?? "-",
             d.weight.map { "\($0)" } ?? "-", manager.isActive(d.uuid) ? "yes" : "no"]
        }))
    }

    func run() throws {
        let manager = try target.manager()
        if defined { return try listDefined(manager) }
        let devices = try managed { () throws(ManagerError) in try manager.list() }
        if json {
            print(DeviceListJSON(devices: devices).rendered())
            return
        }
        if devices.isEmpty {
            noteIfInteractive("no \(manager.module) devices")
            return
        }
        print(table(
            ["UUID", "PARENT", "TYPE", "QPS", "WEIGHT", "PASID", "QP_IDS", "GROUP"],
            devices.map { d in
                [d.uuid, d.parent, d.type, "\(d.queuePairs)", "\(d.weight)", "\(d.pasid)", d.qpIDsText, d.iommuGroup ?? "-"]
            }))
    }
}
