import Foundation
import Testing

/// The `hdiov` executable of the build these tests belong to: the one next to the test
/// bundle (`<scratch>/debug/`), whatever the scratch path; failing that, the newest
/// `.build*/debug/hdiov` of the checkout.
enum HDIOVBinary {
    static let path: String? = nextToTestBundle() ?? newestInCheckout()

    /// `hdiov` in the directory of the test bundle (or its executable).
    static func nextToTestBundle() -> String? {
        let fm = FileManager.default
        var dirs: [URL] = []
        let bundle = Bundle.main.bundleURL
        dirs += [bundle, bundle.deletingLastPathComponent()]
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        dirs += [exe.deletingLastPathComponent(), exe.deletingLastPathComponent().deletingLastPathComponent()]
        if let arg0 = CommandLine.arguments.first {
            let url = URL(fileURLWithPath: arg0).resolvingSymlinksInPath()
            dirs += [url.deletingLastPathComponent(), url.deletingLastPathComponent().deletingLastPathComponent()]
        }
        for dir in dirs {
            let candidate = dir.appendingPathComponent("hdiov").path
            if fm.isExecutableFile(atPath: candidate), !isDirectory(candidate) { return candidate }
        }
        return nil
    }

    /// The newest `.build*/debug/hdiov` of the checkout, for layouts where the test bundle
    /// lives elsewhere.
    static func newestInCheckout() -> String? {
        let fm = FileManager.default
        // Tests/HDIOVCLITests/CLIRunner.swift -> the checkout
        let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let scratch = ((try? fm.contentsOfDirectory(atPath: checkout.path)) ?? []).filter { $0.hasPrefix(".build") }
        let found = scratch.map { checkout.appendingPathComponent($0).appendingPathComponent("debug/hdiov").path }
            .filter { fm.isExecutableFile(atPath: $0) }
        return found.max { modified($0) < modified($1) }
    }

    static func isDirectory(_ path: String) -> Bool {
        var dir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &dir) && dir.boolValue
    }

    static func modified(_ path: String) -> Date {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date) ?? .distantPast
    }
}

struct CLIResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Run `hdiov` with `arguments`, as a separate process; `environment` is added to (or
/// replaces entries of) this process's.
func hdiov(_ arguments: [String], environment: [String: String] = [:],
           sourceLocation: SourceLocation = #_sourceLocation) throws -> CLIResult {
    let binary = try #require(HDIOVBinary.path, "no hdiov binary next to the test bundle (\(Bundle.main.bundleURL.path)); build it first", sourceLocation: sourceLocation)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = arguments
    if !environment.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    // Read both pipes before waiting, so a full pipe cannot block the child.
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CLIResult(status: process.terminationStatus,
                     stdout: String(decoding: outData, as: UTF8.self),
                     stderr: String(decoding: errData, as: UTF8.self))
}

/// A temporary directory, removed again with the value.
final class TemporaryDirectory {
    let path: String

    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("hdiov-cli-\(UUID().uuidString)").path
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
