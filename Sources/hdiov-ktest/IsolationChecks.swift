import CHDIOVShim
import Foundation
import HDIOVSpec
import HDIOVSysfs
import HDIOVVFIO

/// Contract section 8 against the real engine: quiescing, all-or-nothing faults, full CQs
/// and tenants. Each check fails on the first engine (vfio_dma_rw() from a shared kthread):
/// a disable returned with DMA still in flight, a destination was written up to the page
/// that faulted, a full CQ was polled without pause, and a userfaultfd-backed page stalled
/// every VDEV of the thread. Every wait is bounded, so a stalling engine fails a check
/// instead of hanging the suite.
struct IsolationChecks {
    let suite: KernelSuite
    let uuid: String
    let type: MdevTypeSpec

    var spec: DeviceSpec { suite.spec }
    var harness: Harness { suite.harness }

    static let sqIOVA: UInt64 = 0x1000_0000
    static let cqIOVA: UInt64 = 0x2000_0000
    static let srcIOVA: UInt64 = 0x4000_0000
    static let dstIOVA: UInt64 = 0x8000_0000
    static let page = Int(sysconf(Int32(_SC_PAGESIZE)))

    func run() {
        var dev: VFIODevice?
        var maxXfer = 0
        harness.check("isolation: open; MAX_XFER and MAX_RING in BAR0 match the spec") {
            let d = try VFIODevice(uuid: uuid)
            dev = d
            let bar0 = try d.regionInfo(.bar0)
            maxXfer = Int(try d.read32(bar0, at: HDIOVReg.maxXfer))
            try expectEqual(maxXfer, spec.maxXfer, "MAX_XFER")
            try expectEqual(Int(try d.read32(bar0, at: HDIOVReg.maxRing)), spec.maxRing, "MAX_RING")
            try expect(spec.maxRing >= 64, "MAX_RING \(spec.maxRing): these checks need rings of 64")
        }
        guard let dev, maxXfer > 0, spec.maxRing >= 64 else { dev?.close(); return }
        quiesce(dev, maxXfer: maxXfer)
        allOrNothing(dev, maxXfer: maxXfer)
        fullCQ(dev)
        dev.close()
        // Last: on an engine that stalls, this one leaves it wedged until the userfaultfd goes.
        tenants(maxXfer: maxXfer)
    }

    // MARK: Quiesce

