import Foundation

/// A uevent the mock kernel sent, as `udevadm monitor --kernel --property` would show it:
/// ACTION, DEVPATH (relative to /sys), SUBSYSTEM, SEQNUM and the event's own properties
/// (`MDEV_STATE=registered` when a parent registers, `DRIVER=hdiov` on bind/unbind).
/// The log is `<root>/.hdiov-mock.events`, one JSON object a line, for a later `monitor`.
public struct MockUevent: Codable, Equatable, Sendable {
    public var seqnum: Int
    /// add, remove, change, bind, unbind (or a synthetic one written to `uevent`).
    public var action: String
    /// `/devices/virtual/hdiov/hdiov0/<uuid>`.
    public var devpath: String
    /// `mdev` for a VDEV, the module's class (`hdiov`) for a parent.
    public var subsystem: String
    /// The event's own properties beyond the four above.
    public var properties: [String: String]

    public init(seqnum: Int, action: String, devpath: String, subsystem: String, properties: [String: String] = [:]) {
        self.seqnum = seqnum
        self.action = action
        self.devpath = devpath
        self.subsystem = subsystem
        self.properties = properties
    }

    /// `KEY=VALUE` lines, in the kernel's order: ACTION, DEVPATH, SUBSYSTEM, the
    /// event's own properties (sorted), SEQNUM.
    public var environment: [String] {
        ["ACTION=\(action)", "DEVPATH=\(devpath)", "SUBSYSTEM=\(subsystem)"]
            + properties.keys.sorted().map { "\($0)=\(properties[$0]!)" }
            + ["SEQNUM=\(seqnum)"]
    }
}

/// A problem with the mock tree itself (not an errno the mock kernel returns).
public struct MockError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
    public var errorDescription: String? { message }
}
