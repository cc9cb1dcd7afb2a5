import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A failed read or write of a sysfs file: the path, the errno and what it means.
public struct SysfsError: Error, Equatable, CustomStringConvertible, Sendable {
    public var path: String
    public var errno: Int32
    public var operation: String

    public init(path: String, errno: Int32, operation: String) {
        self.path = path
        self.errno = errno
        self.operation = operation
    }

    /// The errno's symbolic name (ENOSPC), for messages and JSON.
    public var name: String { Errno.name(errno) }

    public var description: String {
        "\(path): \(operation) failed: \(name) (\(String(cString: strerror(errno))))"
    }
}

/// Reads and writes single sysfs attributes the way the kernel expects: one
/// `write(2)` per value, the errno of that write reported as is.
public enum SysfsFile {
    /// The attribute's contents without the trailing newline.
    public static func read(_ path: String) throws(SysfsError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SysfsError(path: path, errno: errno, operation: "open") }
        defer { close(fd) }
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SysfsError(path: path, errno: errno, operation: "read")
            }
            if n == 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        var text = String(decoding: data, as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    /// Write `value` (a newline is appended, as `echo` does) in one write(2).
    public static func write(_ path: String, _ value: String) throws(SysfsError) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SysfsError(path: path, errno: errno, operation: "open") }
        defer { close(fd) }
        let bytes = Array((value + "\n").utf8)
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if n < 0 { throw SysfsError(path: path, errno: errno, operation: "write") }
    }

    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// Names in a directory, sorted; empty when it does not exist.
    public static func list(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }

    /// The last component of a symlink's target (`iommu_group` → "12").
    public static func linkName(_ path: String) -> String? {
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) else { return nil }
        return (target as NSString).lastPathComponent
    }
}

/// errno names, for messages that say which error it was.
public enum Errno {
    public static func name(_ code: Int32) -> String {
        switch code {
        case EPERM: "EPERM"
        case ENOENT: "ENOENT"
        case EIO: "EIO"
        case ENODEV: "ENODEV"
        case EINVAL: "EINVAL"
        case ENOSPC: "ENOSPC"
        case EEXIST: "EEXIST"
        case EBUSY: "EBUSY"
        case EACCES: "EACCES"
        case ENOMEM: "ENOMEM"
        case EAGAIN: "EAGAIN"
        case EFAULT: "EFAULT"
        case ENOTTY: "ENOTTY"
        case EUSERS: "EUSERS"
        default: "errno \(code)"
        }
    }
}
