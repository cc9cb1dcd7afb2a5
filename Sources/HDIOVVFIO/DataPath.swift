import CHDIOVABI
import CHDIOVShim
import Foundation

/// Descriptor opcodes and completion statuses (contract section 7; values from hdiov_abi.h).
public enum HDIOVOp: UInt8, Sendable, CaseIterable {
    case nop, copy, fill, crc32c, compare

    public var rawValue: UInt8 {
        switch self {
        case .nop: UInt8(HDIOV_OP_NOP)
        case .copy: UInt8(HDIOV_OP_COPY)
        case .fill: UInt8(HDIOV_OP_FILL)
        case .crc32c: UInt8(HDIOV_OP_CRC32C)
        case .compare: UInt8(HDIOV_OP_COMPARE)
        }
    }

    public init?(rawValue: UInt8) {
        guard let op = Self.allCases.first(where: { $0.rawValue == rawValue }) else { return nil }
        self = op
    }
}

public enum HDIOVStatus: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case ok, badOpcode, badLength, dmaFault, aborted

    public var rawValue: UInt8 {
        switch self {
        case .ok: UInt8(HDIOV_ST_OK)
        case .badOpcode: UInt8(HDIOV_ST_BAD_OPCODE)
        case .badLength: UInt8(HDIOV_ST_BAD_LENGTH)
        case .dmaFault: UInt8(HDIOV_ST_DMA_FAULT)
        case .aborted: UInt8(HDIOV_ST_ABORTED)
        }
    }

    public init?(rawValue: UInt8) {
        guard let st = Self.allCases.first(where: { $0.rawValue == rawValue }) else { return nil }
        self = st
    }

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

/// A submission entry (`struct hdiov_sqe`).
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
        Descriptor(opcode: HDIOVOp.nop.rawValue, flags: irq ? UInt8(HDIOV_SQE_IRQ) : 0, cookie: cookie)
    }
    public static func copy(src: UInt64, dst: UInt64, length: Int, cookie: UInt64 = 0, irq: Bool = false) -> Descriptor {
        Descriptor(opcode: HDIOVOp.copy.rawValue, flags: irq ? UInt8(HDIOV_SQE_IRQ) : 0, length: UInt32(length), src: src, dst: dst, cookie: cookie)
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

    /// The entry as the device reads it (little endian, reserved bytes zero).
    public var entry: hdiov_sqe {
        var e = hdiov_sqe()
        e.opcode = opcode
        e.flags = flags
        e.len = length.littleEndian
        e.src = src.littleEndian
        e.dst = dst.littleEndian
        e.pattern = pattern.littleEndian
        e.cookie = cookie.littleEndian
        return e
    }

    public func store(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: entry, as: hdiov_sqe.self)
    }
}

/// A completion entry (`struct hdiov_cqe`).
public struct Completion: Sendable, Equatable {
    public var cookie: UInt64
    public var result: UInt32
    public var rawStatus: UInt8
    public var flags: UInt16
    public var status: HDIOVStatus? { HDIOVStatus(rawValue: rawStatus) }
    public var phase: Bool { flags & UInt16(HDIOV_CQE_PHASE) != 0 }
}

/// A data-path failure, in words.
public struct DataPathError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Anonymous memory mapped into the device's IOVA space (VFIO_IOMMU_MAP_DMA); read-only
/// for the device when not `writable` (the process can always write it).
public final class DMABuffer {
    public let pointer: UnsafeMutableRawPointer
    public let size: Int
    public let iova: UInt64
    public let writable: Bool
    private let container: Int32
    private var mapped = true

    init(container: Int32, size: Int, iova: UInt64, writable: Bool = true) throws(VFIOError) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let rounded = (size + page - 1) / page * page
        let p = mmap(nil, rounded, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)
        guard let p, p != MAP_FAILED else { throw VFIOError(operation: "mmap \(rounded) anonymous bytes", path: "DMA", errno: errno) }
        memset(p, 0, rounded)
        let r = hdiov_vfio_dma_map_prot(container, p, iova, UInt64(rounded), writable ? 1 : 0)
        if r < 0 {
            munmap(p, rounded)
            throw VFIOError(operation: String(format: "VFIO_IOMMU_MAP_DMA %d bytes at IOVA 0x%llx", rounded, iova), path: "container", errno: -r)
        }
        self.pointer = p
        self.size = rounded
        self.iova = iova
        self.writable = writable
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
    /// Map `size` bytes of fresh anonymous memory at `iova` (device-writable unless `writable` is false).
    public func mapDMA(size: Int, iova: UInt64, writable: Bool = true) throws(VFIOError) -> DMABuffer {
        try DMABuffer(container: container, size: size, iova: iova, writable: writable)
    }

