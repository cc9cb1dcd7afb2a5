import CHDIOVShim
import Foundation

/// Descriptor opcodes and completion statuses (contract section 7).
public enum HDIOVOp: UInt8, Sendable, CaseIterable {
    case nop = 0, copy, fill, crc32c, compare
}

public enum HDIOVStatus: UInt8, Sendable, CustomStringConvertible {
    case ok = 0, badOpcode, badLength, dmaFault, aborted
    public var description: String {
        switch self {
        case .ok: "OK"
        case .badOpcode: "BAD_OPCODE"
        case .badLength: "BAD_LENGTH"
        case .dmaFault: "DMA_FAULT"
        case .aborted: "ABORTED"
        }
    }
}

/// A 64-byte submission entry.
public struct Descriptor: Sendable {
    public var opcode: UInt8
    public var flags: UInt8 = 0
    public var length: UInt32 = 0
    public var src: UInt64 = 0
    public var dst: UInt64 = 0
    public var pattern: UInt64 = 0
    public var cookie: UInt64 = 0

    public init(opcode: UInt8, flags: UInt8 = 0, length: UInt32 = 0, src: UInt64 = 0, dst: UInt64 = 0,
                pattern: UInt64 = 0, cookie: UInt64 = 0) {
        self.opcode = opcode; self.flags = flags; self.length = length
        self.src = src; self.dst = dst; self.pattern = pattern; self.cookie = cookie
    }

    public static func nop(cookie: UInt64 = 0, irq: Bool = false) -> Descriptor {
        Descriptor(opcode: HDIOVOp.nop.rawValue, flags: irq ? 1 : 0, cookie: cookie)
    }
    public static func copy(src: UInt64, dst: UInt64, length: Int, cookie: UInt64 = 0, irq: Bool = false) -> Descriptor {
        Descriptor(opcode: HDIOVOp.copy.rawValue, flags: irq ? 1 : 0, length: UInt32(length), src: src, dst: dst, cookie: cookie)
    }
    public static func fill(dst: UInt64, length: Int, pattern: UInt64, cookie: UInt64 = 0) -> Descriptor {
        Descriptor(opcode: HDIOVOp.fill.rawValue, length: UInt32(length), dst: dst, pattern: pattern, cookie: cookie)
    }
    public static func crc32c(src: UInt64, length: Int, seed: UInt32 = 0, cookie: UInt64 = 0) -> Descriptor {
        Descriptor(opcode: HDIOVOp.crc32c.rawValue, length: UInt32(length), src: src, pattern: UInt64(seed), cookie: cookie)
    }
    public static func compare(_ a: UInt64, _ b: UInt64, length: Int, cookie: UInt64 = 0) -> Descriptor {
        Descriptor(opcode: HDIOVOp.compare.rawValue, length: UInt32(length), src: a, dst: b, cookie: cookie)
    }

    public func store(to p: UnsafeMutableRawPointer) {
        memset(p, 0, 64)
        p.storeBytes(of: opcode, toByteOffset: 0, as: UInt8.self)
        p.storeBytes(of: flags, toByteOffset: 1, as: UInt8.self)
        p.storeBytes(of: length.littleEndian, toByteOffset: 4, as: UInt32.self)
        p.storeBytes(of: src.littleEndian, toByteOffset: 8, as: UInt64.self)
        p.storeBytes(of: dst.littleEndian, toByteOffset: 16, as: UInt64.self)
        p.storeBytes(of: pattern.littleEndian, toByteOffset: 24, as: UInt64.self)
        p.storeBytes(of: cookie.littleEndian, toByteOffset: 32, as: UInt64.self)
    }
}

/// A 16-byte completion entry.
public struct Completion: Sendable, Equatable {
    public var cookie: UInt64
    public var result: UInt32
    public var rawStatus: UInt8
    public var flags: UInt16
    public var status: HDIOVStatus? { HDIOVStatus(rawValue: rawStatus) }
    public var phase: Bool { flags & 1 != 0 }
}

