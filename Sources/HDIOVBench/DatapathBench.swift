import Foundation
import HDIOVModules
import HDIOVSysfs
import HDIOVVFIO

/// One VDEV opened for the data-path benchmarks: created, opened, QP 0 programmed,
/// `bufferSize` bytes of source and destination DMA memory.
final class BenchVDEV {
    let uuid: String
    let env: SysfsEnvironment
    let dev: VFIODevice
    let doorbells: UnsafeMutableRawPointer
    let doorbellSize: Int
    let qp: QueuePair
    let src: DMABuffer
    let dst: DMABuffer
    private var closed = false

    static let sqIOVA: UInt64 = 0x1000_0000, cqIOVA: UInt64 = 0x2000_0000
    static let srcIOVA: UInt64 = 0x4000_0000, dstIOVA: UInt64 = 0x8000_0000

    init(env: SysfsEnvironment, parent: String, type: String, ringSize: Int, bufferSize: Int) throws {
        let u = UUID().uuidString.lowercased()
        try SysfsFile.write(env.type(parent, type) + "/create", u)
        uuid = u
        self.env = env
        do {
            dev = try VFIODevice(uuid: u)
        } catch {
            try? SysfsFile.write(env.device(u) + "/remove", "1")
            throw error
        }
        do {
            doorbellSize = HDIOVBits.doorbellPage
            doorbells = try dev.map(try dev.regionInfo(.bar2), size: doorbellSize)
            src = try dev.mapDMA(size: bufferSize, iova: Self.srcIOVA)
            dst = try dev.mapDMA(size: bufferSize, iova: Self.dstIOVA)
            qp = try QueuePair(device: dev, index: 0, ringSize: ringSize, sqIOVA: Self.sqIOVA, cqIOVA: Self.cqIOVA,
                               doorbells: doorbells)
        } catch {
            dev.close()
            try? SysfsFile.write(env.device(u) + "/remove", "1")
            throw error
        }
    }

    /// Unmap the DMA memory before the container closes (its fd number may be reused),
    /// close the device, remove the VDEV.
    func close() {
        guard !closed else { return }
        closed = true
        qp.sq.unmap(); qp.cq.unmap(); src.unmap(); dst.unmap()
        munmap(doorbells, doorbellSize)
        dev.close()
        try? SysfsFile.write(env.device(uuid) + "/remove", "1")
    }

    deinit { close() }
}

/// A queue pair kept busy: descriptor `n` of the stream is `make(n)`.
struct BenchStream {
    let qp: QueuePair
    let make: (Int) -> Descriptor
    var next = 0
    var outstanding = 0
}

/// The data-path measurements of `hdiov bench datapath`, in the guest, module loaded.
public struct DatapathBench {
    public let env: SysfsEnvironment
    public let parent: String
    public let type: String
    public var repeats: Int
    public var seconds: Double
    public var log: (String) -> Void

