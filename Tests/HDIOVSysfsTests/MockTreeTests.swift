import Foundation
import HDIOVMock
import HDIOVSpec
import HDIOVSysfs
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Mock kernel: the tree")
struct MockTreeTests {
    @Test("parents, their attributes and links, as the module registers them")
    func parents() throws {
        let f = try MockFixture()
        #expect(SysfsFile.list(f.env.parentBase) == ["hdiov0", "hdiov1"])
        #expect(f.linkTarget(f.env.parent("hdiov0")) == "../../devices/virtual/hdiov/hdiov0")
        #expect(f.linkTarget(f.env.classBase(module: "hdiov") + "/hdiov1") == "../../devices/virtual/hdiov/hdiov1")
        #expect(f.resolved(f.env.parent("hdiov0")) == f.resolved(f.env.parentDevice("hdiov0", module: "hdiov")))
        for p in ["hdiov0", "hdiov1"] {
            #expect(try f.int(f.parentFile(p, "qp_total")) == 2048)
            #expect(try f.int(f.parentFile(p, "qp_free")) == 2048)
            #expect(try f.int(f.parentFile(p, "vdev_count")) == 0)
            #expect(try f.int(f.parentFile(p, "vdev_max")) == 2048)
            #expect(try f.read(f.parentFile(p, "version")) == "1.0")
            for name in ["qp_total", "qp_free", "vdev_count", "vdev_max", "version"] {
                #expect(f.mode(f.parentFile(p, name)) == 0o444, "\(p)/\(name) mode")
            }
        }
        #expect(MockKernel.isInstalled(at: f.root))
        #expect(FileManager.default.fileExists(atPath: f.env.module("hdiov")))
    }

    @Test("types: directory names, attributes, modes")
    func types() throws {
        let f = try MockFixture()
        #expect(SysfsFile.list(f.env.parentTypes("hdiov0")) == ["hdiov-16qp", "hdiov-1qp", "hdiov-4qp", "hdiov-flex"])
        #expect(try f.read(f.typeFile("hdiov0", "4qp", "name")) == "HD-IOV 4 queue pairs")
        #expect(try f.read(f.typeFile("hdiov0", "4qp", "description")) == "queue_pairs=4, max_ring=4096, ops=copy,fill,crc32c,compare")
        #expect(try f.read(f.typeFile("hdiov0", "flex", "description")) == "queue_pairs=1-256, max_ring=4096, ops=copy,fill,crc32c,compare")
        #expect(try f.read(f.typeFile("hdiov0", "1qp", "device_api")) == "vfio-pci")
        #expect(try f.int(f.typeFile("hdiov0", "16qp", "available_instances")) == 128)
        #expect(f.mode(f.typeFile("hdiov0", "1qp", "create")) == 0o200)
        #expect(f.mode(f.typeFile("hdiov0", "1qp", "available_instances")) == 0o444)
        #expect(SysfsFile.list(f.typeFile("hdiov0", "1qp", "devices")).isEmpty)
        try f.expectAccounting()
    }

