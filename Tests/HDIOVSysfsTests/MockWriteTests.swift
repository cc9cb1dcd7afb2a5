import Foundation
@testable import HDIOVMock
import HDIOVSysfs
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Mock kernel: writes and their errnos")
struct MockWriteTests {
    @Test("create: EINVAL for what is not exactly a UUID; uppercase is taken and named lowercase")
    func createUUIDs() throws {
        let f = try MockFixture()
        let create = f.typeFile("hdiov0", "1qp", "create")
        for bad in ["not-a-uuid", "", "0b0e2d8c-6d8a-4d4f-9a57-3c4f3a1f2e1", "0b0e2d8c-6d8a-4d4f-9a57-3c4f3a1f2e1ff",
                    "0b0e2d8c_6d8a-4d4f-9a57-3c4f3a1f2e1f", "0b0e2d8c-6d8a-4d4f-9a57-3c4f3a1f2e1g"] {
            #expect(f.refusal(create, bad) == EINVAL, "'\(bad)'")
        }
        #expect(try f.int(f.parentFile("hdiov0", "vdev_count")) == 0)
        try f.kernel.apply(write: create, value: "0B0E2D8C-6D8A-4D4F-9A57-3C4F3A1F2E1F")
        #expect(SysfsFile.list(f.env.deviceBase) == ["0b0e2d8c-6d8a-4d4f-9a57-3c4f3a1f2e1f"])
    }

    @Test("create: EEXIST for a UUID in use on any parent, in any case")
    func createEEXIST() throws {
        let f = try MockFixture()
        let u = try f.create("1qp")
        #expect(f.refusal(f.typeFile("hdiov0", "4qp", "create"), u) == EEXIST)
        #expect(f.refusal(f.typeFile("hdiov1", "1qp", "create"), u.uppercased()) == EEXIST)
        #expect(try f.int(f.parentFile("hdiov1", "vdev_count")) == 0)
    }

    @Test("create: ENOSPC when the pool is short, and nothing changes; add and remove are still sent")
    func createPoolExhausted() throws {
        let f = try MockFixture.small()
        try f.create("4qp")
        try f.create("4qp")
        let before = f.kernel.events().count
        #expect(f.refusal(f.typeFile("hdiov0", "1qp", "create"), UUID().uuidString) == ENOSPC)
        #expect(try f.int(f.parentFile("hdiov0", "qp_free")) == 0)
        #expect(try f.int(f.parentFile("hdiov0", "vdev_count")) == 2)
        #expect(SysfsFile.list(f.env.deviceBase).count == 2)
        #expect(f.kernel.events().dropFirst(before).map(\.action) == ["add", "remove"])
        try f.expectAccounting()
        #expect(try f.int(f.typeFile("hdiov0", "flex", "available_instances")) == 0)
        try f.create("4qp", on: "hdiov1")
    }

    @Test("create: ENOSPC at the VDEV limit while QPs are left")
    func createVdevLimit() throws {
        let f = try MockFixture.small()
        for _ in 0..<3 { try f.create("1qp") }
        #expect(try f.int(f.parentFile("hdiov0", "qp_free")) == 5)
        #expect(try f.int(f.typeFile("hdiov0", "1qp", "available_instances")) == 0)
        #expect(f.refusal(f.typeFile("hdiov0", "1qp", "create"), UUID().uuidString) == ENOSPC)
        #expect(try f.kernel.state().devices.count == 3)
    }

    @Test("queue_pairs of a fixed type: the file is 0444, so opening it to write is EACCES")
    func fixedQueuePairs() throws {
        let f = try MockFixture()
        let u = try f.create("4qp")
        #expect(f.refusal(f.attr(u, "queue_pairs"), "2") == EACCES)
        #expect(try f.int(f.attr(u, "queue_pairs")) == 4)
    }

    @Test("flex queue_pairs: decimal 1…max, else EINVAL (hex, octal, sign, past UINT_MAX too)")
    func flexQueuePairsValues() throws {
        let f = try MockFixture()
        let u = try f.create("flex")
        let qp = f.attr(u, "queue_pairs")
        for bad in ["0", "257", "x", "-3", "", "1 2", " 2", "3\n", "08", "0x", "0x10", "010", "+5", "5x",
                    "4294967296", "99999999999999999999999"] {
            #expect(f.refusal(qp, bad) == EINVAL, "'\(bad)'")
        }
        #expect(try f.int(qp) == 1)
        try f.kernel.apply(write: qp, value: "16")
        #expect(try f.int(qp) == 16)
        try f.kernel.apply(write: qp, value: "5")
        #expect(try f.int(qp) == 5)
        try f.kernel.apply(write: qp, value: "256")
        #expect(try f.int(qp) == 256)
        try f.expectAccounting()
    }

