import ArgumentParser
import HDIOVSysfs

struct RemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a VDEV; its queue pairs and PASID go back to the parent.",
        discussion: "The kernel waits for an open device to be closed (it signals the user's REQ interrupt).")

    @Argument(help: "The device's UUID.")
    var uuid: String

    @OptionGroup var target: DeviceManagerOptions

    func run() throws {
        let manager = try target.manager()
        try managed { () throws(ManagerError) in try manager.remove(uuid: uuid) }
    }
}
