import Foundation
import HDIOVConformance
import HDIOVSpec
import HDIOVSysfs

/// `--conformance GOLDEN`: the conformance scenario (Sources/HDIOVConformance) against the
/// real module, compared with the golden record the mock must also produce; then the
/// device manager on the live tree (its answers and error texts), and listing 1024 VDEVs
/// with `hdiov list --json` and with `mdevctl list`.
struct ConformanceChecks {
    let suite: KernelSuite
    let golden: String
    let specPath: String
    /// Where the record of this run is written (inside the machine).
    static let recordPath = "/tmp/hdiov-conformance.record"

    var spec: DeviceSpec { suite.spec }
    var harness: Harness { suite.harness }

    func run() {
        harness.check("conformance: module loads") {
            _ = sh("modprobe -q libcrc32c")
            let r = sh("modprobe -a vfio_iommu_type1 mdev && insmod \(suite.module)")
            try expect(r.status == 0, "load: \(r.output)")
        }
        harness.check("conformance: the module's record equals \((golden as NSString).lastPathComponent)") {
            let record = ConformanceRecorder(
                scenario: ConformanceScenario(spec: spec), environment: suite.env, backend: RealSysfs()
            ).run()
            try? record.write(toFile: Self.recordPath, atomically: true, encoding: .utf8)
            let expected = (try? String(contentsOfFile: golden, encoding: .utf8)) ?? ""
            if let diff = RecordDiff.unified(expected, record, labelA: golden, labelB: "module (\(Self.recordPath))") {
                print(diff)
                throw Harness.Failure(description: "the module's record differs from the golden record (diff above)")
            }
            try expect(SysfsFile.list(suite.env.deviceBase).isEmpty, "devices left after the scenario")
        }
        ManagerChecks(suite: suite).run()
        ListTiming(suite: suite, count: 1024, specPath: specPath).run()
        harness.check("conformance: module unloads") {
            let r = sh("rmmod \(spec.module)")
            try expect(r.status == 0, "rmmod: \(r.output)")
        }
        harness.check("conformance: dmesg has no oops, WARN, BUG, GPF or hung task") {
            try suite.expectCleanDmesg()
        }
    }
}

/// The device manager (HDIOVSysfs) on the live tree: create, list, modify, remove, and
/// what it says when the kernel refuses (EEXIST, EINVAL, ENOSPC).
struct ManagerChecks {
    let suite: KernelSuite

    var spec: DeviceSpec { suite.spec }
    var harness: Harness { suite.harness }
    var manager: DeviceManager { DeviceManager(environment: suite.env, module: spec.module, backend: RealSysfs()) }

    func refusal<T>(_ body: () throws(ManagerError) -> T) throws -> ManagerError {
        do {
            _ = try body()
        } catch {
            print("  manager says:\n" + error.description.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            return error
        }
        throw Harness.Failure(description: "the manager did it, expected a refusal")
    }

    func run() {
        let m = manager
        let p0 = spec.parentNames[0]
        let p1 = spec.parentNames.count > 1 ? spec.parentNames[1] : p0
        let fixed = spec.types.filter { !$0.isFlex }.sorted { $0.initialQueuePairs < $1.initialQueuePairs }
        guard let flex = spec.types.first(where: { $0.isFlex }), fixed.count >= 2 else { return }
        let small = fixed[0], big = fixed[fixed.count - 1]
        let a = "d0d0d0d0-0001-4000-8000-000000000001"
        let f = "d0d0d0d0-0002-4000-8000-000000000002"
        harness.check("manager: create, list, modify, remove on the live tree") {
            let v = try m.create(parent: p0, type: "\(spec.module)-\(big.id)", uuid: a, weight: 20)
            try expectEqual(v.uuid, a, "uuid")
            try expectEqual(v.queuePairs, big.initialQueuePairs, "queue_pairs")
            try expectEqual(v.weight, 20, "weight")
            try expectEqual(v.pasid, 1, "pasid")
            try expect(v.iommuGroup != nil && SysfsFile.exists(v.vfioGroupNode ?? ""), "no VFIO group node \(v.vfioGroupNode ?? "-")")
            let w = try m.create(parent: p0, type: flex.id, uuid: f.uppercased(), queuePairs: 8)
            try expectEqual(w.uuid, f, "flex uuid (lower case)")
            try expectEqual(w.queuePairs, 8, "flex queue_pairs")
            try expectEqual(try m.list().map(\.uuid), [a, f].sorted(), "list")
            try expectEqual(try m.device(uuid: f).qpIDsText, "\(big.initialQueuePairs)-\(big.initialQueuePairs + 7)", "qp_ids")
            let changed = try m.modify(uuid: f, weight: 99, queuePairs: 3)
            try expectEqual(changed.queuePairs, 3, "queue_pairs after modify")
            try expectEqual(changed.weight, 99, "weight after modify")
            try expectEqual(try m.parent(p0).qpFree, spec.queuePairs - big.initialQueuePairs - 3, "qp_free")
        }
        harness.check("manager: EEXIST names the device that has the UUID") {
            let e = try refusal { () throws(ManagerError) in try m.create(parent: p1, type: small.id, uuid: a) }
            try expectEqual(e.errnoName, "EEXIST", "errno")
            try expect(e.description.contains("already exists: a \(spec.module)-\(big.id) on \(p0)"), "text: \(e.description)")
        }
        harness.check("manager: EINVAL for a weight out of range, nothing changes") {
            let e = try refusal { () throws(ManagerError) in try m.modify(uuid: a, weight: 0) }
            try expectEqual(e.errnoName, "EINVAL", "errno")
            try expect(e.description.contains("weight takes a whole number from 1 to 100"), "text: \(e.description)")
            try expectEqual(try m.device(uuid: a).weight, 20, "weight after the refusal")
        }
        harness.check("manager: ENOSPC shows qp_free and which types still fit") {
            // Leave 3 queue pairs: the smallest type and flex fit, the others do not.
            var hogs: [String] = []
            defer { for h in hogs { try? m.remove(uuid: h) } }
            while true {
                let free = try m.parent(p0).qpFree
                guard free > 3 else { break }
                hogs.append(try m.create(parent: p0, type: flex.id, queuePairs: min(spec.maxQpsPerVdev, free - 3)).uuid)
            }
            let e = try refusal { () throws(ManagerError) in try m.create(parent: p0, type: big.id) }
            try expectEqual(e.errnoName, "ENOSPC", "errno")
            let text = e.description
            try expect(text.contains("\(p0) has 3 of \(spec.queuePairs) queue pairs free; \(spec.module)-\(big.id) needs \(big.initialQueuePairs)"), "text: \(text)")
            try expect(text.contains("still fits on \(p0): \(spec.module)-\(small.id) (3 more)"), "text: \(text)")
            try expect(text.contains("\(spec.module)-\(flex.id) (3 more)"), "text: \(text)")
            try expect(text.contains("or create it on \(p1)"), "text: \(text)")
            let g = try refusal { () throws(ManagerError) in try m.modify(uuid: f, queuePairs: 10) }
            try expectEqual(g.errnoName, "ENOSPC", "errno of the grow")
            try expect(g.description.contains("growing from 3 to 10 queue pairs needs 7 more; \(p0) has 3 free"), "text: \(g.description)")
            try expectEqual(try m.device(uuid: f).queuePairs, 3, "queue_pairs after the refused grow")
            let c = try refusal { () throws(ManagerError) in try m.create(parent: p0, type: flex.id, queuePairs: 5) }
            try expectEqual(c.errnoName, "ENOSPC", "errno of create --qps 5")
            try expect(c.description.contains("was removed again"), "text: \(c.description)")
        }
        harness.check("manager: remove, then the list is empty") {
            try m.remove(uuid: a)
            try m.remove(uuid: f)
            try expectEqual(try m.list().map(\.uuid), [], "list")
            let e = try refusal { () throws(ManagerError) in try m.remove(uuid: a) }
            try expectEqual(e.kind, .notFound, "kind")
        }
    }
}

/// 1024 VDEVs made by writing sysfs directly, then `hdiov list --json` against
/// `mdevctl list`: a warm-up run of each, then the median of 3.
struct ListTiming {
    let suite: KernelSuite
    let count: Int
    let specPath: String

