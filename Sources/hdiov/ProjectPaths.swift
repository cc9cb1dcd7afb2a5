import Foundation

/// Where the project's own files are: the checkout this binary was built from, unless
/// the environment says otherwise (HDIOV_ROOT). The single place that builds such paths.
struct ProjectPaths {
    let root: String

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        if let root = environment["HDIOV_ROOT"], !root.isEmpty {
            self.root = root
        } else {
            // Sources/hdiov/ProjectPaths.swift -> the checkout's top directory.
            self.root = URL(fileURLWithPath: #filePath)
                .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        }
    }

    var templates: String { root + "/Templates/kmod" }
    var defaultSpec: String { root + "/specs/default.yaml" }
    var kmod: String { root + "/kmod" }
    /// Per-kernel module build directories (ignored by git).
    func moduleBuild(release: String) -> String { root + "/.build/kmod/" + release }
}
