import ArgumentParser
import HDIOVSysfs

struct CreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a VDEV and print its UUID.",
        discussion: """
            Writes the UUID to the type's create file, then sets a flex device's queue pairs \
            and the weight when given. If either is refused the device is removed again: a \
            failed create leaves nothing behind.
            """)

    @Option(help: "Parent device, e.g. hdiov0 (`hdiov parents`).")
    var parent: String

    @Option(help: "Type: its directory name (hdiov-4qp) or the spec's id (4qp) (`hdiov types`).")
    var type: String

    @Option(help: "The device's UUID (default: a new random one).")
    var uuid: String?

    @Option(name: .customLong("qps"), help: "Queue pairs of a flex device.")
    var queuePairs: Int?

    @Option(help: "Share of the engine, 1-100 (default 10).")
    var weight: Int?

    @OptionGroup var target: DeviceManagerOptions

    func run() throws {
        let manager = try target.manager()
        let device = try managed { () throws(ManagerError) in
            try manager.create(parent: parent, type: type, uuid: uuid, queuePairs: queuePairs, weight: weight)
        }
        print(device.uuid)
    }
}
