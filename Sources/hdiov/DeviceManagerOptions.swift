import ArgumentParser
import Foundation
import HDIOVMock
import HDIOVSysfs

#if canImport(Glibc)
import Glibc
#endif

/// Where the device commands look: the sysfs root (a mock tree is recognised by its
/// marker and driven through the mock kernel). The module is the one whose parents the
/// tree has; a spec is read only when `--spec` names one.
struct DeviceManagerOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Directory holding sys/ and dev/: / for the running kernel, or a tree made by `hdiov mock init`.",
        valueName: "dir"))
    var sysfsRoot: String = "/"

    @Option(help: ArgumentHelp(
        "Device spec naming the module (default: the module whose parents are registered; no spec is read).",
        valueName: "file"))
    var spec: String?

    @Option(help: ArgumentHelp(
        "Where device definitions are kept (default: $HDIOV_CONFIG_DIR, else <sysfs-root>/etc/hdiov/devices).",
        valueName: "dir"))
    var configDir: String?

    var environment: SysfsEnvironment {
        let env = ProcessInfo.processInfo.environment["HDIOV_CONFIG_DIR"].flatMap { $0.isEmpty ? nil : $0 }
        return SysfsEnvironment(root: sysfsRoot, configDirectory: configDir ?? env)
    }

    /// The definitions of this root.
    func store() -> DefinitionStore { DefinitionStore(environment: environment) }

    /// The manager for this root: through the mock kernel when the root is a mock tree.
    func manager() throws -> DeviceManager {
        var isDirectory: ObjCBool = false
        // An existing directory without sys/ is a root without the module (an empty list); a
        // file or a missing path is a mistake.
        guard FileManager.default.fileExists(atPath: sysfsRoot, isDirectory: &isDirectory), isDirectory.boolValue else {
            printError("hdiov: --sysfs-root \(sysfsRoot) is not a sysfs tree: it is not a directory\n"
                       + "  next: give / for the running kernel, or a tree made by `hdiov mock init DIR`")
            throw ExitCode(1)
        }
        let backend = MockKernel.backend(forRoot: sysfsRoot)
        if let spec {
            return DeviceManager(environment: environment, module: try loadDeviceSpec(spec).module, backend: backend)
        }
        // No parents registered: a mock tree still knows its module.
        var fallback: String?
        if let mock = backend as? MockKernel, DeviceManager.registeredModules(environment: environment, backend: mock).isEmpty {
            do {
                fallback = try mock.module()
            } catch {
                printError("hdiov: \(error.description)")
                throw ExitCode(1)
            }
        }
        return try managed { () throws(ManagerError) in
            try DeviceManager.discover(environment: environment, backend: backend, fallback: fallback)
        }
    }
}

/// Run a manager operation; a `ManagerError` prints its explanation and exits 2 for a
/// usage error, 1 when the operation failed (docs/cli-exit-codes.md).
@discardableResult
func managed<T>(_ body: () throws(ManagerError) -> T) throws -> T {
    do {
        return try body()
    } catch {
        printError("hdiov: " + error.description)
        throw ExitCode(error.kind == .usage ? 2 : 1)
    }
}

/// Left-aligned columns, two spaces apart, the last one unpadded.
func table(_ header: [String], _ rows: [[String]]) -> String {
    let all = [header] + rows
    var widths = [Int](repeating: 0, count: header.count)
    for row in all { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
    return all.map { row in
        row.enumerated().map { i, cell in
            i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }.joined(separator: "\n")
}

/// A note for a person at a terminal (nothing when stdout is a pipe or file).
func noteIfInteractive(_ text: String) {
    if isatty(STDOUT_FILENO) != 0 { printError(text) }
}
