import Foundation
import Testing

/// `hdiov unload` and `hdiov status` against a mock tree (loading needs a real kernel:
/// the kernel suite and `hdiov vm run` cover that).
@Suite("hdiov unload/status against a mock tree")
struct ModuleCommandTests {
    func mockTree() throws -> TemporaryDirectory {
        let dir = TemporaryDirectory()
        let r = try hdiov(["mock", "init", dir.path])
        #expect(r.status == 0, "mock init: \(r.stderr)")
        return dir
    }

    @Test("unload refuses while devices exist and names them; --force removes them first")
    func unloadRefusal() throws {
        let dir = try mockTree()
        let a = try hdiov(["create", "--sysfs-root", dir.path, "--parent", "hdiov0", "--type", "4qp"])
        let b = try hdiov(["create", "--sysfs-root", dir.path, "--parent", "hdiov1", "--type", "flex", "--qps", "3"])
        let ua = a.stdout.trimmingCharacters(in: .newlines), ub = b.stdout.trimmingCharacters(in: .newlines)
        let r = try hdiov(["unload", "--sysfs-root", dir.path])
        #expect(r.status == 1)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.contains("hdiov: cannot unload hdiov: 2 devices exist"), "\(r.stderr)")
        #expect(r.stderr.contains("\(ua) (hdiov-4qp on hdiov0)"))
        #expect(r.stderr.contains("\(ub) (hdiov-flex on hdiov1)"))
        #expect(r.stderr.contains("--force"))

        let f = try hdiov(["unload", "--force", "--sysfs-root", dir.path])
        // The devices go; a mock tree has no module to remove: it says so and succeeds.
        #expect(f.status == 0, "\(f.stderr)")
        #expect(f.stderr.contains("no module to remove"), "\(f.stderr)")
        #expect(f.stderr.contains("removed \(ua)") && f.stderr.contains("removed \(ub)"), "\(f.stderr)")
        #expect(f.stderr.contains("mock tree"))
        // The docs say the same exit status.
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs")
        let manager = try String(contentsOf: docs.appendingPathComponent("device-manager.md"), encoding: .utf8)
            .replacingOccurrences(of: "\n", with: " ")
        #expect(manager.contains("then says so and exits \(f.status)."), "docs/device-manager.md on unload of a mock tree")
        let codes = try String(contentsOf: docs.appendingPathComponent("cli-exit-codes.md"), encoding: .utf8)
            .replacingOccurrences(of: "\n", with: " ")
        #expect(codes.contains("it says so and exits \(f.status)"), "docs/cli-exit-codes.md on unload of a mock tree")
        let list = try hdiov(["list", "--sysfs-root", dir.path])
        #expect(list.stdout.isEmpty)
    }

    @Test("status --json shows the state, parameters and parents")
    func statusJSON() throws {
        let dir = try mockTree()
        _ = try hdiov(["create", "--sysfs-root", dir.path, "--parent", "hdiov0", "--type", "4qp"])
        let r = try hdiov(["status", "--json", "--sysfs-root", dir.path])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(json["version"] as? Int == 1)
        #expect(json["module"] as? String == "hdiov")
        #expect(json["state"] as? String == "live")
        #expect(json["devices"] as? Int == 1)
        let parents = try #require(json["parents"] as? [[String: Any]])
        #expect(parents.map { $0["name"] as? String } == ["hdiov0", "hdiov1"])
        #expect(parents[0]["vdev_count"] as? Int == 1)
        #expect(parents[0]["qp_free"] as? Int == (parents[0]["qp_total"] as? Int ?? 0) - 4)

        let text = try hdiov(["status", "--sysfs-root", dir.path])
        #expect(text.stdout.hasPrefix("module hdiov: live"))
    }

