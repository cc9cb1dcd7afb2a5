import ArgumentParser
import HDIOVSysfs

struct TypesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "types",
        abstract: "List the mdev types of each parent and how many more devices of each fit.")

    @Option(help: "Only this parent (default: all).")
    var parent: String?

    @OptionGroup var target: DeviceManagerOptions

    func run() throws {
        let manager = try target.manager()
        let types = try managed { () throws(ManagerError) -> [MdevType] in
            if let parent { return try manager.types(parent: parent) }
            return try manager.parents().flatMap(\.types)
        }
        if types.isEmpty {
            noteIfInteractive("no \(manager.module) parents in \(manager.environment.parentBase): is the module loaded?")
            return
        }
        print(table(
            ["PARENT", "TYPE", "QUEUE_PAIRS", "AVAILABLE", "NAME", "DESCRIPTION"],
            types.map { t in
                let qps: String
                switch t.queuePairs {
                case .fixed(let n)?: qps = "\(n)"
                case .flex(let r)?: qps = "\(r.lowerBound)-\(r.upperBound)"
                case nil: qps = "?"
                }
                return [t.parent, t.id, qps, "\(t.availableInstances)", t.name, t.description]
            }))
    }
}
