import Foundation

/// Errors from the embedded machine: fetching kernels, building the initramfs, running QEMU.
public enum MachineError: Error, CustomStringConvertible, Sendable {
    /// A helper program is not installed.
    case missingTool(String, hint: String)
    /// A helper program failed.
    case commandFailed(command: String, status: Int32, output: String)
    /// apt could not name or fetch a package.
    case packageLookup(String)
    /// The unpacked kernel does not look like we expected.
    case badKernel(String)
    /// The guest did not finish in time; QEMU was killed.
    case timeout(seconds: Double, consoleTail: String)
    /// The guest exited without reporting a status (init failed, kernel panic, …).
    case guestFailed(String, consoleTail: String)

    public var description: String {
        switch self {
        case let .missingTool(tool, hint):
            return "\(tool) not found (\(hint))"
        case let .commandFailed(command, status, output):
            let tail = output.split(separator: "\n", omittingEmptySubsequences: false).suffix(20)
                .joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
            return "`\(command)` failed with status \(status)" + (tail.isEmpty ? "" : ":\n\(tail)")
        case let .packageLookup(message):
            return message
        case let .badKernel(message):
            return message
        case let .timeout(seconds, tail):
            return "guest did not finish within \(Self.seconds(seconds)) s; QEMU was killed"
                + (tail.isEmpty ? "" : "\nlast console lines:\n\(tail)")
        case let .guestFailed(message, tail):
            return message + (tail.isEmpty ? "" : "\nlast console lines:\n\(tail)")
        }
    }

    static func seconds(_ s: Double) -> String {
        s == s.rounded() ? String(Int(s)) : String(format: "%.1f", s)
    }
}

/// Small helpers for running host programs (synchronously, Foundation `Process`).
enum Shell {
    static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// Finds `name` on `$PATH` plus the sbin directories (depmod lives in /sbin).
    static func which(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let env = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for dir in (env.split(separator: ":").map(String.init) + defaultPath.split(separator: ":").map(String.init))
        where !dir.isEmpty {
            let candidate = dir + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    static func require(_ name: String, hint: String) throws -> String {
        guard let path = which(name) else { throw MachineError.missingTool(name, hint: hint) }
        return path
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs a program to completion, capturing stdout and stderr. stdin is /dev/null.
    static func run(_ tool: String, _ arguments: [String], cwd: String? = nil,
                    environment: [String: String]? = nil) throws -> Result {
        let exe = try require(tool, hint: "install it with apt-get")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: exe)
        process.arguments = arguments
        if let cwd { process.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        if let environment {
            var env = ProcessInfo.processInfo.environment
            for (k, v) in environment { env[k] = v }
            process.environment = env
        }
        // stderr goes to a temporary file so that a chatty stderr cannot block a pipe we are not reading.
        let errPath = NSTemporaryDirectory() + "hdiov-stderr-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: errPath) }
        guard let errHandle = FileHandle(forWritingAtPath: errPath) else {
            throw MachineError.commandFailed(command: tool, status: -1, output: "cannot create \(errPath)")
        }
        let out = Pipe()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = errHandle
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try? errHandle.close()
        let errData = FileManager.default.contents(atPath: errPath) ?? Data()
        return Result(status: process.terminationStatus,
                      stdout: String(decoding: data, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }

    /// Runs a program and throws unless it exits 0; returns its stdout.
    @discardableResult
    static func check(_ tool: String, _ arguments: [String], cwd: String? = nil,
                      environment: [String: String]? = nil) throws -> String {
        let r = try run(tool, arguments, cwd: cwd, environment: environment)
        guard r.status == 0 else {
            throw MachineError.commandFailed(command: ([tool] + arguments).joined(separator: " "),
                                             status: r.status, output: r.stderr + r.stdout)
        }
        return r.stdout
    }

    /// Quotes a string for POSIX sh (single quotes).
    static func quote(_ s: String) -> String {
        if !s.isEmpty, s.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_./=:,+@%".contains($0)) }) {
            return s
        }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

extension FileManager {
    func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }

    /// Removes a path if present (file, directory or dangling symlink).
    func removeIfPresent(_ path: String) {
        if (try? attributesOfItem(atPath: path)) != nil { try? removeItem(atPath: path) }
    }
}