/// A data-path failure, in words.
public struct DataPathError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Anonymous memory mapped into the device's IOVA space (VFIO_IOMMU_MAP_DMA).
public final class DMABuffer {
    public let pointer: UnsafeMutableRawPointer
    public let size: Int
    public let iova: UInt64
    private let container: Int32
    private var mapped = true

    init(container: Int32, size: Int, iova: UInt64) throws(VFIOError) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let rounded = (size + page - 1) / page * page
        let p = mmap(nil, rounded, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)
        guard let p, p != MAP_FAILED else { throw VFIOError(operation: "mmap \(rounded) anonymous bytes", path: "DMA", errno: errno) }
        memset(p, 0, rounded)
        let r = hdiov_vfio_dma_map(container, p, iova, UInt64(rounded))
        if r < 0 {
            munmap(p, rounded)
            throw VFIOError(operation: String(format: "VFIO_IOMMU_MAP_DMA %d bytes at IOVA 0x%llx", rounded, iova), path: "container", errno: -r)
        }
        self.pointer = p
        self.size = rounded
        self.iova = iova
        self.container = container
    }

    public var bytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: pointer, count: size) }

    /// Unmap from the IOVA space (the memory stays until deinit).
    public func unmap() {
        if mapped { _ = hdiov_vfio_dma_unmap(container, iova, UInt64(size)); mapped = false }
    }

    deinit {
        unmap()
        munmap(pointer, size)
    }
}

extension VFIODevice {
    /// Map `size` bytes of fresh anonymous memory at `iova`.
    public func mapDMA(size: Int, iova: UInt64) throws(VFIOError) -> DMABuffer {
        try DMABuffer(container: container, size: size, iova: iova)
    }

    public func unmaskINTx() throws(VFIOError) {
        _ = try vfioCheck(hdiov_vfio_unmask_intx(fd), "VFIO_DEVICE_SET_IRQS unmask INTx", uuid)
    }
}

/// BAR0 register offsets (contract section 5).
public enum HDIOVReg {
    public static let caps: UInt64 = 0x008, numQPs: UInt64 = 0x00c, maxRing: UInt64 = 0x010, maxXfer: UInt64 = 0x014
    public static let devCtrl: UInt64 = 0x018, devStatus: UInt64 = 0x01c, kick: UInt64 = 0x020
    public static func qp(_ i: Int) -> UInt64 { 0x1000 + 0x40 * UInt64(i) }
    public static let sqBase: UInt64 = 0x00, cqBase: UInt64 = 0x08, ringSize: UInt64 = 0x10, qpCtrl: UInt64 = 0x14
    public static let qpStatus: UInt64 = 0x18, msixVector: UInt64 = 0x1c, sqHead: UInt64 = 0x20, cqTail: UInt64 = 0x24
    public static let irqCoalesce: UInt64 = 0x28
}

/// One queue pair: its rings in DMA memory, its doorbell page, its registers.
public final class QueuePair {
    public let device: VFIODevice
    public let index: Int
    public let ringSize: Int
    public let sq: DMABuffer
    public let cq: DMABuffer
    public let bar0: VFIORegionInfo
    public let bar2: VFIORegionInfo
    /// The mmap'd doorbell page, or nil to use trapped writes only.
    public let doorbell: UnsafeMutableRawPointer?
    public private(set) var sqTail: UInt32 = 0
    public private(set) var cqHead: UInt32 = 0
    /// Kicks written because the engine had set NEED_KICK.
    public private(set) var kicks = 0
    /// Use the trapped SQ_TAIL write instead of the mmap'd doorbell.
    public var trapped = false
    var regBase: UInt64 { HDIOVReg.qp(index) }

