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

/// Run a command through /bin/sh, returning its exit status and combined output.
/// posix_spawn and pipes directly: Foundation's Process needs a run loop socket pair,
/// which is not always there in the embedded machine.
@discardableResult
func sh(_ command: String, input: String? = nil) -> (status: Int32, output: String) {
    var outPipe: [Int32] = [0, 0], inPipe: [Int32] = [0, 0]
    guard pipe(&outPipe) == 0, pipe(&inPipe) == 0 else { return (127, "pipe: \(errno)") }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
    posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
    posix_spawn_file_actions_adddup2(&actions, outPipe[1], 2)
    for fd in outPipe + inPipe { posix_spawn_file_actions_addclose(&actions, fd) }
    var pid: pid_t = 0
    let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup(command), nil]
    defer { argv.forEach { free($0) } }
    let rc = posix_spawn(&pid, "/bin/sh", &actions, nil, argv, environ)
    close(outPipe[1])
    close(inPipe[0])
    guard rc == 0 else {
        close(outPipe[0])
        close(inPipe[1])
        return (127, "posix_spawn: \(rc)")
    }
    if let input {
        let bytes = Array(input.utf8)
        _ = bytes.withUnsafeBytes { write(inPipe[1], $0.baseAddress, $0.count) }
    }
    close(inPipe[1])
    var data = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(outPipe[0], $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        data.append(contentsOf: buffer[0..<n])
    }
    close(outPipe[0])
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return (exit, String(decoding: data, as: UTF8.self))
}
