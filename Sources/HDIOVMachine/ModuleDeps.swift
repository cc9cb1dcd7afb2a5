import Foundation

/// A parsed `modules.dep` (+ `modules.builtin`) of one kernel: enough to load modules in order (pure).
struct ModuleDependencies {
    /// Module path (relative to the modules dir) → its dependencies' paths.
    private(set) var dependencies: [String: [String]] = [:]
    /// Normalised module name → path.
    private(set) var paths: [String: String] = [:]
    /// Normalised names of built-in modules.
    private(set) var builtin: Set<String> = []

    init(modulesDep: String, modulesBuiltin: String = "") {
        for line in modulesDep.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let path = String(line[..<colon]).trimmingCharacters(in: .whitespaces)
            let deps = line[line.index(after: colon)...].split(separator: " ").map(String.init)
            dependencies[path] = deps
            paths[Self.name(ofPath: path)] = path
        }
        for line in modulesBuiltin.split(separator: "\n") where !line.isEmpty {
            builtin.insert(Self.name(ofPath: String(line)))
        }
    }

    /// `kernel/fs/9p/9p.ko.xz` → `9p`; dashes become underscores as the kernel does.
    static func name(ofPath path: String) -> String {
        var base = String(path.split(separator: "/").last ?? Substring(path))
        for ext in [".xz", ".zst", ".gz"] where base.hasSuffix(ext) { base.removeLast(ext.count) }
        if base.hasSuffix(".ko") { base.removeLast(3) }
        return normalise(base)
    }

    static func normalise(_ name: String) -> String { name.replacingOccurrences(of: "-", with: "_") }

    enum LookupError: Error, CustomStringConvertible {
        case unknownModule(String)
        var description: String {
            switch self { case let .unknownModule(m): return "module \(m) is neither built in nor in modules.dep" }
        }
    }

    /// The module files to insert, dependencies first, each once; built-in modules are skipped.
    func loadOrder(for wanted: [String]) throws -> [String] {
        var order: [String] = []
        var seen: Set<String> = []
        func visit(_ path: String) {
            guard seen.insert(path).inserted else { return }
            // modules.dep lists the full closure; recursing keeps the order right even if it did not.
            for dep in (dependencies[path] ?? []).reversed() { visit(dep) }
            order.append(path)
        }
        for name in wanted {
            let n = Self.normalise(name)
            if let path = paths[n] { visit(path) } else if builtin.contains(n) { continue } else {
                throw LookupError.unknownModule(name)
            }
        }
        return order
    }
}
