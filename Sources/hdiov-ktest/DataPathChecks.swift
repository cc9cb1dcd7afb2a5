import CHDIOVShim
import Foundation
import HDIOVSpec
import HDIOVSysfs
import HDIOVVFIO

/// The data path (contract sections 6–7) against the real engine, every result
/// checked against a Swift reference.
struct DataPathChecks {
    let suite: KernelSuite
    let uuid: String
    let type: MdevTypeSpec

    var spec: DeviceSpec { suite.spec }
    var harness: Harness { suite.harness }
    var qps: Int { type.initialQueuePairs }

    static let srcIOVA: UInt64 = 0x4000_0000
    static let dstIOVA: UInt64 = 0x4100_0000
    static let bufSize = 2 << 20
    static func sqIOVA(_ i: Int) -> UInt64 { 0x1000_0000 + UInt64(i) << 20 }
    static func cqIOVA(_ i: Int) -> UInt64 { 0x2000_0000 + UInt64(i) << 20 }

    func stats(_ uuid: String) throws -> [String: Int] {
        var out: [String: Int] = [:]
        for line in try suite.read(suite.attr(uuid, "stats")).split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let n = Int(parts[1]) { out[String(parts[0])] = n }
        }
        return out
    }

    func expectStatus(_ c: Completion, _ s: HDIOVStatus, _ what: String) throws {
        try expect(c.rawStatus == s.rawValue, "\(what): status \(c.status.map { "\($0)" } ?? "\(c.rawStatus)"), expected \(s)")
    }

    func run() {
        var dev: VFIODevice?
        var src: DMABuffer?, dst: DMABuffer?
        var doorbells: UnsafeMutableRawPointer?
        var qp0: QueuePair?
        harness.check("data path: open, map DMA memory, program QP 0") {
            let d = try VFIODevice(uuid: uuid)
            dev = d
            src = try d.mapDMA(size: Self.bufSize, iova: Self.srcIOVA)
            dst = try d.mapDMA(size: Self.bufSize, iova: Self.dstIOVA)
            doorbells = try d.map(try d.regionInfo(.bar2), size: qps * HDIOVBits.doorbellPage)
            qp0 = try QueuePair(device: d, index: 0, ringSize: 64, sqIOVA: Self.sqIOVA(0), cqIOVA: Self.cqIOVA(0),
                                doorbells: doorbells)
            let c = try qp0!.run([.nop(cookie: 0xfeed)])
            try expectEqual(c.count, 1, "completions")
            try expectEqual(c[0].cookie, 0xfeed, "cookie")
            try expectStatus(c[0], .ok, "NOP")
            try expect(c[0].phase, "first completion has PHASE 1")
        }
        guard let dev, let src, let dst, let qp0, let doorbells else { dev?.close(); return }
        defer {
            munmap(doorbells, qps * HDIOVBits.doorbellPage)
            dev.close()
        }
        var rng = SystemRandomNumberGenerator()
        func randomize(_ b: DMABuffer) { for i in 0..<b.size { b.pointer.storeBytes(of: UInt8.random(in: 0...255, using: &rng), toByteOffset: i, as: UInt8.self) } }
        randomize(src)
        let maxXfer = spec.maxXfer

        harness.check("data path: COPY, FILL, CRC32C, COMPARE match the Swift reference") {
            try expectEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283, "Swift CRC32C reference")
            // COPY at odd offsets and lengths.
            for (off, len) in [(3, 4096 + 7), (0, 1), (4095, 65536), (0, maxXfer)] {
                memset(dst.pointer, 0xee, dst.size)
                let c = try qp0.run([.copy(src: Self.srcIOVA + UInt64(off), dst: Self.dstIOVA + 5, length: len, cookie: 1)])
                try expectStatus(c[0], .ok, "COPY \(len)")
                try expect(memcmp(src.pointer + off, dst.pointer + 5, len) == 0, "COPY \(len) bytes at \(off): data differs")
                try expectEqual(dst.pointer.load(fromByteOffset: 4, as: UInt8.self), 0xee, "byte before COPY")
                try expectEqual(dst.pointer.load(fromByteOffset: 5 + len, as: UInt8.self), 0xee, "byte after COPY")
            }
            // FILL: the 8-byte LE pattern repeated, partial last copy.
            memset(dst.pointer, 0, dst.size)
            let pattern: UInt64 = 0x0123_4567_89ab_cdef
            var c = try qp0.run([.fill(dst: Self.dstIOVA + 1, length: 1003, pattern: pattern)])
            try expectStatus(c[0], .ok, "FILL")
            for i in 0..<1003 {
                let want = UInt8(truncatingIfNeeded: pattern >> (8 * UInt64(i % 8)))
                if dst.pointer.load(fromByteOffset: 1 + i, as: UInt8.self) != want { throw Harness.Failure(description: "FILL byte \(i)") }
            }
            try expectEqual(dst.pointer.load(fromByteOffset: 1004, as: UInt8.self), 0, "byte after FILL")
            // CRC32C: known vectors, chaining, random data.
            let vec = Array("123456789".utf8)
            src.pointer.copyMemory(from: vec, byteCount: vec.count)
            c = try qp0.run([.crc32c(src: Self.srcIOVA, length: 9)])
            try expectEqual(c[0].result, 0xE306_9283, "CRC32C(\"123456789\")")
            c = try qp0.run([.crc32c(src: Self.srcIOVA, length: 4)])
            c = try qp0.run([.crc32c(src: Self.srcIOVA + 4, length: 5, seed: c[0].result)])
            try expectEqual(c[0].result, 0xE306_9283, "CRC32C chained 4+5")
            memset(dst.pointer, 0, 32)
            c = try qp0.run([.crc32c(src: Self.dstIOVA, length: 32)])
            try expectEqual(c[0].result, 0x8A91_36AA, "CRC32C of 32 zero bytes")
            randomize(src)
            for len in [1, 4097, 65536, maxXfer] {
                c = try qp0.run([.crc32c(src: Self.srcIOVA + 1, length: len, seed: 0x1234_5678)])
                let want = CRC32C.checksum(UnsafeRawBufferPointer(start: src.pointer + 1, count: len), seed: 0x1234_5678)
                try expectEqual(c[0].result, want, "CRC32C of \(len) random bytes")
            }
            // COMPARE: 0 if equal, else 1 + first difference.
            memcpy(dst.pointer, src.pointer, 100_000)
            c = try qp0.run([.compare(Self.srcIOVA, Self.dstIOVA, length: 100_000)])
            try expectEqual(c[0].result, 0, "COMPARE equal")
            dst.pointer.storeBytes(of: ~src.pointer.load(fromByteOffset: 77_777, as: UInt8.self), toByteOffset: 77_777, as: UInt8.self)
            c = try qp0.run([.compare(Self.srcIOVA, Self.dstIOVA, length: 100_000)])
            try expectEqual(c[0].result, 77_778, "COMPARE first difference")
            try expectStatus(c[0], .ok, "COMPARE")
        }
        harness.check("data path: BAD_OPCODE, BAD_LENGTH; NOP len 0 and len MAX_XFER are fine") {
            let c = try qp0.run([
                Descriptor(opcode: 5, length: 8, cookie: 1), Descriptor(opcode: 0xff, cookie: 2),
                .copy(src: Self.srcIOVA, dst: Self.dstIOVA, length: 0, cookie: 3),
                .fill(dst: Self.dstIOVA, length: maxXfer + 1, pattern: 0, cookie: 4),
                .crc32c(src: Self.srcIOVA, length: 0, cookie: 5),
                .nop(cookie: 6),
                .fill(dst: Self.dstIOVA, length: maxXfer, pattern: 7, cookie: 7),
            ])
            try expectEqual(c.map(\.cookie), [1, 2, 3, 4, 5, 6, 7], "cookies in order")
            try expectEqual(c.map(\.rawStatus), [1, 1, 2, 2, 2, 0, 0], "statuses")
        }
        harness.check("data path: DMA_FAULT on unmapped addresses, canaries untouched") {
            memset(dst.pointer, 0xa5, dst.size)
            let unmapped: UInt64 = 0x6000_0000
            let tailStart = dst.size - 100
            let c = try qp0.run([
                .copy(src: unmapped, dst: Self.dstIOVA, length: 4096, cookie: 1),
                .copy(src: Self.srcIOVA, dst: Self.dstIOVA + UInt64(tailStart), length: 4096, cookie: 2),
                .copy(src: Self.srcIOVA + UInt64(src.size - 10), dst: Self.dstIOVA, length: 4096, cookie: 3),
                .fill(dst: unmapped - 8, length: 64, pattern: 0, cookie: 4),
                .fill(dst: Self.dstIOVA + UInt64(tailStart), length: 8192, pattern: 0, cookie: 5),
                .crc32c(src: unmapped, length: 16, cookie: 6),
                .compare(Self.srcIOVA, unmapped, length: 16, cookie: 7),
                Descriptor(opcode: 1, length: 16, src: UInt64.max - 4, dst: Self.dstIOVA, cookie: 8),
            ])
            try expectEqual(c.map(\.rawStatus), Array(repeating: 3, count: 8), "statuses")
            for i in 0..<dst.size where dst.pointer.load(fromByteOffset: i, as: UInt8.self) != 0xa5 {
                throw Harness.Failure(description: "canary byte \(i) of the destination buffer changed")
            }
            try expectEqual(try qp0.status & 2, 0, "QP_STATUS.ERROR not set by DMA faults")
        }
        harness.check("data path: another VDEV cannot reach this one's memory") {
            let t = spec.types.first { !$0.isFlex && $0.initialQueuePairs == 1 } ?? type
            let other = try suite.create(t)
            defer { try? suite.remove(other) }
            let od = try VFIODevice(uuid: other)
            defer { od.close() }
            let oq = try QueuePair(device: od, index: 0, ringSize: 8, sqIOVA: Self.sqIOVA(0), cqIOVA: Self.cqIOVA(0),
                                   doorbells: nil)
            let mine = try od.mapDMA(size: 4096, iova: 0x5000_0000)
            memset(dst.pointer, 0x5a, 8192)
            let c = try oq.run([
                .copy(src: Self.srcIOVA, dst: 0x5000_0000, length: 4096, cookie: 1),
                .fill(dst: Self.dstIOVA, length: 4096, pattern: 0, cookie: 2),
                .copy(src: 0x5000_0000, dst: 0x5000_0000 + 2048, length: 1024, cookie: 3),
            ])
            try expectEqual(c.map(\.rawStatus), [3, 3, 0], "statuses from the other VDEV")
            for i in 0..<8192 where dst.pointer.load(fromByteOffset: i, as: UInt8.self) != 0x5a {
                throw Harness.Failure(description: "the other VDEV wrote byte \(i) of this one's memory")
            }
            _ = mine
        }
        harness.check("data path: PHASE flips on each CQ wrap; SQ_HEAD and CQ_TAIL advance") {
            let q = try QueuePair(device: dev, index: 1 % qps, ringSize: 8, sqIOVA: Self.sqIOVA(1), cqIOVA: Self.cqIOVA(1),
                                  doorbells: doorbells)
            var phases: [Bool] = []
            for round in 0..<5 {
                let c = try q.run((0..<4).map { .nop(cookie: UInt64(round * 4 + $0)) })
                phases += c.map(\.phase)
            }
            let want = (0..<20).map { ($0 / 8) % 2 == 0 }
            try expectEqual(phases, want, "phases")
            try expectEqual(try q.register(HDIOVReg.sqHead), 20, "SQ_HEAD")
            try expectEqual(try q.register(HDIOVReg.cqTail), 20, "CQ_TAIL")
            try q.setRegister(HDIOVReg.qpCtrl, HDIOVBits.qpReset)
        }
        harness.check("data path: the engine never overwrites an unconsumed completion") {
            let q = try QueuePair(device: dev, index: 1 % qps, ringSize: 4, sqIOVA: Self.sqIOVA(1), cqIOVA: Self.cqIOVA(1),
                                  doorbells: doorbells)
            try q.submit((0..<4).map { .nop(cookie: UInt64($0)) })
            let deadline = Date().addingTimeInterval(10)
            while try q.register(HDIOVReg.cqTail) < 4 && Date() < deadline { usleep(1000) }
            // Reuse the consumed SQ slots without reaping: the CQ is full.
            for i in 0..<4 { Descriptor.nop(cookie: UInt64(100 + i)).store(to: q.sq.pointer + i * 64) }
            hdiov_mb()
            try dev.write32(q.bar2, at: UInt64(q.index) * 4096, 8)
            usleep(300_000)
            try expectEqual(try q.register(HDIOVReg.cqTail), 4, "CQ_TAIL while the CQ is full")
            try expectEqual(q.peek(0)?.cookie, 0, "first completion intact")
            try dev.write32(q.bar2, at: UInt64(q.index) * 4096 + 4, 4)  // consume all four
            while try q.register(HDIOVReg.cqTail) < 8 && Date() < deadline { usleep(1000) }
            try expectEqual(try q.register(HDIOVReg.cqTail), 8, "CQ_TAIL after CQ_HEAD moved")
            try q.setRegister(HDIOVReg.qpCtrl, HDIOVBits.qpReset)
        }
        harness.check("data path: interrupts per QP (MSI-X vector 1+i, coalescing, INTx fallback)") {
            let i = 1 % qps
            let efds = (0..<(1 + qps)).map { _ in hdiov_eventfd() }
            defer { efds.forEach { close($0) } }
            try dev.setEventfds(.msix, fds: efds)
            defer { try? dev.setEventfds(.msix, fds: Array(repeating: -1, count: 1 + qps)) }
            let q = try QueuePair(device: dev, index: i, ringSize: 16, sqIOVA: Self.sqIOVA(1), cqIOVA: Self.cqIOVA(1),
                                  doorbells: doorbells, irq: true, coalesce: 4)
            let before = try stats(uuid)["irqs"] ?? 0
            _ = try q.run((0..<8).map { .nop(cookie: UInt64($0), irq: true) })
            try expectEqual(eventfdCount(efds[1 + i], expected: 2), 2, "8 completions, coalesce 4: interrupts on vector \(1 + i)")
            _ = try q.run([.nop(), .nop()])  // no IRQ flag
            try expectEqual(eventfdCount(efds[1 + i]), 0, "no interrupts without the descriptor flag")
            try q.setRegister(HDIOVReg.irqCoalesce, 0)
            _ = try q.run((0..<3).map { .nop(cookie: UInt64($0), irq: true) })
            try expectEqual(eventfdCount(efds[1 + i], expected: 3), 3, "coalesce 0: one interrupt per completion")
            for (k, fd) in efds.enumerated() where k != 1 + i { try expectEqual(eventfdCount(fd), 0, "vector \(k)") }
            try expectEqual((try stats(uuid)["irqs"] ?? 0) - before, 5, "stats irqs")
            // INTx when the QP's vector has no trigger.
            try dev.setEventfds(.msix, fds: Array(repeating: -1, count: 1 + qps))
            let intx = hdiov_eventfd()
            defer { close(intx); try? dev.setEventfds(.intx, fds: [-1]) }
            try dev.setEventfds(.intx, fds: [intx])
            try dev.unmaskINTx()
            _ = try q.run([.nop(irq: true)])
            try expectEqual(eventfdCount(intx, expected: 1), 1, "INTx fallback")
            try q.setRegister(HDIOVReg.qpCtrl, HDIOVBits.qpReset)
        }
        harness.check("data path: NEED_KICK after idle polls, KICK restarts the QP; trapped SQ_TAIL too") {
            let before = try stats(uuid)["kicks"] ?? 0
            _ = try qp0.run([.nop()])
            let deadline = Date().addingTimeInterval(5)
            while !qp0.needKick && Date() < deadline { usleep(1000) }
            try expect(qp0.needKick, "NEED_KICK not set after \(spec.idlePolls) idle polls")
            let kicked = try qp0.submit([.nop(cookie: 42)])
            try expect(kicked, "submit saw NEED_KICK and wrote KICK")
            let c = try qp0.wait(count: 1)
            try expectEqual(c[0].cookie, 42, "cookie after KICK")
            while !qp0.needKick && Date() < deadline { usleep(1000) }
            qp0.trapped = true
            defer { qp0.trapped = false }
            try qp0.submit([.nop(cookie: 43)])
            try expectEqual(try qp0.wait(count: 1)[0].cookie, 43, "cookie after trapped SQ_TAIL")
            try expect((try stats(uuid)["kicks"] ?? 0) - before >= 2, "stats kicks")
        }
        harness.check("data path: a bad ring base sets QP_STATUS.ERROR and stops only that QP") {
            let i = qps - 1
            let q = try QueuePair(device: dev, index: i, ringSize: 8, sqIOVA: Self.sqIOVA(2), cqIOVA: Self.cqIOVA(2),
                                  doorbells: doorbells)
            try q.program(sqIOVA: 0x7000_0000)
            try dev.write32(q.bar2, at: UInt64(i) * 4096, 1)
            let deadline = Date().addingTimeInterval(5)
            while try q.status & 2 == 0 && Date() < deadline { usleep(1000) }
            let st = try q.status
            try expectEqual(st & 2, 2, "QP_STATUS.ERROR")
            try expectEqual(st >> 16, 1, "error code (SQ fault)")
            try expectEqual(try qp0.run([.nop(cookie: 9)])[0].cookie, 9, "QP 0 goes on")
            try q.setRegister(HDIOVReg.qpCtrl, HDIOVBits.qpReset)
            try expectEqual(try q.status, 0, "QP reset clears the error")
        }
        harness.check("data path: reset aborts in-flight work (ABORTED), then the QP works again") {
            let n = 64
            try qp0.program()  // positions from 0, CQ memory cleared
            try qp0.submit((0..<n).map { .copy(src: Self.srcIOVA, dst: Self.dstIOVA, length: maxXfer, cookie: UInt64($0)) })
            let deadline = Date().addingTimeInterval(20)
            while qp0.peek(0) == nil && Date() < deadline { usleep(100) }
            try dev.reset()
            var statuses: [UInt8] = []
            for p in 0..<UInt32(n) { if let c = qp0.peek(p) { statuses.append(c.rawStatus) } }
            try expect(!statuses.isEmpty, "no completion before the reset")
            try expect(statuses.allSatisfy { $0 == 0 || $0 == 4 }, "statuses \(statuses)")
            try expect(statuses.contains(4) || statuses.count == n, "no ABORTED completion and not all done: \(statuses)")
            try expectEqual(try qp0.register(HDIOVReg.sqHead), 0, "SQ_HEAD after reset")
            try qp0.program()
            try expectEqual(try qp0.run([.nop(cookie: 5)])[0].cookie, 5, "NOP after reset")
            print("     reset: \(statuses.filter { $0 == 0 }.count) OK, \(statuses.filter { $0 == 4 }.count) ABORTED of \(n) in flight")
        }
        harness.check("data path: stats count submitted, completed, bytes, errors") {
            let s = try stats(uuid)
            try expectEqual(s["submitted"], s["completed"], "submitted == completed")
            try expect((s["completed"] ?? 0) > 50, "completed \(s)")
            try expect((s["bytes"] ?? 0) > 2 * maxXfer, "bytes \(s)")
            try expect((s["errors"] ?? 0) >= 13, "errors \(s)")
        }
    }
}