    var spec: DeviceSpec { suite.spec }

    /// `hdiov` next to this executable (same build directory).
    var hdiov: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("hdiov").path
    }

    func median(_ command: String) throws -> Double {
        let warm = sh(command + " >/dev/null")
        try expect(warm.status == 0, "\(command): \(warm.output)")
        var times: [Double] = []
        for _ in 0..<3 {
            let start = DispatchTime.now().uptimeNanoseconds
            let r = sh(command + " >/dev/null")
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            try expect(r.status == 0, "\(command): \(r.output)")
        }
        return times.sorted()[1]
    }

    func run() {
        let harness = suite.harness
        guard let t = spec.types.min(by: { $0.initialQueuePairs < $1.initialQueuePairs }) else { return }
        var uuids: [String] = []
        defer { for u in uuids { try? SysfsFile.write(suite.env.device(u) + "/remove", "1") } }
        harness.check("timing: \(count) VDEVs created through sysfs") {
            let start = Date()
            for i in 0..<count {
                let u = String(format: "e0e0e0e0-%04x-4000-8000-000000000000", i)
                try SysfsFile.write(suite.env.type(spec.parentNames[i % spec.parentNames.count], "\(spec.module)-\(t.id)") + "/create", u)
                uuids.append(u)
            }
            print(String(format: "  timing: created %d VDEVs in %.2f s", count, Date().timeIntervalSince(start)))
        }
        // Printed for the record; the machine is emulated (TCG) and shared, so the check
        // only guards against hdiov becoming clearly slower than mdevctl.
        harness.check("timing: hdiov list --json vs mdevctl list at \(count) VDEVs (fails only past 1.5x mdevctl)") {
            let json = sh("\(hdiov) list --json --spec \(specPath)")
            try expect(json.status == 0, "hdiov list --json: \(json.output.prefix(2000))")
            try expectEqual(json.output.components(separatedBy: "\"uuid\"").count - 1, count, "devices in hdiov list --json")
            let mdevctlCount = sh("mdevctl list | grep -c e0e0e0e0")
            try expectEqual(Int(mdevctlCount.output.trimmingCharacters(in: .whitespacesAndNewlines)), count, "devices in mdevctl list")
            let ours = try median("\(hdiov) list --json --spec \(specPath)")
            let theirs = try median("mdevctl list")
            print(String(format: "  timing: %d VDEVs: hdiov list --json %.1f ms, mdevctl list %.1f ms (median of 3, after a warm-up) — %.1fx",
                         count, ours, theirs, theirs / ours))
            try expect(ours < 1.5 * theirs, String(format: "hdiov list --json took %.1f ms, mdevctl list %.1f ms", ours, theirs))
        }
    }
}
