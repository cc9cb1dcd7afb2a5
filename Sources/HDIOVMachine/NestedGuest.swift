import Foundation

// The nested guest (issue #12): inside the embedded machine ("the outer machine", with the host
// module loaded and VDEVs created) `hdiov vm run --vfio-mdev UUID` boots a second-level guest
// ("an inner guest": the same Debian kernel, TCG, its root the outer machine's root over 9p)
// with the VDEVs passed through as vfio-pci devices.
//
// This file is the pure part: option and command-line building, VDEV placement, output
// prefixing, timing lines and the dmesg check; `NestedRunner` (the outer machine's side) and
// `hdiov vm run --nested` (the host's side) use it.

/// One VDEV that every inner guest gets: `TYPE[@PARENT]`, e.g. `1qp`, `4qp@hdiov1`, or a whole
/// mdev type directory name (`hdiov-4qp`).
public struct VDEVRequest: Equatable, Sendable, CustomStringConvertible {
    /// The type as the spec names it (`1qp`) or its mdev type directory (`hdiov-1qp`).
    public var type: String
    /// The parent to create it on; nil: the guests' VDEVs are spread over the parents offering the type.
    public var parent: String?

    public init(type: String, parent: String? = nil) {
        self.type = type
        self.parent = parent
    }

    /// Parses `TYPE[@PARENT]`; nil when either part is empty or not a plain name.
    public init?(argument: String) {
        let parts = argument.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        func plain(_ s: String) -> Bool {
            !s.isEmpty && s != "." && s != ".." && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.:".contains($0)) }
        }
        guard plain(parts[0]), parts.count == 1 || plain(parts[1]) else { return nil }
        type = parts[0]
        parent = parts.count == 2 ? parts[1] : nil
    }

    public var description: String { parent.map { "\(type)@\($0)" } ?? type }

    /// One `1qp` VDEV (on the first parent offering it; the next guest's on the next).
    public static let `default` = VDEVRequest(type: "1qp")
}

/// A registered mdev parent and the type directories under its `mdev_supported_types/`.
public struct MdevParent: Equatable, Sendable {
    public var name: String
    public var typeDirectories: [String]

    public init(name: String, typeDirectories: [String]) {
        self.name = name
        self.typeDirectories = typeDirectories
    }
}

/// Where one VDEV is created: `/sys/class/mdev_bus/<parent>/mdev_supported_types/<type>/create`.
public struct VDEVSlot: Equatable, Sendable {
    public var parent: String
    public var typeDirectory: String

    public init(parent: String, typeDirectory: String) {
        self.parent = parent
        self.typeDirectory = typeDirectory
    }

    public func createPath(sysfs: String = "/sys") -> String {
        "\(sysfs)/class/mdev_bus/\(parent)/mdev_supported_types/\(typeDirectory)/create"
    }
}

/// What the outer machine does: which module, which VDEVs, how many inner guests and their size.
public struct NestedOptions: Sendable, Equatable {
    /// The host module (`.ko`), an absolute path the outer machine sees.
    public var hostModule: String
    /// Its name (`modinfo -F name`): the prefix of its mdev type directories and what `rmmod` takes.
    public var moduleName: String
    /// The VDEVs each inner guest gets.
    public var vdevs: [VDEVRequest]
    /// Inner guests run at once.
    public var guests: Int
    public var innerMemoryMiB: Int
    public var innerCPUs: Int
    /// Each inner guest's `--timeout`.
    public var innerTimeout: Double
    /// `K=V` for the inner command (`--env` of the inner `vm run`).
    public var innerEnvironment: [String]
    /// Start systemd-udevd in the inner guests.
    public var innerUdev: Bool
    /// Boot the inner guests' uncompressed kernel through PVH (`FastBoot`).
    public var innerFastBoot: Bool
    /// No progress lines of the inner `vm run`s (their timings are still reported).
    public var quiet: Bool

    public init(hostModule: String, moduleName: String, vdevs: [VDEVRequest] = [.default], guests: Int = 1,
                innerMemoryMiB: Int = Nested.defaultInnerMemoryMiB, innerCPUs: Int = 1,
                innerTimeout: Double = Nested.innerTimeout(outer: Nested.defaultTimeout(guests: 1)),
                innerEnvironment: [String] = [], innerUdev: Bool = false, innerFastBoot: Bool = true, quiet: Bool = false) {
        self.hostModule = hostModule
        self.moduleName = moduleName
        self.vdevs = vdevs
        self.guests = guests
        self.innerMemoryMiB = innerMemoryMiB
        self.innerCPUs = innerCPUs
        self.innerTimeout = innerTimeout
        self.innerEnvironment = innerEnvironment
        self.innerUdev = innerUdev
        self.innerFastBoot = innerFastBoot
        self.quiet = quiet
    }
}

public enum Nested {
    public static let defaultInnerMemoryMiB = 512
    /// The outer machine's memory: its own 1 GiB, plus per inner guest its RAM and QEMU's
    /// (TCG translation buffers, 9p, the 60 MiB uncompressed kernel of the fast boot) — 704 MiB for
    /// the default 512 MiB guest.
    public static func outerMemoryMiB(guests: Int, innerMemoryMiB: Int = defaultInnerMemoryMiB) -> Int {
        1024 + guests * (innerMemoryMiB + 192)
    }

