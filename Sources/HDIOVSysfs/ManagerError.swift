import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension Errno {
    /// The C library's words for it: "No space left on device".
    public static func meaning(_ code: Int32) -> String { String(cString: strerror(code)) }
}

/// A device-manager operation that did not happen, in words a user can act on: what was
/// tried, which sysfs file refused and with which errno (name and meaning), why that
/// happened here, and what to do next.
public struct ManagerError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    public enum Kind: String, Sendable {
        /// The request cannot work whatever the system's state: a malformed UUID, `--qps`
        /// for a fixed type, nothing to change. The CLI exits 2.
        case usage
        /// A parent, type or device that is not there. The CLI exits 1.
        case notFound
        /// The kernel refused a write (an errno). The CLI exits 1.
        case refused
        /// sysfs showed something the contract does not allow. The CLI exits 1.
        case unexpected
    }

    public var kind: Kind
    /// One line: what could not be done (`cannot create a hdiov-16qp device on hdiov0`).
    public var summary: String
    /// The refused sysfs access, when the kernel said no.
    public var sysfs: SysfsError?
    /// Why, in this situation (`hdiov0 has 8 of 2048 queue pairs free; …`).
    public var reasons: [String]
    /// What to do next.
    public var next: [String]

    public init(_ kind: Kind, _ summary: String, sysfs: SysfsError? = nil, reasons: [String] = [], next: [String] = []) {
        self.kind = kind
        self.summary = summary
        self.sysfs = sysfs
        self.reasons = reasons
        self.next = next
    }

    /// The sysfs path involved, when there is one.
    public var path: String? { sysfs?.path }
    /// The errno's symbolic name (`ENOSPC`), when the kernel refused.
    public var errnoName: String? { sysfs.map { Errno.name($0.errno) } }

    public var description: String {
        var lines = [summary]
        if let sysfs {
            lines.append("  \(sysfs.operation) \(sysfs.path): \(Errno.name(sysfs.errno)) (\(Errno.meaning(sysfs.errno)))")
        }
        lines += reasons.map { "  " + $0 }
        lines += next.map { "  next: " + $0 }
        return lines.joined(separator: "\n")
    }

    public var errorDescription: String? { description }
}
