import Foundation

/// Runs Kbuild for an out-of-tree module against one kernel's build directory.
public struct Kbuild: Sendable {
    /// The kernel build directory (`make -C`): headers with .config and Module.symvers.
    public let kernelDirectory: String

    public init(kernelDirectory: String) {
        self.kernelDirectory = kernelDirectory
    }

    /// The kernel release the headers are for (include/config/kernel.release).
    public var release: String? {
        let path = (kernelDirectory as NSString).appendingPathComponent("include/config/kernel.release")
        return (try? String(contentsOfFile: path, encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public struct Result: Sendable {
        /// Path of the built module (.ko).
        public var module: String
        /// Compiler, sparse and modpost findings ("warning:"/"error:" lines).
        public var findings: [String]
        public var log: String
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Copy the module sources from `source` into `buildDirectory` and build them with
    /// `W=1` (and sparse when `sparse` is true). Sources that did not change keep their
    /// timestamps, so rebuilding is incremental.
    public func build(source: String, buildDirectory: String, moduleName: String, sparse: Bool = false) throws -> Result {
        guard FileManager.default.fileExists(atPath: (kernelDirectory as NSString).appendingPathComponent("Makefile")) else {
            throw Failure(description: "\(kernelDirectory): not a kernel build directory (no Makefile); install the headers or pass --kernel 6.1|6.12")
        }
        try Self.syncSources(from: source, to: buildDirectory)
        var args = ["-C", kernelDirectory, "M=\(buildDirectory)", "W=1", "modules"]
        if sparse { args.insert(contentsOf: ["C=2", "CHECK=sparse"], at: 3) }
        let (status, log) = try Self.run("/usr/bin/make", args)
        let findings = log.split(separator: "\n").map(String.init).filter {
            $0.contains("warning:") || $0.contains("error:") || $0.contains("WARNING:")
        }
        let module = (buildDirectory as NSString).appendingPathComponent("\(moduleName).ko")
        guard status == 0, FileManager.default.fileExists(atPath: module) else {
            throw Failure(description: "make -C \(kernelDirectory) M=\(buildDirectory) failed (exit \(status)):\n\(log)")
        }
        return Result(module: module, findings: findings, log: log)
    }

    /// The module a source directory builds: `obj-m := <name>.o` of its Kbuild file.
    public static func moduleName(inSource source: String) throws -> String {
        let path = (source as NSString).appendingPathComponent("Kbuild")
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Failure(description: "\(path): cannot read the module's Kbuild file; is \(source) a generated module directory (hdiov generate --out)?")
        }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count == 3, parts[0] == "obj-m", parts[1] == ":=" || parts[1] == "+=", parts[2].hasSuffix(".o") {
                return String(parts[2].dropLast(2))
            }
        }
        throw Failure(description: "\(path): no `obj-m := <module>.o` line")
    }

    /// Copy a module's sources (Kbuild, Makefile, *.c, *.h) into a build directory, leaving
    /// unchanged files alone. The guest driver builds in `<host build>/guest` and includes
    /// the host's headers from `..`: its build syncs the host sources there first.
    public static func syncSources(from source: String, to destination: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: destination, withIntermediateDirectories: true)
        let names = try fm.contentsOfDirectory(atPath: source).filter { name in
            name == "Kbuild" || name == "Makefile" || name.hasSuffix(".c") || name.hasSuffix(".h")
        }
        for name in names {
            let from = (source as NSString).appendingPathComponent(name)
            let to = (destination as NSString).appendingPathComponent(name)
            let data = try Data(contentsOf: URL(fileURLWithPath: from))
            if let old = try? Data(contentsOf: URL(fileURLWithPath: to)), old == data { continue }
            try data.write(to: URL(fileURLWithPath: to), options: .atomic)
        }
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
