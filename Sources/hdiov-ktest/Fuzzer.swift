import CHDIOVShim
import Foundation
import HDIOVSpec
import HDIOVSysfs
import HDIOVVFIO

/// SplitMix64: small, seedable, the same sequence for the same seed on every machine.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random VFIO and sysfs input against live VDEVs: ioctls with random argsz, flags,
/// indices and counts; region reads and writes at random offsets, sizes and alignments;
/// mmap at random offsets and sizes; random BAR0 and doorbell writes; random ring bases
/// and descriptors in mapped memory; random writes to every VDEV attribute.
/// Replayable: the same seed gives the same operations.
struct Fuzzer {
    let suite: KernelSuite
    let seed: UInt64
    let operations: Int

    var spec: DeviceSpec { suite.spec }

    final class Counters {
        var byKind: [String: Int] = [:]
        var errnos: [String: Int] = [:]
        func count(_ kind: String, _ result: Int) {
            byKind[kind, default: 0] += 1
            if result < 0 { errnos[Errno.name(Int32(-result)), default: 0] += 1 }
        }
    }

    func run() {
        let harness = suite.harness
        var devices: [String] = []
        var handles: [VFIODevice] = []
        let counters = Counters()
        harness.check("fuzz: module loads and one VDEV of each type opens") {
            try suite.loadModule()
            for t in spec.types {
                let uuid = try suite.create(t)
                devices.append(uuid)
                handles.append(try VFIODevice(uuid: uuid))
            }
        }
        guard handles.count == spec.types.count else { return }
        let dma = DMAArena(handles: handles)
        harness.check("fuzz: \(operations) operations, seed \(seed)") {
            var rng = SeededRandom(seed: seed)
            let start = Date()
            for i in 0..<operations {
                let d = Int(rng.next() % UInt64(handles.count))
                step(&rng, handles[d], uuid: devices[d], counters: counters)
                if (i + 1) % 200_000 == 0 {
                    print("  fuzz: \(i + 1) operations, \(Int(Date().timeIntervalSince(start))) s")
                    fflush(nil)
                }
            }
            let kinds = counters.byKind.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            let errs = counters.errnos.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            print("  fuzz: done in \(String(format: "%.1f", Date().timeIntervalSince(start))) s; \(kinds)")
            print("  fuzz: errnos \(errs)")
        }
        dma.release()
        harness.check("fuzz: the devices still answer and are removed cleanly") {
            for h in handles {
                try h.reset()
                let bar0 = try h.regionInfo(.bar0)
                try expectEqual(try h.read32(bar0, at: 0), 0x4844_4956, "ID after fuzzing")
                h.close()
            }
            for d in devices { try suite.remove(d) }
            try expectEqual(try suite.readInt(suite.env.parent(suite.parent) + "/qp_free"), spec.queuePairs, "qp_free")
            try expectEqual(try suite.readInt(suite.env.parent(suite.parent) + "/vdev_count"), 0, "vdev_count")
            let r = sh("rmmod \(spec.module)")
            try expect(r.status == 0, "rmmod: \(r.output)")
        }
        harness.check("fuzz: dmesg has no oops, WARN, BUG, GPF or hung task") {
            try suite.expectCleanDmesg()
        }
    }

    /// One random operation.
    func step(_ rng: inout SeededRandom, _ dev: VFIODevice, uuid: String, counters: Counters) {
        switch rng.next() % 100 {
        case 0..<25: ioctl(&rng, dev, counters)
        case 25..<55: regionAccess(&rng, dev, counters)
        case 55..<60: mapping(&rng, dev, counters)
        case 60..<85: registerWrite(&rng, dev, counters)
        case 85..<95: doorbell(&rng, dev, counters)
        default: attribute(&rng, uuid: uuid, counters)
        }
    }

