import Foundation

/// The module a tree belongs to, and what /sys/module shows of it, read from the tree
/// itself: no spec needed. Every parent an HD-IOV module registers is a class device
/// `/sys/devices/virtual/<module>/<module><n>` linked from `/sys/class/mdev_bus` and carrying
/// the contract's pool attributes (`qp_total`, …); the mock kernel lays its tree out the same.
extension DeviceManager {
    /// The contract's module name (that of specs/default.yaml): the one assumed when no
    /// module's parents are registered, so that messages still name one
    /// (`no hdiov parents are registered …`, `module hdiov: absent`).
    public static let defaultModule = "hdiov"

    /// The HD-IOV modules with parents registered under `environment`, by name (usually one;
    /// none while no module is loaded).
    public static func registeredModules(environment: SysfsEnvironment, backend: any SysfsBackend = RealSysfs()) -> [String] {
        var found = Set<String>()
        for parent in backend.list(environment.parentBase) {
            guard let module = moduleOfParent(parent, environment: environment, backend: backend) else { continue }
            found.insert(module)
        }
        return found.sorted()
    }

    /// The manager of the module whose parents are registered under `environment`;
    /// `fallback` (else `defaultModule`) while there are none; a `usage` error naming them
    /// when there are several.
    public static func discover(
        environment: SysfsEnvironment, backend: any SysfsBackend = RealSysfs(), fallback: String? = nil
    ) throws(ManagerError) -> DeviceManager {
        let found = registeredModules(environment: environment, backend: backend)
        guard found.count <= 1 else {
            throw ManagerError(
                .usage, "cannot tell which module to manage",
                reasons: ["\(environment.parentBase) has parents of several modules: " + found.joined(separator: ", ")],
                next: ["name the module's spec with --spec FILE"])
        }
        return DeviceManager(environment: environment, module: found.first ?? fallback ?? defaultModule, backend: backend)
    }

    /// The module of one registered parent: the class directory its link leads to, when the
    /// parent is named `<class><n>` and has a queue-pair pool (another driver's parents,
    /// e.g. mtty's, do not).
    static func moduleOfParent(_ parent: String, environment env: SysfsEnvironment, backend: any SysfsBackend) -> String? {
        guard let target = backend.linkTarget(env.parent(parent)) else { return nil }
        let parts = target.split(separator: "/")
        guard parts.count >= 2, parts[parts.count - 1] == parent else { return nil }
        let module = String(parts[parts.count - 2])
        guard parent.hasPrefix(module), let n = Int(parent.dropFirst(module.count)), n >= 0,
              backend.exists(env.parentAttribute(parent, "qp_total")) else { return nil }
        return module
    }

    /// What /sys/module/<module> shows: `hdiov status`.
    public func loadedModule() -> LoadedModule {
        let name = module
        let state: String
        if !backend.exists(env.module(name)) {
            state = LoadedModule.absent
        } else if let s = try? backend.read(env.moduleAttribute(name, "initstate")) {
            state = s
        } else {
            state = LoadedModule.builtin
        }
        var parameters: [String: String] = [:]
        for p in backend.list(env.moduleParameters(name)) {
            parameters[p] = (try? backend.read(env.moduleParameters(name) + "/" + p)) ?? "?"
        }
        return LoadedModule(
            name: name, state: state,
            refcount: (try? backend.read(env.moduleAttribute(name, "refcnt"))).flatMap { Int($0) },
            holders: backend.list(env.moduleHolders(name)), parameters: parameters)
    }
}

/// A module as /sys/module shows it.
public struct LoadedModule: Equatable, Sendable {
    /// `state` when /sys/module/<name> does not exist.
    public static let absent = "absent"
    /// `state` when it exists without `initstate` (built into the kernel).
    public static let builtin = "builtin"

    public var name: String
    /// `live`, `coming`, `going` (its `initstate`), `builtin` or `absent`.
    public var state: String
    /// `refcnt`, when there is one.
    public var refcount: Int?
    /// The modules using it (`holders/`).
    public var holders: [String]
    /// `parameters/*`; "?" for one that cannot be read.
    public var parameters: [String: String]

    public var isAbsent: Bool { state == Self.absent }
}

extension SysfsBackend {
    /// A symlink's target as stored, nil when `path` is not a link. Both the live tree and
    /// the mock tree are real file systems, so `readlink` serves both.
    public func linkTarget(_ path: String) -> String? { SysfsFile.linkTarget(path) }
}