    /// Once a trapped write that disables the QP (QP_CTRL), the device (DEV_CTRL) or bus
    /// mastering (COMMAND) returns, the engine writes no further byte and no further
    /// completion; what SQ_HEAD/CQ_TAIL say was completed is in the CQ, and nothing else.
    func quiesce(_ dev: VFIODevice, maxXfer: Int) {
        let n = 32
        harness.check("quiesce: disable while \(n) x \(Self.size(maxXfer)) COPYs are in flight") {
            let bar0 = try dev.regionInfo(.bar0)
            let src = try dev.mapDMA(size: maxXfer, iova: Self.srcIOVA)
            memset(src.pointer, 0x3c, src.size)
            // Distinct destinations: any late write of any descriptor shows.
            let dst = try dev.mapDMA(size: n * maxXfer, iova: Self.dstIOVA)
            let q = try QueuePair(device: dev, index: 0, ringSize: 64, sqIOVA: Self.sqIOVA, cqIOVA: Self.cqIOVA,
                                  doorbells: nil)
            defer {
                // Reset first: Bus Master set again would let the QP resume.
                try? q.setRegister(HDIOVReg.qpCtrl, HDIOVBits.qpReset)
                try? dev.setBusMaster(true)
            }
            let disables: [(name: String, write: () throws -> Void)] = [
                ("QP_CTRL=0", {
                    try q.setRegister(HDIOVReg.qpCtrl, 0)
                    try expectEqual(try q.status & HDIOVBits.qpEnabled, 0, "QP_STATUS.ENABLED after QP_CTRL=0")
                }),
                ("DEV_CTRL=0", {
                    try dev.write32(bar0, at: HDIOVReg.devCtrl, 0)
                    try expectEqual(try dev.read32(bar0, at: HDIOVReg.devStatus) & HDIOVBits.devEnabled, 0,
                                    "DEV_STATUS.ENABLED after DEV_CTRL=0")
                }),
                ("Bus Master cleared", { try dev.setBusMaster(false) }),
            ]
            var summary: [String] = []
            for (name, disable) in disables {
                try dev.setBusMaster(true)
                try q.program()  // QP reset, then enabled again (and the device, if DEV_CTRL=0 disabled it)
                memset(dst.pointer, 0xee, dst.size)
                try q.submit((0..<n).map {
                    .copy(src: src.iova, dst: dst.iova + UInt64($0 * maxXfer), length: maxXfer, cookie: UInt64($0))
                })
                // Disable once the engine is at work: its first completion is out.
                let deadline = Date().addingTimeInterval(20)
                while q.peek(0) == nil && Date() < deadline { usleep(100) }
                try expect(q.peek(0) != nil, "\(name): no completion within 20 s of the submission")
                try disable()
                let sqHead = try q.register(HDIOVReg.sqHead), cqTail = try q.register(HDIOVReg.cqTail)
                let dstThen = Self.snapshot(dst), cqThen = Self.snapshot(q.cq)
                try expectEqual(sqHead, cqTail, "\(name): SQ_HEAD and CQ_TAIL")
                var ok = 0, aborted = 0
                for p in 0..<UInt32(n) {
                    let c = q.peek(p)
                    guard p < cqTail else {
                        try expect(c == nil, "\(name): completion \(p) written beyond CQ_TAIL \(cqTail)")
                        continue
                    }
                    guard let c else { throw Harness.Failure(description: "\(name): completion \(p) missing below CQ_TAIL \(cqTail)") }
                    try expectEqual(c.cookie, UInt64(p), "\(name): cookie of completion \(p)")
                    if c.status == .aborted {
                        aborted += 1
                    } else {
                        try expect(c.status == .ok, "\(name): completion \(p) status \(c.rawStatus), expected OK or ABORTED")
                        try expect(memcmp(dst.pointer + Int(p) * maxXfer, src.pointer, maxXfer) == 0,
                                   "\(name): COPY \(p) completed OK but its destination differs from the source")
                        ok += 1
                    }
                }
                // ABORTED ones were consumed but not done when the disable came.
                try expect(ok < n, "\(name): all \(n) COPYs completed OK before the disable: nothing was in flight")
                // Nothing moves afterwards.
                usleep(200_000)
                try expectEqual(try q.register(HDIOVReg.sqHead), sqHead, "\(name): SQ_HEAD 200 ms after the disable")
                try expectEqual(try q.register(HDIOVReg.cqTail), cqTail, "\(name): CQ_TAIL 200 ms after the disable")
                if let i = Self.firstDifference(dstThen, dst.pointer) {
                    throw Harness.Failure(description: "\(name): destination byte \(i) (COPY \(i / maxXfer)) changed after the disable")
                }
                if let i = Self.firstDifference(cqThen, q.cq.pointer) {
                    throw Harness.Failure(description: "\(name): CQ byte \(i) (entry \(i / HDIOVBits.cqeSize)) changed after the disable")
                }
                summary.append("\(name): \(ok) OK + \(aborted) ABORTED")
            }
            print("     quiesce, \(n) submitted: " + summary.joined(separator: "; "))
        }
    }

    // MARK: All or nothing

