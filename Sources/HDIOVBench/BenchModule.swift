import Foundation
import HDIOVModules
import HDIOVSysfs

/// A benchmark that could not be set up: what, and why.
public struct BenchError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Our module in the embedded machine as the benchmarks use it: loaded and unloaded through
/// libkmod (HDIOVModules), its name, parents and types read from the tree (no spec needed).
public struct BenchModule: Sendable {
    /// The module name (`hdiov`).
    public let name: String
    /// Its .ko, when known: needed to reload it with other parameters.
    public let path: String?
    public let manager: DeviceManager

    init(name: String, path: String?, environment: SysfsEnvironment) {
        self.name = name
        self.path = path
        self.manager = DeviceManager(environment: environment, module: name)
    }

    /// The registered parents (`hdiov0`, `hdiov1`, …).
    public var parents: [String] { manager.parentNames() }

    /// The first parent; fails when none is registered.
    public func firstParent() throws -> String {
        guard let p = parents.first else { throw BenchError("\(name) has no parents registered in \(manager.environment.parentBase)") }
        return p
    }

    /// The type the benchmarks create (`hdiov-1qp`): the smallest fixed type of the first parent.
    public func benchType() throws -> String {
        let parent = try firstParent()
        guard let t = try manager.smallestFixedType(parent: parent) else { throw BenchError("\(parent) has no mdev types") }
        return t.id
    }

    /// The engine threads it runs with (its `engine_threads` parameter).
    public var engineThreads: Int? { DatapathBench.engineThreads(module: name) }

    /// Load the .ko at `path` with its dependencies, as `hdiov load` does.
    public static func load(_ path: String, parameters: [String] = [],
                            environment: SysfsEnvironment = SysfsEnvironment()) throws -> BenchModule {
        let name: String
        do {
            name = try KernelModules().load(path: path, parameters: parameters)
        } catch {
            throw BenchError("could not load \(path)\n" + error.description)
        }
        return BenchModule(name: name, path: path, environment: environment)
    }

    /// The module to measure: `name` (else the one the .ko at `path` declares, else the one
    /// module whose parents are registered) when it is loaded; otherwise the .ko at `path`,
    /// loaded now.
    public static func prepare(name: String?, path: String?, environment: SysfsEnvironment = SysfsEnvironment()) throws -> BenchModule {
        let registered = DeviceManager.registeredModules(environment: environment)
        let known = name ?? path.flatMap { p in (try? KernelModules())?.name(ofFile: p) }
        if let known, registered.contains(known) { return BenchModule(name: known, path: path, environment: environment) }
        if known == nil, registered.count == 1 { return BenchModule(name: registered[0], path: path, environment: environment) }
        guard let path else {
            throw BenchError(registered.count > 1
                ? "several modules have parents registered (\(registered.joined(separator: ", "))); name one with --spec"
                : "\(known ?? DeviceManager.defaultModule) is not loaded; give --module")
        }
        return try load(path, environment: environment)
    }

    /// Unload it (`delete_module`).
    public func unload() throws {
        do {
            try KernelModules().remove(name: name)
        } catch {
            throw BenchError(error.description)
        }
    }

    /// Unload it and load its .ko again with `parameters`; false when that failed (or the .ko
    /// is not known).
    public func reload(parameters: [String]) -> Bool {
        guard let path else { return false }
        do {
            let kmod = try KernelModules()
            try kmod.remove(name: name)
            try kmod.insert(path: path, parameters: parameters)
            return true
        } catch {
            return false
        }
    }
}
