import Foundation

/// A failed VFIO operation: what was being done, on which path, and the errno in words.
public struct VFIOError: Error, CustomStringConvertible, Equatable, Sendable {
    public var operation: String
    public var path: String
    public var errno: Int32

    public init(operation: String, path: String, errno: Int32) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    public var description: String {
        let meaning = String(cString: strerror(errno))
        var hint = ""
        switch errno {
        case EBUSY: hint = " (the group or device is in use by another process)"
        case ENOENT: hint = " (no such device: is the module loaded and the VDEV created?)"
        case EACCES, EPERM: hint = " (run as root or give this user access to /dev/vfio)"
        default: break
        }
        return "\(path): \(operation) failed: \(meaning)\(hint)"
    }
}

func vfioCheck(_ result: Int32, _ operation: String, _ path: String) throws(VFIOError) -> Int32 {
    if result < 0 { throw VFIOError(operation: operation, path: path, errno: -result) }
    return result
}
