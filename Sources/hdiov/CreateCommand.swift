import ArgumentParser
import HDIOVEvents
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

    @Flag(help: "Wait until the device's /dev/vfio/<group> node exists, as its udev event says.")
    var wait = false

    @Option(help: ArgumentHelp("How long --wait waits.", valueName: "seconds"))
    var timeout: Double = 10

    @OptionGroup var target: DeviceManagerOptions

    func run() throws {
        let manager = try target.manager()
        // Listen before creating, so the node's event cannot come before we listen.
        var waiter: VFIONodeWaiter?
        if wait {
            do {
                waiter = try VFIONodeWaiter(backend: manager.backend)
            } catch {
                printError("hdiov: cannot wait for the device's node: \(error.description)")
                throw ExitCode(1)
            }
        }
        let device = try managed { () throws(ManagerError) in
            try manager.create(parent: parent, type: type, uuid: uuid, queuePairs: queuePairs, weight: weight)
        }
        if let waiter {
            guard let group = device.iommuGroup, let node = device.vfioGroupNode else {
                printError("hdiov: created \(device.uuid), but it has no iommu_group: there is no /dev/vfio node to wait for")
                print(device.uuid)
                throw ExitCode(1)
            }
            do {
                try waiter.wait(uuid: device.uuid, group: group, node: node, timeout: timeout)
            } catch {
                printError("hdiov: created \(device.uuid), but: \(error.description)")
                print(device.uuid)
                throw ExitCode(1)
            }
        }
        print(device.uuid)
    }
}
