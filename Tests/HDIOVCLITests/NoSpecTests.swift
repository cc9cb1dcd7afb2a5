import Foundation
import Testing

/// The runtime commands need no spec: the module is the one whose parents the tree has
/// (`load`: the one its .ko declares). `HDIOV_ROOT` points at an empty directory here, so a
/// command that still read specs/default.yaml would fail (65).
@Suite("device commands without a spec")
struct NoSpecTests {
    static let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    @Test("a tree of another module, without the mock marker (as a live tree): found from its parents")
    func liveLayoutOfAnotherModule() throws {
        let dir = TemporaryDirectory()
        let nowhere = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: nowhere.path, withIntermediateDirectories: true)
        let made = try hdiov(["mock", "init", dir.path, "--spec", Self.checkout + "/specs/qat-4xxx.yaml"])
        #expect(made.status == 0, "\(made.stderr)")
        try FileManager.default.removeItem(atPath: dir.path + "/.hdiov-mock")
        let env = ["HDIOV_ROOT": nowhere.path]
        let parents = try hdiov(["parents", "--sysfs-root", dir.path], environment: env)
        #expect(parents.status == 0, "\(parents.stderr)")
        #expect(parents.stdout.contains("hdiov_qat0") && parents.stdout.contains("hdiov_qat1"), "\(parents.stdout)")
        let types = try hdiov(["types", "--sysfs-root", dir.path, "--parent", "hdiov_qat0"], environment: env)
        #expect(types.status == 0, "\(types.stderr)")
        #expect(types.stdout.contains("hdiov_qat-sym"), "\(types.stdout)")
        let status = try hdiov(["status", "--sysfs-root", dir.path], environment: env)
        #expect(status.stdout.hasPrefix("module hdiov_qat: live"), "\(status.stdout)\(status.stderr)")
    }

    @Test("a mock tree, once built, works without any spec")
    func mockTree() throws {
        let dir = TemporaryDirectory()
        let nowhere = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: nowhere.path, withIntermediateDirectories: true)
        #expect(try hdiov(["mock", "init", dir.path, "--spec", Self.checkout + "/specs/e810.yaml"]).status == 0)
        let env = ["HDIOV_ROOT": nowhere.path]
        let root = ["--sysfs-root", dir.path]
        let created = try hdiov(["create", "--parent", "hdiov_e8100", "--type", "1qp"] + root, environment: env)
        #expect(created.status == 0, "\(created.stderr)")
        let uuid = created.stdout.trimmingCharacters(in: .newlines)
        let list = try hdiov(["list"] + root, environment: env)
        #expect(list.stdout.contains(uuid) && list.stdout.contains("hdiov_e810-1qp"), "\(list.stdout)\(list.stderr)")
        let defined = try hdiov(["define", "--parent", "hdiov_e8101", "--type", "4qp", "--qps", "2"] + root, environment: env)
        #expect(defined.status == 2 && defined.stderr.contains("hdiov_e810-4qp always has 4 queue pairs"), "\(defined.stderr)")
        #expect(try hdiov(["remove", uuid] + root, environment: env).status == 0)
        #expect(try hdiov(["status"] + root, environment: env).stdout.hasPrefix("module hdiov_e810: live"))
    }

    @Test("load reads no spec: a missing .ko is the error, not the spec")
    func load() throws {
        let nowhere = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: nowhere.path, withIntermediateDirectories: true)
        let env = ["HDIOV_ROOT": nowhere.path]
        let named = try hdiov(["load", "--module", "/nonexistent/hdiov.ko"], environment: env)
        #expect(named.status == 1, "\(named.stderr)")
        #expect(named.stderr.contains("/nonexistent/hdiov.ko: ENOENT (No such file or directory)"), "\(named.stderr)")
        let built = try hdiov(["load", "--kernel-release", "0.0.0-none"], environment: env)
        #expect(built.status == 1, "\(built.stderr)")
        #expect(built.stderr.contains("hdiov: no module built for kernel 0.0.0-none"), "\(built.stderr)")
    }
}