    public init(env: SysfsEnvironment = SysfsEnvironment(), parent: String, type: String, repeats: Int = 5,
                seconds: Double = 0.5, log: @escaping (String) -> Void = { _ in }) {
        self.env = env; self.parent = parent; self.type = type
        self.repeats = repeats; self.seconds = seconds; self.log = log
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Keep every stream's ring fed with batches of `batch` (at most `inFlight` descriptors
    /// outstanding each) for `seconds`, then drain. Returns completions and the elapsed
    /// time including the drain; any completion that is not OK is an error.
    static func drive(_ streams: inout [BenchStream], batch: Int, inFlight: Int, seconds: Double) throws
        -> (completed: Int, elapsed: Double, doorbellMicros: [Double]) {
        let t0 = now()
        var doorbell: [Double] = []
        let deadline = t0 + seconds
        var completed = 0
        var stopping = false
        while true {
            if !stopping && now() >= deadline { stopping = true }
            var progress = false
            for i in streams.indices {
                let got = try streams[i].qp.reap()
                if !got.isEmpty {
                    if let bad = got.first(where: { $0.rawStatus != 0 }) {
                        throw DataPathError("completion \(bad.cookie): status \(bad.status.map { "\($0)" } ?? "\(bad.rawStatus)")")
                    }
                    completed += got.count
                    streams[i].outstanding -= got.count
                    progress = true
                }
                if !stopping && streams[i].qp.space >= batch && streams[i].outstanding + batch <= inFlight {
                    var ds: [Descriptor] = []
                    ds.reserveCapacity(batch)
                    for k in 0..<batch { ds.append(streams[i].make(streams[i].next + k)) }
                    try streams[i].qp.enqueue(ds)
                    let s0 = now()
                    try streams[i].qp.ring()
                    doorbell.append((now() - s0) * 1e6)
                    streams[i].next += batch
                    streams[i].outstanding += batch
                    progress = true
                }
            }
            if stopping && streams.allSatisfy({ $0.outstanding == 0 }) { break }
            if stopping && now() > deadline + 60 {
                throw DataPathError("\(streams.map(\.outstanding).reduce(0, +)) descriptors not completed 60 s after the run")
            }
            if !progress { sched_yield() }
        }
        return (completed, now() - t0, doorbell)
    }

    /// (a) NOPs in batches of `batch`, SQ_TAIL through the mmap'd doorbell vs a trapped pwrite.
    public func doorbell(batch: Int = 32, ringSize: Int = 256) throws -> DoorbellResult {
        let v = try BenchVDEV(env: env, parent: parent, type: type, ringSize: ringSize, bufferSize: 4096)
        defer { v.close() }
        var fast: [Double] = [], slow: [Double] = []
        var kicks = 0, batches = 0
        var fastRing: [Double] = [], slowRing: [Double] = []
        // Alternate the two, so drift in the machine's load hits both alike.
        for r in 0..<(repeats + 1) {
            for trapped in [false, true] {
                v.qp.trapped = trapped
                let k0 = v.qp.kicks
                var s = [BenchStream(qp: v.qp, make: { .nop(cookie: UInt64($0)) })]
                let (n, t, ring) = try Self.drive(&s, batch: batch, inFlight: ringSize, seconds: seconds)
                if r == 0 { continue }  // warm-up
                _ = ring
                if trapped { slow.append(Double(n) / t) } else {
                    fast.append(Double(n) / t)
                    kicks += v.qp.kicks - k0
                    batches += n / batch
                }
            }
        }
        v.qp.trapped = false
        // The doorbell alone: SQ_TAIL rewritten with its current value in a tight loop (no new
        // descriptors), through the mapping vs trapped; µs per write.
        for r in 0..<(repeats + 1) {
            for trapped in [false, true] {
                var n = 0
                let t0 = Self.now()
                var t = t0
                repeat {
                    for _ in 0..<256 { try v.qp.writeTail(trapped: trapped) }
                    n += 256
                    t = Self.now()
                } while t - t0 < seconds / 4
                if r == 0 { continue }
                if trapped { slowRing.append((t - t0) / Double(n) * 1e6) } else { fastRing.append((t - t0) / Double(n) * 1e6) }
            }
        }
        return DoorbellResult(batch: batch, ringSize: ringSize, mmapDescPerSec: Summary(fast),
                              trappedDescPerSec: Summary(slow), mmapKicks: kicks, mmapBatches: batches,
                              mmapDoorbellMicros: Summary(fastRing), trappedDoorbellMicros: Summary(slowRing))
    }

    /// memcpy of `size` bytes at rotating offsets over `area` bytes, MiB/s for `seconds`.
    static func memcpyRate(_ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, size: Int, area: Int, seconds: Double) -> Double {
        let slots = max(area / size, 1)
        var n = 0
        let t0 = now()
        var t = t0
        repeat {
            for _ in 0..<max(1, (1 << 20) / size) {
                let off = (n % slots) * size
                memcpy(dst + off, src + off, size)
                n += 1
            }
            t = now()
        } while t - t0 < seconds
        return Double(n) * Double(size) / 1_048_576 / (t - t0)
    }

    /// (b) COPY throughput per size vs memcpy of the same sizes in the guest.
    public func copy(sizes: [Int] = [4096, 65536, 1 << 20], ringSize: Int = 64) throws -> [CopyResult] {
        let area = 4 << 20
        let v = try BenchVDEV(env: env, parent: parent, type: type, ringSize: ringSize, bufferSize: area)
        defer { v.close() }
        for i in 0..<area { v.src.pointer.storeBytes(of: UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 7), toByteOffset: i, as: UInt8.self) }
        var out: [CopyResult] = []
        for size in sizes {
            let slots = max(area / size, 1)
            let batch = max(1, min(32, (256 << 10) / size))
            let inFlight = min(ringSize, max(batch * 4, 4))
            let src = v.src.iova, dst = v.dst.iova
            var dev: [Double] = [], mem: [Double] = []
            for r in 0..<(repeats + 1) {
                memset(v.dst.pointer, 0, area)
                var s = [BenchStream(qp: v.qp, make: { n in
                    let off = UInt64((n % slots) * size)
                    return .copy(src: src + off, dst: dst + off, length: size, cookie: UInt64(n))
                })]
                let (n, t, _) = try Self.drive(&s, batch: batch, inFlight: inFlight, seconds: seconds)
                let covered = min(n, slots) * size
                guard memcmp(v.src.pointer, v.dst.pointer, covered) == 0 else {
                    throw DataPathError("COPY \(size): destination differs from source")
                }
                let m = Self.memcpyRate(v.dst.pointer, v.src.pointer, size: size, area: area, seconds: seconds)
                if r == 0 { continue }
                dev.append(Double(n) * Double(size) / 1_048_576 / t)
                mem.append(m)
            }
            out.append(CopyResult(bytes: size, batch: batch, deviceMiBps: Summary(dev), memcpyMiBps: Summary(mem)))
            log("COPY \(size): device \(Summary(dev).median) MiB/s, memcpy \(Summary(mem).median) MiB/s")
        }
        return out
    }

