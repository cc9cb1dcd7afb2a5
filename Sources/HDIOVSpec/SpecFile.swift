#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading a spec file as UTF-8 text; failures are diagnostics at line 1, column 1 (or at
/// the first byte that is not UTF-8).
enum SpecFile {
    /// A spec is a few KiB; refusing more keeps a wrong path (say, /dev/zero) from hanging.
    static let maxSize = 4 << 20

    static func read(path: String) -> Result<String, Diagnostic> {
        let location = SourceLocation(file: path, line: 1, column: 1)
        let bytes: [UInt8]
        switch readBytes(path: path) {
        case .success(let b): bytes = b
        case .failure(let error):
            return .failure(Diagnostic(location: location, message: "cannot read the spec: \(error.text)"))
        }
        return decodeUTF8(bytes, file: path)
    }

    struct OSError: Error {
        var text: String
        init(errno code: Int32) { text = String(cString: strerror(code)) }
        init(text: String) { self.text = text }
    }

    private static func readBytes(path: String) -> Result<[UInt8], OSError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(OSError(errno: errno)) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = buffer.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(OSError(errno: errno))
            }
            if n == 0 { return .success(bytes) }
            bytes.append(contentsOf: buffer[0..<n])
            if bytes.count > maxSize {
                return .failure(OSError(text: "the file is larger than \(maxSize >> 20) MiB, too large for a spec"))
            }
        }
    }

    /// The text, or an error at the first byte that is not UTF-8.
    static func decodeUTF8(_ bytes: [UInt8], file: String) -> Result<String, Diagnostic> {
        var scalars = String.UnicodeScalarView()
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let s):
                scalars.append(s)
            case .emptyInput:
                return .success(String(scalars))
            case .error:
                let at = TextPosition.endPosition(of: Array(scalars))
                return .failure(Diagnostic(
                    location: SourceLocation(file: file, line: at.line, column: at.column),
                    message: "the spec is not UTF-8 text", hint: "save the file as UTF-8"))
            }
        }
    }
}

/// POSIX read(2) (the name is taken by `SpecFile.read` inside the enum).
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(fd, buffer, count)
}