    public func unmaskINTx() throws(VFIOError) {
        _ = try vfioCheck(hdiov_vfio_unmask_intx(fd), "VFIO_DEVICE_SET_IRQS unmask INTx", uuid)
    }
}

/// BAR0 register offsets (contract section 5; from hdiov_abi.h).
public enum HDIOVReg {
    public static let id = UInt64(HDIOV_REG_ID), version = UInt64(HDIOV_REG_VERSION)
    public static let caps = UInt64(HDIOV_REG_CAPS), numQPs = UInt64(HDIOV_REG_NUM_QPS)
    public static let maxRing = UInt64(HDIOV_REG_MAX_RING), maxXfer = UInt64(HDIOV_REG_MAX_XFER)
    public static let devCtrl = UInt64(HDIOV_REG_DEV_CTRL), devStatus = UInt64(HDIOV_REG_DEV_STATUS)
    public static let kick = UInt64(HDIOV_REG_KICK)
    public static let msixTable = UInt64(HDIOV_MSIX_TABLE), msixPBA = UInt64(HDIOV_MSIX_PBA)
    public static let bar0Size = UInt64(HDIOV_BAR0_SIZE)
    /// The register block of QP `i`.
    public static func qp(_ i: Int) -> UInt64 { UInt64(HDIOV_REG_QP_BASE) + UInt64(HDIOV_REG_QP_STRIDE) * UInt64(i) }
    public static let qpStride = UInt64(HDIOV_REG_QP_STRIDE)
    public static let sqBase = UInt64(HDIOV_QP_SQ_BASE_LO), cqBase = UInt64(HDIOV_QP_CQ_BASE_LO)
    public static let ringSize = UInt64(HDIOV_QP_RING_SIZE), qpCtrl = UInt64(HDIOV_QP_CTRL)
    public static let qpStatus = UInt64(HDIOV_QP_STATUS), msixVector = UInt64(HDIOV_QP_MSIX_VECTOR)
    public static let sqHead = UInt64(HDIOV_QP_SQ_HEAD), cqTail = UInt64(HDIOV_QP_CQ_TAIL)
    public static let irqCoalesce = UInt64(HDIOV_QP_IRQ_COALESCE)
}

