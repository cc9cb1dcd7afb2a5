import Foundation

/// The outer machine's side of a nested run (`hdiov vm nested-guests`, started by
/// `hdiov vm run --nested`): load VFIO, mdev and the host module, create each inner guest's
/// VDEVs, run the inner guests (`hdiov vm run --vfio-mdev …`) at once with their output
/// prefixed, then remove the VDEVs, unload the module and check the kernel log.
public struct NestedRunner {
    public let kernel: KernelChoice
    public let options: NestedOptions
    /// The `hdiov` binary the inner guests are started with (this one: the host's, seen through 9p).
    public let hdiov: String
    public let command: [String]
    public let workingDirectory: String
    public let sysfs: String

    public init(kernel: KernelChoice, options: NestedOptions, hdiov: String, command: [String],
                workingDirectory: String, sysfs: String = "/sys") {
        self.kernel = kernel
        self.options = options
        self.hdiov = hdiov
        self.command = command
        self.workingDirectory = workingDirectory
        self.sysfs = sysfs
    }

    /// The modules VFIO passthrough of an mdev needs before the host module loads.
    public static let dependencies = ["vfio_iommu_type1", "mdev", "libcrc32c"]

    /// Runs it all; returns the first failing guest's exit status, else 1 if the cleanup or the
    /// kernel log failed, else 0. Setup failures return `VirtualMachine.setupFailureStatus`.
    public func run() -> Int32 {
        let module = options.moduleName
        say("loading \(Self.dependencies.joined(separator: ", ")) and \(options.hostModule)")
        do {
            try Shell.check("modprobe", ["-a"] + Self.dependencies)
            try Shell.check("insmod", [options.hostModule])
        } catch {
            fail("cannot load the modules: \(error)")
            return VirtualMachine.setupFailureStatus
        }

        var created: [String] = []
        var status: Int32 = 0
        var cleanupFailed = false
        do {
            let slots = try Nested.place(options.vdevs, guests: options.guests, module: module, parents: parents())
            var uuids: [[String]] = []
            for (g, guestSlots) in slots.enumerated() {
                var mine: [String] = []
                for slot in guestSlots {
                    let uuid = UUID().uuidString.lowercased()
                    try write(uuid, to: slot.createPath(sysfs: sysfs))
                    created.append(uuid)
                    mine.append(uuid)
                    say("\(Nested.guestLabel(g)): VDEV \(uuid) (\(slot.typeDirectory) on \(slot.parent))")
                }
                uuids.append(mine)
            }
            status = runGuests(uuids)
        } catch {
            fail("\(error)")
            status = VirtualMachine.setupFailureStatus
        }

        // Cleanup: every VDEV, then the module; then the kernel's log of the whole run.
        for uuid in created {
            do { try write("1", to: "\(sysfs)/bus/mdev/devices/\(uuid)/remove") } catch {
                fail("cannot remove VDEV \(uuid): \(error)")
                cleanupFailed = true
            }
        }
        do { try Shell.check("rmmod", [module]) } catch {
            fail("cannot unload \(module): \(error)")
            cleanupFailed = true
        }
        let dmesg = (try? Shell.run("dmesg", []))?.stdout ?? ""
        let problems = Nested.kernelProblems(inDmesg: dmesg)
        if !problems.isEmpty {
            fail("the outer kernel logged \(problems.count) warning/BUG/oops/KASAN/lockdep lines:")
            for line in problems { emit("hdiov nested: dmesg: " + line) }
        } else {
            say("VDEVs removed, \(module) unloaded, outer dmesg clean")
        }
        if status == 0, cleanupFailed || !problems.isEmpty { status = 1 }
        return status
    }

    /// A module file's name and the release it was built for (`modinfo -F name`, `-F vermagic`);
    /// the name falls back to the file's (`hdiov.ko` → `hdiov`).
    public static func moduleInfo(_ ko: String) -> (name: String, release: String?) {
        func field(_ f: String) -> String? {
            guard let r = try? Shell.run("modinfo", ["-F", f, ko]), r.status == 0 else { return nil }
            let v = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            return v.isEmpty ? nil : v
        }
        let name = field("name") ?? ModuleDependencies.name(ofPath: ko)
        let release = field("vermagic")?.split(separator: " ").first.map(String.init)
        return (name, release)
    }