    /// Program and enable QP `index`: rings of `ringSize` entries at `sqIOVA`/`cqIOVA`.
    public init(device: VFIODevice, index: Int, ringSize: Int, sqIOVA: UInt64, cqIOVA: UInt64,
                doorbells: UnsafeMutableRawPointer?, irq: Bool = false, coalesce: UInt32 = 0,
                enable: Bool = true) throws {
        self.device = device
        self.index = index
        self.ringSize = ringSize
        bar0 = try device.regionInfo(.bar0)
        bar2 = try device.regionInfo(.bar2)
        sq = try device.mapDMA(size: ringSize * 64, iova: sqIOVA)
        cq = try device.mapDMA(size: ringSize * 16, iova: cqIOVA)
        doorbell = doorbells.map { $0 + index * 4096 }
        try program(sqIOVA: sqIOVA, cqIOVA: cqIOVA, irq: irq, coalesce: coalesce, enable: enable)
    }

    /// Reset the QP and write its registers; the driver-side indices restart at 0.
    public func program(sqIOVA: UInt64? = nil, cqIOVA: UInt64? = nil, irq: Bool = false, coalesce: UInt32 = 0,
                        enable: Bool = true) throws {
        let s = sqIOVA ?? sq.iova, c = cqIOVA ?? cq.iova
        try device.write32(bar0, at: regBase + HDIOVReg.qpCtrl, 0x8000_0000)
        try device.write32(bar0, at: regBase + HDIOVReg.sqBase, UInt32(truncatingIfNeeded: s))
        try device.write32(bar0, at: regBase + HDIOVReg.sqBase + 4, UInt32(truncatingIfNeeded: s >> 32))
        try device.write32(bar0, at: regBase + HDIOVReg.cqBase, UInt32(truncatingIfNeeded: c))
        try device.write32(bar0, at: regBase + HDIOVReg.cqBase + 4, UInt32(truncatingIfNeeded: c >> 32))
        try device.write32(bar0, at: regBase + HDIOVReg.ringSize, UInt32(ringSize))
        try device.write32(bar0, at: regBase + HDIOVReg.irqCoalesce, coalesce)
        memset(cq.pointer, 0, cq.size)
        sqTail = 0
        cqHead = 0
        if enable {
            try device.write32(bar0, at: regBase + HDIOVReg.qpCtrl, 1 | (irq ? 2 : 0))
            if try device.read32(bar0, at: HDIOVReg.devCtrl) & 1 == 0 {
                try device.write32(bar0, at: HDIOVReg.devCtrl, 1)
            }
        }
    }

    public func register(_ off: UInt64) throws -> UInt32 { try device.read32(bar0, at: regBase + off) }
    public func setRegister(_ off: UInt64, _ value: UInt32) throws { try device.write32(bar0, at: regBase + off, value) }
    public var status: UInt32 { get throws { try register(HDIOVReg.qpStatus) } }

    /// Free SQ slots: the ring holds what has not been completed and reaped.
    public var space: Int { ringSize - Int(sqTail &- cqHead) }

    /// Write descriptors and ring the doorbell once. Returns true when a KICK was needed.
    @discardableResult
    public func submit(_ descriptors: [Descriptor]) throws -> Bool {
        guard descriptors.count <= space else {
            throw DataPathError("QP \(index): \(descriptors.count) descriptors but only \(space) free ring slots")
        }
        for d in descriptors {
            d.store(to: sq.pointer + Int(sqTail & UInt32(ringSize - 1)) * 64)
            sqTail &+= 1
        }
        return try ring()
    }

    /// Write descriptors into the SQ without ringing (publish them later with `ring()`).
    public func enqueue(_ descriptors: [Descriptor]) throws {
        guard descriptors.count <= space else {
            throw DataPathError("QP \(index): \(descriptors.count) descriptors but only \(space) free ring slots")
        }
        for d in descriptors {
            d.store(to: sq.pointer + Int(sqTail & UInt32(ringSize - 1)) * 64)
            sqTail &+= 1
        }
    }

    /// Publish SQ_TAIL; kick when the engine asked for it.
    @discardableResult
    public func ring() throws -> Bool {
        hdiov_mb()
        if trapped || doorbell == nil {
            try device.write32(bar2, at: UInt64(index) * 4096, sqTail)
            return false
        }
        hdiov_store32(doorbell!, sqTail)
        hdiov_mb()
        if hdiov_load32(doorbell! + 0x40) & 1 != 0 {
            try device.write32(bar0, at: HDIOVReg.kick, UInt32(index))
            kicks += 1
            return true
        }
        return false
    }

