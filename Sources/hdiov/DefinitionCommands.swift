import ArgumentParser
import Foundation
import HDIOVSysfs

extension Definition.Start: ExpressibleByArgument {}

struct DefineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "define",
        abstract: "Keep a device definition (created by `start`, or by `autostart` when start=auto).",
        discussion: """
            Stored atomically as <config>/<uuid>.json (default /etc/hdiov/devices). \
            --from-mdevctl FILE imports mdevctl's JSON ({"mdev_type", "start", "attrs"}); \
            its parent comes from --parent, its UUID from --uuid or the file's name.
            """)

    @Option(help: "Parent device, e.g. hdiov0.")
    var parent: String

    @Option(help: "Type: hdiov-4qp or 4qp.")
    var type: String?

    @Option(help: "The device's UUID (default: a new one, or the mdevctl file's name).")
    var uuid: String?

    @Option(name: .customLong("qps"), help: "Queue pairs of a flex device.")
    var queuePairs: Int?

    @Option(help: "Share of the engine, 1-100.")
    var weight: Int?

    @Option(help: "auto: started when the parent registers (`hdiov autostart`); manual: by `hdiov start`.")
    var start: Definition.Start = .manual

    @Option(help: ArgumentHelp("Import an mdevctl definition (JSON).", valueName: "file"))
    var fromMdevctl: String?

    @Flag(help: "Replace an existing definition of the UUID.")
    var force = false

    @OptionGroup var target: DeviceManagerOptions

    func validate() throws {
        if type == nil && fromMdevctl == nil { throw ValidationError("give --type (or --from-mdevctl FILE)") }
    }

    func run() throws {
        let manager = try target.manager()
        let store = target.store()
        var definition: Definition
        if let file = fromMdevctl {
            guard let data = FileManager.default.contents(atPath: file) else {
                printError("hdiov: cannot read \(file): ENOENT (No such file or directory)\n  next: name mdevctl's file, e.g. /etc/mdevctl.d/\(parent)/<uuid>")
                throw ExitCode(1)
            }
            let config: MdevctlConfig
            do {
                config = try JSONDecoder().decode(MdevctlConfig.self, from: data)
            } catch {
                let why: String
                switch error as? DecodingError {
                case .keyNotFound(let key, _)?: why = "it has no \"\(key.stringValue)\""
                case .typeMismatch(_, let c)?, .valueNotFound(_, let c)?:
                    why = "\"\(c.codingPath.map(\.stringValue).joined(separator: "."))\" has the wrong kind of value"
                default: why = "it does not parse as JSON"
                }
                printError("hdiov: \(file) is not mdevctl's JSON: \(why)\n  expected {\"mdev_type\": \"...\", \"start\": \"auto\", \"attrs\": [...]}")
                throw ExitCode(65)
            }
            let name = (file as NSString).lastPathComponent
            let u = uuid ?? (MdevUUID.normalize(name) != nil ? name : MdevUUID.generate())
            definition = try managed { () throws(ManagerError) in try config.definition(uuid: u, parent: parent, module: manager.module) }
        } else {
            guard let type else { throw ValidationError("give --type (or --from-mdevctl FILE)") }
            definition = Definition(uuid: uuid ?? MdevUUID.generate(), parent: parent, type: type, start: start,
                                    queuePairs: queuePairs, weight: weight)
        }
        guard MdevUUID.normalize(definition.uuid) != nil else {
            printError("hdiov: '\(definition.uuid)' is not a UUID: it takes 8-4-4-4-12 hexadecimal digits")
            throw ExitCode(2)
        }
        try managed { () throws(ManagerError) in try manager.check(definition: definition) }
        if store.exists(definition.uuid) && !force {
            printError("hdiov: cannot define \(definition.uuid): it is already defined (\(target.environment.definition(definition.uuid)))\n  next: `hdiov undefine \(definition.uuid)` first, or --force to replace it")
            throw ExitCode(1)
        }
        try managed { () throws(ManagerError) in try store.save(definition) }
        print(definition.uuid)
    }
}