    /// A descriptor that completes with DMA_FAULT writes no byte: a destination that runs from
    /// mapped into unmapped IOVA, one mapped read-only, one that runs from writable into
    /// read-only memory, and destinations whose second half is unmapped while the engine runs.
    func allOrNothing(_ dev: VFIODevice, maxXfer: Int) {
        harness.check("all or nothing: a faulting COPY writes no byte") {
            let chunk = 64 << 10
            try expect(maxXfer >= 2 * Self.page, "MAX_XFER \(maxXfer): a range across two pages needs 2 pages")
            let len = min(maxXfer, chunk)  // crosses from the last page of one mapping into the next
            let src = try dev.mapDMA(size: len, iova: Self.srcIOVA)
            memset(src.pointer, 0x3c, src.size)
            let w1 = try dev.mapDMA(size: chunk, iova: Self.dstIOVA)  // unmapped after it
            let w2 = try dev.mapDMA(size: chunk, iova: Self.dstIOVA + 0x100_0000)
            let ro = try dev.mapDMA(size: chunk, iova: w2.iova + UInt64(chunk), writable: false)  // right after w2
            let q = try QueuePair(device: dev, index: 0, ringSize: 64, sqIOVA: Self.sqIOVA, cqIOVA: Self.cqIOVA,
                                  doorbells: nil)
            defer { try? q.setRegister(HDIOVReg.qpCtrl, HDIOVBits.qpReset) }
            let canary: UInt8 = 0xa5
            for b in [w1, w2, ro] { memset(b.pointer, Int32(canary), b.size) }
            let tail = UInt64(chunk - Self.page)  // the last page of a mapping
            let cases: [(String, UInt64, Int)] = [
                ("mapped into unmapped IOVA", w1.iova + tail, len),
                ("read-only", ro.iova, len),
                ("writable into read-only", w2.iova + tail, len),
            ]
            var descriptors: [Descriptor] = []
            for (k, (_, dst, length)) in cases.enumerated() {
                descriptors.append(.copy(src: src.iova, dst: dst, length: length, cookie: UInt64(2 * k)))
                descriptors.append(.fill(dst: dst, length: length, pattern: 0x0102_0304_0506_0708, cookie: UInt64(2 * k + 1)))
            }
            let c = try q.run(descriptors)
            for (k, (name, _, _)) in cases.enumerated() {
                try expectEqual(c[2 * k].status, .dmaFault, "COPY \(name)")
                try expectEqual(c[2 * k + 1].status, .dmaFault, "FILL \(name)")
            }
            for (name, b) in [("first writable", w1), ("second writable", w2), ("read-only", ro)] {
                if let i = Self.firstByte(b.pointer, b.size, notEqualTo: canary) {
                    throw Harness.Failure(description: "byte \(i) of the \(name) mapping changed by a faulting descriptor")
                }
            }

            // Unmaps racing the transfers: FILL k runs across pair k's boundary; the second
            // halves are unmapped while the engine works. Each FILL wrote all of its range
            // (OK) or none of it (DMA_FAULT).
            let n = 32, half = chunk / 2
            let pairs = try (0..<n).map { k -> (DMABuffer, DMABuffer) in
                let at = Self.dstIOVA + 0x1000_0000 + UInt64(k) << 20
                return (try dev.mapDMA(size: chunk, iova: at), try dev.mapDMA(size: chunk, iova: at + UInt64(chunk)))
            }
            for (a, b) in pairs { memset(a.pointer, Int32(canary), a.size); memset(b.pointer, Int32(canary), b.size) }
            try q.program()
            try q.submit((0..<n).map { k in
                .fill(dst: pairs[k].0.iova + UInt64(half), length: chunk, pattern: 0x0101_0101_0101_0101 &* UInt64(k + 1),
                      cookie: UInt64(k))
            })
            let deadline = Date().addingTimeInterval(20)
            while q.peek(0) == nil && Date() < deadline { usleep(100) }
            for (_, b) in pairs.reversed() { b.unmap() }
            let fills = try q.wait(count: n, timeout: 30)
            var ok = 0
            for (k, f) in fills.enumerated() {
                let (a, b) = pairs[k]
                let want: UInt8
                switch f.status {
                case .ok: want = UInt8(k + 1); ok += 1
                case .dmaFault: want = canary
                default: throw Harness.Failure(description: "FILL \(k) racing an unmap: status \(f.rawStatus)")
                }
                try expectEqual(f.cookie, UInt64(k), "cookie of FILL \(k)")
                // Its range: the second half of a, the first half of b.
                for (part, p, range) in [("mapped", a.pointer, half..<chunk), ("unmapped", b.pointer, 0..<half)] {
                    if let i = Self.firstByte(p + range.lowerBound, range.count, notEqualTo: want) {
                        throw Harness.Failure(description: "FILL \(k) racing an unmap, status \(f.rawStatus): byte \(range.lowerBound + i) "
                            + "of its \(part) half is not \(want): written in part")
                    }
                }
                for (p, range) in [(a.pointer, 0..<half), (b.pointer, half..<chunk)] {
                    if let i = Self.firstByte(p + range.lowerBound, range.count, notEqualTo: canary) {
                        throw Harness.Failure(description: "FILL \(k) wrote byte \(range.lowerBound + i) of a mapping outside its range")
                    }
                }
            }
            print("     unmap race: \(ok) FILLs OK, \(n - ok) DMA_FAULT, none written in part")
        }
    }

