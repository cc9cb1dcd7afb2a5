import Foundation
import HDIOVEvents

#if canImport(Glibc)
import Glibc
#endif

extension DeviceEvent {
    /// One entry of a mock tree's event log, source `mock`.
    public init(mock e: MockUevent) {
        var p = e.properties
        p["SEQNUM"] = "\(e.seqnum)"
        self.init(source: "mock", action: e.action, devpath: e.devpath, subsystem: e.subsystem, properties: p)
    }
}

/// Follows a mock tree's event log (`.hdiov-mock.events`) from a point on, as a monitor
/// follows the kernel: `poll` returns what was appended since the last call.
public struct MockEventFollower: UeventSource {
    public let kernel: MockKernel
    /// Events already seen.
    public private(set) var seen: Int

    /// From now on (`fromStart`: from the first event).
    public init(kernel: MockKernel, fromStart: Bool = false) {
        self.kernel = kernel
        self.seen = fromStart ? 0 : kernel.events().count
    }

    public mutating func poll() -> [DeviceEvent] {
        let all = kernel.events()
        guard all.count > seen else { return [] }
        let new = all[seen...].map(DeviceEvent.init(mock:))
        seen = all.count
        return new
    }

    /// The next events, waiting (checking every 20 ms: a log file has no netlink socket)
    /// until there are some or `timeout` seconds pass.
    public mutating func next(timeout: Double?) -> [DeviceEvent] {
        let deadline = timeout.map { Date().addingTimeInterval($0) }
        while true {
            let events = poll()
            if !events.isEmpty { return events }
            if let deadline, deadline.timeIntervalSinceNow <= 0 { return [] }
            usleep(20_000)
        }
    }
}

/// The mock kernel sends no netlink uevents: monitors (`hdiov monitor`, `create --wait`)
/// follow its log.
extension MockKernel: UeventLogging {
    public func uevents(fromStart: Bool) -> any UeventSource { MockEventFollower(kernel: self, fromStart: fromStart) }
}
