import Foundation
import HDIOVMock
import HDIOVSpec
import HDIOVSysfs
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// specs/default.yaml of this checkout.
let defaultSpecPath = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("specs/default.yaml").path

/// A pool of 8 QPs, at most 3 VDEVs per parent, flex up to 8: easy to exhaust.
let smallSpecYAML = """
    module: hdiov
    pfs: 2
    queue_pairs: 8
    max_vdevs: 3
    max_qps_per_vdev: 8
    types:
      - id: 1qp
        name: HD-IOV 1 queue pair
        queue_pairs: 1
      - id: 4qp
        name: HD-IOV 4 queue pairs
        queue_pairs: 4
      - id: flex
        name: HD-IOV flexible
        queue_pairs: flex
        default_queue_pairs: 1
    """

/// A mock tree in a fresh temporary directory, removed again with the fixture.
final class MockFixture {
    let root: String
    let spec: DeviceSpec
    let kernel: MockKernel
    let env: SysfsEnvironment
    let manager: DeviceManager

    init(yaml: String? = nil) throws {
        spec = try yaml.map { try SpecParser.parse(yaml: $0, file: "test.yaml") } ?? SpecParser.load(path: defaultSpecPath)
        root = FileManager.default.temporaryDirectory.appendingPathComponent("hdiov-mock-\(UUID().uuidString)").path
        kernel = try MockKernel.install(at: root, spec: spec)
        env = SysfsEnvironment(root: root)
        manager = DeviceManager(environment: env, module: spec.module, backend: kernel)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    static func small() throws -> MockFixture { try MockFixture(yaml: smallSpecYAML) }

    // Paths
    func typeFile(_ parent: String, _ type: String, _ name: String) -> String { env.typeAttribute(parent, "hdiov-\(type)", name) }
    func parentFile(_ parent: String, _ name: String) -> String { env.parentAttribute(parent, name) }
    func attr(_ uuid: String, _ name: String) -> String { env.deviceAttribute(uuid, module: "hdiov", name) }

    // Reads straight from the files (what any sysfs reader sees)
    func read(_ path: String) throws -> String { try SysfsFile.read(path) }
    func int(_ path: String) throws -> Int {
        let text = try read(path)
        guard let n = Int(text) else { throw MockError("\(path): not a number: \(text)") }
        return n
    }

    /// The kernel's writes: create a device of `type` on `parent` and return its UUID.
    @discardableResult
    func create(_ type: String, on parent: String = "hdiov0", uuid: String = UUID().uuidString.lowercased()) throws -> String {
        try kernel.apply(write: typeFile(parent, type, "create"), value: uuid)
        return uuid
    }

    func remove(_ uuid: String) throws { try kernel.apply(write: env.deviceEntry(uuid, "remove"), value: "1") }

    /// The errno of a write the kernel must refuse (nil when it was accepted).
    func refusal(_ path: String, _ value: String) -> Int32? {
        do {
            try kernel.apply(write: path, value: value)
            return nil
        } catch {
            return error.errno
        }
    }

    func mode(_ path: String) -> mode_t {
        var st = stat()
        return stat(path, &st) == 0 ? st.st_mode & 0o777 : 0
    }

    func linkTarget(_ path: String) -> String? { try? FileManager.default.destinationOfSymbolicLink(atPath: path) }

    func resolved(_ path: String) -> String { URL(fileURLWithPath: path).resolvingSymlinksInPath().path }

    /// available_instances of every type of `parent` against the contract's formula.
    func expectAccounting(_ parent: String = "hdiov0", sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        let free = try int(parentFile(parent, "qp_free"))
        let count = try int(parentFile(parent, "vdev_count"))
        for t in spec.types {
            #expect(try int(typeFile(parent, t.id, "available_instances"))
                    == spec.availableInstances(of: t, qpFree: free, vdevCount: count),
                    "available_instances of \(t.id)", sourceLocation: sourceLocation)
        }
    }
}

/// The ManagerError a manager call throws, nil when it succeeds.
func managerError<T>(_ body: () throws(ManagerError) -> T) -> ManagerError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}