    // MARK: Full CQ

    /// A QP whose CQ is full costs the engine nothing until CQ_HEAD moves: the engine
    /// kthreads' CPU time (utime + stime) over one second stays under 50 ms.
    func fullCQ(_ dev: VFIODevice) {
        harness.check("full CQ: the engine costs nothing") {
            let pids = Self.enginePIDs(module: spec.module)
            try expect(!pids.isEmpty, "no engine kthreads named \(spec.module)/N in /proc")
            let ring = 8
            let q = try QueuePair(device: dev, index: 0, ringSize: ring, sqIOVA: Self.sqIOVA, cqIOVA: Self.cqIOVA,
                                  doorbells: nil)
            defer { try? q.setRegister(HDIOVReg.qpCtrl, HDIOVBits.qpReset) }
            try q.submit((0..<ring).map { .nop(cookie: UInt64($0)) })
            let deadline = Date().addingTimeInterval(10)
            while try q.register(HDIOVReg.cqTail) < UInt32(ring) && Date() < deadline { usleep(1000) }
            // `ring` more in the consumed SQ slots, none reaped: the CQ is full.
            for i in 0..<ring { Descriptor.nop(cookie: UInt64(ring + i)).store(to: q.sq.pointer + i * HDIOVBits.sqeSize) }
            hdiov_mb()
            try dev.write32(q.bar2, at: UInt64(q.index * HDIOVBits.doorbellPage + HDIOVBits.dbSQTail), UInt32(2 * ring))
            usleep(100_000)  // the engine finds the CQ full and settles
            let before = Self.cpuTicks(pids), start = Date()
            usleep(1_000_000)
            let ticks = Self.cpuTicks(pids) - before, elapsed = Date().timeIntervalSince(start)
            let ms = Double(ticks) * 1000 / Double(sysconf(Int32(_SC_CLK_TCK)))
            print(String(format: "     full CQ: %d engine kthread(s) used %.0f ms of CPU in %.2f s", pids.count, ms, elapsed))
            try expect(ms < 50, "the engine used \(ms) ms of CPU in \(elapsed) s with only a full CQ to serve")
            try expectEqual(try q.register(HDIOVReg.cqTail), UInt32(ring), "CQ_TAIL while the CQ is full")
            // Reap: the rest complete once CQ_HEAD moves.
            try expectEqual(try q.reap().map(\.cookie), (0..<ring).map { UInt64($0) }, "the first \(ring) completions")
            let more = Date().addingTimeInterval(5)
            while (0..<ring).contains(where: { q.peek(UInt32(ring + $0)) == nil }) && Date() < more { usleep(1000) }
            let rest = (0..<ring).compactMap { q.peek(UInt32(ring + $0)) }
            try expectEqual(rest.map(\.cookie), (ring..<2 * ring).map { UInt64($0) }, "completions after CQ_HEAD moved")
            try expect(rest.allSatisfy { $0.status == .ok }, "statuses \(rest.map(\.rawStatus))")
            try expectEqual(try q.register(HDIOVReg.cqTail), UInt32(2 * ring), "CQ_TAIL after CQ_HEAD moved")
        }
    }

