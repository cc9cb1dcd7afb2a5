import ArgumentParser
import HDIOVSysfs

struct ParentsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parents",
        abstract: "List the parent devices (physical functions) with their queue-pair pools.")

    @OptionGroup var target: DeviceManagerOptions

    func run() throws {
        let manager = try target.manager()
        let parents = try managed { () throws(ManagerError) in try manager.parents() }
        if parents.isEmpty {
            noteIfInteractive("no \(manager.module) parents in \(manager.environment.parentBase): is the module loaded?")
            return
        }
        print(table(
            ["PARENT", "QP_TOTAL", "QP_FREE", "VDEV_COUNT", "VDEV_MAX", "VERSION"],
            parents.map { ["\($0.name)", "\($0.qpTotal)", "\($0.qpFree)", "\($0.vdevCount)", "\($0.vdevMax)", $0.version] }))
    }
}
