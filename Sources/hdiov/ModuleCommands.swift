import ArgumentParser
import Foundation
import HDIOVMock
import HDIOVModules
import HDIOVSysfs

struct LoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Load the module with its dependencies (vfio, vfio_iommu_type1, mdev) through libkmod.",
        discussion: """
            The dependencies are resolved by name in the running kernel's modules.dep, as \
            modprobe does; then the module's .ko is inserted with the parameters given. The \
            default .ko is the newest one `hdiov build` wrote for the running kernel (or for \
            --kernel-release R); the module's name is the one the .ko declares.
            """)

    @Option(help: ArgumentHelp("The module file (default: `hdiov build`'s .ko for the running kernel).", valueName: "path.ko"))
    var module: String?

    @Option(help: ArgumentHelp("Use the build for this kernel release instead of `uname -r`.", valueName: "release"))
    var kernelRelease: String?

    @Option(help: ArgumentHelp("Device spec naming the module whose build to load (default: the newest build; no spec is read).", valueName: "file"))
    var spec: String?

    @Argument(help: ArgumentHelp("Module parameters.", valueName: "param=value"))
    var parameters: [String] = []

    func validate() throws {
        for p in parameters where !p.contains("=") || p.hasPrefix("=") {
            throw ValidationError("module parameters take the form NAME=VALUE, got '\(p)'")
        }
    }

    func run() throws {
        let name = try spec.map { try loadDeviceSpec($0).module }
        let path = try module ?? defaultModulePath(name: name, release: kernelRelease ?? KernelModules.runningRelease())
        let loaded = try moduleOperation { () throws(ModuleError) -> String in
            try KernelModules.requireFile(path)
            return try KernelModules().load(path: path, parameters: parameters)
        }
        print("loaded \(loaded) from \(path)")
    }
}

/// The .ko `hdiov build` wrote for `release`: in `.build/kmod/<release>/`, else the newest
/// build for the same major.minor (Debian's 6.1.0-N-amd64 headers are 6.1.x). `name`: that
/// module's `<name>.ko`; nil: the newest .ko there.
func defaultModulePath(name: String?, release: String) throws -> String {
    let paths = ProjectPaths()
    let fm = FileManager.default
    let file = name.map { "\($0).ko" }
    let modified = { (p: String) in ((try? fm.attributesOfItem(atPath: p))?[.modificationDate] as? Date) ?? .distantPast }
    /// The module files of one build directory.
    func modules(in dir: String) -> [String] {
        if let file {
            let path = (dir as NSString).appendingPathComponent(file)
            return fm.fileExists(atPath: path) ? [path] : []
        }
        return ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".ko") }.sorted()
            .map { (dir as NSString).appendingPathComponent($0) }
    }
    let exact = paths.moduleBuild(release: release)
    if let newest = modules(in: exact).max(by: { modified($0) < modified($1) }) { return newest }
    let base = (paths.moduleBuild(release: "x") as NSString).deletingLastPathComponent
    let series = release.split(separator: ".").prefix(2).joined(separator: ".") + "."
    let candidates = ((try? fm.contentsOfDirectory(atPath: base)) ?? [])
        .filter { $0.hasPrefix(series) }
        .flatMap { modules(in: (base as NSString).appendingPathComponent($0)) }
    if let newest = candidates.max(by: { modified($0) < modified($1) }) { return newest }
    let shown = file ?? "*.ko"
    printError("""
        hdiov: no \(file ?? "module") built for kernel \(release)
          looked for \((exact as NSString).appendingPathComponent(shown)) and \(base)/\(series)*/\(shown): ENOENT (No such file or directory)
          next: build it (`hdiov build`, or `hdiov build --kernel 6.1|6.12`), or name the .ko with --module
        """)
    throw ExitCode(1)
}

/// Run a libkmod operation; a `ModuleError` prints its explanation and exits 1.
@discardableResult
func moduleOperation<T>(_ body: () throws(ModuleError) -> T) throws -> T {
    do {
        return try body()
    } catch {
        printError("hdiov: " + error.description)
        throw ExitCode(1)
    }
}

struct UnloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unload",
        abstract: "Unload the module; refuses while VDEVs exist (--force removes them first).")

    @Flag(help: "Remove every VDEV first.")
    var force = false

    @OptionGroup var target: DeviceManagerOptions

    func run() throws {
        let manager = try target.manager()
        let devices = try managed { () throws(ManagerError) in try manager.list() }
        if !devices.isEmpty {
            if !force {
                printError("""
                    hdiov: cannot unload \(manager.module): \(devices.count == 1 ? "1 device exists" : "\(devices.count) devices exist")
                    \(devices.map { "  \($0.uuid) (\($0.type) on \($0.parent))" }.joined(separator: "\n"))
                      next: remove them (`hdiov remove UUID`), or unload with --force to remove them first
                    """)
                throw ExitCode(1)
            }
            for d in devices {
                try managed { () throws(ManagerError) in try manager.remove(uuid: d.uuid) }
                printError("hdiov: removed \(d.uuid)")
            }
        }
        if manager.backend is MockKernel {
            // Nothing is left to do: the devices are gone and a mock tree has no module.
            printError("""
                hdiov: \(target.sysfsRoot) is a mock tree: it has no module to remove, so its parents stay registered
                  next: `hdiov mock init --force \(target.sysfsRoot)` rebuilds it from scratch
                """)
            print("no module to unload (mock tree)")
            return
        }
        try moduleOperation { () throws(ModuleError) in try KernelModules().remove(name: manager.module) }
        print("unloaded \(manager.module)")
    }
}