    // MARK: Tenants

    /// VDEV A copies from memory whose pages a userfaultfd never serves; VDEVs B (on the other
    /// parent, one per engine thread, so one shares A's thread: VDEVs join threads round robin
    /// as they open) each complete NOPs within 100 ms and close within 1 s. Then A's
    /// userfaultfd is closed, which lets anything waiting on its pages go, and A closes.
    func tenants(maxXfer: Int) {
        // A kernel without CONFIG_USERFAULTFD (the debug kernel's defconfig) cannot stage this.
        let probe = hdiov_uffd_open()
        if probe == -ENOSYS {
            print("skip \(harness.prefix)tenants: a userfaultfd-stalled VDEV does not stall another "
                  + "(this kernel has no userfaultfd)")
            return
        }
        if probe >= 0 { close(probe) }
        harness.check("tenants: a userfaultfd-stalled VDEV does not stall another") {
            let t = spec.types.first { !$0.isFlex && $0.initialQueuePairs == 1 } ?? type
            let threads = max(Self.enginePIDs(module: spec.module).count, 1)
            let otherParent = spec.parentNames.count > 1 ? spec.parentNames[1] : suite.parent
            var created: [String] = [], open: [Tenant] = [], stuck: Set<String> = []
            var uffd: UserfaultMemory?
            defer {
                // Whatever happened: A's memory goes, open VDEVs close (bounded), closed ones go.
                uffd?.release()
                for v in open where v.shutDown().wait(5) == nil { stuck.insert(v.uuid) }
                for u in created where !stuck.contains(u) { try? suite.remove(u) }
            }
            func create(on parent: String) throws -> String {
                let u = UUID().uuidString.lowercased()
                try SysfsFile.write(suite.env.type(parent, "\(spec.module)-\(t.id)") + "/create", u)
                created.append(u)
                return u
            }
            let a = try Tenant(uuid: try create(on: suite.parent))
            open.append(a)
            let bs = try (0..<threads).map { _ in try Tenant(uuid: try create(on: otherParent)) }
            open += bs
            let len = min(maxXfer, 64 << 10), copies = 4
            let memory = try UserfaultMemory(container: a.dev.container, size: copies * len, iova: Self.srcIOVA)
            uffd = memory
            let dst = try a.dev.mapDMA(size: len, iova: Self.dstIOVA)
            a.buffers.append(dst)
            for v in [a] + bs { try expectEqual(try v.q.run([.nop(cookie: 7)], timeout: 10)[0].cookie, 7, "NOP of \(v.uuid)") }

            // A stalls: COPYs from the userfaultfd memory. Wait until they are underway: a fault
            // is pending, or (an engine that never touches such a page) A has a completion.
            try a.q.submit((0..<copies).map {
                .copy(src: memory.iova + UInt64($0 * len), dst: dst.iova, length: len, cookie: UInt64($0))
            })
            var faults = 0
            let underway = Date().addingTimeInterval(1)
            while faults == 0 && a.q.peek(0) == nil && Date() < underway {
                if memory.pendingFault() != nil { faults += 1 }
                usleep(1000)
            }

            var problems: [String] = []
            // B's NOPs, one at a time, each bounded.
            let perB = 20, limit = 0.1
            let nops = BoundedThread { () throws -> Double in
                var worst = 0.0
                for (i, b) in bs.enumerated() {
                    for k in 0..<perB {
                        let start = Date()
                        try b.q.submit([.nop(cookie: UInt64(k))])
                        let c = try b.q.wait(count: 1, timeout: 0.5)
                        try expectEqual(c[0].cookie, UInt64(k), "cookie of NOP \(k) of B\(i)")
                        worst = max(worst, Date().timeIntervalSince(start))
                        usleep(5000)
                    }
                }
                return worst
            }
            var nopWorst = Double.nan
            switch nops.wait(Double(perB * threads) * 0.6 + 5) {
            case nil: problems.append("B's NOPs did not finish")
            case .failure(let e)?: problems.append("B's NOPs: \(e)")
            case .success(let worst)?:
                nopWorst = worst
                if worst >= limit { problems.append(String(format: "a NOP of B took %.1f ms (limit 100 ms)", worst * 1000)) }
            }
            faults += memory.pendingFault() != nil ? 1 : 0
            // B closes.
            var closeWorst = 0.0
            let closing = bs.map { ($0, $0.shutDown()) }
            open.removeAll { v in bs.contains { $0 === v } }
            for (b, c) in closing {
                if case .success(let s)? = c.wait(1) {
                    closeWorst = max(closeWorst, s)
                } else {
                    problems.append("B \(b.uuid) did not close within 1 s")
                    stuck.insert(b.uuid)
                }
            }
            // A's userfaultfd goes: whatever waited on its pages goes on; A completes and closes.
            memory.release()
            for (b, c) in closing where stuck.contains(b.uuid) && c.wait(10) != nil { stuck.remove(b.uuid) }
            _ = nops.wait(10)
            var statuses = "none"
            do {
                statuses = try a.q.wait(count: copies, timeout: 10)
                    .map { c in c.status.map { "\($0)" } ?? "\(c.rawStatus)" }.joined(separator: ",")
            } catch {
                problems.append("A after its userfaultfd closed: \(error)")
            }
            memory.unmap()
            open.removeAll { $0 === a }
            if a.shutDown().wait(10) == nil {
                problems.append("A did not close within 10 s of its userfaultfd closing")
                stuck.insert(a.uuid)
            }
            print(String(format: "     tenants: %d B VDEV(s), %d NOPs each: worst %.2f ms; B close worst %.1f ms; ",
                         threads, perB, nopWorst * 1000, closeWorst * 1000)
                + "A's COPYs: \(statuses); userfaultfd faults seen: \(faults)")
            try expect(problems.isEmpty, problems.joined(separator: "; "))
        }
    }

