import Foundation
import HDIOVMachine

/// Where hdiov's own files are (the templates, the hand-written module sources, the example
/// specs), found from the running binary, never from where it was compiled:
///
/// 1. `$HDIOV_ROOT`, if set;
/// 2. an installation: `<prefix>/share/hdiov` beside `<prefix>/bin/hdiov` (scripts/install.sh);
/// 3. the checkout the binary was built in: the nearest directory above it that holds
///    `Package.swift` and `Templates/kmod` (`.build/debug/hdiov`).
///
/// The single place that builds such paths.
struct ProjectPaths {
    let root: String
    /// A checkout (writable, with `.build/`), not an installation.
    let isCheckout: Bool

    init(environment: [String: String] = ProcessInfo.processInfo.environment,
         executable: String = ProjectPaths.runningExecutable()) {
        let fm = FileManager.default
        if let root = environment["HDIOV_ROOT"], !root.isEmpty {
            self.root = root
            isCheckout = fm.fileExists(atPath: root + "/Package.swift")
            return
        }
        let binDir = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
        let installed = binDir.deletingLastPathComponent().appendingPathComponent("share/hdiov").path
        if fm.fileExists(atPath: installed + "/Templates/kmod") {
            root = installed
            isCheckout = false
            return
        }
        var dir = binDir
        while dir.path != "/" {
            if fm.fileExists(atPath: dir.path + "/Package.swift"), fm.fileExists(atPath: dir.path + "/Templates/kmod") {
                root = dir.path
                isCheckout = true
                return
            }
            dir = dir.deletingLastPathComponent()
        }
        // Neither: name the installed location, so that errors say where the files were expected.
        root = installed
        isCheckout = false
    }

    /// The running binary's path (/proc/self/exe), not argv[0], which may be a bare name.
    static func runningExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// The `.mustache` templates of the module.
    var templates: String { root + "/Templates/kmod" }
    /// The hand-written module sources (and, in a checkout, the module generated from the default spec).
    var kmod: String { root + "/kmod" }
    var defaultSpec: String { root + "/specs/default.yaml" }
    /// Per-kernel module build directories: `.build/kmod` of a checkout (ignored by git), else the cache.
    func moduleBuild(release: String) -> String {
        if isCheckout { return root + "/.build/kmod/" + release }
        return KernelCache.defaultRoot(environment: ProcessInfo.processInfo.environment) + "/kmod/" + release
    }
}
