import ArgumentParser
import Foundation
import HDIOVEvents
import HDIOVSysfs

struct MonitorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "monitor",
        abstract: "Print the mdev devices there are, then their uevents as they come.",
        discussion: """
            Listens through libudev (netlink; subsystems mdev, mdev_bus, the module's class \
            and vfio) for add/remove/bind/unbind/change, MDEV_STATE included. On a mock tree \
            (--sysfs-root) it follows the mock kernel's event log instead.
            """)

    @Flag(help: "One JSON object a line: source, action, devpath, subsystem, properties.")
    var json = false

    @Option(help: ArgumentHelp("kernel (raw uevents) or udev (after udevd's rules); default udev when udevd runs.", valueName: "source"))
    var source: String?

    @Option(help: ArgumentHelp("Stop after this many events (existing devices not counted).", valueName: "n"))
    var count: Int?

    @Option(help: ArgumentHelp("Stop after this many seconds.", valueName: "seconds"))
    var timeout: Double?

    @Flag(help: "Do not list the existing devices first.")
    var noExisting = false

    @OptionGroup var target: DeviceManagerOptions

    func validate() throws {
        if let source, source != "kernel", source != "udev" { throw ValidationError("--source takes kernel or udev") }
    }

    func emit(_ e: DeviceEvent) {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: (try? encoder.encode(e)) ?? Data(), as: UTF8.self))
        } else {
            print(e.line)
        }
        fflush(nil)
    }

    func run() throws {
        let manager = try target.manager()
        let deadline = timeout.map { Date().addingTimeInterval($0) }
        var seen = 0
        func left() -> Double? { deadline.map { max(0, $0.timeIntervalSinceNow) } }
        func done() -> Bool { (count.map { seen >= $0 } ?? false) || (deadline.map { $0.timeIntervalSinceNow <= 0 } ?? false) }

        if let logging = manager.backend as? any UeventLogging {
            var follower = logging.uevents(fromStart: false)
            if !noExisting {
                for d in (try? manager.list()) ?? [] {
                    emit(DeviceEvent(source: "existing", action: "exists", devpath: "/devices/virtual/\(manager.module)/\(d.parent)/\(d.uuid)",
                                     subsystem: "mdev", properties: ["DRIVER": manager.module, "MDEV_TYPE": d.type]))
                }
            }
            while !done() {
                for e in follower.next(timeout: left()) where !done() {
                    emit(e)
                    seen += 1
                }
            }
            return
        }
        let subsystems = mdevSubsystems(module: manager.module)
        let monitor: UdevMonitor
        do {
            monitor = try UdevMonitor(source: source, subsystems: subsystems)
        } catch {
            printError("hdiov: \(error.description)")
            throw ExitCode(1)
        }
        if !noExisting {
            for e in UdevMonitor.existing(subsystems: ["mdev"]) { emit(e) }
        }
        while !done() {
            guard let e = monitor.next(timeout: left()) else { continue }
            emit(e)
            seen += 1
        }
    }
}
