import Foundation
import HDIOVSysfs
import Testing

@Suite("device definitions")
struct DefinitionTests {
    func env() -> SysfsEnvironment {
        SysfsEnvironment(root: FileManager.default.temporaryDirectory.appendingPathComponent("hdiov-def-\(UUID().uuidString)").path)
    }

    @Test("definitions live under the root's etc/hdiov/devices, or the override")
    func paths() {
        #expect(SysfsEnvironment().configDirectory == "/etc/hdiov/devices")
        #expect(SysfsEnvironment(root: "/tmp/m").definition("ABCDEF00-0000-0000-0000-000000000000") == "/tmp/m/etc/hdiov/devices/abcdef00-0000-0000-0000-000000000000.json")
        #expect(SysfsEnvironment(root: "/", configDirectory: "/run/x").configDirectory == "/run/x")
    }

    @Test("save, load, all, remove; the atomic write leaves no temporary file")
    func store() throws {
        let e = env()
        defer { try? FileManager.default.removeItem(atPath: e.root) }
        let s = DefinitionStore(environment: e)
        let a = Definition(uuid: MdevUUID.generate(), parent: "hdiov1", type: "flex", start: .auto, queuePairs: 6, weight: 30)
        let b = Definition(uuid: MdevUUID.generate(), parent: "hdiov0", type: "hdiov-4qp")
        try s.save(a)
        try s.save(b)
        #expect(try s.load(a.uuid) == a)
        #expect(try s.all() == [b, a])
        #expect(try FileManager.default.contentsOfDirectory(atPath: e.configDirectory).sorted() == [a.uuid + ".json", b.uuid + ".json"].sorted())
        var a2 = a
        a2.weight = 50
        try s.save(a2)
        #expect(try s.load(a.uuid).weight == 50)
        try s.remove(a.uuid)
        #expect(throws: ManagerError.self) { try s.load(a.uuid) }
        #expect(try s.all() == [b])
    }

    @Test("a refused atomic write names the path, the errno and what to do")
    func refused() throws {
        let e = SysfsEnvironment(root: "/", configDirectory: "/proc/hdiov-cannot-exist")
        let error = #expect(throws: ManagerError.self) {
            try DefinitionStore(environment: e).save(Definition(uuid: MdevUUID.generate(), parent: "hdiov0", type: "1qp"))
        }
        #expect(error?.description.contains("/proc/hdiov-cannot-exist") == true)
        #expect(error?.description.contains("--config-dir") == true)
    }

    @Test("mdevctl JSON round trip: export, then import gives the same definition")
    func mdevctlRoundTrip() throws {
        let d = Definition(uuid: MdevUUID.generate(), parent: "hdiov1", type: "hdiov-flex", start: .auto, queuePairs: 8, weight: 40)
        let config = MdevctlConfig(d, module: "hdiov")
        #expect(config.mdevType == "hdiov-flex")
        #expect(config.attrs == [["hdiov/queue_pairs": "8"], ["hdiov/weight": "40"]])
        let data = try JSONEncoder().encode(config)
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(json.keys) == ["mdev_type", "start", "attrs"])
        let back = try JSONDecoder().decode(MdevctlConfig.self, from: data)
        #expect(try back.definition(uuid: d.uuid, parent: "hdiov1", module: "hdiov") == d)
        // mdevctl's own text, as `mdevctl define` writes it.
        let text = #"{"mdev_type":"hdiov-4qp","start":"manual","attrs":[{"hdiov/weight":"20"}]}"#
        let imported = try JSONDecoder().decode(MdevctlConfig.self, from: Data(text.utf8)).definition(uuid: d.uuid, parent: "hdiov0", module: "hdiov")
        #expect(imported == Definition(uuid: d.uuid, parent: "hdiov0", type: "hdiov-4qp", start: .manual, weight: 20))
        let bad = MdevctlConfig(mdevType: "hdiov-4qp", start: "auto", attrs: [["hdiov/pasid": "3"]])
        #expect(throws: ManagerError.self) { try bad.definition(uuid: d.uuid, parent: "hdiov0", module: "hdiov") }
    }
}