/// Register bits and values (contract sections 5 and 6; from hdiov_abi.h).
public enum HDIOVBits {
    public static let idValue = UInt32(HDIOV_ID_VALUE), versionValue = UInt32(HDIOV_VERSION_VALUE)
    public static let devEnable = UInt32(HDIOV_DEV_CTRL_ENABLE), devReset = UInt32(HDIOV_DEV_CTRL_RESET)
    public static let devEnabled = UInt32(HDIOV_DEV_STATUS_ENABLED), devFatal = UInt32(HDIOV_DEV_STATUS_FATAL)
    public static let qpEnable = UInt32(HDIOV_QP_CTRL_ENABLE), qpIRQEnable = UInt32(HDIOV_QP_CTRL_IRQ_ENABLE)
    public static let qpReset = UInt32(HDIOV_QP_CTRL_RESET)
    public static let qpEnabled = UInt32(HDIOV_QP_STATUS_ENABLED), qpError = UInt32(HDIOV_QP_STATUS_ERROR)
    public static let needKick = UInt32(HDIOV_DB_NEED_KICK)
    /// Doorbell page: size, SQ_TAIL, CQ_HEAD and ENGINE_FLAGS offsets.
    public static let doorbellPage = Int(HDIOV_DB_PAGE)
    public static let dbSQTail = Int(HDIOV_DB_SQ_TAIL), dbCQHead = Int(HDIOV_DB_CQ_HEAD)
    public static let dbEngineFlags = Int(HDIOV_DB_ENGINE_FLAGS)
    public static let sqeSize = MemoryLayout<hdiov_sqe>.size, cqeSize = MemoryLayout<hdiov_cqe>.size
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
        sq = try device.mapDMA(size: ringSize * HDIOVBits.sqeSize, iova: sqIOVA)
        cq = try device.mapDMA(size: ringSize * HDIOVBits.cqeSize, iova: cqIOVA)
        doorbell = doorbells.map { $0 + index * HDIOVBits.doorbellPage }
        try program(sqIOVA: sqIOVA, cqIOVA: cqIOVA, irq: irq, coalesce: coalesce, enable: enable)
    }

    /// Reset the QP and write its registers; the driver-side indices restart at 0.
    public func program(sqIOVA: UInt64? = nil, cqIOVA: UInt64? = nil, irq: Bool = false, coalesce: UInt32 = 0,
                        enable: Bool = true) throws {
        let s = sqIOVA ?? sq.iova, c = cqIOVA ?? cq.iova
        try device.write32(bar0, at: regBase + HDIOVReg.qpCtrl, HDIOVBits.qpReset)
        try device.write32(bar0, at: regBase + HDIOVReg.sqBase, UInt32(truncatingIfNeeded: s))
        try device.write32(bar0, at: UInt64(HDIOV_QP_SQ_BASE_HI) + regBase, UInt32(truncatingIfNeeded: s >> 32))
        try device.write32(bar0, at: regBase + HDIOVReg.cqBase, UInt32(truncatingIfNeeded: c))
        try device.write32(bar0, at: UInt64(HDIOV_QP_CQ_BASE_HI) + regBase, UInt32(truncatingIfNeeded: c >> 32))
        try device.write32(bar0, at: regBase + HDIOVReg.ringSize, UInt32(ringSize))
        try device.write32(bar0, at: regBase + HDIOVReg.irqCoalesce, coalesce)
        memset(cq.pointer, 0, cq.size)
        sqTail = 0
        cqHead = 0
        if enable {
            try device.write32(bar0, at: regBase + HDIOVReg.qpCtrl, HDIOVBits.qpEnable | (irq ? HDIOVBits.qpIRQEnable : 0))
            if try device.read32(bar0, at: HDIOVReg.devCtrl) & HDIOVBits.devEnable == 0 {
                try device.write32(bar0, at: HDIOVReg.devCtrl, HDIOVBits.devEnable)
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
            d.store(to: sq.pointer + Int(sqTail & UInt32(ringSize - 1)) * HDIOVBits.sqeSize)
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
            d.store(to: sq.pointer + Int(sqTail & UInt32(ringSize - 1)) * HDIOVBits.sqeSize)
            sqTail &+= 1
        }
    }

    /// Publish SQ_TAIL; kick when the engine asked for it.
    @discardableResult
    public func ring() throws -> Bool {
        hdiov_mb()
        if trapped || doorbell == nil {
            try device.write32(bar2, at: UInt64(index * HDIOVBits.doorbellPage + HDIOVBits.dbSQTail), sqTail)
            return false
        }
        hdiov_store32(doorbell! + HDIOVBits.dbSQTail, sqTail)
        hdiov_mb()
        if hdiov_load32(doorbell! + HDIOVBits.dbEngineFlags) & HDIOVBits.needKick != 0 {
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
            try device.write32(bar2, at: UInt64(index * HDIOVBits.doorbellPage + HDIOVBits.dbSQTail), sqTail)
        } else {
            hdiov_mb()
            hdiov_store32(doorbell! + HDIOVBits.dbSQTail, sqTail)
        }
    }

    /// NEED_KICK as the engine last left it.
    public var needKick: Bool { doorbell.map { hdiov_load32($0 + HDIOVBits.dbEngineFlags) & HDIOVBits.needKick != 0 } ?? false }

    func entry(_ pos: UInt32) -> UnsafeMutableRawPointer { cq.pointer + Int(pos & UInt32(ringSize - 1)) * HDIOVBits.cqeSize }

    /// The completion at CQ position `pos`, if the device wrote it (phase bit matches).
    public func peek(_ pos: UInt32) -> Completion? {
        let e = entry(pos)
        let flags = hdiov_load16(e + MemoryLayout<hdiov_cqe>.offset(of: \.flags)!)
        let phase = UInt16(HDIOV_CQE_PHASE)
        let expected: UInt16 = (pos & UInt32(ringSize)) == 0 ? phase : 0
        guard flags & phase == expected else { return nil }
        let c = e.load(as: hdiov_cqe.self)
        return Completion(cookie: UInt64(littleEndian: c.cookie), result: UInt32(littleEndian: c.result),
                          rawStatus: c.status, flags: flags)
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
        if let doorbell { hdiov_store32(doorbell + HDIOVBits.dbCQHead, cqHead) } else { try device.write32(bar2, at: UInt64(index * HDIOVBits.doorbellPage + HDIOVBits.dbCQHead), cqHead) }
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
