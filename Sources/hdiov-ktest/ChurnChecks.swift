import Foundation
import HDIOVSpec
import HDIOVSysfs
import HDIOVVFIO

/// Create / open / close / remove cycles from concurrent workers with random flex sizes
/// and weights; afterwards every queue pair and PASID must be back, slab close to where
/// it started, and nothing hung. Also the lifecycle edges around unloading.
struct ChurnChecks {
    let suite: KernelSuite
    let cycles: Int
    let workers: Int
    let seed: UInt64

    var spec: DeviceSpec { suite.spec }

    /// Whether the running kernel has KASAN (it says so at boot).
    static func kasan() -> Bool {
        sh("dmesg").output.contains("KernelAddressSanitizer initialized")
    }

    static func slabKiB() -> Int {
        let meminfo = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
        for line in meminfo.split(separator: "\n") where line.hasPrefix("Slab:") {
            return Int(line.split(separator: " ")[1]) ?? 0
        }
        return 0
    }

    func run() {
        let harness = suite.harness
        harness.check("churn: module loads") {
            try suite.loadModule()
        }
        guard let flex = spec.types.first(where: { $0.isFlex }) ?? spec.types.first else { return }
        // Warm up the slab caches so the comparison below measures leaks, not first use.
        for _ in 0..<8 { if let u = try? suite.create(flex) { try? suite.remove(u) } }
        let slabBefore = Self.slabKiB()
        harness.check("churn: \(cycles) create/open/close/remove cycles, \(workers) workers") {
            let failures = LockedBox<[String]>([])
            let done = LockedBox<Int>(0)
            let group = DispatchGroup()
            let start = Date()
            let perWorker = cycles / workers
            let suite = self.suite
            for w in 0..<workers {
                group.enter()
                let seed = self.seed &+ UInt64(w)
                Thread.detachNewThread {
                    var rng = SeededRandom(seed: seed)
                    for _ in 0..<perWorker {
                        do {
                            try Self.cycle(suite: suite, type: flex, rng: &rng)
                            done.mutate { $0 += 1 }
                        } catch {
                            failures.mutate { $0.append("\(error)") }
                        }
                    }
                    group.leave()
                }
            }
            try expect(group.wait(timeout: .now() + 1800) == .success, "workers did not finish within 30 minutes")
            let elapsed = Date().timeIntervalSince(start)
            print(String(format: "  churn: %d cycles in %.1f s (%.0f cycles/s)", done.value, elapsed, Double(done.value) / elapsed))
            // ENOSPC is allowed under contention for the pool; anything else is a failure.
            let real = failures.value.filter { !$0.contains("ENOSPC") }
            try expect(real.isEmpty, "\(real.count) failures, first: \(real.first ?? "")")
            try expect(done.value >= perWorker * workers * 9 / 10, "only \(done.value) cycles completed")
        }
        harness.check("churn: every queue pair and PASID returned, slab within 1 MiB") {
            for p in spec.parentNames {
                try expectEqual(try suite.readInt(suite.env.parent(p) + "/qp_free"), spec.queuePairs, "\(p)/qp_free")
                try expectEqual(try suite.readInt(suite.env.parent(p) + "/vdev_count"), 0, "\(p)/vdev_count")
            }
            let u = try suite.create(flex)
            try expectEqual(try suite.readInt(suite.attr(u, "pasid")), 1, "first PASID after churn")
            try suite.remove(u)
            // Frees deferred through RCU and lazily purged vmap areas settle within seconds.
            var slabAfter = Int.max
            for _ in 0..<20 where slabAfter - slabBefore > 1024 {
                _ = sh("echo 3 > /proc/sys/vm/drop_caches")
                slabAfter = Self.slabKiB()
                if slabAfter - slabBefore > 1024 { usleep(500_000) }
            }
            print("  churn: slab \(slabBefore) KiB before, \(slabAfter) KiB after")
            // KASAN keeps freed objects in its quarantine (up to 1/32 of RAM), so slab stays
            // high after churn without any leak; under KASAN the kernel's kmemleak scan decides.
            if Self.kasan() {
                print("  churn: KASAN kernel: slab bound not applied (quarantine); kmemleak checks leaks")
            } else {
                try expect(slabAfter - slabBefore <= 1024, "slab grew by \(slabAfter - slabBefore) KiB")
            }
        }
        lifecycleEdges(flex)
        harness.check("churn: dmesg has no oops, WARN, BUG, GPF or hung task") {
            try suite.expectCleanDmesg()
        }
    }

    /// One cycle: create (random flex size and weight), open, touch BAR0, close, remove.
    static func cycle(suite: KernelSuite, type: MdevTypeSpec, rng: inout SeededRandom) throws {
        let parent = suite.spec.parentNames[Int(rng.next() % UInt64(suite.spec.parentNames.count))]
        let uuid = UUID().uuidString.lowercased()
        try SysfsFile.write(suite.env.type(parent, "\(suite.spec.module)-\(type.id)") + "/create", uuid)
        defer { try? SysfsFile.write(suite.env.device(uuid) + "/remove", "1") }
        if type.isFlex {
            try? SysfsFile.write(suite.attr(uuid, "queue_pairs"), "\(1 + rng.next() % UInt64(min(16, suite.spec.maxQpsPerVdev)))")
        }
        try SysfsFile.write(suite.attr(uuid, "weight"), "\(1 + rng.next() % 100)")
        let dev = try VFIODevice(uuid: uuid)
        let bar0 = try dev.regionInfo(.bar0)
        guard try dev.read32(bar0, at: 0) == 0x4844_4956 else {
            throw Harness.Failure(description: "\(uuid): bad ID register")
        }
        dev.close()
    }

    func lifecycleEdges(_ type: MdevTypeSpec) {
        let harness = suite.harness
        harness.check("unload with an open VDEV is refused (module in use), then works after close") {
            let u = try suite.create(type)
            let dev = try VFIODevice(uuid: u)
            let start = Date()
            let r = sh("rmmod \(spec.module)")
            try expect(r.status != 0, "rmmod succeeded with an open device")
            try expect(Date().timeIntervalSince(start) < 10, "rmmod took more than 10 s")
            try expect(SysfsFile.exists(suite.env.device(u)), "device vanished")
            dev.close()
            try suite.remove(u)
        }
        harness.check("unload with live (closed) VDEVs removes them, within 10 s") {
            _ = try suite.create(type)
            _ = try suite.create(type)
            let start = Date()
            let r = sh("rmmod \(spec.module)")
            try expect(r.status == 0, "rmmod: \(r.output)")
            try expect(Date().timeIntervalSince(start) < 10, "rmmod took more than 10 s")
            try expect(SysfsFile.list(suite.env.deviceBase).isEmpty, "devices left: \(SysfsFile.list(suite.env.deviceBase))")
        }
    }
}

// Workers share only the suite's immutable spec and paths.
extension KernelSuite: @unchecked Sendable {}
