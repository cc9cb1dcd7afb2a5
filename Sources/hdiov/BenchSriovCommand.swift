import ArgumentParser
import Foundation
import HDIOVBench
import HDIOVMachine

/// `hdiov bench sriov`: the SR-IOV analogue. On the host it builds the module, boots the embedded
/// machine with the `sriov-nvme:N` preset (q35, emulated VT-d, QEMU's NVMe controller with N VFs)
/// and runs itself there with --guest; the guest part measures both sides in one run.
struct BenchSriovCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sriov",
        abstract: "SR-IOV analogue: NVMe VFs (enable, bind to vfio-pci, VFIO open) vs our VDEVs (create, VFIO open); count limits.",
        discussion: """
            On the host: builds the module for --kernel, boots the embedded machine with \
            `--machine sriov-nvme:N` (N = --max-vfs) and runs `hdiov bench sriov --guest` there; \
            prints a table (or --json) and writes docs/bench/sriov.json and docs/bench/sriov.md \
            (--out-dir). In the guest (--guest, as root): loads nvme, vfio-pci and the module \
            through libkmod (as `hdiov load --module` does), then measures --devices VFs (default: all) and as many VDEVs.
            """
    )

    @Option(help: "Kernel to boot: 6.1 or 6.12.")
    var kernel: KernelChoice = .v6_1

    @Option(help: "VFs the NVMe PF offers (the machine preset's sriov_max_vfs, 1…\(MachinePreset.nvmeMaxVFs)).")
    var maxVfs = MachinePreset.nvmeMaxVFs

    @Option(help: "Devices measured on each side (default: all the PF's VFs).")
    var devices: Int?

    @Option(help: "Rounds of VF enable/disable timed.")
    var rounds = 5

    @Option(help: "Our module (.ko); with --guest, required.")
    var module: String?

    @Option(help: "Where sriov.json and sriov.md go (default: docs/bench of this checkout).")
    var outDir: String?

    @Flag(help: "Do not write sriov.json / sriov.md.")
    var noWrite = false

    @Flag(help: "Skip checking the VDEV limit by creating VDEVs until every parent refuses.")
    var noFill = false

    @Flag(help: "Print JSON instead of the tables.")
    var json = false

    @Flag(help: "Measure here: the caller is the embedded machine booted with the sriov-nvme preset.")
    var guest = false

    /// Markers around the guest's JSON.
    static let begin = "HDIOV-SRIOV-JSON-BEGIN"
    static let end = "HDIOV-SRIOV-JSON-END"

    func validate() throws {
        if maxVfs < 1 || maxVfs > MachinePreset.nvmeMaxVFs {
            throw ValidationError("--max-vfs must be 1…\(MachinePreset.nvmeMaxVFs) (QEMU's NVME_MAX_VFS)")
        }
        if let devices, devices < 1 { throw ValidationError("--devices must be at least 1") }
        if rounds < 1 { throw ValidationError("--rounds must be at least 1") }
        if guest && module == nil { throw ValidationError("--guest needs --module") }
    }

    func run() throws {
        if guest {
            let result = try measureInGuest()
            try printGuestResult(result, between: Self.begin, and: Self.end)
            return
        }
        var result = try fromHost()
        result.machine = BenchSuiteCommand.machineDescription() + "; " + result.machine
        if !noWrite { try writeBenchResult(result, markdown: result.markdown(), name: "sriov", outDir: outDir) }
        if json {
            print(String(decoding: try JSONEncoder.pretty.encode(result), as: UTF8.self))
        } else {
            print("kernel: \(result.kernel)\nmachine: \(result.machine)\nQEMU machine: \(result.qemuMachine)\n")
            print(result.table() + "\n")
            print(result.limitsTable() + "\n")
            print(result.ratiosLine())
        }
    }

    /// Build the module, boot the machine with the preset, run `bench sriov --guest` there.
    func fromHost() throws -> SriovResult {
        let paths = ProjectPaths()
        let progress: @Sendable (String) -> Void = { printError("hdiov bench: \($0)") }
        let cache = KernelCache(progress: progress)
        let prepared = try cache.prepare(kernel)
        let ko = try buildModule(
            paths: paths, kernel: kernel, kdir: nil, source: paths.kmod,
            buildDir: paths.root + "/.build-sriov/kmod/" + prepared.release, sparse: false, quiet: true
        ).module
        let preset = MachinePreset.sriovNVMe(maxVFs: maxVfs)
        var args = ["vm", "run", "--kernel", kernel.rawValue, "--quiet", "--timeout", "3000", "--machine", preset.name,
                    "--", selfExecutable(), "bench", "sriov", "--guest", "--module", ko, "--rounds", String(rounds),
                    "--max-vfs", String(maxVfs)] + (noFill ? ["--no-fill"] : [])
        if let devices { args += ["--devices", String(devices)] }
        let loadBefore = BenchSuiteCommand.hostLoad()
        progress("running in the embedded machine (\(prepared.release), \(preset.name))")
        var result = try runGuest(args, between: Self.begin, and: Self.end, as: SriovResult.self)
        result.machine = "host load average (1/5/15 min) \(loadBefore) before, \(BenchSuiteCommand.hostLoad()) after"
        return result
    }

    func measureInGuest() throws -> SriovResult {
        guard let module else { throw ValidationError("--guest needs --module") }
        let preset = MachinePreset.sriovNVMe(maxVFs: maxVfs)
        let qemuMachine = "\(preset.name): " + preset.qemuArguments.joined(separator: " ")
            + "; kernel: " + preset.kernelArguments.joined(separator: " ")
        return try benchOperation {
            try GuestBench().sriovComparison(ours: module, devices: devices, rounds: rounds, fill: !noFill,
                                             qemuMachine: qemuMachine, log: { printError("hdiov bench: \($0)") })
        }
    }
}
