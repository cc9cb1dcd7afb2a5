import ArgumentParser
import Foundation
import HDIOVKernelBuild
import HDIOVMachine

/// `hdiov vm …`: the embedded machine (a throwaway QEMU guest running Debian's own kernel).
struct VMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm",
        abstract: "Run commands against a real Debian kernel in a throwaway QEMU machine.",
        discussion: """
        The guest boots a Debian kernel (fetched with apt-get download into a cache, never installed), \
        shares this machine's root read-only over 9p and chroots into it under a RAM upper layer \
        (overlayfs), so this machine's binaries run against the guest kernel and every path is \
        writable in the guest without the host ever being written to; /run is empty RAM, and the \
        kernel's modules are at /lib/modules/$(uname -r) whether or not the host has that directory.
        Cache: $HDIOV_CACHE, else $XDG_CACHE_HOME/hdiov, else ~/.cache/hdiov.
        """,
        subcommands: [Run.self, Prepare.self, Headers.self, Sample.self, NestedGuests.self]
    )

    /// Shared `--kernel` / `--quiet` options.
    struct KernelOptions: ParsableArguments {
        @Option(name: .long, help: "Kernel to boot: \(KernelChoice.allCases.map(\.rawValue).joined(separator: " or ")).",
                transform: { value in
                    guard let choice = KernelChoice(rawValue: value) else {
                        throw ValidationError("unknown kernel \(value); use one of "
                                              + KernelChoice.allCases.map(\.rawValue).joined(separator: ", "))
                    }
                    return choice
                })
        var kernel: KernelChoice = .v6_1

        @Flag(name: .long, help: ArgumentHelp(
            "Boot the debug kernel instead: Debian's linux-source-6.12 built with KASAN, lockdep and kmemleak, "
            + "everything built in (built into the cache on first use, ~12 min on 2 cores; --kernel is ignored)."))
        var debugKernel = false

        @Flag(name: .long, help: "No progress lines on stderr.")
        var quiet = false

        /// The chosen kernel, fetched or built into the cache if needed.
        func prepare(_ cache: KernelCache) throws -> PreparedKernel {
            debugKernel ? try DebugKernel(cache: cache).prepare() : try cache.prepare(kernel)
        }

        func cache() -> KernelCache {
            let quiet = self.quiet
            return KernelCache(progress: { line in
                if !quiet { FileHandle.standardError.write(Data("hdiov vm: \(line)\n".utf8)) }
            })
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Boot the machine, run one command in the current directory, exit with its status.",
            discussion: """
            Output of the command streams to stdout (stderr is merged into it by the serial console). \
            Exit status 124: the timeout expired; 125: the machine could not run the command.
            Example: hdiov vm run --kernel 6.12 -- sh -c 'modprobe mdev && lsmod'

            --nested runs CMD one level deeper (docs/nested.md): the machine ("outer") loads VFIO, mdev and \
            --host-module, creates VDEVs (default: one 1qp per inner guest, spread over the parents) and \
            boots --guests inner guests (same kernel, TCG, the outer root over 9p) with their VDEVs passed \
            through as vfio-pci devices (hdiov vm run --vfio-mdev inside the outer machine); CMD runs in each, \
            in the current directory, its output prefixed [gK] when there are several. Afterwards the VDEVs \
            are removed, the module unloaded and the outer dmesg checked (WARNING, BUG, Oops, general \
            protection, KASAN, lockdep: printed, and the run fails). Exit status: the first failing guest's. \
            With --nested, --env and --udev apply to the inner guests, --fast-boot is on for them, and \
            --memory, --cpus, --timeout, --dmesg, --qemu-arg, --append and --machine to the outer machine.
            Example: hdiov vm run --kernel 6.1 --nested --host-module "$(hdiov build --kernel 6.1 --quiet)" -- lspci -nn
            """
        )

        /// The options of `--nested`.
        struct NestedArguments: ParsableArguments {
            @Flag(name: .long, help: "Run CMD in inner guests booted inside the machine, with VDEVs passed through.")
            var nested = false

            @Option(name: .long, help: ArgumentHelp("The host module (.ko) the outer machine loads (with --nested).",
                                                    valueName: "ko"))
            var hostModule: String?

            @Option(name: .customLong("vdev"), help: ArgumentHelp(
                "A VDEV each inner guest gets (repeatable; default 1qp): TYPE or TYPE@PARENT. Without a parent, "
                + "guest K's goes to the K-th parent offering TYPE.", valueName: "type[@parent]"))
            var vdevs: [String] = []

            @Option(name: .long, help: "Inner guests run at once (with --nested).")
            var guests = 1

            @Option(name: .long, help: ArgumentHelp("Each inner guest's memory in MiB.", valueName: "MiB"))
            var innerMemory = Nested.defaultInnerMemoryMiB

            @Option(name: .long, help: "Each inner guest's CPUs.")
            var innerCpus = 1

            var any: Bool { hostModule != nil || !vdevs.isEmpty || guests != 1 || innerMemory != Nested.defaultInnerMemoryMiB || innerCpus != 1 }
        }

        @OptionGroup var kernelOptions: KernelOptions

        @Flag(name: .long, help: "Start systemd-udevd (trigger + settle) before the command.")
        var udev = false

        @Option(name: .long, help: ArgumentHelp(
            "Give up (kill QEMU) after this many seconds, boot included (default 1200; with --nested 1200 + 900 per inner guest).",
            valueName: "seconds"))
        var timeout: Double?

        @Option(name: .long, help: ArgumentHelp(
            "Guest memory in MiB (default 2048; with --nested 1024 + inner memory + 192 per inner guest).", valueName: "MiB"))
        var memory: Int?

        @Option(name: .long, help: "Guest CPUs (default 2; with --nested one more than the inner guests, at least 2).")
        var cpus: Int?

        @Flag(inversion: .prefixedNo, help: ArgumentHelp(
            "Boot the uncompressed kernel (vmlinux, unpacked into the cache) through PVH instead of vmlinuz: no "
            + "decompression, faster inside the embedded machine. Default off; with --nested it applies to the inner guests, default on."))
        var fastBoot: Bool?

        @Option(name: .customLong("vfio-mdev"), help: ArgumentHelp(
            "Pass the mdev device /sys/bus/mdev/devices/UUID through (-device vfio-pci,sysfsdev=…; repeatable). "
            + "Run inside the embedded machine, this boots a nested guest.", valueName: "uuid"))
        var vfioMdevs: [String] = []

        @Option(name: .customLong("env"), help: ArgumentHelp("Extra environment for the command (repeatable).",
                                                              valueName: "K=V"))
        var environment: [String] = []

        @Option(name: .long, help: ArgumentHelp("Copy the guest's dmesg to this file afterwards.", valueName: "file"))
        var dmesg: String?

        @Option(name: .customLong("qemu-arg"), parsing: .unconditionalSingleValue, help: ArgumentHelp(
            "Append one argument to the QEMU command line (repeatable), e.g. --qemu-arg -device --qemu-arg nvme,serial=x.",
            valueName: "arg"))
        var qemuArguments: [String] = []

        @Option(name: .customLong("append"), help: ArgumentHelp(
            "Append to the kernel command line (repeatable; each value may hold several space-separated arguments).",
            valueName: "args"))
        var kernelArguments: [String] = []

        @Option(name: .long, help: ArgumentHelp(
            "Machine preset added to the default machine: sriov-nvme[:N] (q35, intel-iommu, an NVMe PF with N SR-IOV "
            + "VFs, default \(MachinePreset.sriovNVMeDefaultVFs), at most \(MachinePreset.nvmeMaxVFs); kernel argument intel_iommu=on).",
            valueName: "preset"),
                transform: { value in
                    guard let preset = MachinePreset(name: value) else {
                        throw ValidationError("unknown machine preset \(value); use sriov-nvme or sriov-nvme:N (1…\(MachinePreset.nvmeMaxVFs))")
                    }
                    return preset
                })
        var machine: MachinePreset?

        @OptionGroup(title: "Nested guest") var nestedArguments: NestedArguments

        @Argument(parsing: .postTerminator, help: "The command to run in the guest, after `--`.")
        var command: [String] = []

        func validate() throws {
            if command.isEmpty { throw ValidationError("give the command after --, e.g. hdiov vm run -- uname -r") }
            if let memory, memory < 256 { throw ValidationError("--memory must be at least 256 (MiB)") }
            if let timeout, timeout <= 0 { throw ValidationError("--timeout must be positive") }
            if let cpus, cpus < 1 { throw ValidationError("--cpus must be at least 1") }
            for kv in environment where !kv.contains("=") || kv.hasPrefix("=") {
                throw ValidationError("--env expects K=V, got \(kv)")
            }
            for u in vfioMdevs where !Nested.isUUID(u) {
                throw ValidationError("--vfio-mdev expects an mdev UUID, got \(u)")
            }
            let n = nestedArguments
            if !n.nested {
                if n.any { throw ValidationError("--host-module, --vdev, --guests, --inner-memory and --inner-cpus need --nested") }
                return
            }
            guard let ko = n.hostModule else {
                throw ValidationError("--nested needs --host-module KO, e.g. --host-module \"$(hdiov build --kernel 6.1 --quiet)\"")
            }
            if !FileManager.default.fileExists(atPath: ko) { throw ValidationError("--host-module \(ko): no such file") }
            if kernelOptions.debugKernel { throw ValidationError("--nested does not run the debug kernel") }
            if !vfioMdevs.isEmpty { throw ValidationError("--vfio-mdev and --nested: the inner guests get --vdev devices") }
            if n.guests < 1 || n.guests > 8 { throw ValidationError("--guests must be 1…8") }
            if n.innerMemory < 256 { throw ValidationError("--inner-memory must be at least 256 (MiB)") }
            if n.innerCpus < 1 { throw ValidationError("--inner-cpus must be at least 1") }
            for v in n.vdevs where VDEVRequest(argument: v) == nil {
                throw ValidationError("--vdev expects TYPE or TYPE@PARENT, got \(v)")
            }
        }

        func run() throws {
            let cache = kernelOptions.cache()
            let status: Int32
            do {
                let kernel = try kernelOptions.prepare(cache)
                let dmesgPath = dmesg.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
                let nested = nestedArguments.nested
                let guests = nestedArguments.guests
                var options = VMOptions(
                    memoryMiB: memory ?? (nested ? Nested.outerMemoryMiB(guests: guests, innerMemoryMiB: nestedArguments.innerMemory) : 2048),
                    cpus: cpus ?? (nested ? Nested.outerCPUs(guests: guests) : 2),
                    timeout: timeout ?? (nested ? Nested.defaultTimeout(guests: guests) : 1200),
                    udev: udev && !nested,
                    environment: environment, dmesgPath: dmesgPath, kernelChecks: kernelOptions.debugKernel,
                    extraQemuArguments: qemuArguments + Nested.vfioMdevQemuArguments(vfioMdevs),
                    extraKernelArguments: kernelArguments.flatMap { $0.split(separator: " ").map(String.init) })
                if let machine { options = machine.applied(to: options) }
                options.fastBoot = !nested && fastBoot == true
                for u in vfioMdevs where !FileManager.default.fileExists(atPath: "/sys/bus/mdev/devices/" + u) {
                    throw MachineError.guestFailed("--vfio-mdev \(u): no /sys/bus/mdev/devices/\(u) here", consoleTail: "")
                }
                if nested {
                    status = try runNested(kernel: kernel, cache: cache, options: &options)
                } else {
                    let vm = VirtualMachine(kernel: kernel, cache: cache, options: options)
                    status = try vm.run(command: command, workingDirectory: FileManager.default.currentDirectoryPath)
                }
            } catch let error as MachineError {
                FileHandle.standardError.write(Data("hdiov vm: error: \(error)\n".utf8))
                if case .timeout = error { throw ExitCode(124) }
                throw ExitCode(VirtualMachine.setupFailureStatus)
            }
            if status != 0 { throw ExitCode(status) }
        }
    }

    struct Prepare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch and unpack a kernel (image, modules, headers) into the cache; print its paths.")

        @OptionGroup var kernelOptions: KernelOptions

        func run() throws {
            let k = try kernelOptions.prepare(kernelOptions.cache())
            print("""
            kernel=\(k.choice.rawValue)
            release=\(k.release)
            vmlinuz=\(k.vmlinuz)
            modulesDir=\(k.modulesDir)
            headersDir=\(k.headersDir)
            """)
        }
    }

    struct Headers: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the headers directory to pass to `make -C` for a kernel (fetching it if needed).",
            discussion: "With --debug-kernel: the debug kernel's built tree, e.g. hdiov build --kdir \"$(hdiov vm headers --debug-kernel)\".")

        @OptionGroup var kernelOptions: KernelOptions

        func run() throws {
            print(try kernelOptions.prepare(kernelOptions.cache()).headersDir)
        }
    }
}

