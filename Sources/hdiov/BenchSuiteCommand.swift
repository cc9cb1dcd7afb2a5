import ArgumentParser
import Foundation
import HDIOVBench
import HDIOVKernelBuild
import HDIOVMachine

struct BenchGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks, run in the embedded machine against the real kernel.",
        subcommands: [BenchSuiteCommand.self, BenchDatapathCommand.self, BenchSriovCommand.self, BenchVMCommand.self, BenchGuestCommand.self]
    )
}

/// This binary's own path (the guest runs the same build through the shared root).
func selfExecutable() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}

struct BenchSuiteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "suite",
        abstract: "Lifecycle latency vs mtty, scale to thousands of VDEVs, memory per VDEV, device init time, data path; writes BENCHMARKS.md.",
        discussion: """
            Builds the module and the kernel's own mtty sample (from linux-source-6.1 or 6.12), boots \
            the embedded machine, measures there, and writes BENCHMARKS.md with PNG plots \
            (gnuplot) beside it in docs/bench/.
            """
    )

    @Option(help: "Kernel to run on: 6.1 or 6.12 (mtty comes from the matching linux-source).")
    var kernel: KernelChoice = .v6_1

    @Option(help: "Live VDEVs to reach in the scale test.")
    var scale = 4096

    @Option(help: "Report path (default: BENCHMARKS.md of this checkout).")
    var out: String?

    @Option(help: "VDEVs whose initialization (create → first completion) is timed.")
    var initDevices = 256

    @Flag(help: "Skip the data-path measurements (`bench datapath`).")
    var noDatapath = false

    @Option(help: "Render the report from a results.json of an earlier run instead of measuring.")
    var fromResults: String?

    func run() throws {
        let paths = ProjectPaths()
        let progress: @Sendable (String) -> Void = { printError("hdiov bench: \($0)") }
        let report = try fromResults.map {
            try JSONDecoder().decode(BenchReport.self, from: Data(contentsOf: URL(fileURLWithPath: $0)))
        } ?? measure(paths: paths, progress: progress)
        try write(report, paths: paths, progress: progress)
    }

    /// Build the modules, boot the embedded machine and take the measurements there.
    func measure(paths: ProjectPaths, progress: @escaping @Sendable (String) -> Void) throws -> BenchReport {
        let ours = try buildModule(
            paths: paths, kernel: kernel, kdir: nil, source: paths.kmod,
            sparse: false, quiet: true
        ).module
        let cache = KernelCache(progress: progress)
        let prepared = try cache.prepare(kernel)
        // samples/vfio-mdev/mtty.c of the kernel's own linux-source (KernelSample, cached under the kernel cache).
        let mtty = try KernelSample.mtty.build(headers: prepared.headersDir, cacheRoot: cache.root)
        progress("modules: \(ours), \(mtty)")
        let loadBefore = Self.hostLoad()
        let exe = selfExecutable()
        let args = ["vm", "run", "--kernel", kernel.rawValue, "--quiet", "--timeout", "3000", "--", exe, "bench", "guest",
                    "--ours", ours, "--mtty", mtty, "--scale", String(scale),
                    "--init-devices", String(initDevices)] + (noDatapath ? ["--no-datapath"] : [])
        progress("running in the embedded machine (\(prepared.release)); this takes a few minutes")
        var report = try runGuest(args, between: BenchMarkers.begin, and: BenchMarkers.end, as: BenchReport.self)
        report.machine = Self.machineDescription() + "; host load average (1/5/15 min) \(loadBefore) before, \(Self.hostLoad()) after"
        if report.datapath != nil { report.datapath?.machine = report.machine }
        return report
    }

    /// BENCHMARKS.md, its plots, and results.json (from which the report can be rendered again).
    func write(_ report: BenchReport, paths: ProjectPaths, progress: @Sendable (String) -> Void) throws {
        let outPath = out ?? paths.root + "/BENCHMARKS.md"
        let outDir = (outPath as NSString).deletingLastPathComponent
        let plotDir = outDir + "/docs/bench"
        try FileManager.default.createDirectory(atPath: plotDir, withIntermediateDirectories: true)
        let writer = ReportWriter(report: report)
        var plots: [String: String] = [:]
        for (title, plot) in writer.gnuplotScripts(directory: plotDir) {
            if (try? captureOutput("/usr/bin/gnuplot", [], input: plot.script)) != nil,
               FileManager.default.fileExists(atPath: plotDir + "/" + plot.file) {
                plots[title] = "docs/bench/" + plot.file
            } else {
                progress("gnuplot failed or is missing (apt-get install gnuplot-nox); no plot for \(title)")
            }
        }
        // Sections other bench commands generate (the SR-IOV analogue needs its own machine).
        let appendix = ["sriov.md", "vm.md"].compactMap { try? String(contentsOfFile: plotDir + "/" + $0, encoding: .utf8) }
        try Data(writer.markdown(plots: plots, appendix: appendix).utf8).write(
            to: URL(fileURLWithPath: outPath), options: .atomic)
        try Data(((try? JSONEncoder.pretty.encode(report)) ?? Data())).write(
            to: URL(fileURLWithPath: plotDir + "/results.json"), options: .atomic)
        print(outPath)
    }

    /// The host's load averages, "1.00 0.50 0.25": other VMs on the machine skew the numbers.
    static func hostLoad() -> String {
        let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }

    static func machineDescription() -> String {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
        return "\(ProcessInfo.processInfo.activeProcessorCount) cores (\(model)), "
            + "\(ProcessInfo.processInfo.physicalMemory >> 30) GiB; guest: QEMU TCG (single-threaded), 2 vCPUs, 2 GiB"
    }
}

