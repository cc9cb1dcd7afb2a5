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

    @OptionGroup var target: DeviceManagerOptions

    func run() throws {
        let manager = try target.manager()
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
