import ArgumentParser
import HDIOVSysfs

struct QemuArgsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qemu-args",
        abstract: "Print the QEMU arguments that pass a VDEV to a guest.")

    @Argument(help: "The device's UUID.")
    var uuid: String

    @OptionGroup var target: DeviceManagerOptions

    func run() throws {
        let manager = try target.manager()
        let args = try managed { () throws(ManagerError) in try manager.qemuArguments(uuid: uuid) }
        print(args.joined(separator: " "))
    }
}