    // MARK: Helpers

    static func size(_ bytes: Int) -> String {
        bytes % (1 << 20) == 0 ? "\(bytes >> 20) MiB" : bytes % 1024 == 0 ? "\(bytes >> 10) KiB" : "\(bytes) B"
    }

    /// A copy of a buffer's bytes.
    static func snapshot(_ b: DMABuffer) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: b.size) { out, n in
            memcpy(out.baseAddress!, b.pointer, b.size)
            n = b.size
        }
    }

    /// The first offset where `count` bytes at `p` are not `value`.
    static func firstByte(_ p: UnsafeRawPointer, _ count: Int, notEqualTo value: UInt8) -> Int? {
        (0..<count).first { p.load(fromByteOffset: $0, as: UInt8.self) != value }
    }

    /// The first offset where memory at `p` differs from `snapshot`.
    static func firstDifference(_ snapshot: [UInt8], _ p: UnsafeRawPointer) -> Int? {
        guard snapshot.withUnsafeBytes({ memcmp($0.baseAddress!, p, $0.count) }) != 0 else { return nil }
        return snapshot.indices.first { snapshot[$0] != p.load(fromByteOffset: $0, as: UInt8.self) }
    }

    /// The engine kthreads: `<module>/<n>` in /proc/<pid>/comm.
    static func enginePIDs(module: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            guard let comm = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) else { return false }
            let name = comm.trimmingCharacters(in: .whitespacesAndNewlines)
            guard name.hasPrefix(module + "/") else { return false }
            let rest = name.dropFirst(module.count + 1)
            return !rest.isEmpty && rest.allSatisfy(\.isNumber)
        }.sorted()
    }

    /// utime + stime of `pids` in clock ticks (fields 14 and 15 of /proc/<pid>/stat).
    static func cpuTicks(_ pids: [Int32]) -> Int {
        pids.reduce(0) { sum, pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return sum }
            // After "pid (comm)": field 3 (state) is index 0, so utime and stime are 11 and 12.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 12, let u = Int(fields[11]), let s = Int(fields[12]) else { return sum }
            return sum + u + s
        }
    }
}

