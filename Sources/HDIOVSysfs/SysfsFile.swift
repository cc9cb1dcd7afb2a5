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
        return try readOpen(fd, path: path)
    }

    /// Several files of one directory: the directory opened once, each file with `openat`.
    public static func readAttributes(_ directory: String, _ names: [String]) -> [Result<String, SysfsError>] {
        let dir = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else {
            let e = errno
            return names.map { .failure(SysfsError(path: directory + "/" + $0, errno: e, operation: "open")) }
        }
        defer { close(dir) }
        return names.map { name in
            let path = directory + "/" + name
            let fd = openat(dir, name, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return .failure(SysfsError(path: path, errno: errno, operation: "open")) }
            defer { close(fd) }
            do throws(SysfsError) {
                return .success(try readOpen(fd, path: path))
            } catch {
                return .failure(error)
            }
        }
    }

    static func readOpen(_ fd: Int32, path: String) throws(SysfsError) -> String {
        // One read into a stack buffer: a sysfs attribute comes whole in one read (at most
        // a page), and a short read of a regular file is its end. Longer files go on.
        let result = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { buffer -> Result<String, SysfsError> in
            var data = [UInt8]()
            while true {
                let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
                if n < 0 {
                    if errno == EINTR { continue }
                    return .failure(SysfsError(path: path, errno: errno, operation: "read"))
                }
                if data.isEmpty && n < buffer.count {
                    let end = n > 0 && buffer[n - 1] == UInt8(ascii: "\n") ? n - 1 : n
                    return .success(String(decoding: UnsafeBufferPointer(rebasing: buffer[0..<end]), as: UTF8.self))
                }
                if n == 0 { break }
                data.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[0..<n]))
                if n < buffer.count { break }
            }
            if data.last == UInt8(ascii: "\n") { data.removeLast() }
            return .success(String(decoding: data, as: UTF8.self))
        }
        return try result.get()
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
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1024) { buffer -> String? in
            let n = readlink(path, UnsafeMutableRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self), buffer.count)
            guard n > 0, n < buffer.count else { return nil }
            var end = n
            while end > 1, buffer[end - 1] == UInt8(ascii: "/") { end -= 1 }
            var start = end
            while start > 0, buffer[start - 1] != UInt8(ascii: "/") { start -= 1 }
            return String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<end]), as: UTF8.self)
        }
    }

    /// A symlink's target as stored (sysfs's are relative: `../../devices/virtual/hdiov/hdiov0`),
    /// nil when `path` is not a link.
    public static func linkTarget(_ path: String) -> String? {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { buffer -> String? in
            let n = readlink(path, UnsafeMutableRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self), buffer.count)
            guard n > 0, n < buffer.count else { return nil }
            return String(decoding: UnsafeBufferPointer(rebasing: buffer[0..<n]), as: UTF8.self)
        }
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
        case ERANGE: "ERANGE"
        case EISDIR: "EISDIR"
        case ENOTDIR: "ENOTDIR"
        case EROFS: "EROFS"
        default: "errno \(code)"
        }
    }
}
