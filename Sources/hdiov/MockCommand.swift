import ArgumentParser
import Foundation
import HDIOVMock
import HDIOVSysfs

struct MockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mock",
        abstract: "A mock kernel in a directory, to try the device commands without root or the module.",
        discussion: """
            `hdiov mock init DIR` builds DIR/sys and DIR/dev as the module would show them; \
            then every device command with --sysfs-root DIR goes through the mock kernel, \
            which answers writes as the module does (errnos included).
            """,
        subcommands: [Init.self, Open.self, Close.self, Events.self])

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a mock tree with the parents and types of a spec.")

        @Argument(help: "Directory for the tree (created when missing; must be empty).")
        var directory: String

        @Option(help: "Device spec (default: specs/default.yaml of this checkout).")
        var spec: String?

        @Flag(help: "Rebuild an existing mock tree (its devices are lost).")
        var force = false

        func run() throws {
            let deviceSpec = try loadDeviceSpec(spec ?? ProjectPaths().defaultSpec)
            do {
                try MockKernel.install(at: directory, spec: deviceSpec, replace: force)
            } catch {
                printError("hdiov: \(error.description)")
                throw ExitCode(1)
            }
            print("mock \(deviceSpec.module) kernel in \(directory): parents \(deviceSpec.parentNames.joined(separator: ", ")), \(deviceSpec.types.count) types")
            print("try: hdiov types --sysfs-root \(directory)")
        }
    }

    struct Open: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Mark a device open, as a VFIO user would hold it (resize and remove then give EBUSY).")

        @Argument(help: "The device's UUID.")
        var uuid: String

        @Option(help: ArgumentHelp("The mock tree.", valueName: "dir"))
        var sysfsRoot: String

        func run() throws {
            try mockKernel(sysfsRoot) { try $0.open(uuid: uuid) }
        }
    }

    struct Close: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mark a device closed again.")

        @Argument(help: "The device's UUID.")
        var uuid: String

        @Option(help: ArgumentHelp("The mock tree.", valueName: "dir"))
        var sysfsRoot: String

        func run() throws {
            try mockKernel(sysfsRoot) { try $0.close(uuid: uuid) }
        }
    }

    struct Events: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the uevents the mock kernel sent, as `udevadm monitor --kernel --property` would.")

        @Option(help: ArgumentHelp("The mock tree.", valueName: "dir"))
        var sysfsRoot: String

        @Flag(help: "One JSON object a line.")
        var json = false

        func run() throws {
            try mockKernel(sysfsRoot) { kernel in
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                for event in kernel.events() {
                    if json {
                        print(String(decoding: try encoder.encode(event), as: UTF8.self))
                    } else {
                        print("KERNEL \(event.action) \(event.devpath) (\(event.subsystem))")
                        print(event.environment.joined(separator: "\n") + "\n")
                    }
                }
            }
        }
    }
}

/// Run `body` on the mock kernel at `root`; not a mock tree, or a refusal: exit 1.
private func mockKernel(_ root: String, _ body: (MockKernel) throws -> Void) throws {
    do {
        try body(try MockKernel(root: root))
    } catch let error as SysfsError {
        printError("hdiov: \(error.path): \(Errno.name(error.errno)) (\(Errno.meaning(error.errno)))")
        throw ExitCode(1)
    } catch let error as MockError {
        printError("hdiov: \(error.description)")
        throw ExitCode(1)
    }
}
