import Foundation

/// A minimal test harness for the real-kernel suite: each check prints one line, and
/// the run ends with `N passed, N failed`.
final class Harness {
    private(set) var passed = 0
    private(set) var failed = 0
    let prefix: String

    init(prefix: String) {
        self.prefix = prefix
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Run one named check; a thrown error or a failed expectation fails it.
    func check(_ name: String, _ body: () throws -> Void) {
        do {
            try body()
            passed += 1
            print("ok   \(prefix)\(name)")
        } catch {
            failed += 1
            print("FAIL \(prefix)\(name): \(error)")
        }
        fflush(nil)
    }

    func summary() -> String { "\(passed) passed, \(failed) failed" }
}

func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw Harness.Failure(description: message()) }
}

func expectEqual<T: Equatable>(_ actual: T, _ expected: T, _ what: String) throws {
    if actual != expected { throw Harness.Failure(description: "\(what): got \(actual), expected \(expected)") }
}

/// Run a command, returning its exit status and combined output.
@discardableResult
func sh(_ command: String, input: String? = nil) -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    let out = Pipe()
    process.standardOutput = out
    process.standardError = out
    let inPipe = Pipe()
    process.standardInput = input == nil ? FileHandle.nullDevice : inPipe
    do { try process.run() } catch { return (127, "\(error)") }
    if let input {
        inPipe.fileHandleForWriting.write(Data(input.utf8))
        try? inPipe.fileHandleForWriting.close()
    }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