/// An open VDEV with QP 0 programmed (rings of 8, trapped doorbell) and the DMA buffers it uses.
private final class Tenant {
    let uuid: String
    let dev: VFIODevice
    let q: QueuePair
    var buffers: [DMABuffer] = []

    init(uuid: String) throws {
        self.uuid = uuid
        dev = try VFIODevice(uuid: uuid)
        do {
            q = try QueuePair(device: dev, index: 0, ringSize: 8, sqIOVA: IsolationChecks.sqIOVA,
                              cqIOVA: IsolationChecks.cqIOVA, doorbells: nil)
        } catch {
            dev.close()
            throw error
        }
    }

    /// On a thread of its own: unmap the buffers (while the container is still open), then close
    /// the device. Its result is the time close took, in seconds.
    func shutDown() -> BoundedThread<Double> {
        BoundedThread { [self] in
            for b in buffers + [q.sq, q.cq] { b.unmap() }
            let start = Date()
            dev.close()
            return Date().timeIntervalSince(start)
        }
    }
}

/// Anonymous memory registered with a userfaultfd in missing mode and mapped at `iova` in a
/// container. Nothing serves its faults: whatever touches a page waits until `release()`
/// closes the userfaultfd (then the page faults in as zeros). This process never touches it.
private final class UserfaultMemory {
    let pointer: UnsafeMutableRawPointer
    let size: Int
    let iova: UInt64
    private let container: Int32
    private var fd: Int32
    private var mapped = true

    init(container: Int32, size: Int, iova: UInt64) throws {
        let rounded = (size + IsolationChecks.page - 1) / IsolationChecks.page * IsolationChecks.page
        guard let p = mmap(nil, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            throw Harness.Failure(description: "mmap \(rounded) bytes: \(String(cString: strerror(errno)))")
        }
        let fd = hdiov_uffd_open()
        var r = fd < 0 ? fd : hdiov_uffd_register_missing(fd, p, UInt64(rounded))
        let what = fd < 0 ? "userfaultfd" : r < 0 ? "UFFDIO_REGISTER" : "VFIO_IOMMU_MAP_DMA"
        if r == 0 { r = hdiov_vfio_dma_map(container, p, iova, UInt64(rounded)) }
        if r < 0 {
            if fd >= 0 { close(fd) }
            munmap(p, rounded)
            throw Harness.Failure(description: "\(what): \(String(cString: strerror(-r)))")
        }
        self.pointer = p
        self.size = rounded
        self.iova = iova
        self.container = container
        self.fd = fd
    }

    /// A fault waiting on this memory, taken from the userfaultfd and left unserved: its address.
    func pendingFault() -> UInt64? {
        var address: UInt64 = 0
        return fd >= 0 && hdiov_uffd_read_fault(fd, &address) == 1 ? address : nil
    }

    /// Close the userfaultfd: every fault waiting on this memory resolves.
    func release() {
        if fd >= 0 { close(fd); fd = -1 }
    }

    /// Unmap from the IOVA space (call while the container is open).
    func unmap() {
        if mapped { _ = hdiov_vfio_dma_unmap(container, iova, UInt64(size)); mapped = false }
    }

    deinit {
        release()
        munmap(pointer, size)
    }
}

/// `body` on a thread of its own, so that a call that blocks in the kernel cannot hang the
/// suite: `wait` gives up after a timeout (the thread goes on, and a later `wait` can still
/// collect the result).
final class BoundedThread<T>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var body: (() throws -> T)?
    private var result: Result<T, Error>?

    init(_ body: @escaping () throws -> T) {
        self.body = body
        Thread.detachNewThread { [self] in
            let r = Result { try self.body!() }
            self.body = nil  // what it captured goes with it
            result = r
            done.signal()  // publishes `result` to the waiter
        }
    }

    /// The result, or nil when the body has not returned within `timeout` seconds.
    func wait(_ timeout: Double) -> Result<T, Error>? {
        guard done.wait(timeout: .now() + timeout) == .success else { return nil }
        done.signal()  // for the next wait
        return result
    }
}