extension VMCommand.Run {
    /// `--nested`: the outer machine runs `hdiov vm nested-guests`, which boots the inner guests.
    func runNested(kernel: PreparedKernel, cache: KernelCache, options: inout VMOptions) throws -> Int32 {
        let n = nestedArguments
        let ko = URL(fileURLWithPath: n.hostModule ?? "").standardizedFileURL.path
        let info = NestedRunner.moduleInfo(ko)
        if let built = info.release, built != kernel.release {
            throw MachineError.badKernel("\(ko) is built for \(built), not \(kernel.release); "
                                         + "hdiov build --kernel \(kernel.choice.rawValue) --quiet prints the right one")
        }
        let nestedOptions = NestedOptions(
            hostModule: ko, moduleName: info.name,
            vdevs: n.vdevs.isEmpty ? [.default] : n.vdevs.compactMap(VDEVRequest.init(argument:)),
            guests: n.guests, innerMemoryMiB: n.innerMemory, innerCPUs: n.innerCpus,
            innerTimeout: Nested.innerTimeout(outer: options.timeout),
            innerEnvironment: environment, innerUdev: udev, innerFastBoot: fastBoot ?? true, quiet: kernelOptions.quiet)
        if nestedOptions.innerFastBoot {
            // Unpacked here, into the host's cache, so the outer machine need not hold it in its RAM.
            _ = try FastBoot.prepare(kernel, progress: cache.progress)
        }
        // The outer machine uses this cache (the kernel is there; the inner guests do not ask apt).
        options.environment = ["HDIOV_CACHE=" + cache.root] + options.environment
        let outerCommand = Nested.outerCommand(hdiov: selfExecutable(), kernel: kernel.choice,
                                               options: nestedOptions, command: command)
        let vm = VirtualMachine(kernel: kernel, cache: cache, options: options)
        var results: [Nested.GuestResult] = []
        let (status, timing) = try vm.runMeasured(
            command: outerCommand, workingDirectory: FileManager.default.currentDirectoryPath,
            onOutputLine: { line in
                if let r = Nested.parseResultLine(line) { results.append(r) }
            })
        cache.progress(Nested.summary(release: kernel.release, outer: timing, guests: results))
        return status
    }
}