extension JSONEncoder {
    static var pretty: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return e
    }
}

/// Run `hdiov ARGS` (a `vm run` of a guest command) and decode the JSON the guest printed
/// between two marker lines.
func runGuest<T: Decodable>(_ args: [String], between beginMarker: String, and endMarker: String, as type: T.Type) throws -> T {
    let output = try captureOutput(selfExecutable(), args)
    guard let begin = output.range(of: beginMarker), let end = output.range(of: endMarker),
          begin.upperBound < end.lowerBound else {
        printError(output)
        throw ValidationError("the guest printed no results (output above)")
    }
    return try JSONDecoder().decode(type, from: Data(output[begin.upperBound..<end.lowerBound].utf8))
}

/// A guest measurement's result for the host to pick up: its JSON between two marker lines
/// (read back by `runGuest`).
func printGuestResult<T: Encodable>(_ result: T, between begin: String, and end: String) throws {
    print(begin)
    print(String(decoding: try JSONEncoder.pretty.encode(result), as: UTF8.self))
    print(end)
}

/// Write a bench result as `<name>.json` and `<name>.md` into `outDir` (default: docs/bench of
/// this checkout), where `bench suite` finds the markdown for BENCHMARKS.md.
func writeBenchResult<T: Encodable>(_ result: T, markdown: String, name: String, outDir: String?) throws {
    let dir = outDir ?? ProjectPaths().root + "/docs/bench"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    try JSONEncoder.pretty.encode(result).write(to: URL(fileURLWithPath: dir + "/\(name).json"), options: .atomic)
    try Data(markdown.utf8).write(to: URL(fileURLWithPath: dir + "/\(name).md"), options: .atomic)
    printError("hdiov bench: wrote \(dir)/\(name).json and \(dir)/\(name).md")
}

/// Run a program, returning its standard output; fails on a non-zero exit.
func captureOutput(_ executable: String, _ arguments: [String], input: String? = nil) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe()
    process.standardOutput = out
    let inPipe = Pipe()
    process.standardInput = input == nil ? FileHandle.nullDevice : inPipe
    try process.run()
    if let input {
        inPipe.fileHandleForWriting.write(Data(input.utf8))
        try inPipe.fileHandleForWriting.close()
    }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw ValidationError("\(executable) \(arguments.joined(separator: " ")) exited \(process.terminationStatus)")
    }
    return String(decoding: data, as: UTF8.self)
}

struct BenchGuestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guest",
        abstract: "The measurements of `bench suite`, run inside the embedded machine (as root).",
        shouldDisplay: false
    )

    @Option(help: "Our module (.ko).") var ours: String
    @Option(help: "The mtty sample (.ko).") var mtty: String
    @Option(help: "Live VDEVs to reach.") var scale = 4096
    @Option(help: "Devices per lifecycle round.") var devices = 24
    @Option(help: "Lifecycle rounds.") var rounds = 20
    @Option(help: "VDEVs whose initialization is timed (0: skip).") var initDevices = 256
    @Flag(help: "Skip the data-path measurements.") var noDatapath = false

    func run() throws {
        let exe = selfExecutable()
        let report = try benchOperation {
            try GuestBench().suite(
                ours: ours, mtty: mtty, scale: scale, devices: devices, rounds: rounds, initDevices: initDevices,
                datapath: !noDatapath,
                listCommands: [("hdiov", "\(exe) list --json >/dev/null"), ("mdevctl", "mdevctl list >/dev/null")],
                log: { printError("hdiov bench: \($0)") })
        }
        try printGuestResult(report, between: BenchMarkers.begin, and: BenchMarkers.end)
    }
}

/// Run a guest measurement; a `BenchError` (the modules would not load, nothing to measure)
/// is a `ValidationError`, as before the measurements moved into HDIOVBench.
func benchOperation<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as BenchError {
        throw ValidationError(error.description)
    }
}