    /// The outer machine runs all vCPUs on one host thread (`thread=single`): more vCPUs add no
    /// speed, but let its scheduler run every inner QEMU (and us) without waiting for a tick.
    public static func outerCPUs(guests: Int) -> Int { max(2, guests + 1) }

    /// TCG inside TCG: an inner guest boots in minutes, and guests started together share one host thread.
    public static func defaultTimeout(guests: Int) -> Double { 1200 + 900 * Double(guests) }

    /// What an inner guest may take of the outer run's time: the rest is the outer boot and the cleanup.
    public static func innerTimeout(outer: Double) -> Double { max(60, outer - 150) }

    /// The hidden subcommand the outer machine runs.
    public static let outerSubcommand = ["vm", "nested-guests"]

    /// `hdiov vm nested-guests …`: the command the host gives the outer machine.
    public static func outerCommand(hdiov: String, kernel: KernelChoice, options o: NestedOptions,
                                    command: [String]) -> [String] {
        var args = [hdiov] + outerSubcommand + [
            "--kernel", kernel.rawValue,
            "--host-module", o.hostModule,
            "--module-name", o.moduleName,
            "--guests", String(o.guests),
            "--inner-memory", String(o.innerMemoryMiB),
            "--inner-cpus", String(o.innerCPUs),
            "--inner-timeout", MachineError.seconds(o.innerTimeout),
        ]
        for v in o.vdevs { args += ["--vdev", v.description] }
        for kv in o.innerEnvironment { args += ["--env", kv] }
        if o.innerUdev { args.append("--udev") }
        args.append(o.innerFastBoot ? "--fast-boot" : "--no-fast-boot")
        if o.quiet { args.append("--quiet") }
        return args + ["--"] + command
    }

    /// `hdiov vm run …` of one inner guest (run in the outer machine; its progress lines tell the
    /// boot time, so it is not `--quiet`).
    public static func innerCommand(hdiov: String, kernel: KernelChoice, uuids: [String], options o: NestedOptions,
                                    command: [String]) -> [String] {
        var args = [hdiov, "vm", "run", "--kernel", kernel.rawValue,
                    "--memory", String(o.innerMemoryMiB), "--cpus", String(o.innerCPUs),
                    "--timeout", MachineError.seconds(o.innerTimeout)]
        for u in uuids { args += ["--vfio-mdev", u] }
        for kv in o.innerEnvironment { args += ["--env", kv] }
        if o.innerUdev { args.append("--udev") }
        if o.innerFastBoot { args.append("--fast-boot") }
        return args + ["--"] + command
    }

    /// QEMU arguments passing mdev devices through: `-device vfio-pci,sysfsdev=/sys/bus/mdev/devices/UUID`.
    public static func vfioMdevQemuArguments(_ uuids: [String]) -> [String] {
        uuids.flatMap { ["-device", "vfio-pci,sysfsdev=/sys/bus/mdev/devices/\(VirtualMachine.qemuEscape($0))"] }
    }

    /// An mdev UUID as `create` takes it (8-4-4-4-12 hex digits).
    public static func isUUID(_ s: String) -> Bool {
        let groups = s.split(separator: "-", omittingEmptySubsequences: false)
        return groups.map(\.count) == [8, 4, 4, 4, 12] && groups.allSatisfy { $0.allSatisfy(\.isHexDigit) }
    }

    // MARK: Placing the VDEVs

    public struct PlacementError: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// The type directory of `type` on `parent`: `<module>-<type>`, the name as given, or the one
    /// directory ending in `-<type>`.
    public static func typeDirectory(_ type: String, module: String, on parent: MdevParent) -> String? {
        let dirs = parent.typeDirectories
        if dirs.contains(module + "-" + type) { return module + "-" + type }
        if dirs.contains(type) { return type }
        let suffixed = dirs.filter { $0.hasSuffix("-" + type) }
        return suffixed.count == 1 ? suffixed[0] : nil
    }

    /// Each guest's VDEVs, one per request. A request with a parent goes there; one without goes,
    /// for guest K (0-based), to the K-th of the parents offering its type (round robin, parents
    /// sorted by name), so the guests' VDEVs spread over the parents.
    public static func place(_ requests: [VDEVRequest], guests: Int, module: String,
                             parents: [MdevParent]) throws -> [[VDEVSlot]] {
        let sorted = parents.sorted { $0.name < $1.name }
        func available() -> String {
            sorted.isEmpty ? "no mdev parents are registered"
                : "parents: " + sorted.map { "\($0.name) (\($0.typeDirectories.joined(separator: ", ")))" }.joined(separator: "; ")
        }
        var candidates: [[(parent: MdevParent, dir: String)]] = []
        for r in requests {
            var c: [(parent: MdevParent, dir: String)] = []
            for p in sorted where r.parent == nil || r.parent == p.name {
                if let d = typeDirectory(r.type, module: module, on: p) { c.append((p, d)) }
            }
            if c.isEmpty {
                if let want = r.parent, !sorted.contains(where: { $0.name == want }) {
                    throw PlacementError(description: "no mdev parent \(want); \(available())")
                }
                throw PlacementError(description: "no parent offers type \(r.type)"
                                     + (r.parent.map { " on \($0)" } ?? "") + " (module \(module)); \(available())")
            }
            candidates.append(c)
        }
        return (0..<guests).map { g in
            candidates.map { c in
                let pick = c[g % c.count]
                return VDEVSlot(parent: pick.parent.name, typeDirectory: pick.dir)
            }
        }
    }

