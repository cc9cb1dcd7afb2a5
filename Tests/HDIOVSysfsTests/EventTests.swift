import Foundation
import HDIOVEvents
import HDIOVMock
import HDIOVSpec
import HDIOVSysfs
import Testing

/// Monitoring a mock tree: its event log followed as a monitor follows the kernel.
@Suite("events of a mock tree")
struct EventTests {
    func tree() throws -> (MockKernel, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hdiov-ev-\(UUID().uuidString)").path
        let spec = try SpecParser.load(path: URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("specs/default.yaml").path)
        return (try MockKernel.install(at: dir, spec: spec), dir)
    }

    @Test("the follower sees registration from the start, then only what comes after")
    func follow() throws {
        let (kernel, dir) = try tree()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var all = MockEventFollower(kernel: kernel, fromStart: true)
        let registration = all.poll()
        #expect(registration.contains { $0.action == "change" && $0.properties["MDEV_STATE"] == "registered" && $0.name == "hdiov0" })
        var follower = MockEventFollower(kernel: kernel)
        #expect(follower.poll().isEmpty)
        let manager = DeviceManager(environment: kernel.environment, module: "hdiov", backend: kernel)
        let d = try manager.create(parent: "hdiov0", type: "4qp")
        try manager.remove(uuid: d.uuid)
        let events = follower.next(timeout: 1)
        #expect(events.map(\.action) == ["add", "bind", "unbind", "remove"])
        #expect(events.allSatisfy { $0.name == d.uuid && $0.subsystem == "mdev" && $0.source == "mock" })
        #expect(events[1].properties["DRIVER"] == "hdiov")
        #expect(events[1].line.hasPrefix("mock bind mdev /devices/virtual/hdiov/hdiov0/\(d.uuid) DRIVER=hdiov SEQNUM="))
        #expect(follower.next(timeout: 0.05).isEmpty)
    }

    @Test("create --wait's waiter returns on the device's event, and times out without one")
    func waiter() throws {
        let (kernel, dir) = try tree()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let manager = DeviceManager(environment: kernel.environment, module: "hdiov", backend: kernel)
        let waiter = try VFIONodeWaiter(backend: kernel)
        let d = try manager.create(parent: "hdiov1", type: "flex", queuePairs: 2)
        let group = try #require(d.iommuGroup)
        let e = try waiter.wait(uuid: d.uuid, group: group, node: try #require(d.vfioGroupNode), timeout: 2)
        #expect(e.action == "bind" && e.name == d.uuid)
        let start = Date()
        #expect(throws: EventError.self) {
            try waiter.wait(uuid: MdevUUID.generate(), group: "99", node: kernel.environment.vfioGroupNode("99"), timeout: 0.2)
        }
        #expect(Date().timeIntervalSince(start) < 2)
    }
}
