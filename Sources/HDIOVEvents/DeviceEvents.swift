import CUdev
import Foundation
import HDIOVSysfs

#if canImport(Glibc)
import Glibc
#endif

/// One uevent (or one device that was already there, action `exists`), from udev or from
/// the mock kernel's log.
public struct DeviceEvent: Codable, Equatable, Sendable {
    /// `kernel` or `udev` (netlink groups), `mock` (a mock tree's log), `existing`.
    public var source: String
    /// add, remove, bind, unbind, change, … or `exists`.
    public var action: String
    /// Relative to /sys: `/devices/virtual/hdiov/hdiov0/<uuid>`.
    public var devpath: String
    public var subsystem: String
    /// Every other property: MDEV_STATE, DRIVER, DEVNAME, SEQNUM, …
    public var properties: [String: String]

    public init(source: String, action: String, devpath: String, subsystem: String, properties: [String: String] = [:]) {
        self.source = source
        self.action = action
        self.devpath = devpath
        self.subsystem = subsystem
        self.properties = properties
    }

    /// The last devpath component: a parent's name, a device's UUID, a group number.
    public var name: String { (devpath as NSString).lastPathComponent }

    /// `udev add mdev /devices/… DRIVER=hdiov MDEV_STATE=… SEQNUM=…` (the properties that matter).
    public var line: String {
        let keys = ["MDEV_STATE", "DRIVER", "DEVNAME", "MDEV_TYPE", "SEQNUM"]
        let shown = keys.compactMap { k in properties[k].map { "\(k)=\($0)" } }
        return ([source, action, subsystem, devpath] + shown).joined(separator: " ")
    }
}

/// What failed when listening for uevents, with the errno and what to do.
public struct EventError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A libudev netlink monitor filtered to the mdev world: `mdev` (VDEVs), `mdev_bus`, the
/// module's class (parents, with MDEV_STATE) and `vfio` (group nodes).
public final class UdevMonitor {
    let udev: OpaquePointer
    let monitor: OpaquePointer
    public let source: String

    /// Whether systemd-udevd is running (then the `udev` group carries processed events).
    public static var udevdRunning: Bool { FileManager.default.fileExists(atPath: "/run/udev/control") }

    /// `source`: "kernel" (raw uevents, needs root) or "udev" (after udevd's rules);
    /// nil: "udev" when udevd runs, else "kernel".
    public init(source: String? = nil, subsystems: [String]) throws(EventError) {
        let source = source ?? (Self.udevdRunning ? "udev" : "kernel")
        guard let udev = udev_new() else { throw EventError("cannot start libudev (udev_new failed): \(String(cString: strerror(errno)))") }
        guard let monitor = udev_monitor_new_from_netlink(udev, source) else {
            let e = errno
            udev_unref(udev)
            throw EventError("cannot listen for \(source) uevents (udev_monitor_new_from_netlink): \(String(cString: strerror(e)))"
                             + "\n  next: listening to the kernel's uevents needs root; or use --source udev where udevd runs")
        }
        for s in subsystems { udev_monitor_filter_add_match_subsystem_devtype(monitor, s, nil) }
        let r = udev_monitor_enable_receiving(monitor)
        if r < 0 {
            udev_monitor_unref(monitor)
            udev_unref(udev)
            throw EventError("cannot receive \(source) uevents (udev_monitor_enable_receiving): \(String(cString: strerror(-r)))"
                             + "\n  next: run it as root")
        }
        self.udev = udev
        self.monitor = monitor
        self.source = source
    }

    deinit {
        udev_monitor_unref(monitor)
        udev_unref(udev)
    }

    /// The next event, or nil when `timeout` seconds (nil: forever) pass without one.
    public func next(timeout: Double?) -> DeviceEvent? {
        let deadline = timeout.map { Date().addingTimeInterval($0) }
        while true {
            var pfd = pollfd(fd: udev_monitor_get_fd(monitor), events: Int16(POLLIN), revents: 0)
            var ms: Int32 = -1
            if let deadline {
                let left = deadline.timeIntervalSinceNow
                if left <= 0 { return nil }
                ms = Int32(min(left * 1000, Double(Int32.max)).rounded(.up))
            }
            let n = poll(&pfd, 1, ms)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            guard let device = udev_monitor_receive_device(monitor) else { continue }
            defer { udev_device_unref(device) }
            return Self.event(device, source: source, action: nil)
        }
    }

    static func string(_ p: UnsafePointer<CChar>?) -> String? { p.map { String(cString: $0) } }

