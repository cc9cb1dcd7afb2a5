import ArgumentParser
import Foundation
import HDIOVBench
import HDIOVKernelBuild
import HDIOVMachine

/// `hdiov bench vm`: a VM driving a VDEV through the generated guest driver. On the host it
/// builds the host module, the guest driver and Linux's dmatest for --kernel, then runs itself
/// with --guest in an inner guest (`vm run --nested`) with one VDEV.
struct BenchVMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm",
        abstract: "A VM drives a VDEV: dmatest through the guest driver vs memcpy in the same guest; bind and first-completion times.",
        discussion: """
            On the host: builds the module, the guest driver (hdiov build --guest) and dmatest (hdiov vm sample) for \
            --kernel, boots the embedded machine, which boots an inner guest with one VDEV of --type \
            (hdiov vm run --nested), and runs `hdiov bench vm --guest` there; prints the table and writes \
            docs/bench/vm.json and docs/bench/vm.md (--out-dir), which `bench suite` appends to BENCHMARKS.md. \
            TCG inside TCG: compare the columns, don't quote absolutes.
            """
    )

    @Option(help: "Kernel of both machines: 6.1 or 6.12.")
    var kernel: KernelChoice = .v6_1

    @Option(help: "The VDEV's type (its id in the spec).")
    var type = "4qp"

    @Option(help: "Transfer sizes in bytes, comma-separated.")
    var sizes = "4096,65536,1048576"

    @Option(help: "dmatest transfers per size.")
    var transfers = 300

    @Option(help: "Where vm.json and vm.md go (default: docs/bench of this checkout).")
    var outDir: String?

    @Flag(help: "Do not write vm.json / vm.md.")
    var noWrite = false

    @Flag(help: "Measure here (in the inner guest, as root).")
    var guest = false

    @Option(help: "With --guest: the guest driver (.ko).")
    var guestDriver: String?

    @Option(help: "With --guest: dmatest (.ko).")
    var dmatest: String?

    static let begin = "HDIOV-BENCH-VM-JSON-BEGIN"
    static let end = "HDIOV-BENCH-VM-JSON-END"

    var sizeList: [Int] { sizes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        guard !sizeList.isEmpty, sizeList.allSatisfy({ $0 > 0 && $0 <= 1 << 24 }),
              sizeList.count == sizes.split(separator: ",").count else {
            throw ValidationError("--sizes: comma-separated byte counts, 1…16777216, e.g. 4096,65536")
        }
        if transfers < 1 { throw ValidationError("--transfers must be at least 1") }
        if guest && (guestDriver == nil || dmatest == nil) {
            throw ValidationError("--guest needs --guest-driver and --dmatest")
        }
    }

    func run() throws {
        if guest {
            let result = try NestedBench.measure(
                guestDriver: guestDriver!, dmatest: dmatest!, sizes: sizeList, transfers: transfers,
                log: { printError("hdiov bench: \($0)") })
            try printGuestResult(result, between: Self.begin, and: Self.end)
            return
        }
        var result = try fromHost()
        result.machine = BenchSuiteCommand.machineDescription() + "; " + result.machine
        if !noWrite { try writeBenchResult(result, markdown: result.markdown(), name: "vm", outDir: outDir) }
        print(result.markdown())
    }

    func fromHost() throws -> NestedBenchResult {
        let paths = ProjectPaths()
        let progress: @Sendable (String) -> Void = { printError("hdiov bench: \($0)") }
        let cache = KernelCache(progress: progress)
        let prepared = try cache.prepare(kernel)
        let build = paths.root + "/.build-benchvm/kmod/" + prepared.release
        let host = try buildModule(paths: paths, kernel: kernel, kdir: nil, source: paths.kmod,
                                   buildDir: build, sparse: false, quiet: true).module
        let guestKo = try buildModule(paths: paths, kernel: kernel, kdir: nil, source: paths.kmod,
                                      buildDir: build, guest: true, sparse: false, quiet: true).module
        let dmatestKo = try KernelSample.dmatest.build(headers: prepared.headersDir, cacheRoot: cache.root)
        let args = ["vm", "run", "--kernel", kernel.rawValue, "--quiet", "--nested", "--host-module", host,
                    "--vdev", type, "--", selfExecutable(), "bench", "vm", "--guest", "--guest-driver", guestKo,
                    "--dmatest", dmatestKo, "--sizes", sizes, "--transfers", String(transfers)]
        let loadBefore = BenchSuiteCommand.hostLoad()
        progress("running in an inner guest of the embedded machine (\(prepared.release), one \(type) VDEV)")
        var result = try runGuest(args, between: Self.begin, and: Self.end, as: NestedBenchResult.self)
        result.machine = "host load average (1/5/15 min) \(loadBefore) before, \(BenchSuiteCommand.hostLoad()) after"
        return result
    }
}
