import CHDIOVShim
import Foundation
import HDIOVSpec
import HDIOVSysfs
import HDIOVVFIO

/// VFIO migration v2 (contract section 10): a VDEV's state saved mid-traffic on one parent
/// and resumed on another, the client going on there; bad states refused; dirty pages.
struct MigrationChecks {
    let suite: KernelSuite
    let type: MdevTypeSpec

    var spec: DeviceSpec { suite.spec }
    var harness: Harness { suite.harness }
    var qps: Int { type.initialQueuePairs }

    static let srcIOVA: UInt64 = 0x4000_0000
    static let dstIOVA: UInt64 = 0x4800_0000
    static let bufSize = 4 << 20
    static let chunk = 8192
    static let ring = 256
    static let onA = 128, onB = 64
    static func sqIOVA(_ i: Int) -> UInt64 { 0x1000_0000 + UInt64(i) << 20 }
    static func cqIOVA(_ i: Int) -> UInt64 { 0x2000_0000 + UInt64(i) << 20 }

    /// Create a VDEV of `t` on parent `p` (index into the spec's parents).
    func create(_ t: MdevTypeSpec, parent p: Int) throws -> String {
        let uuid = UUID().uuidString.lowercased()
        try SysfsFile.write(suite.env.type(spec.parentNames[p], "\(spec.module)-\(t.id)") + "/create", uuid)
        return uuid
    }

    /// `body` must fail with EINVAL (any other error, or success, fails).
    func expectEINVAL(_ what: String, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch let e as VFIOError {
            try expectEqual(Errno.name(e.errno), Errno.name(EINVAL), what)
            return
        }
        throw Harness.Failure(description: "\(what) succeeded, expected EINVAL")
    }

    /// The kernel's version (major, minor).
    var kernel: (Int, Int) {
        let parts = sh("uname -r").output.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        return parts.count >= 2 ? (parts[0], parts[1]) : (0, 0)
    }

    /// The descriptors of QP `q`: COPY of `chunk` bytes to its own destination, every 8th a CRC32C.
    func descriptor(_ q: Int, _ k: Int) -> Descriptor {
        let cookie = UInt64(q) << 32 | UInt64(k)
        let srcOff = UInt64((q * 7919 + k * 4099) % (Self.bufSize - Self.chunk))
        if k % 8 == 7 {
            return .crc32c(src: Self.srcIOVA + srcOff, length: Self.chunk, cookie: cookie)
        }
        return .copy(src: Self.srcIOVA + srcOff, dst: Self.dstIOVA + UInt64((q * (Self.onA + Self.onB) + k) * Self.chunk),
                     length: Self.chunk, cookie: cookie)
    }

    /// `hdiov-ktest --only migration`: load the module, these checks, unload, dmesg.
    static func alone(_ suite: KernelSuite) {
        let fixed = suite.spec.types.first { !$0.isFlex && $0.initialQueuePairs > 1 } ?? suite.spec.types.first { !$0.isFlex }
        suite.harness.check("module loads") { try suite.loadModule() }
        if let fixed { MigrationChecks(suite: suite, type: fixed).run() }
        suite.harness.check("module unloads") {
            let r = sh("rmmod \(suite.spec.module)")
            try expect(r.status == 0, "rmmod: \(r.output)")
        }
        suite.harness.check("dmesg has no oops, WARN, BUG, GPF or hung task") { try suite.expectCleanDmesg() }
    }