    static func event(_ device: OpaquePointer, source: String, action: String?) -> DeviceEvent {
        var properties: [String: String] = [:]
        var entry = udev_device_get_properties_list_entry(device)
        while let e = entry {
            if let k = string(udev_list_entry_get_name(e)) { properties[k] = string(udev_list_entry_get_value(e)) ?? "" }
            entry = udev_list_entry_get_next(e)
        }
        let act = action ?? string(udev_device_get_action(device)) ?? properties["ACTION"] ?? "?"
        let devpath = string(udev_device_get_devpath(device)) ?? properties["DEVPATH"] ?? "?"
        let subsystem = string(udev_device_get_subsystem(device)) ?? properties["SUBSYSTEM"] ?? "?"
        for k in ["ACTION", "DEVPATH", "SUBSYSTEM"] { properties[k] = nil }
        return DeviceEvent(source: source, action: act, devpath: devpath, subsystem: subsystem, properties: properties)
    }

    /// The devices of `subsystems` there are now (udev_enumerate), action `exists`.
    public static func existing(subsystems: [String]) -> [DeviceEvent] {
        guard let udev = udev_new() else { return [] }
        defer { udev_unref(udev) }
        guard let en = udev_enumerate_new(udev) else { return [] }
        defer { udev_enumerate_unref(en) }
        for s in subsystems { udev_enumerate_add_match_subsystem(en, s) }
        udev_enumerate_scan_devices(en)
        var events: [DeviceEvent] = []
        var entry = udev_enumerate_get_list_entry(en)
        while let e = entry {
            if let path = udev_list_entry_get_name(e), let device = udev_device_new_from_syspath(udev, path) {
                events.append(event(device, source: "existing", action: "exists"))
                udev_device_unref(device)
            }
            entry = udev_list_entry_get_next(e)
        }
        return events
    }
}

/// Where the uevents of a tree come from when its kernel keeps a log of them instead of
/// sending them over netlink (a mock tree: HDIOVMock's `MockEventFollower`).
public protocol UeventSource {
    /// The events that came since the last call, waiting until there are some or `timeout`
    /// seconds (nil: forever) pass.
    mutating func next(timeout: Double?) -> [DeviceEvent]
}

/// A sysfs backend whose kernel logs its uevents (the mock kernel): monitors follow the log.
public protocol UeventLogging: SysfsBackend {
    /// The events from now on (`fromStart`: from the first one).
    func uevents(fromStart: Bool) -> any UeventSource
}

/// The subsystems a monitor of `module` listens to.
public func mdevSubsystems(module: String) -> [String] { ["mdev", "mdev_bus", module, "vfio"] }

/// Waits for a new device's VFIO group node, learned from its uevent: start it before the
/// create (so the event cannot be missed), then `wait(group:node:)`.
public final class VFIONodeWaiter {
    enum Listener {
        case udev(UdevMonitor)
        case log(any UeventSource)
    }

    var listener: Listener
    var pending: [DeviceEvent] = []

    /// On a tree whose kernel logs its events (a mock tree) that log; else a udev monitor of
    /// the `vfio` subsystem.
    public init(backend: any SysfsBackend) throws(EventError) {
        if let logging = backend as? any UeventLogging {
            listener = .log(logging.uevents(fromStart: false))
        } else {
            listener = .udev(try UdevMonitor(subsystems: ["vfio"]))
        }
    }

    func next(timeout: Double) -> [DeviceEvent] {
        switch listener {
        case .udev(let m):
            return m.next(timeout: timeout).map { [$0] } ?? []
        case .log(var source):
            let events = source.next(timeout: timeout)
            listener = .log(source)
            return events
        }
    }

    /// The event that announced `node` (`/dev/vfio/<group>`) of device `uuid`: the vfio
    /// `add` of DEVNAME=vfio/<group> (on a mock tree, which sends no vfio events, the
    /// device's `bind`); then the node must exist. Throws after `timeout` seconds.
    @discardableResult
    public func wait(uuid: String, group: String, node: String, timeout: Double) throws(EventError) -> DeviceEvent {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let i = pending.firstIndex(where: { matches($0, uuid: uuid, group: group) }) {
                let e = pending.remove(at: i)
                guard FileManager.default.fileExists(atPath: node) else {
                    throw EventError("the \(e.source) event for group \(group) came (\(e.line)) but \(node) does not exist"
                                     + "\n  next: is devtmpfs mounted on /dev? are udev rules removing it?")
                }
                return e
            }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 {
                throw EventError("no uevent for \(node) within \(timeout) s (\(node) \(FileManager.default.fileExists(atPath: node) ? "exists" : "does not exist"))"
                                 + "\n  next: `hdiov monitor` shows the events there are; raise --timeout")
            }
            pending += next(timeout: left)
        }
    }

    func matches(_ e: DeviceEvent, uuid: String, group: String) -> Bool {
        if e.source == "mock" { return e.action == "bind" && e.name == uuid }
        return e.subsystem == "vfio" && e.action == "add" && (e.properties["DEVNAME"] == "vfio/\(group)" || e.name == group)
    }
}