    @Test("load with a missing .ko names the path, the errno and what to do")
    func loadMissing() throws {
        let r = try hdiov(["load", "--module", "/nonexistent/hdiov.ko"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("/nonexistent/hdiov.ko: ENOENT (No such file or directory)"), "\(r.stderr)")
        #expect(r.stderr.contains("next: "))
    }
}

@Suite("hdiov monitor and create --wait against a mock tree")
struct MonitorCommandTests {
    @Test("monitor lists the existing devices, then follows the mock's event log")
    func monitorMock() throws {
        let dir = TemporaryDirectory()
        #expect(try hdiov(["mock", "init", dir.path]).status == 0)
        let first = try hdiov(["create", "--wait", "--sysfs-root", dir.path, "--parent", "hdiov0", "--type", "4qp"])
        #expect(first.status == 0, "\(first.stderr)")
        let u = first.stdout.trimmingCharacters(in: .newlines)
        let r = try hdiov(["monitor", "--json", "--sysfs-root", dir.path, "--timeout", "0.3"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 1)
        let e = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(e["action"] as? String == "exists")
        #expect(e["source"] as? String == "existing")
        #expect((e["devpath"] as? String)?.hasSuffix("/hdiov0/\(u)") == true)
    }
}

@Suite("hdiov define/start/stop/autostart/export against a mock tree")
struct DefinitionCommandTests {
    @Test("define auto + manual, autostart starts only auto, export/import round trip, stop, undefine")
    func lifecycle() throws {
        let dir = TemporaryDirectory()
        #expect(try hdiov(["mock", "init", dir.path]).status == 0)
        let root = ["--sysfs-root", dir.path]
        let a = try hdiov(["define", "--parent", "hdiov1", "--type", "flex", "--qps", "6", "--weight", "30", "--start", "auto"] + root)
        #expect(a.status == 0, "\(a.stderr)")
        let ua = a.stdout.trimmingCharacters(in: .newlines)
        #expect(FileManager.default.fileExists(atPath: "\(dir.path)/etc/hdiov/devices/\(ua).json"))
        let m = try hdiov(["define", "--parent", "hdiov1", "--type", "4qp"] + root)
        let um = m.stdout.trimmingCharacters(in: .newlines)
        #expect(try hdiov(["define", "--parent", "hdiov1", "--type", "4qp", "--uuid", um] + root).status == 1)

        let auto = try hdiov(["autostart", "hdiov1"] + root)
        #expect(auto.status == 0, "\(auto.stderr)")
        #expect(auto.stdout == ua + "\n")
        let listed = try hdiov(["list", "--defined", "--json"] + root)
        let defs = try #require((try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [String: Any])?["definitions"] as? [[String: Any]])
        #expect(defs.count == 2)
        #expect(defs.first { $0["uuid"] as? String == ua }?["active"] as? Bool == true)
        #expect(defs.first { $0["uuid"] as? String == um }?["active"] as? Bool == false)

        let exported = try hdiov(["export", ua] + root)
        #expect(exported.status == 0)
        let file = dir.path + "/mdevctl-export.json"
        try exported.stdout.write(toFile: file, atomically: true, encoding: .utf8)
        let uuid2 = "11111111-2222-3333-4444-555555555555"
        #expect(try hdiov(["define", "--parent", "hdiov0", "--from-mdevctl", file, "--uuid", uuid2] + root).status == 0)
        #expect(try hdiov(["export", uuid2] + root).stdout == exported.stdout)

        #expect(try hdiov(["stop", ua] + root).status == 0)
        #expect(try hdiov(["start", ua] + root).stdout == ua + "\n")
        #expect(try hdiov(["undefine", um] + root).status == 0)
        let gone = try hdiov(["start", um] + root)
        #expect(gone.status == 1 && gone.stderr.contains("no definition \(um)"))

        let rule = try hdiov(["udev-rule"] + root)
        #expect(rule.stdout.contains(#"ACTION=="change", SUBSYSTEM=="hdiov", ENV{MDEV_STATE}=="registered", RUN+=""#))
        #expect(rule.stdout.contains(" autostart $kernel --sysfs-root \(dir.path)"))
    }
}