    /// The registered mdev parents and their type directories.
    func parents() throws -> [MdevParent] {
        let fm = FileManager.default
        let bus = sysfs + "/class/mdev_bus"
        let names = ((try? fm.contentsOfDirectory(atPath: bus)) ?? []).sorted()
        return names.map { name in
            MdevParent(name: name, typeDirectories:
                ((try? fm.contentsOfDirectory(atPath: "\(bus)/\(name)/mdev_supported_types")) ?? []).sorted())
        }
    }

    /// Starts every inner guest, passes their output through (prefixed), waits for all;
    /// returns the first failing guest's status (0 if none).
    func runGuests(_ uuids: [[String]]) -> Int32 {
        struct Guest {
            var process: Process
            var fd: Int32
            var open = true
            var partial: [UInt8] = []
            var boot: Double?
            var total: Double?
        }
        var guests: [Guest] = []
        let start = Date()
        for (g, mine) in uuids.enumerated() {
            let args = Nested.innerCommand(hdiov: hdiov, kernel: kernel, uuids: mine, options: options, command: command)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: args[0])
            p.arguments = Array(args.dropFirst())
            p.currentDirectoryURL = URL(fileURLWithPath: workingDirectory)
            p.standardInput = FileHandle.nullDevice
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = pipe
            do {
                try p.run()
            } catch {
                fail("\(Nested.guestLabel(g)): cannot start \(args[0]): \(error)")
                for other in guests { other.process.terminate() }
                return VirtualMachine.setupFailureStatus
            }
            try? pipe.fileHandleForWriting.close()
            guests.append(Guest(process: p, fd: pipe.fileHandleForReading.fileDescriptor))
        }
        say("started \(guests.count) inner guest\(guests.count == 1 ? "" : "s") (\(kernel.rawValue), "
            + "\(options.innerMemoryMiB) MiB, TCG)")

        func take(_ g: Int, _ line: String) {
            if let f = Nested.parseFinished(line) {
                guests[g].boot = f.boot
                guests[g].total = f.total
            }
            if options.quiet, Nested.isProgressLine(line) { return }
            emit(Nested.prefixed(line, guest: g, of: guests.count))
        }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while guests.contains(where: \.open) {
            var pfds = guests.map { pollfd(fd: $0.open ? $0.fd : -1, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&pfds, nfds_t(pfds.count), 1000)
            if ready < 0 { if errno == EINTR { continue } else { break } }
            for g in guests.indices where guests[g].open && pfds[g].revents != 0 {
                let n = read(guests[g].fd, &buffer, buffer.count)
                if n < 0, errno == EINTR || errno == EAGAIN { continue }
                if n <= 0 {
                    guests[g].open = false
                    if !guests[g].partial.isEmpty { take(g, String(decoding: guests[g].partial, as: UTF8.self)) }
                    continue
                }
                for b in buffer[0..<n] {
                    if b == UInt8(ascii: "\n") {
                        take(g, String(decoding: guests[g].partial, as: UTF8.self))
                        guests[g].partial.removeAll(keepingCapacity: true)
                    } else {
                        guests[g].partial.append(b)
                    }
                }
            }
        }
        var first: Int32 = 0
        for g in guests.indices {
            guests[g].process.waitUntilExit()
            let p = guests[g].process
            let status = p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
            emit(Nested.resultLine(guest: g, status: status, boot: guests[g].boot,
                                   total: guests[g].total ?? Date().timeIntervalSince(start)))
            if first == 0, status != 0 { first = status }
        }
        return first
    }

    private func write(_ value: String, to path: String) throws {
        guard let h = FileHandle(forWritingAtPath: path) else {
            throw MachineError.commandFailed(command: "open \(path)", status: errno, output: String(cString: strerror(errno)))
        }
        defer { try? h.close() }
        do {
            try h.write(contentsOf: Data(value.utf8))
        } catch {
            throw MachineError.commandFailed(command: "write \(value) to \(path)", status: -1, output: "\(error)")
        }
    }

    private func emit(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    private func say(_ message: String) {
        if !options.quiet { emit("hdiov nested: " + message) }
    }

    private func fail(_ message: String) {
        emit("hdiov nested: error: " + message)
    }
}
