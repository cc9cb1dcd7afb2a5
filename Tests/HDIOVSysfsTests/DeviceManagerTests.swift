import Foundation
import HDIOVMock
import HDIOVSpec
@testable import HDIOVSysfs
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("DeviceManager on the mock kernel")
struct DeviceManagerTests {
    @Test("parents and types as the manager reads them")
    func parentsAndTypes() throws {
        let f = try MockFixture()
        let parents = try f.manager.parents()
        #expect(parents.map(\.name) == ["hdiov0", "hdiov1"])
        let p = try #require(parents.first)
        #expect(p.qpTotal == 2048 && p.qpFree == 2048 && p.vdevCount == 0 && p.vdevMax == 2048 && p.version == "1.0")
        #expect(p.types.map(\.id) == ["hdiov-1qp", "hdiov-4qp", "hdiov-16qp", "hdiov-flex"])
        #expect(p.types.map(\.queuePairs) == [.fixed(1), .fixed(4), .fixed(16), .flex(1...256)])
        #expect(p.types.map(\.availableInstances) == [2048, 512, 128, 2048])
        #expect(p.types.allSatisfy { $0.deviceAPI == "vfio-pci" && $0.parent == "hdiov0" })
        #expect(p.types[1].name == "HD-IOV 4 queue pairs")
        #expect(try f.manager.types(parent: "hdiov1").count == 4)
    }

    @Test("an unknown parent names the ones there are")
    func unknownParent() throws {
        let f = try MockFixture()
        let e = try #require(managerError { () throws(ManagerError) in try f.manager.types(parent: "hdiov7") })
        #expect(e.kind == .notFound)
        #expect(e.description.contains("there is no parent hdiov7; the parents are hdiov0, hdiov1"))
    }

