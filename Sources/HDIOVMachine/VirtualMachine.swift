import Foundation

/// How to run one command in the embedded machine.
public struct VMOptions: Sendable, Equatable {
    /// Guest RAM in MiB.
    public var memoryMiB: Int
    /// Guest CPUs.
    public var cpus: Int
    /// Wall-clock limit for the whole run (boot included), in seconds; QEMU is killed after it.
    public var timeout: Double
    /// Start systemd-udevd in the chroot (trigger + settle) before the command.
    public var udev: Bool
    /// Extra `K=V` environment for the command (after the defaults, so they can override them).
    public var environment: [String]
    /// If set, the guest's full `dmesg` is copied here after the command.
    public var dmesgPath: String?
    /// After the command, scan for kmemleak reports and look through dmesg for KASAN and lockdep
    /// reports (the debug kernel); a finding turns a zero exit status into 1 (`DebugKernel.checkScript`).
    public var kernelChecks = false
    /// Appended to the QEMU command line as given (e.g. `-device`, `nvme,…`); empty by default.
    public var extraQemuArguments: [String] = []
    /// Appended, space-separated, to the kernel command line; empty by default.
    public var extraKernelArguments: [String] = []
    /// Boot the uncompressed kernel through PVH (`FastBoot`); off by default (the nested guests use it).
    public var fastBoot = false

    public init(memoryMiB: Int = 2048, cpus: Int = 2, timeout: Double = 1200, udev: Bool = false,
                environment: [String] = [], dmesgPath: String? = nil, kernelChecks: Bool = false,
                extraQemuArguments: [String] = [], extraKernelArguments: [String] = []) {
        self.kernelChecks = kernelChecks
        self.extraQemuArguments = extraQemuArguments
        self.extraKernelArguments = extraKernelArguments
        self.memoryMiB = memoryMiB
        self.cpus = cpus
        self.timeout = timeout
        self.udev = udev
        self.environment = environment
        self.dmesgPath = dmesgPath
    }
}

/// A named machine variant: QEMU arguments and kernel arguments added to the default machine
/// (`pc`, no IOMMU), which itself stays as it is.
public enum MachinePreset: Equatable, Sendable {
    /// q35 with an emulated VT-d (intel-iommu, interrupt remapping, caching mode for VFIO) and an
    /// NVMe controller behind a PCIe root port whose PF offers `maxVFs` SR-IOV VFs (1…127); the
    /// flexible queue and interrupt resources are sized so QEMU accepts every VF count:
    /// 2 queues and 1 vector per VF, and the PF keeps at least 2 queues and 1 vector of its own
    /// (max_ioqpairs, msix_qsize: QEMU's defaults 64 and 65 unless more are needed).
    case sriovNVMe(maxVFs: Int)

    /// QEMU's NVME_MAX_VFS (hw/nvme/nvme.h).
    public static let nvmeMaxVFs = 127
    public static let sriovNVMeDefaultVFs = 8

    /// `sriov-nvme` or `sriov-nvme:N`.
    public init?(name: String) {
        let parts = name.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard parts[0] == "sriov-nvme" else { return nil }
        if parts.count == 1 {
            self = .sriovNVMe(maxVFs: Self.sriovNVMeDefaultVFs)
            return
        }
        guard let n = Int(parts[1]), n >= 1, n <= Self.nvmeMaxVFs else { return nil }
        self = .sriovNVMe(maxVFs: n)
    }

    public var name: String {
        switch self {
        case .sriovNVMe(let n): "sriov-nvme:\(n)"
        }
    }

