import Foundation
import Testing

/// The device commands of the built `hdiov`, run as separate processes against mock trees.
@Suite("hdiov device commands against a mock tree")
struct DeviceCommandTests {
    let uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

    func mockTree() throws -> TemporaryDirectory {
        let dir = TemporaryDirectory()
        let r = try hdiov(["mock", "init", dir.path])
        #expect(r.status == 0, "mock init: \(r.stderr)")
        return dir
    }

    func listJSON(_ root: String) throws -> [String: Any] {
        let r = try hdiov(["list", "--json", "--sysfs-root", root])
        #expect(r.status == 0, "list --json: \(r.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    }

    @Test("the hdiov under test is the one built with these tests")
    func binaryOfThisBuild() throws {
        let path = try #require(HDIOVBinary.nextToTestBundle())
        #expect(HDIOVBinary.path == path)
        let help = try hdiov(["--help"])
        #expect(help.status == 0)
        for command in ["parents", "types", "list", "create", "remove", "modify", "qemu-args", "mock"] {
            #expect(help.stdout.contains(command), "--help lists \(command)")
        }
    }

    @Test("mock init, create, list --json, qemu-args, remove, list again")
    func lifecycle() throws {
        let dir = try mockTree()
        #expect(FileManager.default.fileExists(atPath: dir.path + "/.hdiov-mock"))

        let empty = try listJSON(dir.path)
        #expect(empty["version"] as? Int == 1)
        #expect((empty["devices"] as? [Any])?.isEmpty == true)

        let created = try hdiov(["create", "--sysfs-root", dir.path, "--parent", "hdiov0", "--type", "hdiov-4qp"])
        #expect(created.status == 0, "create: \(created.stderr)")
        let uuid = created.stdout.trimmingCharacters(in: .newlines)
        #expect(uuid.wholeMatch(of: uuidPattern) != nil, "create prints the UUID alone: '\(created.stdout)'")
        #expect(created.stderr.isEmpty)

        let flex = try hdiov(["create", "--sysfs-root", dir.path, "--parent", "hdiov1", "--type", "flex",
                              "--qps", "8", "--weight", "40", "--uuid", "0B0E2D8C-6D8A-4D4F-9A57-3C4F3A1F2E1F"])
        #expect(flex.status == 0, "create flex: \(flex.stderr)")
        #expect(flex.stdout == "0b0e2d8c-6d8a-4d4f-9a57-3c4f3a1f2e1f\n")

        let json = try listJSON(dir.path)
        #expect(json["version"] as? Int == 1)
        let devices = try #require(json["devices"] as? [[String: Any]])
        #expect(devices.count == 2)
        let d = try #require(devices.first { $0["uuid"] as? String == uuid })
        #expect(Set(d.keys) == ["uuid", "parent", "type", "queue_pairs", "weight", "pasid", "qp_ids", "iommu_group",
                                "vfio_group_node", "sysfs_path", "stats"])
        #expect(d["parent"] as? String == "hdiov0")
        #expect(d["type"] as? String == "hdiov-4qp")
        #expect(d["queue_pairs"] as? Int == 4)
        #expect(d["weight"] as? Int == 10)
        #expect(d["pasid"] as? Int == 1)
        #expect(d["qp_ids"] as? String == "0-3")
        #expect(d["iommu_group"] as? Int == 0)
        #expect(d["vfio_group_node"] as? String == dir.path + "/dev/vfio/0")
        #expect(d["sysfs_path"] as? String == dir.path + "/sys/bus/mdev/devices/" + uuid)
        let stats = try #require(d["stats"] as? [String: Any])
        #expect(Set(stats.keys) == ["submitted", "completed", "bytes", "errors", "irqs", "kicks"])
        #expect(stats.values.allSatisfy { $0 as? Int == 0 })
        let f = try #require(devices.first { $0["uuid"] as? String == "0b0e2d8c-6d8a-4d4f-9a57-3c4f3a1f2e1f" })
        #expect(f["queue_pairs"] as? Int == 8 && f["weight"] as? Int == 40 && f["qp_ids"] as? String == "0-7")
        #expect(f["iommu_group"] as? Int == 1)

        let text = try hdiov(["list", "--sysfs-root", dir.path])
        #expect(text.status == 0)
        #expect(text.stdout.hasPrefix("UUID"))
        #expect(text.stdout.contains(uuid) && text.stdout.contains("hdiov-4qp"))