/// What `hdiov status --json` prints (docs/cli-json.md).
struct ModuleStatus: Encodable {
    struct ParentStatus: Encodable {
        var name: String
        var qp_total: Int
        var qp_free: Int
        var vdev_count: Int
        var vdev_max: Int
    }

    var version = 1
    var module: String
    var state: String
    var refcount: Int?
    var holders: [String]
    var parameters: [String: String]
    var parents: [ParentStatus]
    var devices: Int
    /// The spec the loaded module came from, when its file is known (omitted otherwise).
    struct Spec: Encodable {
        var name: String
        var hash: String
        var file: String
    }
    var spec: Spec?
}

/// The spec the loaded module was generated from (its modinfo `hdiov_spec`, `hdiov_spec_hash`),
/// read from a module file that is the loaded one: same `srcversion` as /sys/module shows.
/// The file is `--module`, else the loaded module's path as libkmod knows it (installed in
/// /lib/modules, e.g. by DKMS), else the newest one `hdiov build` wrote.
extension StatusCommand {
    func specOfLoadedModule(_ manager: DeviceManager) -> ModuleStatus.Spec? {
        let env = manager.environment
        guard let loaded = try? RealSysfs().read(env.moduleAttribute(manager.module, "srcversion")),
              let kmod = try? KernelModules() else { return nil }
        var candidates: [String] = []
        if let module { candidates.append(module) }
        if let path = kmod.path(ofLoaded: manager.module) { candidates.append(path) }
        if let built = try? defaultModulePath(name: manager.module, release: KernelModules.runningRelease()) {
            candidates.append(built)
        }
        for file in candidates {
            guard let info = kmod.modinfo(ofFile: file),
                  info.first(where: { $0.key == "srcversion" })?.value == loaded,
                  let record = kmod.specRecord(ofFile: file) else { continue }
            return .init(name: record.name, hash: record.hash, file: file)
        }
        return nil
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the module: loaded or not, its refcount, parameters and parents.")

    @Flag(help: "Print JSON (docs/cli-json.md).")
    var json = false

    @Option(help: ArgumentHelp("The module file to describe: its spec is shown when it is the loaded module (same srcversion); default: the newest one `hdiov build` wrote.", valueName: "ko"))
    var module: String?

    @OptionGroup var target: DeviceManagerOptions

    func run() throws {
        let manager = try target.manager()
        let spec = specOfLoadedModule(manager)
        let env = manager.environment
        let loaded = manager.loadedModule()
        let (name, state, refcount, parameters) = (loaded.name, loaded.state, loaded.refcount, loaded.parameters)
        let parents = (try? manager.parents()) ?? []
        let devices = (try? manager.list())?.count ?? 0
        let status = ModuleStatus(
            module: name, state: state, refcount: refcount, holders: loaded.holders,
            parameters: parameters,
            parents: parents.map { .init(name: $0.name, qp_total: $0.qpTotal, qp_free: $0.qpFree, vdev_count: $0.vdevCount, vdev_max: $0.vdevMax) },
            devices: devices, spec: spec)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(status), as: UTF8.self))
            return
        }
        print("module \(name): \(state)" + (refcount.map { ", refcount \($0)" } ?? "")
              + (status.holders.isEmpty ? "" : ", used by " + status.holders.joined(separator: ", ")))
        if loaded.isAbsent {
            print("  \(env.module(name)) does not exist; `hdiov load` loads it")
            return
        }
        if let spec { print("spec: \(spec.name) (hash \(spec.hash)), from \(spec.file)") }
        print("parameters: " + (parameters.isEmpty ? "none" : parameters.keys.sorted().map { "\($0)=\(parameters[$0]!)" }.joined(separator: " ")))
        if parents.isEmpty {
            print("parents: none registered")
        } else {
            print(table(["PARENT", "QP_TOTAL", "QP_FREE", "VDEVS", "VDEV_MAX"],
                        parents.map { [$0.name, "\($0.qpTotal)", "\($0.qpFree)", "\($0.vdevCount)", "\($0.vdevMax)"] }))
        }
        print("devices: \(devices)")
    }
}