    func run() {
        let types = spec.types.filter { !$0.isFlex }
        guard spec.parentNames.count >= 2, let small = types.first(where: { $0.initialQueuePairs == 1 }) else {
            harness.check("migration: needs two parents and a 1-QP type") {
                throw Harness.Failure(description: "spec has \(spec.parentNames.count) parents")
            }
            return
        }
        let big = types.max { $0.initialQueuePairs < $1.initialQueuePairs } ?? type
        var uuids: [String] = []
        var a: VFIODevice?, b: VFIODevice?
        defer {
            a?.close()
            b?.close()
            for u in uuids { try? suite.remove(u) }
        }
        harness.check("migration: VDEV A (\(type.id)) on \(spec.parentNames[0]), B on \(spec.parentNames[1]); STOP_COPY, P2P offered") {
            let ua = try create(type, parent: 0), ub = try create(type, parent: 1)
            uuids += [ua, ub]
            a = try VFIODevice(uuid: ua)
            b = try VFIODevice(uuid: ub)
            for d in [a!, b!] {
                let flags = try d.migrationFlags()
                try expect(flags.contains([.stopCopy, .p2p]), "migration flags 0x\(String(flags.rawValue, radix: 16))")
                try expectEqual(flags.contains(.preCopy), kernel >= (6, 2), "PRE_COPY offered (kernel \(kernel))")
                try expectEqual(try d.migrationState(), .running, "state after open")
                if let size = try d.migrationDataSize() {
                    try expectEqual(Int(size), MigrationFormat.size(qps: qps), "MIG_DATA_SIZE")
                } else {
                    try expect(kernel < (6, 3), "no MIG_DATA_SIZE on \(kernel)")
                }
            }
        }
        guard let a, let b else { return }

        // Guest memory: on A now, aliased into B before the resume.
        var buffers: [DMABuffer] = []
        var aliases: [DMAAlias] = []
        var queues: [MigratingQueue] = []
        let nq = min(qps, 2)
        var dbA: UnsafeMutableRawPointer?, dbB: UnsafeMutableRawPointer?
        defer {
            aliases = []
            queues = []
            buffers = []
            if let dbA { munmap(dbA, qps * HDIOVBits.doorbellPage) }
            if let dbB { munmap(dbB, qps * HDIOVBits.doorbellPage) }
        }
        var src: DMABuffer?, dst: DMABuffer?
        harness.check("migration: STOP quiesces (nothing runs, SQ_HEAD stays); RUNNING runs what waited") {
            src = try a.mapDMA(size: Self.bufSize, iova: Self.srcIOVA)
            dst = try a.mapDMA(size: Self.bufSize, iova: Self.dstIOVA)
            buffers += [src!, dst!]
            for i in 0..<src!.size { src!.pointer.storeBytes(of: UInt8.random(in: 0...255), toByteOffset: i, as: UInt8.self) }
            dbA = try a.map(try a.regionInfo(.bar2), size: qps * HDIOVBits.doorbellPage)
            for q in 0..<nq {
                let qp = try QueuePair(device: a, index: q, ringSize: Self.ring, sqIOVA: Self.sqIOVA(q),
                                       cqIOVA: Self.cqIOVA(q), doorbells: nil)
                buffers += [qp.sq, qp.cq]
                queues.append(MigratingQueue(qp, doorbells: dbA!))
            }
            let q0 = queues[0]
            try q0.submit([.nop(cookie: 0xa0)])
            try expectEqual(try q0.wait(count: 1).map(\.cookie), [0xa0], "NOP before STOP")
            try a.setMigrationState(.stop)
            try expectEqual(try a.migrationState(), .stop, "state")
            let head = try q0.register(HDIOVReg.sqHead)
            try q0.submit((0..<4).map { .nop(cookie: 0xb0 + UInt64($0)) })
            try a.write32(try a.regionInfo(.bar0), at: HDIOVReg.kick, 0)
            usleep(100_000)
            try expectEqual(try q0.register(HDIOVReg.sqHead), head, "SQ_HEAD in STOP")
            try expect(q0.peek(q0.cqHead) == nil, "a completion was written in STOP")
            try a.setMigrationState(.running)
            try expectEqual(try q0.wait(count: 4).map(\.cookie), (0..<4).map { 0xb0 + UInt64($0) }, "NOPs after RUNNING")
        }
        guard let src, let dst, queues.count == nq else { return }

        var state: [UInt8] = []
        var dirtyOK = false
        harness.check("migration: mid-traffic save of A (\(nq) QPs, COPY and CRC32C in flight); state is \(MigrationFormat.size(qps: qps)) bytes") {
            do {
                try a.startDirtyTracking()
                dirtyOK = true
            } catch {
                print("note: dirty tracking unavailable: \(error)")
            }
            for q in 0..<nq { try queues[q].submit((0..<Self.onA).map { descriptor(q, $0) }) }
            // At least one has completed (so the dirty check has pages), most are in flight.
            let deadline = Date().addingTimeInterval(10)
            while queues[0].peek(queues[0].cqHead) == nil && Date() < deadline { usleep(20) }
            state = try a.saveState()
            try expectEqual(try a.migrationState(), .stopCopy, "state")
            try expectEqual(state.count, MigrationFormat.size(qps: qps), "state size")
            try expectEqual(MigrationFormat.load32(state, MigrationFormat.magicOffset), MigrationFormat.magic, "magic")
            try expectEqual(Int(MigrationFormat.load32(state, MigrationFormat.nrQPsOffset)), qps, "QP count in the header")
            var check = state
            MigrationFormat.fixCRC(&check)
            try expectEqual(check, state, "CRC32C of the state")
            var inFlight = 0
            for q in 0..<nq {
                let rec = MigrationFormat.qpOffset(qps: qps, q)
                let head = MigrationFormat.load32(state, rec + MigrationFormat.qpSQHead)
                try expectEqual(MigrationFormat.load32(state, rec + MigrationFormat.qpSQTail), queues[q].sqTail, "QP \(q) SQ_TAIL in the state")
                try expectEqual(MigrationFormat.load32(state, rec + MigrationFormat.qpCQTail), head, "QP \(q) CQ_TAIL = SQ_HEAD")
                inFlight += Int(queues[q].sqTail &- head)
            }
            print("note: \(inFlight) of \(nq * Self.onA) descriptors left for B")
        }
        harness.check("migration: every page the engine wrote on A is reported dirty (VFIO_IOMMU_DIRTY_PAGES)") {
            try expect(dirtyOK, "dirty tracking could not start")
            let dirty = try a.dirtyPages(iova: dst.iova, size: dst.size)
            var written = Set<Int>()
            for p in 0..<(dst.size / 4096) {
                let page = UnsafeRawBufferPointer(start: dst.pointer + p * 4096, count: 4096)
                if page.contains(where: { $0 != 0 }) { written.insert(p) }
            }
            try expect(!written.isEmpty, "the engine wrote nothing before the save")
            let missing = written.subtracting(dirty)
            try expect(missing.isEmpty, "\(missing.count) of \(written.count) written pages not dirty, e.g. \(missing.sorted().prefix(5))")
            try a.stopDirtyTracking()
        }
        guard state.count == MigrationFormat.size(qps: qps) else { return }

        harness.check("migration: resume into B (same IOVA mappings): registers and doorbells as saved") {
            for buf in buffers { aliases.append(try DMAAlias(buf, into: b)) }
            dbB = try b.map(try b.regionInfo(.bar2), size: qps * HDIOVBits.doorbellPage)
            try b.resumeState(state, then: .running)
            try expectEqual(try b.migrationState(), .running, "B's state")
            let bar0 = try b.regionInfo(.bar0)
            try expectEqual(try b.read32(bar0, at: HDIOVReg.devCtrl), HDIOVBits.devEnable, "DEV_CTRL")
            for q in 0..<nq {
                let rec = MigrationFormat.qpOffset(qps: qps, q)
                let base = HDIOVReg.qp(q)
                try expectEqual(try b.read32(bar0, at: base + HDIOVReg.sqBase), UInt32(truncatingIfNeeded: Self.sqIOVA(q)), "QP \(q) SQ_BASE")
                try expectEqual(try b.read32(bar0, at: base + HDIOVReg.cqBase), UInt32(truncatingIfNeeded: Self.cqIOVA(q)), "QP \(q) CQ_BASE")
                try expectEqual(try b.read32(bar0, at: base + HDIOVReg.ringSize), UInt32(Self.ring), "QP \(q) RING_SIZE")
                try expectEqual(try b.read32(bar0, at: base + HDIOVReg.qpCtrl), HDIOVBits.qpEnable, "QP \(q) QP_CTRL")
                try expect(try b.read32(bar0, at: base + HDIOVReg.sqHead) &- MigrationFormat.load32(state, rec + MigrationFormat.qpSQHead)
                           <= UInt32(Self.onA), "QP \(q) SQ_HEAD went back")
                try expectEqual(hdiov_load32(dbB! + q * HDIOVBits.doorbellPage + HDIOVBits.dbSQTail), queues[q].sqTail, "QP \(q) SQ_TAIL doorbell on B")
            }
            for q in queues { try q.move(to: b, doorbells: dbB!) }
        }
        harness.check("migration: the client goes on on B: every descriptor completes exactly once, results match") {
            for q in 0..<nq { try queues[q].submit((Self.onA..<(Self.onA + Self.onB)).map { descriptor(q, $0) }) }
            for q in 0..<nq {
                let done = try queues[q].wait(count: Self.onA + Self.onB, timeout: 60)
                let cookies = done.map { Int($0.cookie & 0xffff_ffff) }
                try expectEqual(cookies, Array(0..<(Self.onA + Self.onB)), "QP \(q): completions in order, each once")
                for c in done {
                    let k = Int(c.cookie & 0xffff_ffff)
                    try expect(c.rawStatus == HDIOVStatus.ok.rawValue, "QP \(q) descriptor \(k): status \(c.rawStatus)")
                    let d = descriptor(q, k)
                    let s = src.pointer + Int(d.src - Self.srcIOVA)
                    if d.opcode == HDIOVOp.crc32c.rawValue {
                        try expectEqual(c.result, CRC32C.checksum(UnsafeRawBufferPointer(start: s, count: Self.chunk)), "QP \(q) CRC32C \(k)")
                    } else {
                        try expect(memcmp(s, dst.pointer + Int(d.dst - Self.dstIOVA), Self.chunk) == 0, "QP \(q) COPY \(k): data differs")
                    }
                }
                try expect(queues[q].peek(queues[q].cqHead) == nil, "QP \(q): an extra completion")
            }
            var stats: [String: Int] = [:]
            for line in try suite.read(suite.attr(b.uuid, "stats")).split(separator: "\n") {
                let p = line.split(separator: " ")
                if p.count == 2 { stats[String(p[0])] = Int(p[1]) }
            }
            // QP 0 ran five NOPs before the save (the STOP check).
            try expectEqual(stats["completed"], nq * (Self.onA + Self.onB) + 5, "B's completed count (carried over from A)")
        }

        // A state from another type, for the checks below; and the sizes of the format.
        var other: [UInt8] = []
        harness.check("migration: state sizes: \(small.id) \(MigrationFormat.size(qps: small.initialQueuePairs)) bytes, "
                      + "\(big.id) \(MigrationFormat.size(qps: big.initialQueuePairs)) bytes; a VDEV closed in STOP_COPY reopens RUNNING") {
            for t in [small, big] {
                let u = try create(t, parent: 0)
                uuids.append(u)
                var d: VFIODevice? = try VFIODevice(uuid: u)
                let s = try d!.saveState()
                try expectEqual(s.count, MigrationFormat.size(qps: t.initialQueuePairs), "\(t.id) state size")
                if t.id == small.id { other = s }
                d!.close()
                d = try VFIODevice(uuid: u)
                try expectEqual(try d!.migrationState(), .running, "\(t.id) state after reopen")
                let qp = try QueuePair(device: d!, index: 0, ringSize: 4, sqIOVA: Self.sqIOVA(0), cqIOVA: Self.cqIOVA(0), doorbells: nil)
                try expectEqual(try qp.run([.nop(cookie: 7)]).map(\.cookie), [7], "\(t.id) runs after reopen")
                withExtendedLifetime(qp) {}
                d!.close()
                d = nil
            }
        }

        harness.check("migration: bad states fail with EINVAL (truncated, bit flips, version, type, QP count, spec, fields)") {
            var cases: [(String, [UInt8])] = []
            if !other.isEmpty { cases.append(("state of type \(small.id)", other)) }
            for n in [0, 1, 32, 63, 64, 65, state.count / 2, state.count - 1] { cases.append(("truncated to \(n)", Array(state[0..<n]))) }
            cases.append(("one byte too many", state + [0]))
            let header: [(String, Int)] = [
                ("magic", MigrationFormat.magicOffset), ("version", MigrationFormat.versionOffset),
                ("spec hash", MigrationFormat.specHashOffset + 3), ("type id", MigrationFormat.typeIdOffset),
                ("QP count", MigrationFormat.nrQPsOffset), ("length", MigrationFormat.lengthOffset),
                ("contract", MigrationFormat.contractOffset), ("flags", MigrationFormat.flagsOffset),
                ("reserved", MigrationFormat.reservedOffset), ("CRC", MigrationFormat.crcOffset + 2),
                ("config space", MigrationFormat.cfgOffset + 0x40), ("QP 0 SQ_HEAD", MigrationFormat.qpOffset(qps: qps, 0) + 32),
            ]
            for (name, off) in header {
                var m = state
                m[off] ^= 0x10
                cases.append(("bit flip in \(name)", m))
            }
            // Wrong values with a correct CRC: the fields themselves are checked.
            func fixed(_ name: String, _ edit: (inout [UInt8]) -> Void) {
                var m = state
                edit(&m)
                MigrationFormat.fixCRC(&m)
                cases.append((name + " (CRC fixed)", m))
            }
            let q0 = MigrationFormat.qpOffset(qps: qps, 0)
            fixed("format version 2") { MigrationFormat.store32(&$0, MigrationFormat.versionOffset, 2) }
            fixed("other spec hash") { $0[MigrationFormat.specHashOffset] ^= 1 }
            fixed("other type id") { $0[MigrationFormat.typeIdOffset] ^= 1 }
            fixed("QP count + 1") { MigrationFormat.store32(&$0, MigrationFormat.nrQPsOffset, UInt32(qps + 1)) }
            fixed("QP count 1") { MigrationFormat.store32(&$0, MigrationFormat.nrQPsOffset, qps == 1 ? 2 : 1) }
            fixed("length + 64") { MigrationFormat.store32(&$0, MigrationFormat.lengthOffset, UInt32(state.count + 64)) }
            fixed("contract 2.0") { MigrationFormat.store32(&$0, MigrationFormat.contractOffset, 0x0002_0000) }
            fixed("vendor id") { $0[MigrationFormat.cfgOffset] ^= 1 }
            fixed("DEV_CTRL bit 4") { $0[MigrationFormat.devCtrlOffset] |= 0x10 }
            fixed("weight 0") { MigrationFormat.store32(&$0, MigrationFormat.weightOffset, 0) }
            fixed("weight 101") { MigrationFormat.store32(&$0, MigrationFormat.weightOffset, 101) }
            fixed("PBA bit past the last vector") { $0[MigrationFormat.pbaOffset(qps: qps) + MigrationFormat.pbaSize(qps: qps) - 1] |= 0x80 }
            fixed("RING_SIZE 3") { MigrationFormat.store32(&$0, q0 + MigrationFormat.qpRingSize, 3) }
            fixed("RING_SIZE 8192") { MigrationFormat.store32(&$0, q0 + MigrationFormat.qpRingSize, 8192) }
            fixed("SQ_BASE misaligned") { $0[q0 + MigrationFormat.qpSQBase] |= 8 }
            fixed("QP_CTRL bit 5") { $0[q0 + MigrationFormat.qpCtrl] |= 0x20 }
            fixed("QP_STATUS ENABLED without ENABLE") { MigrationFormat.store32(&$0, q0 + MigrationFormat.qpCtrl, 0) }
            fixed("QP_STATUS code 9") { MigrationFormat.store32(&$0, q0 + MigrationFormat.qpStatus, 0x0009_0003) }
            fixed("MSIX_VECTOR past the table") { MigrationFormat.store32(&$0, q0 + MigrationFormat.qpMSIXVector, 1000) }
            fixed("IRQ_COALESCE 5000") { MigrationFormat.store32(&$0, q0 + MigrationFormat.qpIRQCoalesce, 5000) }
            fixed("phase flipped") { $0[q0 + MigrationFormat.qpPhase] ^= 1 }
            fixed("QP reserved") { $0[q0 + MigrationFormat.qpReserved] = 1 }
            try b.reset()
            _ = sh("dmesg -C")
            for (name, m) in cases {
                try b.reset()
                try expectEqual(try b.migrationState(), .running, "B after reset (before: \(name))")
                try expectEINVAL(name) { try b.resumeState(m, then: .stop) }
            }
            let log = sh("dmesg").output
            try expect(log.contains("migration state rejected: other mdev type"), "no dmesg line for the wrong type:\n\(log)")
        }
        harness.check("migration: 400 random mutations: each loads or fails with EINVAL; B is usable afterwards") {
            var rng = SystemRandomNumberGenerator()
            var loaded = 0, refused = 0
            for i in 0..<400 {
                var m = state
                switch i % 4 {
                case 0: m = Array(m[0..<Int.random(in: 0..<m.count, using: &rng)])
                case 1:
                    m[Int.random(in: 0..<m.count, using: &rng)] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
                default:
                    for _ in 0..<Int.random(in: 1...4, using: &rng) {
                        m[Int.random(in: 0..<m.count, using: &rng)] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
                    }
                    MigrationFormat.fixCRC(&m)
                }
                try b.reset()
                do {
                    try b.resumeState(m, then: .stop)
                    loaded += 1
                } catch let e as VFIOError {
                    try expectEqual(Errno.name(e.errno), Errno.name(EINVAL), "mutation \(i)")
                    refused += 1
                }
            }
            print("note: \(loaded) mutations loaded, \(refused) refused")
            // Left in RESUMING by a refusal: a close brings B back. (The doorbell mapping
            // holds the device file open: it goes first.)
            try b.reset()
            try expectEINVAL("truncated state") { try b.resumeState(Array(state[0..<100]), then: .stop) }
            try expectEqual(try b.migrationState(), .resuming, "B after a refused load")
            if let p = dbB { munmap(p, qps * HDIOVBits.doorbellPage) }
            dbB = nil
            b.closeDevice()
            aliases = []
            b.close()
            let b2 = try VFIODevice(uuid: b.uuid)
            defer { b2.close() }
            try expectEqual(try b2.migrationState(), .running, "B reopened")
            let qp = try QueuePair(device: b2, index: 0, ringSize: 8, sqIOVA: Self.sqIOVA(0), cqIOVA: Self.cqIOVA(0), doorbells: nil)
            let buf = try b2.mapDMA(size: 8192, iova: Self.srcIOVA)
            memset(buf.pointer, 0x5a, 4096)
            let c = try qp.run([.nop(cookie: 1), .copy(src: Self.srcIOVA, dst: Self.srcIOVA + 4096, length: 4096, cookie: 2)])
            try expectEqual(c.map(\.cookie), [1, 2], "B runs after the bad states")
            try expect(memcmp(buf.pointer, buf.pointer + 4096, 4096) == 0, "COPY on B after the bad states")
            // And a good state still loads (then B is left stopped, its QPs pointing at memory B lacks).
            try b2.resumeState(state, then: .stop)
            try expectEqual(try b2.migrationState(), .stop, "good state after the bad ones")
            try b2.reset()
            withExtendedLifetime((qp, buf)) {}
        }
        if kernel >= (6, 2) {
            harness.check("migration: PRE_COPY: no initial bytes, ENOMSG, then the state on the same file in STOP_COPY") {
                let u = try create(small, parent: 1)
                uuids.append(u)
                let d = try VFIODevice(uuid: u)
                defer { d.close() }
                guard let fd = try d.setMigrationState(.preCopy) else { throw Harness.Failure(description: "PRE_COPY: no data file") }
                defer { close(fd) }
                var initial: UInt64 = 1, dirty: UInt64 = 1
                try expectEqual(hdiov_vfio_mig_precopy_info(fd, &initial, &dirty), 0, "VFIO_MIG_GET_PRECOPY_INFO")
                try expectEqual([initial, dirty], [0, 0], "initial and dirty bytes")
                var byte: UInt8 = 0
                let n = read(fd, &byte, 1), e = errno
                try expectEqual(n, -1, "read in PRE_COPY")
                try expectEqual(Errno.name(e), Errno.name(ENOMSG), "read in PRE_COPY")
                try expect(try d.setMigrationState(.stopCopy) == nil, "STOP_COPY from PRE_COPY hands out a second file")
                let s = try readMigrationData(fd)
                try expectEqual(s.count, MigrationFormat.size(qps: small.initialQueuePairs), "state size")
                try d.setMigrationState(.running)
            }
        }
        harness.check("migration: VDEVs removed") {
            aliases = []
            queues = []
            buffers = []
            if let p = dbA { munmap(p, qps * HDIOVBits.doorbellPage) }
            if let p = dbB { munmap(p, qps * HDIOVBits.doorbellPage) }
            dbA = nil
            dbB = nil
            a.close()
            b.close()
            for u in uuids { try suite.remove(u) }
            uuids = []
        }
    }
}