    /// (c) COPY of `size` bytes over `vdevs` VDEVs of one QP each, one polling thread feeding all.
    public func aggregate(vdevs: Int, engineThreads: Int, size: Int = 65536, ringSize: Int = 64) throws -> AggregateResult {
        let (mib, rate) = try aggregateSamples(vdevs: vdevs, size: size, ringSize: ringSize)
        log("aggregate \(vdevs) VDEVs, \(engineThreads) engine threads: \(Summary(mib).median) MiB/s")
        return AggregateResult(vdevs: vdevs, engineThreads: engineThreads, bytes: size, MiBps: Summary(mib), descPerSec: Summary(rate))
    }

    /// MiB/s and descriptors/s of each run (after a warm-up run).
    func aggregateSamples(vdevs: Int, size: Int, ringSize: Int = 64) throws -> (mib: [Double], rate: [Double]) {
        let area = 1 << 20
        var devices: [BenchVDEV] = []
        defer { for d in devices { d.close() } }
        for _ in 0..<vdevs {
            devices.append(try BenchVDEV(env: env, parent: parent, type: type, ringSize: ringSize, bufferSize: area))
        }
        let slots = max(area / size, 1)
        let batch = max(1, min(32, (256 << 10) / size))
        let inFlight = min(ringSize, batch * 4)
        var mib: [Double] = [], rate: [Double] = []
        for r in 0..<(repeats + 1) {
            var streams = devices.map { d in
                let src = d.src.iova, dst = d.dst.iova
                return BenchStream(qp: d.qp, make: { n in
                    let off = UInt64((n % slots) * size)
                    return .copy(src: src + off, dst: dst + off, length: size, cookie: UInt64(n))
                })
            }
            let (n, t, _) = try Self.drive(&streams, batch: batch, inFlight: inFlight, seconds: seconds)
            if r == 0 { continue }
            mib.append(Double(n) * Double(size) / 1_048_576 / t)
            rate.append(Double(n) / t)
        }
        return (mib, rate)
    }

    /// The guest's CPU model and count, and the running kernel.
    public static func guestMachine() -> (machine: String, cpus: Int, kernel: String) {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
        let release = KernelModules.runningRelease()
        let cpus = ProcessInfo.processInfo.activeProcessorCount
        return ("\(cpus) vCPUs (\(model)), \(ProcessInfo.processInfo.physicalMemory >> 20) MiB", cpus, release)
    }

    /// The engine threads the loaded module runs with, from its parameter.
    public static func engineThreads(module: String) -> Int? {
        (try? String(contentsOfFile: "/sys/module/\(module)/parameters/engine_threads", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Everything: (a), (b), then (c) for each VDEV count with the module's engine threads, and
    /// with each of `reloadThreads` after `reload(n)` reloaded the module with n threads.
    public func all(module: String, vdevCounts: [Int] = [1, 4, 16], reloadThreads: [Int],
                    reload: (Int) -> Bool) throws -> DatapathResult {
        var notes: [String] = []
        let g = Self.guestMachine()
        log("doorbell: NOP batches of 32, mmap vs trapped")
        let db = try doorbell()
        log(String(format: "doorbell: mmap %.0f/s, trapped %.0f/s, %.2fx", db.mmapDescPerSec.median, db.trappedDescPerSec.median, db.ratio))
        let copies = try copy()
        // Engine thread counts in alternating passes (e.g. 1, 2, 1, 2), samples pooled: drift in
        // the host's load then hits every thread count alike.
        let current = Self.engineThreads(module: module) ?? 1
        let order = [current] + reloadThreads.filter { $0 != current }
        var samples: [Int: [Int: (mib: [Double], rate: [Double])]] = [:]
        var loaded = current
        var failed: Set<Int> = []
        let size = 65536
        for threads in (order.count > 1 ? order + order : order) where !failed.contains(threads) {
            if threads != loaded {
                guard reload(threads) else {
                    notes.append("could not reload \(module) with engine_threads=\(threads)")
                    failed.insert(threads)
                    continue
                }
                loaded = threads
            }
            for n in vdevCounts {
                let s = try aggregateSamples(vdevs: n, size: size)
                samples[threads, default: [:]][n, default: ([], [])].mib += s.mib
                samples[threads, default: [:]][n, default: ([], [])].rate += s.rate
                log(String(format: "aggregate %d VDEVs, %d engine threads: %.1f MiB/s", n, threads, Summary(s.mib).median))
            }
        }
        var agg: [AggregateResult] = []
        for threads in order {
            for n in vdevCounts {
                guard let s = samples[threads]?[n] else { continue }
                agg.append(AggregateResult(vdevs: n, engineThreads: threads, bytes: size, MiBps: Summary(s.mib), descPerSec: Summary(s.rate)))
            }
        }
        if order.count > 1 {
            notes.append("aggregate: engine thread counts measured in two alternating passes (\((order + order).map(String.init).joined(separator: ", "))), \(2 * repeats) runs pooled per number")
        } else if reloadThreads.isEmpty {
            notes.append("engine_threads other than \(current) not measured (no module path to reload)")
        }
        return DatapathResult(
            kernel: g.kernel, machine: g.machine, date: ISO8601DateFormatter().string(from: Date()),
            repeats: repeats, secondsPerRun: seconds, doorbell: db, copy: copies, aggregate: agg,
            guestCPUs: g.cpus, notes: notes)
    }
}