    @Test("flex resize: grows from the lowest free indices, shrinks from its tail, qp_free follows")
    func flexResize() throws {
        let f = try MockFixture()
        let a = try f.create("flex")        // QP 0
        let b = try f.create("4qp")         // QPs 1-4
        try f.kernel.apply(write: f.attr(a, "queue_pairs"), value: "3")
        #expect(try f.read(f.attr(a, "qp_ids")) == "0,5-6")
        try f.remove(b)
        try f.kernel.apply(write: f.attr(a, "queue_pairs"), value: "7")
        #expect(try f.read(f.attr(a, "qp_ids")) == "0,5-6,1-4")
        try f.kernel.apply(write: f.attr(a, "queue_pairs"), value: "2")
        #expect(try f.read(f.attr(a, "qp_ids")) == "0,5")
        #expect(try f.int(f.parentFile("hdiov0", "qp_free")) == 2046)
        try f.expectAccounting()
    }

    @Test("flex resize the pool cannot satisfy: ENOSPC and nothing changes")
    func flexResizeENOSPC() throws {
        let f = try MockFixture.small()
        let a = try f.create("flex")
        try f.create("4qp")
        let ids = try f.read(f.attr(a, "qp_ids"))
        #expect(f.refusal(f.attr(a, "queue_pairs"), "5") == ENOSPC)
        #expect(try f.read(f.attr(a, "qp_ids")) == ids)
        #expect(try f.int(f.attr(a, "queue_pairs")) == 1)
        #expect(try f.int(f.parentFile("hdiov0", "qp_free")) == 3)
        try f.kernel.apply(write: f.attr(a, "queue_pairs"), value: "4")
        #expect(try f.int(f.parentFile("hdiov0", "qp_free")) == 0)
    }

    @Test("resize while open: EBUSY (even to the same size); remove while open: EBUSY; weight still works")
    func openDevice() throws {
        let f = try MockFixture()
        let a = try f.create("flex")
        try f.kernel.open(uuid: a)
        #expect(throws: SysfsError.self) { try f.kernel.open(uuid: a) }
        #expect(f.refusal(f.attr(a, "queue_pairs"), "4") == EBUSY)
        #expect(f.refusal(f.attr(a, "queue_pairs"), "1") == EBUSY)
        #expect(f.refusal(f.attr(a, "queue_pairs"), "0") == EINVAL, "range is checked before the open state")
        #expect(f.refusal(f.env.deviceEntry(a, "remove"), "1") == EBUSY)
        try f.kernel.apply(write: f.attr(a, "weight"), value: "30")
        try f.kernel.close(uuid: a)
        try f.kernel.apply(write: f.attr(a, "queue_pairs"), value: "4")
        try f.remove(a)
        #expect(throws: SysfsError.self) { try f.kernel.open(uuid: a) }
    }

    @Test("weight: 1…100, else EINVAL and unchanged")
    func weight() throws {
        let f = try MockFixture()
        let u = try f.create("1qp")
        for bad in ["0", "101", "abc", "-1", "", "10x", "010", "0x10", "+5", " 5", "5x", "4294967296"] {
            #expect(f.refusal(f.attr(u, "weight"), bad) == EINVAL, "'\(bad)'")
        }
        #expect(try f.int(f.attr(u, "weight")) == 10)
        try f.kernel.apply(write: f.attr(u, "weight"), value: "100")
        #expect(try f.int(f.attr(u, "weight")) == 100)
    }

    @Test("remove: a number; 0 does nothing; anything else is EINVAL")
    func removeValues() throws {
        let f = try MockFixture()
        let u = try f.create("1qp")
        let remove = f.env.deviceEntry(u, "remove")
        #expect(f.refusal(remove, "yes") == EINVAL)
        try f.kernel.apply(write: remove, value: "0")
        #expect(SysfsFile.exists(f.env.device(u)))
        try f.kernel.apply(write: remove, value: "1")
        #expect(!SysfsFile.exists(f.env.device(u)))
        #expect(f.refusal(remove, "1") == ENOENT)
    }

