import Foundation
import HDIOVMock
import HDIOVSpec
import HDIOVSysfs
import Testing

/// The module a tree belongs to, found in the tree (no spec), and the checks the CLI used to
/// make itself.
@Suite("finding the module in the tree")
struct ModuleDiscoveryTests {
    /// The QAT-like example: module `hdiov_qat`, types sym, asym (1 ring pair each), dc (2).
    static let qatSpecPath = URL(fileURLWithPath: defaultSpecPath)
        .deletingLastPathComponent().appendingPathComponent("qat-4xxx.yaml").path

    func tree(spec path: String) throws -> (root: String, kernel: MockKernel, spec: DeviceSpec) {
        let spec = try SpecParser.load(path: path)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("hdiov-disc-\(UUID().uuidString)").path
        return (root, try MockKernel.install(at: root, spec: spec), spec)
    }

    @Test("a mock tree names its module, whatever the spec it was built from")
    func mockTree() throws {
        for path in [defaultSpecPath, Self.qatSpecPath] {
            let t = try tree(spec: path)
            defer { try? FileManager.default.removeItem(atPath: t.root) }
            let env = SysfsEnvironment(root: t.root)
            #expect(DeviceManager.registeredModules(environment: env, backend: t.kernel) == [t.spec.module])
            let manager = try DeviceManager.discover(environment: env, backend: t.kernel)
            #expect(manager.module == t.spec.module)
            #expect(manager.parentNames() == t.spec.parentNames)
        }
    }

    @Test("the same tree read as a live one (no mock marker) gives the same module")
    func liveLayout() throws {
        let t = try tree(spec: Self.qatSpecPath)
        defer { try? FileManager.default.removeItem(atPath: t.root) }
        try FileManager.default.removeItem(atPath: t.root + "/" + MockKernel.markerName)
        let env = SysfsEnvironment(root: t.root)
        let manager = try DeviceManager.discover(environment: env, backend: RealSysfs())
        #expect(manager.module == "hdiov_qat")
        #expect(try manager.parents().map(\.name) == t.spec.parentNames)
    }

    @Test("no parents: the fallback, else the contract's module name")
    func none() throws {
        let bare = FileManager.default.temporaryDirectory.appendingPathComponent("hdiov-bare-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: bare) }
        try FileManager.default.createDirectory(atPath: bare + "/sys/class/mdev_bus", withIntermediateDirectories: true)
        let env = SysfsEnvironment(root: bare)
        #expect(DeviceManager.registeredModules(environment: env).isEmpty)
        #expect(try DeviceManager.discover(environment: env).module == DeviceManager.defaultModule)
        #expect(try DeviceManager.discover(environment: env, fallback: "other").module == "other")
    }

    @Test("another driver's parents are not ours; two of our modules are a usage error")
    func othersAndSeveral() throws {
        let t = try tree(spec: defaultSpecPath)
        defer { try? FileManager.default.removeItem(atPath: t.root) }
        let env = SysfsEnvironment(root: t.root)
        let fm = FileManager.default
        // mtty: a class device without a queue-pair pool.
        try fm.createDirectory(atPath: t.root + "/sys/devices/virtual/mtty/mtty", withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: env.parent("mtty"), withDestinationPath: "../../devices/virtual/mtty/mtty")
        #expect(DeviceManager.registeredModules(environment: env, backend: t.kernel) == ["hdiov"])
        // A second HD-IOV module.
        try fm.createDirectory(atPath: t.root + "/sys/devices/virtual/hdiov_e810/hdiov_e8100", withIntermediateDirectories: true)
        try "2048".write(toFile: t.root + "/sys/devices/virtual/hdiov_e810/hdiov_e8100/qp_total", atomically: true, encoding: .utf8)
        try fm.createSymbolicLink(atPath: env.parent("hdiov_e8100"), withDestinationPath: "../../devices/virtual/hdiov_e810/hdiov_e8100")
        #expect(DeviceManager.registeredModules(environment: env, backend: t.kernel) == ["hdiov", "hdiov_e810"])
        let e = try #require(managerError { () throws(ManagerError) in try DeviceManager.discover(environment: env, backend: t.kernel) })
        #expect(e.kind == .usage)
        #expect(e.description.contains("several modules: hdiov, hdiov_e810"))
    }

    @Test("/sys/module of the module: state, parameters; absent when not there")
    func loadedModule() throws {
        let f = try MockFixture()
        let m = f.manager.loadedModule()
        #expect(m.name == "hdiov" && m.state == "live" && !m.isAbsent)
        let other = DeviceManager(environment: f.env, module: "nothere", backend: f.kernel).loadedModule()
        #expect(other.isAbsent && other.state == LoadedModule.absent && other.parameters.isEmpty)
    }

    @Test("the smallest fixed type, from the tree")
    func smallestFixedType() throws {
        let f = try MockFixture()
        #expect(try f.manager.smallestFixedType(parent: "hdiov0")?.id == "hdiov-1qp")
        let t = try tree(spec: Self.qatSpecPath)
        defer { try? FileManager.default.removeItem(atPath: t.root) }
        let qat = DeviceManager(environment: SysfsEnvironment(root: t.root), module: "hdiov_qat", backend: t.kernel)
        // sym and asym both take one ring pair: the first by name.
        #expect(try qat.smallestFixedType(parent: "hdiov_qat0")?.id == "hdiov_qat-asym")
    }

    @Test("checking a definition: what define refuses, with the words it used to print")
    func checkDefinition() throws {
        let f = try MockFixture()
        func error(_ d: Definition) -> ManagerError? {
            managerError { () throws(ManagerError) in try f.manager.check(definition: d) }
        }
        let u = MdevUUID.generate()
        #expect(error(Definition(uuid: u, parent: "hdiov0", type: "4qp")) == nil)
        // A parent that is not registered (yet) is fine.
        #expect(error(Definition(uuid: u, parent: "hdiov9", type: "nope", queuePairs: 3)) == nil)
        let w = try #require(error(Definition(uuid: u, parent: "hdiov0", type: "hdiov-4qp", weight: 500)))
        #expect(w.kind == .usage)
        #expect(w.description == "cannot define a hdiov-4qp device on hdiov0\n  weight takes a whole number from 1 to 100: the device's share of the engine, not 500")
        let q = try #require(error(Definition(uuid: u, parent: "hdiov0", type: "hdiov-4qp", queuePairs: 3)))
        #expect(q.kind == .usage)
        #expect(q.description == "cannot define a hdiov-4qp device on hdiov0\n  hdiov-4qp always has 4 queue pairs; only a flex type's queue pairs can be chosen")
        let r = try #require(error(Definition(uuid: u, parent: "hdiov1", type: "flex", queuePairs: 300)))
        #expect(r.kind == .usage && r.description.hasSuffix("hdiov-flex takes 1 to 256 queue pairs, not 300"))
        let z = try #require(error(Definition(uuid: u, parent: "hdiov1", type: "flex", queuePairs: 0)))
        #expect(z.kind == .usage && z.description.hasSuffix("queue pairs must be at least 1, not 0"))
        let n = try #require(error(Definition(uuid: u, parent: "hdiov0", type: "nope")))
        #expect(n.kind == .notFound)
        #expect(n.description == "cannot define a nope device on hdiov0\n  hdiov0 has no type 'nope'; its types: hdiov-1qp, hdiov-4qp, hdiov-16qp, hdiov-flex\n  next: `hdiov types --parent hdiov0` shows them")
    }
}
