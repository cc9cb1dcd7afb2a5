import ArgumentParser
import Foundation
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
        subcommands: [Run.self, Prepare.self, Headers.self]
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
            """
        )

        @OptionGroup var kernelOptions: KernelOptions

        @Flag(name: .long, help: "Start systemd-udevd (trigger + settle) before the command.")
        var udev = false

        @Option(name: .long, help: "Give up (kill QEMU) after this many seconds, boot included.")
        var timeout: Double = 1200

        @Option(name: .long, help: "Guest memory in MiB.")
        var memory: Int = 2048

        @Option(name: .long, help: "Guest CPUs.")
        var cpus: Int = 2

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

        @Argument(parsing: .postTerminator, help: "The command to run in the guest, after `--`.")
        var command: [String] = []

        func validate() throws {
            if command.isEmpty { throw ValidationError("give the command after --, e.g. hdiov vm run -- uname -r") }
            if memory < 256 { throw ValidationError("--memory must be at least 256 (MiB)") }
            if timeout <= 0 { throw ValidationError("--timeout must be positive") }
            if cpus < 1 { throw ValidationError("--cpus must be at least 1") }
            for kv in environment where !kv.contains("=") || kv.hasPrefix("=") {
                throw ValidationError("--env expects K=V, got \(kv)")
            }
        }

        func run() throws {
            let cache = kernelOptions.cache()
            let status: Int32
            do {
                let kernel = try kernelOptions.prepare(cache)
                let dmesgPath = dmesg.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
                var options = VMOptions(
                    memoryMiB: memory, cpus: cpus, timeout: timeout, udev: udev,
                    environment: environment, dmesgPath: dmesgPath, kernelChecks: kernelOptions.debugKernel,
                    extraQemuArguments: qemuArguments,
                    extraKernelArguments: kernelArguments.flatMap { $0.split(separator: " ").map(String.init) })
                if let machine { options = machine.applied(to: options) }
                let vm = VirtualMachine(kernel: kernel, cache: cache, options: options)
                status = try vm.run(command: command, workingDirectory: FileManager.default.currentDirectoryPath)
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