extension VMCommand {
    /// `hdiov vm sample NAME`: a module Debian's kernels do not ship, built from the kernel's own source.
    struct Sample: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build a module Debian's kernels do not ship from the kernel's own source; print its .ko path.",
            discussion: """
            NAME is one of: \(KernelSample.all.map { "\($0.name) (\($0.sourcePath), \($0.summary))" }.joined(separator: "; ")). \
            The file comes unchanged from Debian's /usr/src/linux-source-X.Y.tar.xz of the kernel's version \
            (apt-get install linux-source-6.1 / linux-source-6.12) and is built out of tree against the kernel's \
            headers (hdiov vm headers), cached under the kernel cache (samples/NAME/RELEASE).
            Example: insmod "$(hdiov vm sample --kernel 6.12 --quiet dmatest)" (in the embedded machine)
            """)

        @OptionGroup var kernelOptions: KernelOptions

        @Argument(help: ArgumentHelp("The module: \(KernelSample.all.map(\.name).joined(separator: " or ")).", valueName: "name"),
                  transform: { value in
                      guard let sample = KernelSample.named(value) else {
                          throw ValidationError("unknown sample \(value); use one of "
                                                + KernelSample.all.map(\.name).joined(separator: ", "))
                      }
                      return sample
                  })
        var sample: KernelSample

        func run() throws {
            let cache = kernelOptions.cache()
            let headers = try kernelOptions.prepare(cache).headersDir
            cache.progress("building \(sample.name).ko (\(sample.sourcePath)) against \(headers) …")
            do {
                print(try sample.build(headers: headers, cacheRoot: cache.root))
            } catch let error as Kbuild.Failure {
                FileHandle.standardError.write(Data("hdiov vm: error: \(error)\n".utf8))
                throw ExitCode.failure
            }
        }
    }

    /// The outer machine's side of `vm run --nested` (run inside the embedded machine).
    struct NestedGuests: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "nested-guests",
            abstract: "Inside the embedded machine: load the host module, create VDEVs, run inner guests with them (vm run --nested).",
            shouldDisplay: false)

        @Option(name: .long) var kernel: KernelChoice = .v6_1
        @Option(name: .long) var hostModule: String
        @Option(name: .long) var moduleName: String?
        @Option(name: .customLong("vdev")) var vdevs: [String] = []
        @Option(name: .long) var guests = 1
        @Option(name: .long) var innerMemory = Nested.defaultInnerMemoryMiB
        @Option(name: .long) var innerCpus = 1
        @Option(name: .long) var innerTimeout: Double = Nested.innerTimeout(outer: Nested.defaultTimeout(guests: 1))
        @Option(name: .customLong("env")) var environment: [String] = []
        @Flag(name: .long) var udev = false
        @Flag(inversion: .prefixedNo) var fastBoot = true
        @Flag(name: .long) var quiet = false
        @Argument(parsing: .postTerminator) var command: [String] = []

        func validate() throws {
            if command.isEmpty { throw ValidationError("give the inner command after --") }
            for v in vdevs where VDEVRequest(argument: v) == nil {
                throw ValidationError("--vdev expects TYPE or TYPE@PARENT, got \(v)")
            }
        }

        func run() throws {
            let options = NestedOptions(
                hostModule: hostModule, moduleName: moduleName ?? NestedRunner.moduleInfo(hostModule).name,
                vdevs: vdevs.isEmpty ? [.default] : vdevs.compactMap(VDEVRequest.init(argument:)),
                guests: guests, innerMemoryMiB: innerMemory, innerCPUs: innerCpus, innerTimeout: innerTimeout,
                innerEnvironment: environment, innerUdev: udev, innerFastBoot: fastBoot, quiet: quiet)
            let status = NestedRunner(kernel: kernel, options: options, hdiov: selfExecutable(), command: command,
                                      workingDirectory: FileManager.default.currentDirectoryPath).run()
            if status != 0 { throw ExitCode(status) }
        }
    }
}
