import ArgumentParser
import Foundation
import HDIOVKernelBuild
import HDIOVMachine
import HDIOVModules
import HDIOVSpec

extension KernelChoice: ExpressibleByArgument {}

struct BuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build the kernel module (kmod/) against a kernel's headers.",
        discussion: """
            Builds with W=1 and fails on any compiler or modpost warning. By default the \
            running kernel's headers are used; --kernel 6.1|6.12 fetches Debian's headers \
            into the cache (never installing a kernel), --kdir names any build directory.
            """
    )

    @Option(help: "Debian kernel to build for: 6.1 or 6.12.")
    var kernel: KernelChoice?

    @Option(help: "Kernel build directory (make -C).")
    var kdir: String?

    @Option(help: "Module sources, as `hdiov generate` wrote them (default: kmod/ of this checkout or installation).")
    var source: String?

    @Option(help: "Where to build (default: .build/kmod/<kernel release> of this checkout).")
    var buildDir: String?

    @Flag(help: "Also run sparse (C=2) and fail on its findings.")
    var sparse = false

    @Flag(help: "Also run checkpatch.pl --strict over the sources and fail on its findings.")
    var checkpatch = false

    @Flag(help: "Build the guest driver (guest/ of the module sources: what a VM runs for a VDEV) instead of the host module.")
    var guest = false

    @Flag(help: "Print only the module's path.")
    var quiet = false

    func run() throws {
        let paths = ProjectPaths()
        let result = try buildModule(
            paths: paths, kernel: kernel, kdir: kdir, source: source ?? paths.kmod,
            buildDir: buildDir, guest: guest, sparse: sparse, quiet: quiet)
        var failed = !result.findings.isEmpty
        for finding in result.findings { printError(finding) }
        if checkpatch {
            let tool = try Checkpatch.fromLinuxSource(
                cacheDirectory: KernelCache.defaultRoot(environment: ProcessInfo.processInfo.environment) + "/checkpatch")
            let src = (source ?? paths.kmod) + (guest ? "/guest" : "")
            let files = try FileManager.default.contentsOfDirectory(atPath: src)
                .filter { $0.hasSuffix(".c") || $0.hasSuffix(".h") }.sorted()
                .map { (src as NSString).appendingPathComponent($0) }
            let findings = try tool.check(files: files)
            for finding in findings { printError(finding) }
            if !quiet { printError("checkpatch --strict: \(findings.count) findings in \(files.count) files") }
            failed = failed || !findings.isEmpty
        }
        if failed {
            printError("build: findings above; the module must build without warnings")
            throw ExitCode(1)
        }
        print(result.module)
    }
}

/// Resolve the kernel build directory and build the module there.
func buildModule(
    paths: ProjectPaths, kernel: KernelChoice?, kdir: String?, source: String,
    buildDir: String? = nil, guest: Bool = false, sparse: Bool, quiet: Bool
) throws -> Kbuild.Result {
    let directory: String
    if let kdir {
        directory = kdir
    } else if let kernel {
        let cache = KernelCache(progress: { line in
            if !quiet { printError("hdiov build: \(line)") }
        })
        directory = try cache.prepare(kernel).headersDir
    } else {
        let release = KernelModules.runningRelease()
        directory = "/lib/modules/\(release)/build"
        guard FileManager.default.fileExists(atPath: directory) else {
            throw ValidationError("no headers for the running kernel \(release) at \(directory); use --kernel 6.1|6.12 or --kdir DIR")
        }
    }
    let kbuild = Kbuild(kernelDirectory: directory)
    let release = kbuild.release ?? "unknown"
    let hostBuild = buildDir ?? paths.moduleBuild(release: release)
    let moduleSource = guest ? source + "/guest" : source
    let module = try Kbuild.moduleName(inSource: moduleSource)
    if guest {
        // The guest driver includes the host module's headers (hdiov_abi.h, hdiov_spec.h) from `..`.
        try Kbuild.syncSources(from: source, to: hostBuild)
    }
    if !quiet { printError("hdiov build: \(module).ko for \(release) (\(directory))") }
    return try kbuild.build(
        source: moduleSource, buildDirectory: guest ? hostBuild + "/guest" : hostBuild, moduleName: module,
        sparse: sparse)
}