struct UndefineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "undefine", abstract: "Forget a device definition (the device, if running, stays).")

    @Argument(help: "The device's UUID.")
    var uuid: String

    @OptionGroup var target: DeviceManagerOptions

    func run() throws {
        let store = target.store()
        try managed { () throws(ManagerError) in try store.remove(uuid) }
    }
}

struct StartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Create the device of a definition.")

    @Argument(help: "The device's UUID.")
    var uuid: String

    @OptionGroup var target: DeviceManagerOptions

    func run() throws {
        let manager = try target.manager()
        let store = target.store()
        let device = try managed { () throws(ManagerError) in try manager.start(try store.load(uuid)) }
        print(device.uuid)
    }
}

struct StopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Remove the device of a definition (the definition stays).")

    @Argument(help: "The device's UUID.")
    var uuid: String

    @OptionGroup var target: DeviceManagerOptions

    func run() throws {
        let manager = try target.manager()
        let store = target.store()
        try managed { () throws(ManagerError) in
            let d = try store.load(uuid)
            try manager.remove(uuid: d.uuid)
        }
    }
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Print a definition as mdevctl's JSON (for /etc/mdevctl.d/<parent>/<uuid>).")

    @Argument(help: "The device's UUID.")
    var uuid: String

    @OptionGroup var target: DeviceManagerOptions

    func run() throws {
        let manager = try target.manager()
        let store = target.store()
        let d = try managed { () throws(ManagerError) in try store.load(uuid) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(MdevctlConfig(d, module: manager.module)), as: UTF8.self))
    }
}

struct AutostartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autostart",
        abstract: "Start the start=auto definitions of a parent (run by the udev rule when it registers).")

    @Argument(help: "The parent, e.g. hdiov0 (udev's $kernel).")
    var parent: String

    @OptionGroup var target: DeviceManagerOptions

    func run() throws {
        let manager = try target.manager()
        let store = target.store()
        let defs = try managed { () throws(ManagerError) in try store.all() }.filter { $0.parent == parent && $0.start == .auto }
        var failed = 0
        for d in defs {
            if manager.isActive(d.uuid) {
                printError("hdiov: \(d.uuid) is already running")
                continue
            }
            do {
                try manager.start(d)
                print(d.uuid)
            } catch {
                failed += 1
                printError("hdiov: " + error.description)
            }
        }
        if failed > 0 { throw ExitCode(1) }
    }
}

struct UdevRuleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "udev-rule",
        abstract: "Print (or install) the udev rule that runs `hdiov autostart` when a parent registers.")

    @Option(help: ArgumentHelp("Write it as <dir>/90-hdiov-autostart.rules (e.g. /run/udev/rules.d).", valueName: "dir"))
    var install: String?

    @OptionGroup var target: DeviceManagerOptions

    func run() throws {
        let manager = try target.manager()
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.resolvingSymlinksInPath().path
        var command = "\(binary) autostart $kernel"
        if target.sysfsRoot != "/" { command += " --sysfs-root \(target.sysfsRoot)" }
        if let dir = target.configDir ?? ProcessInfo.processInfo.environment["HDIOV_CONFIG_DIR"] { command += " --config-dir \(dir)" }
        if let spec = target.spec { command += " --spec \(spec)" }
        let rule = """
            # hdiov: start the start=auto definitions of a \(manager.module) parent when it registers.
            ACTION=="change", SUBSYSTEM=="\(manager.module)", ENV{MDEV_STATE}=="registered", RUN+="\(command)"

            """
        guard let install else {
            print(rule, terminator: "")
            return
        }
        let path = (install as NSString).appendingPathComponent("90-hdiov-autostart.rules")
        try managed { () throws(ManagerError) in try DefinitionStore.writeAtomically(Data(rule.utf8), to: path) }
        print(path)
    }
}