    func ioctl(_ rng: inout SeededRandom, _ dev: VFIODevice, _ counters: Counters) {
        var buf = [UInt8](repeating: 0, count: 512)
        for i in 0..<Int(rng.next() % 64) { buf[i] = UInt8(truncatingIfNeeded: rng.next()) }
        let argsz = UInt32(rng.next() % 3 == 0 ? rng.next() % 600 : 16 + rng.next() % 48)
        let small = [UInt32(rng.next() % 12), UInt32(truncatingIfNeeded: rng.next()), 0, 1, 2, 0xffff_ffff]
        func put(_ v: UInt32, at o: Int) { for b in 0..<4 { buf[o + b] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(b))) } }
        put(argsz, at: 0)
        put(small[Int(rng.next() % 6)], at: 4)   // flags
        put(small[Int(rng.next() % 6)], at: 8)   // index
        put(small[Int(rng.next() % 6)], at: 12)  // start / cap_offset
        put(small[Int(rng.next() % 6)], at: 16)  // count
        if rng.next() % 4 == 0 {
            // Eventfd data: real fds (stdin/out/err, a fresh eventfd) and junk.
            let efd = hdiov_eventfd()
            for k in 0..<8 { put(UInt32(bitPattern: [Int32(efd), -1, 0, 1, 2, 9999][Int(rng.next() % 6)]), at: 20 + 4 * k) }
            let cmd = hdiov_fuzz_ioctl_cmd(UInt32(rng.next() % UInt64(hdiov_fuzz_ioctl_cmd_count())))
            counters.count("ioctl", buf.withUnsafeMutableBytes { hdiov_fuzz_ioctl(dev.fd, cmd, $0.baseAddress) })
            if efd >= 0 { close(efd) }
            return
        }
        let cmd = hdiov_fuzz_ioctl_cmd(UInt32(rng.next() % UInt64(hdiov_fuzz_ioctl_cmd_count())))
        counters.count("ioctl", buf.withUnsafeMutableBytes { hdiov_fuzz_ioctl(dev.fd, cmd, $0.baseAddress) })
    }

    func regionAccess(_ rng: inout SeededRandom, _ dev: VFIODevice, _ counters: Counters) {
        let index = rng.next() % 16 == 0 ? rng.next() % 64 : rng.next() % 10
        let limits: [UInt64] = [256, 0x10000, 0x100000]
        let limit = limits[Int(rng.next() % 3)]
        var offset = rng.next() % (limit + 16)
        if rng.next() % 8 == 0 { offset = limit - rng.next() % 8 }
        let count = rng.next() % 5 == 0 ? Int(rng.next() % 4100) : Int(rng.next() % 9)
        var buf = [UInt8](repeating: 0, count: max(count, 1))
        for i in 0..<min(count, 16) { buf[i] = UInt8(truncatingIfNeeded: rng.next()) }
        let pos = off_t(Int64(bitPattern: (index << 40) | offset))
        let write = rng.next() % 2 == 0
        let n = buf.withUnsafeMutableBytes { p -> Int in
            write ? pwrite(dev.fd, p.baseAddress, count, pos) : pread(dev.fd, p.baseAddress, count, pos)
        }
        counters.count(write ? "pwrite" : "pread", n < 0 ? -Int(errno) : n)
    }

    func mapping(_ rng: inout SeededRandom, _ dev: VFIODevice, _ counters: Counters) {
        let index = rng.next() % 4 == 0 ? rng.next() % 10 : 2
        let page = UInt64(getpagesize())
        let offset = (index << 40) + (rng.next() % 300) * page + (rng.next() % 16 == 0 ? rng.next() % page : 0)
        let length = Int((1 + rng.next() % 300) * page)
        let r = hdiov_fuzz_mmap(dev.fd, offset, length, rng.next() % 8 == 0 ? 0 : 1, 1)
        counters.count("mmap", Int(r))
    }

    func registerWrite(_ rng: inout SeededRandom, _ dev: VFIODevice, _ counters: Counters) {
        let qps = UInt64(max(1, min(256, spec.maxQpsPerVdev)))
        var offset: UInt64
        switch rng.next() % 4 {
        case 0: offset = (rng.next() % 16) * 4                                  // device registers
        case 1: offset = HDIOVReg.qp(Int(rng.next() % (qps + 2))) + (rng.next() % 16) * 4 // QP blocks
        case 2: offset = HDIOVReg.msixTable + rng.next() % (HDIOVReg.msixPBA - HDIOVReg.msixTable + 0x100) // MSI-X table and PBA
        default: offset = rng.next() % HDIOVReg.bar0Size
        }
        var value = UInt32(truncatingIfNeeded: rng.next())
        switch rng.next() % 6 {
        case 0: value = 1
        case 1: value = HDIOVBits.qpReset
        case 2: value = UInt32(rng.next() % 5000)
        case 3: value = 0x10000 + UInt32(rng.next() % 0x10000) // near the DMA arena
        default: break
        }
        var bytes = (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
        let pos = off_t(Int64(bitPattern: (UInt64(0) << 40) | offset))
        let n = bytes.withUnsafeMutableBytes { pwrite(dev.fd, $0.baseAddress, 4, pos) }
        counters.count("bar0", n < 0 ? -Int(errno) : n)
    }

    func doorbell(_ rng: inout SeededRandom, _ dev: VFIODevice, _ counters: Counters) {
        let page = rng.next() % 20
        let db = UInt64(HDIOVBits.doorbellPage)
        let offset = page * db + [UInt64(HDIOVBits.dbSQTail), UInt64(HDIOVBits.dbCQHead), UInt64(HDIOVBits.dbEngineFlags), rng.next() % db][Int(rng.next() % 4)]
        var value = UInt32(truncatingIfNeeded: rng.next() % 3 == 0 ? rng.next() : rng.next() % 64)
        let pos = off_t(Int64(bitPattern: (UInt64(2) << 40) | offset))
        let n = withUnsafeMutableBytes(of: &value) { pwrite(dev.fd, $0.baseAddress, 4, pos) }
        counters.count("doorbell", n < 0 ? -Int(errno) : n)
    }

    func attribute(_ rng: inout SeededRandom, uuid: String, _ counters: Counters) {
        let names = ["queue_pairs", "weight", "pasid", "qp_ids", "stats"]
        let values = ["0", "1", "2", "7", "100", "101", "256", "257", "-1", "abc", "", "0x10", "99999999999", " 5",
                      String(repeating: "9", count: 300)]
        let path = suite.attr(uuid, names[Int(rng.next() % UInt64(names.count))])
        let value = values[Int(rng.next() % UInt64(values.count))]
        do {
            try SysfsFile.write(path, value)
            counters.count("sysfs", 0)
        } catch {
            counters.count("sysfs", -Int(error.errno))
        }
    }
}

/// Anonymous memory mapped into each device's IOVA space at 0x10000, filled with
/// random descriptors, so random ring bases can point at something.
final class DMAArena {
    let size = 64 * 1024
    let iova: UInt64 = 0x10000
    var mappings: [(container: Int32, memory: UnsafeMutableRawPointer)] = []

    init(handles: [VFIODevice]) {
        var rng = SeededRandom(seed: 7)
        for h in handles {
            guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED
            else { continue }
            for i in stride(from: 0, to: size, by: 8) { p.storeBytes(of: rng.next(), toByteOffset: i, as: UInt64.self) }
            if hdiov_vfio_dma_map(h.container, p, iova, UInt64(size)) == 0 { mappings.append((h.container, p)) }
        }
    }

    func release() {
        for m in mappings {
            _ = hdiov_vfio_dma_unmap(m.container, iova, UInt64(size))
            munmap(m.memory, size)
        }
        mappings = []
    }
}