    public var qemuArguments: [String] {
        switch self {
        case .sriovNVMe(let n):
            [
                "-machine", "q35,kernel-irqchip=split",
                "-device", "intel-iommu,intremap=on,caching-mode=on",
                "-device", "pcie-root-port,id=hdiov_rp0,chassis=1",
                "-device", "nvme-subsys,id=hdiov_subsys0",
                "-device", "nvme,serial=deadbeef,bus=hdiov_rp0,subsys=hdiov_subsys0,sriov_max_vfs=\(n),"
                    + "sriov_vq_flexible=\(2 * n),sriov_vi_flexible=\(n),"
                    + "max_ioqpairs=\(max(64, 2 * n + 2)),msix_qsize=\(max(65, n + 1))",
            ]
        }
    }

    public var kernelArguments: [String] {
        switch self {
        case .sriovNVMe: ["intel_iommu=on"]
        }
    }

    /// `options` with this preset's arguments added before the ones already there.
    public func applied(to options: VMOptions) -> VMOptions {
        var o = options
        o.extraQemuArguments = qemuArguments + o.extraQemuArguments
        o.extraKernelArguments = kernelArguments + o.extraKernelArguments
        return o
    }
}

/// A throwaway QEMU (TCG) machine booting a cached Debian kernel, with this machine's root
/// shared read-only over 9p; the guest chroots into it and runs one command.
public struct VirtualMachine {
    public let kernel: PreparedKernel
    public let cache: KernelCache
    public let options: VMOptions

    /// Status the guest-side script uses when it cannot even start the command (cd failed, …).
    public static let setupFailureStatus: Int32 = 125
    /// The environment every guest command starts from.
    public static let baseEnvironment = [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME=/root", "USER=root", "LOGNAME=root", "TERM=dumb", "HDIOV_VM=1",
    ]
    static let kernelCommandLine = "console=ttyS0 quiet loglevel=3 panic=-1"

    public init(kernel: PreparedKernel, cache: KernelCache, options: VMOptions) {
        self.kernel = kernel
        self.cache = cache
        self.options = options
    }

    // MARK: Pure parts

    /// QEMU escapes commas in option values by doubling them.
    static func qemuEscape(_ s: String) -> String { s.replacingOccurrences(of: ",", with: ",,") }

    /// The QEMU command line (without the executable).
    static func qemuArguments(kernel: PreparedKernel, initramfs: String, runDir: String, options: VMOptions,
                              fastBoot: FastBoot? = nil) -> [String] {
        let append = ([kernelCommandLine] + options.extraKernelArguments).joined(separator: " ")
        return [
            // /dev/kvm exists on the CI machines but KVM guests hang there. One TCG thread for
            // all vCPUs: with a thread per vCPU, the kernel patching its own text (static keys,
            // alternatives) raced with the other vCPU and oopsed on int3 (seen on 6.12).
            "-accel", "tcg,thread=single",
            "-m", String(options.memoryMiB), "-smp", String(options.cpus),
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            // The console on our stdout; stdin is /dev/null (no signal/monitor multiplexing).
            "-chardev", "stdio,id=console,signal=off", "-serial", "chardev:console", "-monitor", "none",
            "-kernel", fastBoot?.vmlinux ?? kernel.vmlinuz, "-initrd", initramfs,
            "-append", append,
            "-virtfs", "local,path=/,mount_tag=\(Initramfs.hostRootTag),security_model=none,readonly=on,multidevs=remap",
            // remap too: inside the embedded machine (a nested guest) the run directory is on the
            // overlay root, whose files report more than one device.
            "-virtfs", "local,path=\(qemuEscape(runDir)),mount_tag=\(Initramfs.runTag),security_model=none,multidevs=remap",
        ] + options.extraQemuArguments
    }