        let qemu = try hdiov(["qemu-args", uuid, "--sysfs-root", dir.path])
        #expect(qemu.status == 0)
        #expect(qemu.stdout == "-device vfio-pci,sysfsdev=\(dir.path)/sys/bus/mdev/devices/\(uuid)\n")

        let removed = try hdiov(["remove", uuid, "--sysfs-root", dir.path])
        #expect(removed.status == 0, "remove: \(removed.stderr)")
        #expect(removed.stdout.isEmpty)
        #expect(try hdiov(["remove", "0b0e2d8c-6d8a-4d4f-9a57-3c4f3a1f2e1f", "--sysfs-root", dir.path]).status == 0)
        let after = try listJSON(dir.path)
        #expect((after["devices"] as? [Any])?.isEmpty == true)
        let emptyText = try hdiov(["list", "--sysfs-root", dir.path])
        #expect(emptyText.status == 0 && emptyText.stdout.isEmpty)
    }

    @Test("creates from concurrent processes get distinct queue pairs, PASIDs and groups")
    func concurrentCreates() throws {
        let dir = try mockTree()
        let binary = try #require(HDIOVBinary.path)
        var running: [(Process, Pipe)] = []
        for _ in 0..<6 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = ["create", "--sysfs-root", dir.path, "--parent", "hdiov0", "--type", "4qp"]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            running.append((p, out))
        }
        for (p, out) in running {
            _ = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
        }
        let devices = try #require(try listJSON(dir.path)["devices"] as? [[String: Any]])
        #expect(devices.count == 6)
        #expect(devices.compactMap { $0["pasid"] as? Int }.sorted() == Array(1...6))
        #expect(devices.compactMap { $0["iommu_group"] as? Int }.sorted() == Array(0..<6))
        #expect(Set(devices.compactMap { $0["qp_ids"] as? String })
                == Set((0..<6).map { "\($0 * 4)-\($0 * 4 + 3)" }))
        let parents = try hdiov(["parents", "--sysfs-root", dir.path])
        #expect(parents.stdout.contains("hdiov0  2048      2024     6"))
    }

    @Test("parents and types read the mock tree")
    func parentsAndTypes() throws {
        let dir = try mockTree()
        let parents = try hdiov(["parents", "--sysfs-root", dir.path])
        #expect(parents.status == 0)
        #expect(parents.stdout.split(separator: "\n").map { $0.split(separator: " ").first.map(String.init) ?? "" }
                == ["PARENT", "hdiov0", "hdiov1"])
        #expect(parents.stdout.contains("2048"))
        let types = try hdiov(["types", "--parent", "hdiov1", "--sysfs-root", dir.path])
        #expect(types.status == 0)
        let rows = types.stdout.split(separator: "\n").dropFirst()
        #expect(rows.map { $0.split(separator: " ")[1] } == ["hdiov-1qp", "hdiov-4qp", "hdiov-16qp", "hdiov-flex"])
        #expect(rows.last?.contains("1-256") == true)
        let unknown = try hdiov(["types", "--parent", "hdiov9", "--sysfs-root", dir.path])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("the parents are hdiov0, hdiov1"))
    }

    @Test("exit 1 when the kernel says no: EEXIST, EBUSY; the message names the errno and what to do")
    func refusals() throws {
        let dir = try mockTree()
        let uuid = try hdiov(["create", "--sysfs-root", dir.path, "--parent", "hdiov0", "--type", "flex"])
            .stdout.trimmingCharacters(in: .newlines)
        let again = try hdiov(["create", "--sysfs-root", dir.path, "--parent", "hdiov0", "--type", "1qp", "--uuid", uuid])
        #expect(again.status == 1)
        #expect(again.stdout.isEmpty)
        #expect(again.stderr.contains("EEXIST (File exists)"))
        #expect(again.stderr.contains("already exists: a hdiov-flex on hdiov0"))

        #expect(try hdiov(["mock", "open", uuid, "--sysfs-root", dir.path]).status == 0)
        let busy = try hdiov(["modify", uuid, "--qps", "4", "--sysfs-root", dir.path])
        #expect(busy.status == 1)
        #expect(busy.stderr.contains("EBUSY"))
        #expect(busy.stderr.contains("close the device first"))
        #expect(try hdiov(["remove", uuid, "--sysfs-root", dir.path]).status == 1)
        #expect(try hdiov(["mock", "close", uuid, "--sysfs-root", dir.path]).status == 0)
        #expect(try hdiov(["modify", uuid, "--qps", "4", "--weight", "20", "--sysfs-root", dir.path]).status == 0)
        let json = try listJSON(dir.path)
        let d = try #require((json["devices"] as? [[String: Any]])?.first)
        #expect(d["queue_pairs"] as? Int == 4 && d["weight"] as? Int == 20)

        let weight = try hdiov(["modify", uuid, "--weight", "0", "--sysfs-root", dir.path])
        #expect(weight.status == 1)
        #expect(weight.stderr.contains("EINVAL (Invalid argument)"))

        let missing = try hdiov(["remove", "00000000-0000-0000-0000-000000000000", "--sysfs-root", dir.path])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("there is no device"))

        let events = try hdiov(["mock", "events", "--json", "--sysfs-root", dir.path])
        #expect(events.status == 0)
        let actions = events.stdout.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }.map { $0["action"] as? String ?? "" }
        #expect(actions.prefix(6) == ["add", "change", "add", "change", "add", "bind"])
    }

    @Test("exit 2 for usage errors, 65 for a bad spec")
    func usage() throws {
        let dir = try mockTree()
        let badUUID = try hdiov(["create", "--sysfs-root", dir.path, "--parent", "hdiov0", "--type", "1qp", "--uuid", "nope"])
        #expect(badUUID.status == 2)
        #expect(badUUID.stderr.contains("'nope' is not a UUID"))
        let fixedQPs = try hdiov(["create", "--sysfs-root", dir.path, "--parent", "hdiov0", "--type", "4qp", "--qps", "2"])
        #expect(fixedQPs.status == 2)
        let uuid = try hdiov(["create", "--sysfs-root", dir.path, "--parent", "hdiov0", "--type", "1qp"])
            .stdout.trimmingCharacters(in: .newlines)
        let nothing = try hdiov(["modify", uuid, "--sysfs-root", dir.path])
        #expect(nothing.status == 2)
        #expect(nothing.stderr.contains("nothing to change"))

        let spec = dir.path + "-bad.yaml"
        defer { try? FileManager.default.removeItem(atPath: spec) }
        try "module: hdiov\npfs: zero\n".write(toFile: spec, atomically: true, encoding: .utf8)
        let bad = try hdiov(["list", "--sysfs-root", dir.path, "--spec", spec])
        #expect(bad.status == 65)
        #expect(bad.stderr.contains(spec))
        let badInit = try hdiov(["mock", "init", dir.path + "-other", "--spec", spec])
        #expect(badInit.status == 65)
        #expect(!FileManager.default.fileExists(atPath: dir.path + "-other"))

        // Command-line syntax errors come from the argument parser: EX_USAGE (docs/cli-exit-codes.md).
        let syntax = try hdiov(["create", "--sysfs-root", dir.path, "--type", "1qp"])
        #expect(syntax.status == 64)
    }

    @Test("mock init refuses a directory that is not empty, rebuilds a mock tree with --force")
    func mockInit() throws {
        let dir = try mockTree()
        let again = try hdiov(["mock", "init", dir.path])
        #expect(again.status == 1)
        #expect(again.stderr.contains("already holds a mock tree"))
        _ = try hdiov(["create", "--sysfs-root", dir.path, "--parent", "hdiov0", "--type", "1qp"])
        #expect(try hdiov(["mock", "init", "--force", dir.path]).status == 0)
        #expect((try listJSON(dir.path)["devices"] as? [Any])?.isEmpty == true)

        let other = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: other.path, withIntermediateDirectories: true)
        try "keep".write(toFile: other.path + "/file", atomically: true, encoding: .utf8)
        let refused = try hdiov(["mock", "init", "--force", other.path])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("not empty and not a mock tree"))
    }

    @Test("a root without the module: list --json is an empty list, not an error")
    func noModule() throws {
        let dir = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        let r = try hdiov(["list", "--json", "--sysfs-root", dir.path])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(json["version"] as? Int == 1)
        #expect((json["devices"] as? [Any])?.isEmpty == true)
        let create = try hdiov(["create", "--sysfs-root", dir.path, "--parent", "hdiov0", "--type", "1qp"])
        #expect(create.status == 1)
        #expect(create.stderr.contains("no hdiov parents are registered"))
    }
}