    @Test("files the kernel would not let you write or read")
    func permissions() throws {
        let f = try MockFixture()
        let u = try f.create("1qp")
        #expect(f.refusal(f.parentFile("hdiov0", "qp_free"), "5") == EACCES)
        #expect(f.refusal(f.typeFile("hdiov0", "1qp", "available_instances"), "5") == EACCES)
        #expect(f.refusal(f.attr(u, "pasid"), "5") == EACCES)
        #expect(f.refusal(f.typeFile("hdiov0", "1qp", "nonexistent"), "5") == ENOENT)
        #expect(f.refusal(f.typeFile("hdiov0", "1qp", "devices"), "5") == EISDIR)
        #expect(throws: SysfsError(path: f.typeFile("hdiov0", "1qp", "create"), errno: EACCES, operation: "open")) {
            try f.kernel.read(f.typeFile("hdiov0", "1qp", "create"))
        }
        #expect(try f.int(f.parentFile("hdiov0", "qp_free")) == 2047)
    }

    @Test("uevent: a synthetic event, EINVAL for an unknown action")
    func synthUevent() throws {
        let f = try MockFixture()
        let u = try f.create("1qp")
        try f.kernel.apply(write: f.env.parent("hdiov0") + "/uevent", value: "change")
        try f.kernel.apply(write: f.env.deviceEntry(u, "uevent"), value: "add 0b0e2d8c-6d8a-4d4f-9a57-3c4f3a1f2e1f A=b")
        #expect(f.refusal(f.env.deviceEntry(u, "uevent"), "explode") == EINVAL)
        let last = f.kernel.events().suffix(2)
        #expect(last.first?.properties == ["SYNTH_UUID": "0"])
        #expect(last.last?.properties == ["SYNTH_UUID": "0b0e2d8c-6d8a-4d4f-9a57-3c4f3a1f2e1f", "SYNTH_ARG_A": "b"])
        #expect(last.last?.devpath == "/devices/virtual/hdiov/hdiov0/\(u)")
    }

    @Test("the state survives in the marker: a second MockKernel on the same root sees it")
    func persistence() throws {
        let f = try MockFixture()
        let u = try f.create("flex")
        try f.kernel.setStats(uuid: u, VdevStats(submitted: 5, completed: 4, bytes: 4096, errors: 1, irqs: 3, kicks: 2))
        let again = try MockKernel(root: f.root)
        let state = try again.state()
        #expect(state.devices.map(\.uuid) == [u])
        #expect(state.devices.first?.stats.bytes == 4096)
        #expect(try f.read(f.attr(u, "stats")) == "submitted 5\ncompleted 4\nbytes 4096\nerrors 1\nirqs 3\nkicks 2")
        try again.apply(write: f.attr(u, "queue_pairs"), value: "3")
        #expect(try f.kernel.state().devices.first?.qpIDs == [0, 1, 2])
    }

    @Test("kstrtoull as lib/kstrtox.c reads it")
    func kstrtox() {
        func parse(_ s: String) -> Result<UInt64, SysfsErrno> { KernelStrings.kstrtoull(Array(s.utf8)) }
        #expect(parse("42\n") == .success(42))
        #expect(parse("0x1F") == .success(31))
        #expect(parse("0X1f\n") == .success(31))
        #expect(parse("017") == .success(15))
        #expect(parse("0") == .success(0))
        #expect(parse("+7") == .success(7))
        #expect(parse("18446744073709551615") == .success(UInt64.max))
        #expect(parse("18446744073709551616") == .failure(SysfsErrno(ERANGE)))
        #expect(parse("99999999999999999999x") == .failure(SysfsErrno(ERANGE)))
        for bad in ["", "\n", "-1", "++1", "1\n\n", "0x", "0xg", "09", " 1", "1 "] {
            #expect(parse(bad) == .failure(SysfsErrno(EINVAL)), "'\(bad)'")
        }
        #expect(KernelStrings.kstrtouint(Array("4294967295".utf8)) == .success(UInt32.max))
        #expect(KernelStrings.kstrtouint(Array("4294967296".utf8)) == .failure(SysfsErrno(ERANGE)))
    }

    @Test("the module's decimal numbers: digits, one newline; everything else EINVAL")
    func decimal() {
        func parse(_ s: String) -> Result<UInt32, SysfsErrno> { KernelStrings.decimal(Array(s.utf8)) }
        #expect(parse("42") == .success(42))
        #expect(parse("42\n") == .success(42))
        #expect(parse("0") == .success(0))
        #expect(parse("0\n") == .success(0))
        #expect(parse("4294967295") == .success(UInt32.max))
        #expect(parse("7\0garbage") == .success(7))
        for bad in ["", "\n", "010", "00", "0x10", "0X1f", "+5", "-1", " 5", "5 ", "5x", "5\n\n", "\n5",
                    "4294967296", "99999999999999999999999"] {
            #expect(parse(bad) == .failure(SysfsErrno(EINVAL)), "'\(bad)'")
        }
    }

    @Test("relative links as sysfs makes them")
    func relativeLinks() {
        #expect(MockTree.relative(from: "/r/sys/class/mdev_bus/hdiov0", to: "/r/sys/devices/virtual/hdiov/hdiov0")
                == "../../devices/virtual/hdiov/hdiov0")
        #expect(MockTree.relative(from: "/r/sys/devices/virtual/hdiov/hdiov0/u/iommu_group", to: "/r/sys/kernel/iommu_groups/3")
                == "../../../../../kernel/iommu_groups/3")
    }
}
