import Foundation

/// The kernel's checkpatch.pl, taken from Debian's linux-source-6.1 tarball.
public struct Checkpatch: Sendable {
    public let script: String

    public init(script: String) {
        self.script = script
    }

    /// Extract checkpatch.pl and the data files it reads from `tarball` into `cacheDirectory`
    /// (once), and return it.
    public static func fromLinuxSource(
        tarball: String = "/usr/src/linux-source-6.1.tar.xz", cacheDirectory: String
    ) throws -> Checkpatch {
        let scripts = (cacheDirectory as NSString).appendingPathComponent("scripts")
        let script = (scripts as NSString).appendingPathComponent("checkpatch.pl")
        if FileManager.default.fileExists(atPath: script) { return Checkpatch(script: script) }
        guard FileManager.default.fileExists(atPath: tarball) else {
            throw Kbuild.Failure(description: "\(tarball): not found; install it with `apt-get install linux-source-6.1`")
        }
        try FileManager.default.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true)
        let top = (tarball as NSString).lastPathComponent.replacingOccurrences(of: ".tar.xz", with: "")
        let members = ["checkpatch.pl", "spelling.txt", "const_structs.checkpatch"].map { "\(top)/scripts/\($0)" }
        let (status, log) = try Kbuild.run("/bin/tar", ["-xJf", tarball, "-C", cacheDirectory, "--strip-components=1"] + members)
        guard status == 0 else { throw Kbuild.Failure(description: "extracting checkpatch.pl from \(tarball) failed:\n\(log)") }
        return Checkpatch(script: script)
    }

    /// Run `checkpatch.pl --strict` over `files`; returns its findings (empty when clean).
    public func check(files: [String]) throws -> [String] {
        let (_, log) = try Kbuild.run("/usr/bin/perl", [script, "--strict", "--no-tree", "--terse", "--show-types", "-f"] + files)
        return log.split(separator: "\n").map(String.init).filter {
            $0.contains(": WARNING:") || $0.contains(": ERROR:") || $0.contains(": CHECK:")
        }
    }
}
