import ArgumentParser
import HDIOVSysfs

struct ModifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modify",
        abstract: "Change a VDEV's weight or (flex types, while closed) its queue pairs.")

    @Argument(help: "The device's UUID.")
    var uuid: String

    @Option(help: "Share of the engine, 1-100.")
    var weight: Int?

    @Option(name: .customLong("qps"), help: "Queue pairs (flex types only; the device must be closed).")
    var queuePairs: Int?

    @OptionGroup var target: DeviceManagerOptions

    func run() throws {
        let manager = try target.manager()
        try managed { () throws(ManagerError) in
            try manager.modify(uuid: uuid, weight: weight, queuePairs: queuePairs)
        }
    }
}