    /// The guest-side script (`/run/hdiov-vm/run.sh`, run by `/bin/sh` in the chroot).
    static func runScript(command: [String], workingDirectory: String, options: VMOptions) -> String {
        var lines = [
            "#!/bin/sh",
            "# generated by hdiov vm run",
            "umask 022",
            "# The loopback interface up: Foundation's run loop (Process, in a Swift program such as a nested",
            "# `hdiov vm run`) needs a socket pair on 127.0.0.1, and waits forever for child processes without it.",
            "{ ip link set lo up || busybox ip link set lo up; } >/dev/null 2>&1",
        ]
        for kv in baseEnvironment + options.environment {
            lines.append("export " + Shell.quote(kv))
        }
        if options.udev {
            lines += [
                "# udevadm refuses to trigger/settle \"in a chroot\" (PID 1's root differs) unless told otherwise.",
                "export SYSTEMD_IGNORE_CHROOT=1",
                "if ! /lib/systemd/systemd-udevd --daemon; then",
                "    echo 'hdiov vm: systemd-udevd failed to start' >&2; exit \(setupFailureStatus)",
                "fi",
                "udevadm trigger --action=add",
                "udevadm settle --timeout=120 || echo 'hdiov vm: udevadm settle timed out' >&2",
            ]
        }
        let cwd = Shell.quote(workingDirectory)
        lines.append("cd \(cwd) 2>/dev/null || { echo \"hdiov vm: cannot cd to \"\(cwd)\" in the guest\" >&2; exit \(setupFailureStatus); }")
        if options.kernelChecks {
            lines.append(command.map(Shell.quote).joined(separator: " ") + " </dev/null")
            lines.append(DebugKernel.checkScript)
        } else {
            lines.append("exec " + command.map(Shell.quote).joined(separator: " ") + " </dev/null")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The per-run `vm.conf` sourced by the guest's `/init`.
    static func vmConf(marker: String, release: String, modulesDir: String, dmesg: Bool) -> String {
        """
        HDIOV_MARKER=\(Shell.quote(marker))
        HDIOV_RELEASE=\(Shell.quote(release))
        HDIOV_MODULES=\(Shell.quote(modulesDir))
        HDIOV_DMESG=\(dmesg ? "1" : "")

        """
    }

    // MARK: Running

    /// How long a run took.
    public struct Timing: Sendable, Equatable {
        /// From starting QEMU to the guest command starting (the init's BEGIN marker); nil if it never did.
        public var boot: Double?
        /// From starting QEMU to QEMU exiting.
        public var total: Double
    }

    /// Boots the machine, runs `command` in `workingDirectory` (a host path, seen read-only), streams
    /// its output to our stdout and returns its exit status.
    public func run(command: [String], workingDirectory: String) throws -> Int32 {
        try runMeasured(command: command, workingDirectory: workingDirectory).status
    }

    /// `run`, also returning how long the boot and the whole run took. `onOutputLine` sees every
    /// complete line of the command's output (without the newline) as it is passed through.
    public func runMeasured(command: [String], workingDirectory: String,
                            onOutputLine: ((String) -> Void)? = nil) throws -> (status: Int32, timing: Timing) {
        guard !command.isEmpty else { throw MachineError.guestFailed("no command given", consoleTail: "") }
        let qemu = try Shell.require("qemu-system-x86_64", hint: "apt-get install qemu-system-x86")
        let initramfs = try Initramfs.ensure(for: kernel, cache: cache)
        let fastBoot = options.fastBoot ? try FastBoot.prepare(kernel, progress: cache.progress) : nil
        let fm = FileManager.default

        let runDir = try makeTempDir()
        defer { fm.removeIfPresent(runDir) }
        let marker = "HDIOV-VM-" + UUID().uuidString
        let modulesReal = URL(fileURLWithPath: kernel.modulesDir).resolvingSymlinksInPath().path
        try Self.vmConf(marker: marker, release: kernel.release, modulesDir: modulesReal,
                        dmesg: options.dmesgPath != nil)
            .write(toFile: runDir + "/vm.conf", atomically: false, encoding: .utf8)
        try Self.runScript(command: command, workingDirectory: workingDirectory, options: options)
            .write(toFile: runDir + "/run.sh", atomically: false, encoding: .utf8)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: qemu)
        process.arguments = Self.qemuArguments(kernel: kernel, initramfs: initramfs, runDir: runDir, options: options,
                                               fastBoot: fastBoot)
        process.standardInput = FileHandle.nullDevice
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.standardError

        cache.progress("booting \(kernel.release) (tcg\(fastBoot == nil ? "" : ", fast boot: PVH")) …")
        let start = Date()
        try process.run()
        // If we are interrupted or terminated, take QEMU and the run directory with us.
        let signalSources = Self.forwardTerminationSignals(to: process.processIdentifier)
        defer { Self.restoreTerminationSignals(signalSources) }
        let fd = pipe.fileHandleForReading.fileDescriptor
        var filter = ConsoleFilter(marker: marker)
        var timedOut = false
        var endSeenAt: Date?
        var buffer = [UInt8](repeating: 0, count: 65536)
        let stdout = FileHandle.standardOutput
        // A reader that goes away (`| head`) must not kill us with SIGPIPE and orphan QEMU.
        signal(SIGPIPE, SIG_IGN)
        var stdoutOpen = true
        var partialLine: [UInt8] = []
        func emit(_ bytes: [UInt8]) {
            guard !bytes.isEmpty else { return }
            if let onOutputLine {
                for b in bytes {
                    if b == UInt8(ascii: "\n") {
                        onOutputLine(String(decoding: partialLine, as: UTF8.self))
                        partialLine.removeAll(keepingCapacity: true)
                    } else {
                        partialLine.append(b)
                    }
                }
            }
            guard stdoutOpen else { return }
            do { try stdout.write(contentsOf: Data(bytes)) } catch { stdoutOpen = false }
        }
        while true {
            let elapsed = Date().timeIntervalSince(start)
            if elapsed > options.timeout {
                timedOut = true
                break
            }
            // After the END marker the guest only powers off; do not wait forever for it.
            if let endSeenAt, Date().timeIntervalSince(endSeenAt) > 15 { break }
            if Self.interruptedBy != 0 { break }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let slice = Int32(max(1, min(500, (options.timeout - elapsed) * 1000)))
            let ready = poll(&pfd, 1, slice)
            if ready < 0 { if errno == EINTR { continue } else { break } }
            if ready == 0 {
                if !process.isRunning { break }
                continue
            }
            let n = read(fd, &buffer, buffer.count)
            if n < 0 { if errno == EINTR || errno == EAGAIN { continue } else { break } }
            if n == 0 { break } // EOF: QEMU exited
            emit(filter.feed(buffer[0..<n]))
            if filter.state == .after, endSeenAt == nil { endSeenAt = Date() }
        }
        if process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning, Date() < deadline { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        emit(filter.finish())
        let elapsed = Date().timeIntervalSince(start)
        if Self.interruptedBy != 0 {
            let sig = Self.interruptedBy
            fm.removeIfPresent(runDir)
            FileHandle.standardError.write(Data("hdiov vm: interrupted by signal \(sig); QEMU stopped\n".utf8))
            exit(128 + sig)
        }

        if let dmesgPath = options.dmesgPath, fm.fileExists(atPath: runDir + "/dmesg") {
            fm.removeIfPresent(dmesgPath)
            try? fm.copyItem(atPath: runDir + "/dmesg", toPath: dmesgPath)
        }
        let statusText = (try? String(contentsOfFile: runDir + "/status", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        if let onOutputLine, !partialLine.isEmpty { onOutputLine(String(decoding: partialLine, as: UTF8.self)) }
        if let statusText, let status = Int32(statusText) {
            let bootSeconds = filter.beginSeenAt.map { $0.timeIntervalSince(start) }
            let boot = bootSeconds.map { String(format: " (boot %.1f s)", $0) } ?? ""
            cache.progress(String(format: "guest finished in %.1f s%@, exit %d", elapsed, boot, status))
            return (status, Timing(boot: bootSeconds, total: elapsed))
        }
        if timedOut {
            throw MachineError.timeout(seconds: options.timeout, consoleTail: filter.tail())
        }
        throw MachineError.guestFailed(
            String(format: "the guest stopped after %.1f s without reporting an exit status (QEMU exit %d)",
                   elapsed, process.terminationStatus),
            consoleTail: filter.tail())
    }

    private static let terminationSignals = [SIGINT, SIGTERM, SIGHUP]
    /// The signal that interrupted the current run (0: none). Written by the signal handler only.
    nonisolated(unsafe) private static var interruptedBy: Int32 = 0

    /// While QEMU runs, SIGINT/SIGTERM/SIGHUP stop QEMU and make `run` exit with 128+signal
    /// (after cleaning up), instead of leaving an orphaned guest behind.
    private static func forwardTerminationSignals(to pid: Int32) -> [DispatchSourceSignal] {
        interruptedBy = 0
        return terminationSignals.map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                interruptedBy = sig
                kill(pid, SIGTERM)
            }
            source.resume()
            return source
        }
    }

    private static func restoreTerminationSignals(_ sources: [DispatchSourceSignal]) {
        for source in sources { source.cancel() }
        for sig in terminationSignals { signal(sig, SIG_DFL) }
    }

    private func makeTempDir() throws -> String {
        var template = Array((NSTemporaryDirectory() + "/hdiov-vm-XXXXXX").utf8CString)
        guard let p = mkdtemp(&template) else {
            throw MachineError.guestFailed("cannot create a temporary directory", consoleTail: "")
        }
        return String(cString: p)
    }
}

/// Splits the serial console stream: only what the guest command printed between the init's
/// BEGIN and END marker lines is passed through; the rest (boot and init noise) is kept for errors.
struct ConsoleFilter {
    enum State: Equatable { case before, inside, after }
    let begin: [UInt8]
    let end: [UInt8]
    private(set) var state: State = .before
    private(set) var beginSeenAt: Date?
    private var line: [UInt8] = []
    /// The last lines outside the markers, for diagnostics.
    private var noise: [String] = []

    init(marker: String) {
        begin = Array((marker + ":BEGIN").utf8)
        end = Array((marker + ":END").utf8)
    }

    /// Feeds console bytes; returns the bytes to pass through (complete lines, `\r\n` → `\n`).
    mutating func feed<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        var out: [UInt8] = []
        for b in bytes {
            if b == UInt8(ascii: "\n") {
                out += take(line: line, complete: true)
                line.removeAll(keepingCapacity: true)
            } else {
                line.append(b)
            }
        }
        return out
    }

    /// Flushes a trailing partial line.
    mutating func finish() -> [UInt8] {
        defer { line.removeAll() }
        return line.isEmpty ? [] : take(line: line, complete: false)
    }

    /// The last console lines outside the markers (and the partial line), for error messages.
    func tail(_ n: Int = 25) -> String {
        (noise + (line.isEmpty ? [] : [String(decoding: line, as: UTF8.self)])).suffix(n).joined(separator: "\n")
    }

    private mutating func take(line raw: [UInt8], complete: Bool) -> [UInt8] {
        var l = raw
        while l.last == UInt8(ascii: "\r") { l.removeLast() }
        switch state {
        case .before:
            if l.firstRange(of: begin) != nil {
                state = .inside
                beginSeenAt = Date()
            } else {
                remember(l)
            }
            return []
        case .inside:
            if let r = l.firstRange(of: end) {
                state = .after
                // Output without a final newline ends up on the marker's line: keep it, exactly.
                return Array(l[..<r.lowerBound])
            }
            return complete ? l + [UInt8(ascii: "\n")] : l
        case .after:
            remember(l)
            return []
        }
    }

    private mutating func remember(_ l: [UInt8]) {
        guard !l.isEmpty else { return }
        noise.append(String(decoding: l, as: UTF8.self))
        if noise.count > 200 { noise.removeFirst(noise.count - 100) }
    }
}
