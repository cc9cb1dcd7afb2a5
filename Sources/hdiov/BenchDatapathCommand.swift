import ArgumentParser
import Foundation
import HDIOVBench
import HDIOVMachine
import HDIOVSysfs

/// `hdiov bench datapath`: doorbell fast path vs trapped, COPY vs memcpy, aggregate over VDEVs
/// and engine threads. In the embedded machine (module loaded) it measures in place; on the
/// host it builds the module and boots the machine to run itself there.
struct BenchDatapathCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "datapath",
        abstract: "Data-path throughput: mmap'd doorbell vs trapped write, COPY vs memcpy, many VDEVs × engine threads.",
        discussion: """
            Run inside the embedded machine as root with the module loaded, it measures there \
            (give --module to also measure with --threads engine threads: the module is reloaded). \
            Run on the host, it builds the module for --kernel, boots the embedded machine and \
            runs itself there with --module. Every number is the median of --repeats runs of \
            --seconds each, after a warm-up run.
            """
    )

    @Option(help: "Kernel to boot when run on the host: 6.1 or 6.12.")
    var kernel: KernelChoice = .v6_1

    @Option(help: "Our module (.ko): loaded if needed, reloaded for other engine thread counts.")
    var module: String?

    @Option(help: "Device spec naming the module to measure (default: the one whose parents are registered, else the --module .ko's).")
    var spec: String?

    @Option(help: "Runs per number (median reported).")
    var repeats = 5

    @Option(help: "Seconds per run.")
    var seconds = 0.5

    @Option(parsing: .upToNextOption, help: "VDEV counts for the aggregate measurement.")
    var vdevs: [Int] = [1, 4, 16]

    @Option(parsing: .upToNextOption, help: "Engine thread counts for the aggregate measurement.")
    var threads: [Int] = [1, 2]

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Flag(help: "Measure here (the caller is in the embedded machine) even if the module is not loaded yet.")
    var inGuest = false

    func run() throws {
        let name = try spec.map { try loadDeviceSpec($0).module }
        let registered = DeviceManager.registeredModules(environment: SysfsEnvironment())
        let loaded = name.map { registered.contains($0) } ?? !registered.isEmpty
        var result: DatapathResult
        if inGuest || loaded {
            let log: (String) -> Void = json ? { printError("hdiov bench: \($0)") } : { print($0) }
            result = try benchOperation {
                try DatapathBench.measure(module: try BenchModule.prepare(name: name, path: module), repeats: repeats,
                                          seconds: seconds, vdevs: vdevs, threads: threads, log: log)
            }
            if inGuest {
                print(DatapathMarkers.begin)
                print(String(decoding: try JSONEncoder.pretty.encode(result), as: UTF8.self))
                print(DatapathMarkers.end)
                return
            }
            result.machine = "guest: " + result.machine
        } else {
            result = try fromHost()
        }
        if json {
            print(String(decoding: try JSONEncoder.pretty.encode(result), as: UTF8.self))
        } else {
            print(ReportWriter.datapathTable(result))
        }
    }

    /// Build the module, boot the machine, run `bench datapath --in-guest` there.
    func fromHost() throws -> DatapathResult {
        let paths = ProjectPaths()
        let progress: @Sendable (String) -> Void = { printError("hdiov bench: \($0)") }
        let cache = KernelCache(progress: progress)
        let prepared = try cache.prepare(kernel)
        let ko = try buildModule(
            paths: paths, kernel: kernel, kdir: nil, source: paths.kmod,
            buildDir: paths.root + "/.build-bench/kmod/" + prepared.release, sparse: false, quiet: true
        ).module
        var args = ["vm", "run", "--kernel", kernel.rawValue, "--quiet", "--timeout", "3000", "--", selfExecutable(),
                    "bench", "datapath", "--in-guest", "--module", ko, "--repeats", String(repeats),
                    "--seconds", String(seconds), "--vdevs"] + vdevs.map(String.init) + ["--threads"] + threads.map(String.init)
        if let s = self.spec { args += ["--spec", s] }
        let loadBefore = BenchSuiteCommand.hostLoad()
        progress("running in the embedded machine (\(prepared.release))")
        var result = try runGuest(args, between: DatapathMarkers.begin, and: DatapathMarkers.end, as: DatapathResult.self)
        result.machine = BenchSuiteCommand.machineDescription()
            + "; host load average (1/5/15 min) \(loadBefore) before, \(BenchSuiteCommand.hostLoad()) after"
        return result
    }
}