    @Test("registering the parents sent add and change MDEV_STATE=registered")
    func registrationEvents() throws {
        let f = try MockFixture()
        let events = f.kernel.events()
        #expect(events.map(\.action) == ["add", "change", "add", "change"])
        #expect(events.map(\.seqnum) == [1, 2, 3, 4])
        #expect(events[1].devpath == "/devices/virtual/hdiov/hdiov0")
        #expect(events[1].properties == ["MDEV_STATE": "registered"])
        #expect(events[1].environment == ["ACTION=change", "DEVPATH=/devices/virtual/hdiov/hdiov0",
                                          "SUBSYSTEM=hdiov", "MDEV_STATE=registered", "SEQNUM=2"])
    }

    @Test("install refuses a non-empty directory and an existing mock tree unless replacing")
    func installGuards() throws {
        let f = try MockFixture()
        let spec = f.spec
        #expect(throws: MockError.self) { try MockKernel.install(at: f.root, spec: spec) }
        try f.create("1qp")
        try MockKernel.install(at: f.root, spec: spec, replace: true)
        #expect(try f.kernel.state().devices.isEmpty)
        #expect(try f.int(f.parentFile("hdiov0", "qp_free")) == 2048)
        #expect(SysfsFile.list(f.env.deviceBase).isEmpty)

        let other = FileManager.default.temporaryDirectory.appendingPathComponent("hdiov-mock-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: other) }
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: other + "/precious", contents: Data("x".utf8))
        #expect(throws: MockError.self) { try MockKernel.install(at: other, spec: spec, replace: true) }
        #expect(FileManager.default.fileExists(atPath: other + "/precious"))
        #expect(throws: MockError.self) { try MockKernel(root: other) }
        #expect(MockKernel.backend(forRoot: other) is RealSysfs)
        #expect(MockKernel.backend(forRoot: f.root) is MockKernel)
    }

    @Test("a created device: directory, links, group, IOMMU group, VFIO node, modes")
    func deviceTree() throws {
        let f = try MockFixture()
        let u = try f.create("4qp")
        let dev = f.env.device(u)
        #expect(f.linkTarget(dev) == "../../../devices/virtual/hdiov/hdiov0/\(u)")
        #expect(f.linkTarget(dev + "/mdev_type") == "../mdev_supported_types/hdiov-4qp")
        #expect(SysfsFile.linkName(dev + "/iommu_group") == "0")
        #expect(f.resolved(dev + "/iommu_group") == f.resolved(f.env.iommuGroup("0")))
        #expect(f.resolved(f.env.iommuGroup("0") + "/devices/\(u)") == f.resolved(dev))
        #expect(f.resolved(f.typeFile("hdiov0", "4qp", "devices") + "/\(u)") == f.resolved(dev))
        #expect(SysfsFile.linkName(dev + "/driver") == "hdiov")
        var st = stat()
        #expect(lstat(f.env.vfioGroupNode("0"), &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG)
        #expect(f.mode(dev + "/remove") == 0o200)
        #expect(f.mode(f.attr(u, "queue_pairs")) == 0o444, "fixed type: queue_pairs read-only")
        #expect(f.mode(f.attr(u, "weight")) == 0o644)
        for name in ["pasid", "qp_ids", "stats"] { #expect(f.mode(f.attr(u, name)) == 0o444) }
        #expect(try f.int(f.attr(u, "queue_pairs")) == 4)
        #expect(try f.read(f.attr(u, "qp_ids")) == "0-3")
        #expect(try f.int(f.attr(u, "pasid")) == 1)
        #expect(try f.int(f.attr(u, "weight")) == 10)
        #expect(try f.read(f.attr(u, "stats")) == "submitted 0\ncompleted 0\nbytes 0\nerrors 0\nirqs 0\nkicks 0")
        #expect(try f.int(f.parentFile("hdiov0", "qp_free")) == 2044)
        #expect(try f.int(f.parentFile("hdiov0", "vdev_count")) == 1)
        #expect(try f.int(f.parentFile("hdiov1", "qp_free")) == 2048)
        try f.expectAccounting()
        let flex = try f.create("flex")
        #expect(f.mode(f.attr(flex, "queue_pairs")) == 0o644, "flex type: queue_pairs writable")
        #expect(try f.read(f.attr(flex, "qp_ids")) == "4")
        #expect(SysfsFile.linkName(f.env.device(flex) + "/iommu_group") == "1")
        let events = f.kernel.events().dropFirst(4)
        #expect(events.map(\.action) == ["add", "bind", "add", "bind"])
        #expect(events.first?.devpath == "/devices/virtual/hdiov/hdiov0/\(u)")
        #expect(events.first?.subsystem == "mdev")
    }

    @Test("removing returns QPs, PASID and group; everything under the device goes")
    func removeTree() throws {
        let f = try MockFixture()
        let a = try f.create("4qp")
        let b = try f.create("1qp")
        try f.remove(a)
        for path in [f.env.device(a), f.env.iommuGroup("0"), f.env.vfioGroupNode("0"),
                     f.typeFile("hdiov0", "4qp", "devices") + "/\(a)", f.env.parentDevice("hdiov0", module: "hdiov") + "/\(a)"] {
            #expect(!FileManager.default.fileExists(atPath: path), "\(path) left behind")
        }
        #expect(try f.int(f.parentFile("hdiov0", "qp_free")) == 2047)
        let c = try f.create("1qp")
        #expect(try f.int(f.attr(c, "pasid")) == 1, "lowest free PASID")
        #expect(try f.read(f.attr(c, "qp_ids")) == "0", "lowest free QP")
        #expect(SysfsFile.linkName(f.env.device(c) + "/iommu_group") == "0", "lowest free group")
        #expect(try f.read(f.attr(b, "qp_ids")) == "4")
        try f.expectAccounting()
        #expect(Array(f.kernel.events().suffix(4).map(\.action)) == ["unbind", "remove", "add", "bind"])
    }
}
