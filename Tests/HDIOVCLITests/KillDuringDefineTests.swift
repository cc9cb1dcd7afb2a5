import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `hdiov define --force` replacing a definition, SIGKILLed at a random moment (seeded):
/// the definition is then the old one or the new one, byte for byte, never torn; a temporary
/// file it may leave behind is not taken for a definition, and the next define works.
/// Replay with HDIOV_KILL_SEED=<seed>.
@Suite("definitions survive kill -9 mid-write")
struct KillDuringDefineTests {
    static let uuid = "33333333-3333-4333-8333-333333333333"

    /// SplitMix64: small, seeded, the same on every platform.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func defineArgs(root: String, config: String, weight: Int) -> [String] {
        ["define", "--force", "--sysfs-root", root, "--config-dir", config, "--parent", "hdiov0",
         "--type", "hdiov-flex", "--qps", "\(weight / 10)", "--weight", "\(weight)", "--uuid", uuid]
    }

    /// Start `hdiov args` with no pipes (nothing it can block on), returning the process.
    static func spawn(_ args: [String]) throws -> Process {
        let binary = try #require(HDIOVBinary.path)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    @Test("100 defines killed at random moments leave the old or the new definition, never a torn one")
    func killMidWrite() throws {
        let seed = ProcessInfo.processInfo.environment["HDIOV_KILL_SEED"].flatMap { UInt64($0) } ?? 20261125
        var rng = SplitMix(state: seed)
        let dir = TemporaryDirectory()
        let root = dir.path + "/root"
        let fm = FileManager.default
        try #require(try hdiov(["mock", "init", root]).status == 0)
        let file = "\(Self.uuid).json"

        // The old and the new content, and how long one define takes here.
        var bytes: [Int: Data] = [:]
        var lifetime = 0.0
        for weight in [10, 20, 20, 20] {
            let config = dir.path + "/golden-\(weight)"
            let start = Date()
            let r = try hdiov(Self.defineArgs(root: root, config: config, weight: weight))
            lifetime = max(lifetime, Date().timeIntervalSince(start))
            try #require(r.status == 0, "define: \(r.stderr)")
            bytes[weight] = try #require(fm.contents(atPath: config + "/" + file))
        }
        let old = try #require(bytes[10]), new = try #require(bytes[20])
        try #require(old != new)
        let window = UInt64(lifetime * 1.5 * 1_000_000)

        var outcomes = (old: 0, new: 0, leftovers: 0)
        for trial in 0..<100 {
            let config = dir.path + "/trial-\(trial)"
            try fm.createDirectory(atPath: config, withIntermediateDirectories: true)
            #expect(fm.createFile(atPath: config + "/" + file, contents: old))
            let delay = UInt64.random(in: 0...window, using: &rng)
            let p = try Self.spawn(Self.defineArgs(root: root, config: config, weight: 20))
            usleep(useconds_t(delay))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()

            let context = "trial \(trial) (seed \(seed), killed after \(delay) µs)"
            let data = try #require(fm.contents(atPath: config + "/" + file), "\(context): the definition is gone")
            if data == old {
                outcomes.old += 1
            } else if data == new {
                outcomes.new += 1
            } else {
                Issue.record("\(context): torn definition: \(String(decoding: data, as: UTF8.self))")
            }
            #expect((try? JSONSerialization.jsonObject(with: data)) != nil, "\(context): does not parse")
            let names = try fm.contentsOfDirectory(atPath: config)
            let others = names.filter { $0 != file }
            // A temporary file left by the kill is hidden and not *.json: never a definition.
            #expect(others.allSatisfy { $0.hasPrefix(".") && !$0.hasSuffix(".json") }, "\(context): \(others)")
            if !others.isEmpty || trial % 10 == 0 {
                if !others.isEmpty { outcomes.leftovers += 1 }
                let list = try hdiov(["list", "--defined", "--json", "--sysfs-root", root, "--config-dir", config])
                #expect(list.status == 0, "\(context): list --defined: \(list.stderr)")
                let json = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any]
                let defs = json?["definitions"] as? [[String: Any]] ?? []
                #expect(defs.map { $0["uuid"] as? String } == [Self.uuid], "\(context): \(list.stdout)")
                // And the next define (another process) replaces it cleanly.
                let again = try hdiov(Self.defineArgs(root: root, config: config, weight: 20))
                #expect(again.status == 0, "\(context): define after the kill: \(again.stderr)")
                #expect(fm.contents(atPath: config + "/" + file) == new, "\(context)")
            }
            try? fm.removeItem(atPath: config)
        }
        // The moments spread over the process's life: some kills came before the rename, some after.
        #expect(outcomes.old > 0 && outcomes.new > 0,
                "seed \(seed): \(outcomes.old) old, \(outcomes.new) new (window \(window) µs)")
        print("kill -9 during define: \(outcomes.old) old, \(outcomes.new) new, \(outcomes.leftovers) with a temporary file left, seed \(seed)")
    }
}
