import Foundation
import HDIOVSysfs

/// Measurements taken inside the embedded machine, against the real kernel.
public struct GuestBench {
    public let env: SysfsEnvironment

    public init(env: SysfsEnvironment = SysfsEnvironment()) {
        self.env = env
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) * 1e6 + Double(ts.tv_nsec) / 1e3
    }

    /// Time `body` in microseconds.
    static func time(_ body: () throws -> Void) rethrows -> Double {
        let t0 = now()
        try body()
        return now() - t0
    }

    /// `devices` creates then `devices` removes of `type` on `parent`, `rounds` times;
    /// each write timed in-process from write(2) to its return.
    public func lifecycle(driver: String, parent: String, type: String, devices: Int, rounds: Int) throws -> LifecycleResult {
        var creates: [Double] = [], removes: [Double] = []
        let create = env.type(parent, type) + "/create"
        for _ in 0..<rounds {
            var uuids: [String] = []
            for _ in 0..<devices {
                let u = UUID().uuidString.lowercased()
                creates.append(try Self.time { try SysfsFile.write(create, u) })
                uuids.append(u)
            }
            for u in uuids {
                let path = env.device(u) + "/remove"
                removes.append(try Self.time { try SysfsFile.write(path, "1") })
            }
        }
        return LifecycleResult(
            driver: driver, type: type, devices: devices, rounds: rounds,
            createMicros: Summary(creates), removeMicros: Summary(removes))
    }

    /// One /proc/meminfo field, KiB.
    public static func meminfoKiB(_ field: String) -> Int {
        let text = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
        }
        return 0
    }

    /// Slab + VmallocUsed + Percpu from /proc/meminfo, KiB.
    public static func kernelMemoryKiB() -> Int {
        let text = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
        var total = 0
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 2 else { continue }
            if ["Slab:", "VmallocUsed:", "Percpu:"].contains(String(parts[0])) { total += Int(parts[1]) ?? 0 }
        }
        return total
    }

    static func settle() {
        _ = try? SysfsFile.write("/proc/sys/vm/drop_caches", "3")
    }

    /// Create `count` VDEVs of `type` spread over `parents` (filling one after the other),
    /// timing creates per block; then list them with `listCommands` and remove them all.
    public func scale(
        parents: [String], type: String, count: Int, blockSize: Int,
        listCommands: [(name: String, command: String)], run: (String) -> Int32
    ) throws -> ScaleResult {
        Self.settle()
        let base = Self.kernelMemoryKiB()
        let freeBase = Self.meminfoKiB("MemFree")
        var uuids: [String] = []
        var block: [Double] = [], medians: [Double] = [], memory: [Int] = []
        var parentIndex = 0
        while uuids.count < count && parentIndex < parents.count {
            let u = UUID().uuidString.lowercased()
            let path = env.type(parents[parentIndex], type) + "/create"
            do {
                block.append(try Self.time { try SysfsFile.write(path, u) })
                uuids.append(u)
            } catch let e as SysfsError where e.errno == ENOSPC {
                parentIndex += 1
                continue
            }
            if block.count == blockSize {
                medians.append(Summary(block).median)
                block = []
                memory.append(Self.kernelMemoryKiB())
            }
        }
        if !block.isEmpty { medians.append(Summary(block).median); memory.append(Self.kernelMemoryKiB()) }
        Self.settle()
        let full = Self.kernelMemoryKiB()
        let freeFull = Self.meminfoKiB("MemFree")
        // Each command once to warm the page cache (binaries come over 9p), then the
        // median of three runs.
        var timings: [String: Double] = [:]
        for (name, command) in listCommands {
            _ = run(command)
            timings[name] = Summary((0..<3).map { _ in Self.time { _ = run(command) } / 1000 }).median
        }
        let t0 = Self.now()
        for u in uuids { try SysfsFile.write(env.device(u) + "/remove", "1") }
        let removeAll = (Self.now() - t0) / 1e6
        return ScaleResult(
            type: type, reached: uuids.count, requested: count, blockSize: blockSize,
            blockMedianMicros: medians, kernelMemoryKiB: memory, kernelMemoryBaseKiB: base,
            bytesPerVdev: uuids.isEmpty ? 0 : Double(full - base) * 1024 / Double(uuids.count),
            memFreeBytesPerVdev: uuids.isEmpty ? nil : Double(freeBase - freeFull) * 1024 / Double(uuids.count),
            hdiovListJSONMillis: timings["hdiov"], mdevctlListMillis: timings["mdevctl"],
            removeAllSeconds: removeAll)
    }
}
