import Foundation
import HDIOVSpec
import HDIOVSysfs

/// Runs the conformance scenario against a tree (the mock kernel's or the live one) and
/// writes down what it sees: the tree (every directory, file with its mode, and link under
/// each parent), every readable attribute after each step (as changes since the step
/// before), and the outcome of each write (`ok` or the errno's name).
///
/// It talks to the tree only through `SysfsBackend` and `SysfsEnvironment`, so the same
/// record comes out of the mock and of the module when they behave alike. UUIDs are shown
/// as the scenario's device names and IOMMU group numbers as `group-1`, `group-2`, … in
/// the order they first appear, so the record does not depend on what else the system has.
public final class ConformanceRecorder {
    public let scenario: ConformanceScenario
    public let environment: SysfsEnvironment
    public let backend: any SysfsBackend

    /// Entries the kernel adds on its own and that differ between kernel versions
    /// (runtime PM, the VFIO cdev of 6.2+): not part of the contract, not recorded.
    public static let ignoredNames: Set<String> = ["power", "vfio-dev"]

    private var lines: [String] = []
    private var groups: [String: String] = [:]
    private var previous: [String: String] = [:]
    private let names: [String: String]

    public init(scenario: ConformanceScenario, environment: SysfsEnvironment, backend: any SysfsBackend) {
        self.scenario = scenario
        self.environment = environment
        self.backend = backend
        var names: [String: String] = [:]
        for (name, uuid) in ConformanceScenario.uuids { names[uuid.lowercased()] = name }
        self.names = names
    }

    var spec: DeviceSpec { scenario.spec }
    var env: SysfsEnvironment { environment }

    /// Run the whole scenario and return the record (one line per fact, ending in a newline).
    public func run() -> String {
        lines = ["# hdiov conformance record (Sources/HDIOVConformance): module \(spec.module), "
                 + "\(spec.pfs) parents, types " + spec.types.map(\.id).joined(separator: " ")]
        groups = [:]
        previous = [:]
        lines.append("== initial")
        let first = snapshot(listing: true)
        lines.append("values:")
        for key in first.keys.sorted() { lines.append("  \(key) = \(first[key]!)") }
        previous = first

        var n = 0
        for step in scenario.openingSteps() { n += 1; perform(step, number: n) }
        var hogs = 0
        while hogs < 64, (try? qpFree(spec.parentNames[0])) ?? 0 > 0 {
            hogs += 1
            for step in scenario.drainSteps(hogs) { n += 1; perform(step, number: n) }
        }
        for step in scenario.closingSteps(hogs: hogs) { n += 1; perform(step, number: n) }
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: Steps

    func path(_ target: ConformanceStep.Target) -> (path: String, shown: String) {
        switch target {
        case .create(let parent, let type):
            let dir = "\(spec.module)-\(type)"
            return (env.typeAttribute(parent, dir, "create"), "\(parent)/mdev_supported_types/\(dir)/create")
        case .remove(let device):
            return (env.deviceEntry(ConformanceScenario.uuid(device), "remove"), "\(device)/remove")
        case .attribute(let device, let name):
            return (env.deviceAttribute(ConformanceScenario.uuid(device), module: spec.module, name),
                    "\(device)/\(spec.module)/\(name)")
        }
    }

    func perform(_ step: ConformanceStep, number: Int) {
        let (path, shown) = path(step.target)
        var value = step.value
        if let parent = step.drainPool, case .attribute(let device, _) = step.target {
            let current = (try? Int(backend.read(env.deviceAttribute(ConformanceScenario.uuid(device), module: spec.module, "queue_pairs")))) ?? nil
            let free = (try? qpFree(parent)) ?? 0
            value = "\(min(spec.maxQpsPerVdev, free + (current ?? 0)))"
        }
        var written = value
        var display = "'\(value)'"
        if case .create = step.target {
            if let uuid = ConformanceScenario.uuids.first(where: { $0.name == value })?.uuid {
                written = uuid
                display = value
            } else if let name = names[value.lowercased()] {
                display = "\(name) (in upper case)"
            }
        }
        let outcome: String
        do {
            try backend.write(path, written)
            outcome = "ok"
        } catch {
            outcome = Errno.name(error.errno)
        }
        lines.append("== step \(number): \(step.note)")
        lines.append("write \(display) to \(shown): \(outcome)")
        let now = snapshot(listing: step.listTree)
        var changes: [String] = []
        for key in Set(now.keys).union(previous.keys).sorted() {
            switch (previous[key], now[key]) {
            case (nil, let v?): changes.append("  + \(key) = \(v)")
            case (_?, nil): changes.append("  - \(key)")
            case (let a?, let b?) where a != b: changes.append("  ~ \(key) = \(b)")
            default: break
            }
        }
        lines += changes.isEmpty ? ["  (no change)"] : changes
        previous = now
    }

    func qpFree(_ parent: String) throws -> Int {
        guard let n = Int(try backend.read(env.parentAttribute(parent, "qp_free"))) else { return 0 }
        return n
    }

    // MARK: The tree

    /// Every readable attribute under the parents (shown path → value), appending the
    /// tree listing to the record when asked.
    func snapshot(listing: Bool) -> [String: String] {
        var values: [String: String] = [:]
        var tree: [String] = []
        for parent in spec.parentNames {
            walk(env.parent(parent), shown: parent, values: &values, tree: &tree)
        }
        if listing {
            lines.append("tree:")
            lines += tree.sorted { $0.dropFirst(7) < $1.dropFirst(7) }.map { "  " + $0 }
        }
        return values
    }

    func walk(_ dir: String, shown: String, values: inout [String: String], tree: inout [String]) {
        for name in backend.list(dir) where !Self.ignoredNames.contains(name) {
            let path = (dir as NSString).appendingPathComponent(name)
            let display = shown + "/" + (names[name] ?? name)
            guard let entry = backend.entry(path) else { continue }
            switch entry.kind {
            case .directory:
                tree.append("d      \(display)")
                walk(path, shown: display, values: &values, tree: &tree)
            case .link:
                let target = linkTarget(name: name, path: path)
                tree.append("l      \(display) -> \(target)")
                values[display] = "-> " + target
            case .file:
                tree.append("f \(String(format: "%04o", entry.mode)) \(display)")
                if entry.mode & 0o444 != 0 {
                    do {
                        values[display] = escape(try backend.read(path))
                    } catch {
                        values[display] = "<\(Errno.name(error.errno))>"
                    }
                }
            case .other:
                tree.append("?      \(display)")
            }
        }
    }

    func linkTarget(name: String, path: String) -> String {
        let target = backend.linkName(path) ?? "?"
        if name == "iommu_group" { return group(target) }
        return names[target] ?? target
    }

    func group(_ number: String) -> String {
        if let g = groups[number] { return g }
        let g = "group-\(groups.count + 1)"
        groups[number] = g
        return g
    }

    func escape(_ text: String) -> String {
        var t = text
        for (uuid, name) in names where t.contains(uuid) { t = t.replacingOccurrences(of: uuid, with: name) }
        return t.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }
}