    /// Write SQ_TAIL once, without the NEED_KICK check: a store to the mapped page, or the
    /// trapped write. For measuring the doorbell itself.
    public func writeTail(trapped: Bool) throws {
        if trapped || doorbell == nil {
            try device.write32(bar2, at: UInt64(index) * 4096, sqTail)
        } else {
            hdiov_mb()
            hdiov_store32(doorbell!, sqTail)
        }
    }

    /// NEED_KICK as the engine last left it.
    public var needKick: Bool { doorbell.map { hdiov_load32($0 + 0x40) & 1 != 0 } ?? false }

    func entry(_ pos: UInt32) -> UnsafeMutableRawPointer { cq.pointer + Int(pos & UInt32(ringSize - 1)) * 16 }

    /// The completion at CQ position `pos`, if the device wrote it (phase bit matches).
    public func peek(_ pos: UInt32) -> Completion? {
        let e = entry(pos)
        let flags = hdiov_load16(e + 14)
        let expected: UInt16 = (pos & UInt32(ringSize)) == 0 ? 1 : 0
        guard flags & 1 == expected else { return nil }
        return Completion(cookie: UInt64(littleEndian: e.load(fromByteOffset: 0, as: UInt64.self)),
                          result: UInt32(littleEndian: e.load(fromByteOffset: 8, as: UInt32.self)),
                          rawStatus: e.load(fromByteOffset: 12, as: UInt8.self), flags: flags)
    }

    /// Take the completions that are there, and tell the device (CQ_HEAD).
    public func reap(max: Int = .max) throws -> [Completion] {
        var out: [Completion] = []
        while out.count < max, cqHead != sqTail, let c = peek(cqHead) {
            out.append(c)
            cqHead &+= 1
        }
        if !out.isEmpty { try publishHead() }
        return out
    }

    func publishHead() throws {
        hdiov_mb()
        if let doorbell { hdiov_store32(doorbell + 4, cqHead) } else { try device.write32(bar2, at: UInt64(index) * 4096 + 4, cqHead) }
    }

    /// Reap `count` completions, polling the phase bit, within `timeout` seconds.
    public func wait(count: Int, timeout: Double = 10) throws -> [Completion] {
        var out: [Completion] = []
        let deadline = Date().addingTimeInterval(timeout)
        var spins = 0
        while out.count < count {
            let got = try reap(max: count - out.count)
            out += got
            if got.isEmpty {
                if Date() > deadline {
                    throw DataPathError("QP \(index): \(out.count) of \(count) completions within \(timeout) s "
                        + "(SQ_HEAD \((try? register(HDIOVReg.sqHead)) ?? 0), CQ_TAIL \((try? register(HDIOVReg.cqTail)) ?? 0), "
                        + "QP_STATUS 0x\(String((try? status) ?? 0, radix: 16)))")
                }
                spins += 1
                if spins > 100 { usleep(50) }
            }
        }
        return out
    }

    /// Submit and wait for all of them, in ring-sized pieces.
    public func run(_ descriptors: [Descriptor], timeout: Double = 30) throws -> [Completion] {
        var out: [Completion] = []
        var i = 0
        while i < descriptors.count {
            let n = min(descriptors.count - i, ringSize)
            try submit(Array(descriptors[i..<i + n]))
            out += try wait(count: n, timeout: timeout)
            i += n
        }
        return out
    }
}

/// CRC32C (Castagnoli), reflected, in the chained form of the contract.
public enum CRC32C {
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    public static func checksum<C: Collection>(_ bytes: C, seed: UInt32 = 0) -> UInt32 where C.Element == UInt8 {
        var c = ~seed
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xff)] ^ (c >> 8) }
        return ~c
    }

    public static func checksum(_ p: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        var c = ~seed
        table.withUnsafeBufferPointer { t in
            for b in p { c = t[Int((c ^ UInt32(b)) & 0xff)] ^ (c >> 8) }
        }
        return ~c
    }
}