    // MARK: Output

    /// `g1`, `g2`, … (1-based).
    public static func guestLabel(_ index: Int) -> String { "g\(index + 1)" }

    /// A line of guest `index`'s output as we print it: `[gK] line` when several guests run.
    public static func prefixed(_ line: String, guest index: Int, of guests: Int) -> String {
        guests > 1 ? "[\(guestLabel(index))] " + line : line
    }

    /// The inner `vm run`'s progress lines (`hdiov vm: …`), dropped with `--quiet` (its errors are kept).
    public static func isProgressLine(_ line: String) -> Bool {
        line.hasPrefix("hdiov vm: ") && !line.hasPrefix("hdiov vm: error:")
    }

    /// From `hdiov vm: guest finished in 322.8 s (boot 278.8 s), exit 0`: (total, boot, status).
    public static func parseFinished(_ line: String) -> (total: Double, boot: Double?, status: Int32)? {
        let prefix = "hdiov vm: guest finished in "
        guard let r = line.range(of: prefix) else { return nil }
        let rest = line[r.upperBound...]
        let words = rest.split(separator: " ")
        guard let total = words.first.flatMap({ Double($0) }) else { return nil }
        var boot: Double?
        if let b = rest.range(of: "(boot ") {
            boot = rest[b.upperBound...].split(separator: " ").first.flatMap { Double($0) }
        }
        guard let e = rest.range(of: "exit "), let status = Int32(rest[e.upperBound...].prefix { $0.isNumber || $0 == "-" }) else {
            return nil
        }
        return (total, boot, status)
    }

    /// One inner guest's result as the outer machine prints it (and the host reads back):
    /// `hdiov nested: g1 exit 0, boot 61.2 s, total 95.0 s`.
    public static func resultLine(guest index: Int, status: Int32, boot: Double?, total: Double?) -> String {
        var s = "hdiov nested: \(guestLabel(index)) exit \(status)"
        if let boot { s += String(format: ", boot %.1f s", boot) }
        if let total { s += String(format: ", total %.1f s", total) }
        return s
    }

    public struct GuestResult: Equatable, Sendable {
        public var guest: String
        public var status: Int32
        public var boot: Double?
        public var total: Double?
    }

    /// Parses `resultLine` (also with a `[gK] ` prefix in front, or console noise after it).
    public static func parseResultLine(_ line: String) -> GuestResult? {
        guard let r = line.range(of: "hdiov nested: g") else { return nil }
        let fields = line[r.upperBound...].components(separatedBy: ", ")
        let head = fields[0].split(separator: " ")
        guard head.count == 3, let n = Int(head[0]), head[1] == "exit", let status = Int32(head[2]) else { return nil }
        var result = GuestResult(guest: "g\(n)", status: status)
        for f in fields.dropFirst() {
            let w = f.split(separator: " ")
            guard w.count == 3, w[2] == "s", let v = Double(w[1]) else { continue }
            if w[0] == "boot" { result.boot = v } else if w[0] == "total" { result.total = v }
        }
        return result
    }

    /// The host's summary: `nested on 6.1.0-57-amd64: outer boot 14.0 s; g1 boot 61.2 s (ran 95.0 s); total 140.3 s`.
    public static func summary(release: String, outer: VirtualMachine.Timing, guests: [GuestResult]) -> String {
        var parts = ["outer boot " + (outer.boot.map { String(format: "%.1f s", $0) } ?? "?")]
        for g in guests {
            var s = "\(g.guest) boot " + (g.boot.map { String(format: "%.1f s", $0) } ?? "?")
            if let t = g.total { s += String(format: " (ran %.1f s)", t) }
            if g.status != 0 { s += ", exit \(g.status)" }
            parts.append(s)
        }
        parts.append(String(format: "total %.1f s", outer.total))
        return "nested on \(release): " + parts.joined(separator: "; ")
    }

    // MARK: The outer kernel's log

    /// dmesg lines that fail a nested run: warnings, BUGs, oopses, general protection faults,
    /// KASAN and lockdep reports.
    public static func kernelProblems(inDmesg text: String) -> [String] {
        let patterns = ["WARNING:", "BUG:", "kernel BUG", "Oops", "general protection", "KASAN", "lockdep",
                        "possible circular"]
        return text.split(separator: "\n").map(String.init).filter { line in
            patterns.contains { line.contains($0) }
        }
    }
}