    @Test("no devices is an empty list; a tree without the module too")
    func emptyList() throws {
        let f = try MockFixture()
        #expect(try f.manager.list().isEmpty)
        let bare = FileManager.default.temporaryDirectory.appendingPathComponent("hdiov-bare-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: bare) }
        try FileManager.default.createDirectory(atPath: bare, withIntermediateDirectories: true)
        let manager = DeviceManager(environment: SysfsEnvironment(root: bare), module: "hdiov")
        #expect(try manager.list().isEmpty)
        #expect(try manager.parents().isEmpty)
        let e = try #require(managerError { () throws(ManagerError) in try manager.create(parent: "hdiov0", type: "1qp") })
        #expect(e.kind == .notFound)
        #expect(e.description.contains("no hdiov parents are registered"))
    }

    @Test("create, list, remove; accounting follows")
    func lifecycle() throws {
        let f = try MockFixture()
        let d = try f.manager.create(parent: "hdiov0", type: "hdiov-4qp")
        #expect(MdevUUID.normalize(d.uuid) == d.uuid)
        #expect(d.parent == "hdiov0" && d.type == "hdiov-4qp")
        #expect(d.queuePairs == 4 && d.weight == 10 && d.pasid == 1)
        #expect(d.qpIDsText == "0-3" && d.qpIDs == [0, 1, 2, 3])
        #expect(d.stats == .zero)
        #expect(d.iommuGroup == "0")
        #expect(d.vfioGroupNode == f.env.vfioGroupNode("0"))
        #expect(d.sysfsPath == f.env.device(d.uuid))
        #expect(try f.manager.list() == [d])
        #expect(try f.manager.device(uuid: d.uuid.uppercased()) == d)
        #expect(try f.manager.parent("hdiov0").qpFree == 2044)
        #expect(try f.manager.types(parent: "hdiov0").first { $0.id == "hdiov-4qp" }?.availableInstances == 511)
        try f.manager.remove(uuid: d.uuid)
        #expect(try f.manager.list().isEmpty)
        #expect(try f.manager.parent("hdiov0").qpFree == 2048)
    }

    @Test("create with a given UUID, flex queue pairs and weight")
    func createFlex() throws {
        let f = try MockFixture()
        let u = "0b0e2d8c-6d8a-4d4f-9a57-3c4f3a1f2e1f"
        let d = try f.manager.create(parent: "hdiov1", type: "flex", uuid: u.uppercased(), queuePairs: 8, weight: 50)
        #expect(d.uuid == u && d.parent == "hdiov1" && d.type == "hdiov-flex")
        #expect(d.queuePairs == 8 && d.qpIDsText == "0-7" && d.weight == 50)
        #expect(try f.manager.parent("hdiov1").qpFree == 2040)
        #expect(try f.int(f.typeFile("hdiov1", "flex", "available_instances")) == 2040)
        try f.expectAccounting("hdiov1")
        // the same as the default: no resize
        let g = try f.manager.create(parent: "hdiov1", type: "hdiov-flex", queuePairs: 1)
        #expect(g.queuePairs == 1)
        // a fixed type's own count is fine
        #expect(try f.manager.create(parent: "hdiov1", type: "4qp", queuePairs: 4).queuePairs == 4)
    }

    @Test("a refused setting after create removes the new device again")
    func createRollback() throws {
        let f = try MockFixture()
        let before = f.kernel.events().count
        let e = try #require(managerError { () throws(ManagerError) in
            try f.manager.create(parent: "hdiov0", type: "flex", queuePairs: 4, weight: 0)
        })
        #expect(e.kind == .refused)
        #expect(e.errnoName == "EINVAL")
        #expect(e.path?.hasSuffix("/hdiov/weight") == true)
        #expect(e.description.contains("weight takes a whole number from 1 to 100"))
        #expect(e.description.contains("was removed again: nothing was left half-made"))
        #expect(try f.manager.list().isEmpty)
        #expect(try f.manager.parent("hdiov0").qpFree == 2048)
        #expect(f.kernel.events().dropFirst(before).map(\.action) == ["add", "bind", "unbind", "remove"])
    }

    @Test("flex queue pairs the pool cannot give at create: ENOSPC, rolled back, the message says what is free")
    func createFlexENOSPC() throws {
        let f = try MockFixture.small()
        try f.manager.create(parent: "hdiov0", type: "4qp")
        let e = try #require(managerError { () throws(ManagerError) in
            try f.manager.create(parent: "hdiov0", type: "flex", queuePairs: 6)
        })
        #expect(e.errnoName == "ENOSPC")
        #expect(e.description.contains("hdiov0 has 4 of 8 queue pairs free; 6 were asked for"))
        #expect(e.description.contains("next: ask for at most 4"))
        #expect(try f.manager.list().count == 1)
    }

    @Test("usage errors touch nothing: --qps for a fixed type, outside a flex range, a malformed UUID")
    func usageErrors() throws {
        let f = try MockFixture()
        let before = f.kernel.events().count
        let fixed = try #require(managerError { () throws(ManagerError) in
            try f.manager.create(parent: "hdiov0", type: "4qp", queuePairs: 2)
        })
        #expect(fixed.kind == .usage)
        #expect(fixed.description.contains("hdiov-4qp always has 4 queue pairs"))
        #expect(fixed.description.contains("create a hdiov-flex device instead"))
        let range = try #require(managerError { () throws(ManagerError) in
            try f.manager.create(parent: "hdiov0", type: "flex", queuePairs: 257)
        })
        #expect(range.kind == .usage)
        #expect(range.description.contains("hdiov-flex takes 1 to 256 queue pairs, not 257"))
        let uuid = try #require(managerError { () throws(ManagerError) in
            try f.manager.create(parent: "hdiov0", type: "1qp", uuid: "../../etc")
        })
        #expect(uuid.kind == .usage)
        #expect(uuid.description.contains("'../../etc' is not a UUID"))
        #expect(f.kernel.events().count == before)
    }

    @Test("unknown type names the types of the parent")
    func unknownType() throws {
        let f = try MockFixture()
        let e = try #require(managerError { () throws(ManagerError) in try f.manager.create(parent: "hdiov0", type: "8qp") })
        #expect(e.kind == .notFound)
        #expect(e.description.contains("hdiov0 has no type '8qp'; its types: hdiov-1qp, hdiov-4qp, hdiov-16qp, hdiov-flex"))
    }

    @Test("ENOSPC: the path, the errno in words, qp_free and the types that still fit, another parent")
    func createENOSPC() throws {
        let f = try MockFixture.small()
        try f.manager.create(parent: "hdiov0", type: "4qp")
        try f.manager.create(parent: "hdiov0", type: "1qp")
        let e = try #require(managerError { () throws(ManagerError) in try f.manager.create(parent: "hdiov0", type: "4qp") })
        #expect(e.kind == .refused)
        #expect(e.errnoName == "ENOSPC")
        #expect(e.path == f.typeFile("hdiov0", "4qp", "create"))
        let text = e.description
        #expect(text.hasPrefix("cannot create a hdiov-4qp device on hdiov0\n"))
        #expect(text.contains("write \(f.typeFile("hdiov0", "4qp", "create")): ENOSPC (No space left on device)"))
        #expect(text.contains("hdiov0 has 3 of 8 queue pairs free; hdiov-4qp needs 4"))
        #expect(text.contains("still fits on hdiov0: hdiov-1qp (1 more), hdiov-flex (1 more)"))
        #expect(text.contains("or create it on hdiov1 (8 queue pairs free)"))
        #expect(try f.manager.list().count == 2)
    }

    @Test("ENOSPC at the VDEV limit says so")
    func createVdevLimit() throws {
        let f = try MockFixture.small()
        for _ in 0..<3 { try f.manager.create(parent: "hdiov0", type: "1qp") }
        let e = try #require(managerError { () throws(ManagerError) in try f.manager.create(parent: "hdiov0", type: "1qp") })
        #expect(e.description.contains("hdiov0 holds its maximum of 3 devices"))
        #expect(e.description.contains("no type fits on hdiov0 any more"))
    }

    @Test("EEXIST names the device that has the UUID")
    func createEEXIST() throws {
        let f = try MockFixture()
        let d = try f.manager.create(parent: "hdiov0", type: "16qp")
        let e = try #require(managerError { () throws(ManagerError) in
            try f.manager.create(parent: "hdiov1", type: "1qp", uuid: d.uuid)
        })
        #expect(e.kind == .refused)
        #expect(e.errnoName == "EEXIST")
        #expect(e.description.contains("EEXIST (File exists)"))
        #expect(e.description.contains("a device with UUID \(d.uuid) already exists: a hdiov-16qp on hdiov0"))
        #expect(e.description.contains("leave out --uuid"))
    }

    @Test("EBUSY while open: resize and remove say to close it first; after close both work")
    func busy() throws {
        let f = try MockFixture()
        let d = try f.manager.create(parent: "hdiov0", type: "flex")
        try f.kernel.open(uuid: d.uuid)
        let resize = try #require(managerError { () throws(ManagerError) in try f.manager.modify(uuid: d.uuid, queuePairs: 4) })
        #expect(resize.errnoName == "EBUSY")
        #expect(resize.description.contains("EBUSY (Device or resource busy)"))
        #expect(resize.description.contains("the device is open: a VM or another VFIO user holds \(f.env.vfioGroupNode("0"))"))
        #expect(resize.description.contains("next: close the device first"))
        let remove = try #require(managerError { () throws(ManagerError) in try f.manager.remove(uuid: d.uuid) })
        #expect(remove.errnoName == "EBUSY")
        #expect(try f.manager.modify(uuid: d.uuid, weight: 20).weight == 20, "weight changes while open")
        try f.kernel.close(uuid: d.uuid)
        #expect(try f.manager.modify(uuid: d.uuid, queuePairs: 4).queuePairs == 4)
        try f.manager.remove(uuid: d.uuid)
    }

    @Test("modify: weight and flex queue pairs; a fixed type or nothing to change is a usage error")
    func modify() throws {
        let f = try MockFixture()
        let flex = try f.manager.create(parent: "hdiov0", type: "flex")
        let m = try f.manager.modify(uuid: flex.uuid, weight: 70, queuePairs: 16)
        #expect(m.weight == 70 && m.queuePairs == 16 && m.qpIDsText == "0-15")
        #expect(try f.manager.modify(uuid: flex.uuid, queuePairs: 2).qpIDsText == "0-1")
        let fixed = try f.manager.create(parent: "hdiov0", type: "1qp")
        #expect(try f.manager.modify(uuid: fixed.uuid, queuePairs: 1).queuePairs == 1, "same count: nothing to do")
        let e = try #require(managerError { () throws(ManagerError) in try f.manager.modify(uuid: fixed.uuid, queuePairs: 2) })
        #expect(e.kind == .usage)
        #expect(e.description.contains("hdiov-1qp always has 1 queue pair;"))
        let nothing = try #require(managerError { () throws(ManagerError) in try f.manager.modify(uuid: fixed.uuid) })
        #expect(nothing.kind == .usage)
        #expect(nothing.description.contains("give --weight W and/or --qps N"))
    }

    @Test("modify: when the weight is refused, the queue pairs go back")
    func modifyRestores() throws {
        let f = try MockFixture()
        let d = try f.manager.create(parent: "hdiov0", type: "flex", queuePairs: 3)
        let e = try #require(managerError { () throws(ManagerError) in
            try f.manager.modify(uuid: d.uuid, weight: 500, queuePairs: 6)
        })
        #expect(e.errnoName == "EINVAL")
        #expect(e.description.contains("queue_pairs was put back to 3"))
        #expect(try f.manager.device(uuid: d.uuid) == d)
    }

    @Test("modify: ENOSPC says how far it can grow")
    func modifyENOSPC() throws {
        let f = try MockFixture.small()
        let d = try f.manager.create(parent: "hdiov0", type: "flex", queuePairs: 2)
        try f.manager.create(parent: "hdiov0", type: "4qp")
        let e = try #require(managerError { () throws(ManagerError) in try f.manager.modify(uuid: d.uuid, queuePairs: 5) })
        #expect(e.errnoName == "ENOSPC")
        #expect(e.description.contains("growing from 2 to 5 queue pairs needs 3 more; hdiov0 has 2 free"))
        #expect(e.description.contains("ask for at most 4"))
        #expect(try f.manager.device(uuid: d.uuid).queuePairs == 2)
    }

    @Test("a fixed type's queue_pairs refused by the kernel (EACCES) reads as a fixed type")
    func fixedRefusedByKernel() throws {
        let f = try MockFixture()
        let d = try f.manager.create(parent: "hdiov0", type: "4qp")
        // What the manager says when it leaves the check to the kernel.
        let t = try #require(try f.manager.types(parent: "hdiov0").first { $0.id == "hdiov-4qp" })
        let e = try #require(managerError { () throws(ManagerError) in
            try f.manager.writeQueuePairs(8, from: 4, uuid: d.uuid, parent: "hdiov0", type: t, summary: "cannot modify")
        })
        #expect(e.errnoName == "EACCES")
        #expect(e.kind == .usage)
        #expect(e.description.contains("hdiov-4qp has a fixed number of queue pairs"))
    }

    @Test("unknown device: the UUIDs there are; a device of another driver is not ours")
    func unknownDevice() throws {
        let f = try MockFixture()
        let d = try f.manager.create(parent: "hdiov0", type: "1qp")
        let missing = "00000000-0000-0000-0000-000000000000"
        let e = try #require(managerError { () throws(ManagerError) in try f.manager.remove(uuid: missing) })
        #expect(e.kind == .notFound)
        #expect(e.description.contains("there is no device \(missing)"))
        #expect(e.description.contains("the devices are \(d.uuid)"))
        // An mdev of some other driver in the same bus directory.
        let other = "11111111-2222-3333-4444-555555555555"
        let dir = f.root + "/sys/devices/virtual/mtty/mtty0/" + other
        try FileManager.default.createDirectory(atPath: dir + "/../mdev_supported_types/mtty-1", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/mdev_type", withDestinationPath: "../mdev_supported_types/mtty-1")
        try FileManager.default.createSymbolicLink(atPath: f.env.device(other), withDestinationPath: dir)
        let foreign = try #require(managerError { () throws(ManagerError) in try f.manager.device(uuid: other) })
        #expect(foreign.description.contains("is an mdev of another driver (type mtty-1)"))
        #expect(try f.manager.list().map(\.uuid) == [d.uuid])
    }

    @Test("qemu arguments and stats")
    func qemuAndStats() throws {
        let f = try MockFixture()
        let d = try f.manager.create(parent: "hdiov0", type: "1qp")
        #expect(try f.manager.qemuArguments(uuid: d.uuid) == ["-device", "vfio-pci,sysfsdev=\(f.root)/sys/bus/mdev/devices/\(d.uuid)"])
        let stats = VdevStats(submitted: 10, completed: 9, bytes: 1 << 20, errors: 1, irqs: 4, kicks: 2)
        try f.kernel.setStats(uuid: d.uuid, stats)
        #expect(try f.manager.device(uuid: d.uuid).stats == stats)
        let real = DeviceManager(environment: f.env, module: "hdiov", backend: RealSysfs())
        #expect(try real.list() == f.manager.list(), "reading the tree needs nothing of the mock")
    }

    @Test("qp_ids syntax and type descriptions")
    func syntax() {
        #expect(QPIDList.format([0, 1, 2, 3, 17]) == "0-3,17")
        #expect(QPIDList.format([5, 6, 7, 0]) == "5-7,0")
        #expect(QPIDList.format([]) == "")
        #expect(QPIDList.parse("0-3,17") == [0, 1, 2, 3, 17])
        #expect(QPIDList.parse("0-x") == nil)
        #expect(TypeQueuePairs(description: "queue_pairs=4, max_ring=4096, ops=copy") == .fixed(4))
        #expect(TypeQueuePairs(description: "queue_pairs=1-256, max_ring=4096") == .flex(1...256))
        #expect(TypeQueuePairs(description: "something else") == nil)
        #expect(VdevStats(text: "submitted 1\ncompleted 2\nbytes 3\nerrors 4\nirqs 5\nkicks 6")?.kicks == 6)
        #expect(VdevStats(text: "submitted 1") == nil)
    }
}
