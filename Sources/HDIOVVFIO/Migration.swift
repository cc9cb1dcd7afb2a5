import CHDIOVABI
import CHDIOVShim
import Foundation

/// VFIO migration v2 states (`enum vfio_device_mig_state`).
public enum MigrationState: UInt32, Sendable, CustomStringConvertible {
    case error = 0, stop, running, stopCopy, resuming, runningP2P, preCopy, preCopyP2P

    public var description: String {
        switch self {
        case .error: "ERROR"
        case .stop: "STOP"
        case .running: "RUNNING"
        case .stopCopy: "STOP_COPY"
        case .resuming: "RESUMING"
        case .runningP2P: "RUNNING_P2P"
        case .preCopy: "PRE_COPY"
        case .preCopyP2P: "PRE_COPY_P2P"
        }
    }
}

/// The migration capabilities a device offers (`VFIO_DEVICE_FEATURE_MIGRATION`).
public struct MigrationFlags: OptionSet, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public static let stopCopy = MigrationFlags(rawValue: UInt64(HDIOV_MIG_FLAG_STOP_COPY))
    public static let p2p = MigrationFlags(rawValue: UInt64(HDIOV_MIG_FLAG_P2P))
    public static let preCopy = MigrationFlags(rawValue: UInt64(HDIOV_MIG_FLAG_PRE_COPY))
}

/// The HD-IOV device state format (contract section 10): sizes and field offsets.
public enum MigrationFormat {
    public static let magic: UInt32 = 0x4d56_4448
    public static let version: UInt32 = 1
    public static let headerSize = 64
    public static let deviceSize = 320
    public static let qpRecordSize = 64
    /// Header field offsets.
    public static let magicOffset = 0, versionOffset = 4, specHashOffset = 8, typeIdOffset = 24
    public static let nrQPsOffset = 40, lengthOffset = 44, contractOffset = 48, flagsOffset = 52
    public static let reservedOffset = 56, crcOffset = 60
    /// Device section offsets (from the start of the state).
    public static let cfgOffset = 64, devCtrlOffset = 64 + 256, weightOffset = 64 + 264
    public static func tableOffset(qps: Int) -> Int { headerSize + deviceSize }
    public static func pbaOffset(qps: Int) -> Int { tableOffset(qps: qps) + (1 + qps) * Int(HDIOV_MSIX_ENTRY_SIZE) }
    public static func pbaSize(qps: Int) -> Int { (1 + qps + 63) / 64 * 8 }
    /// Offset of QP `i`'s record.
    public static func qpOffset(qps: Int, _ i: Int) -> Int { pbaOffset(qps: qps) + pbaSize(qps: qps) + i * qpRecordSize }
    /// Offsets inside a QP record.
    public static let qpSQBase = 0, qpCQBase = 8, qpRingSize = 16, qpCtrl = 20, qpStatus = 24, qpMSIXVector = 28
    public static let qpSQHead = 32, qpCQTail = 36, qpIRQCoalesce = 40, qpIRQPending = 44
    public static let qpSQTail = 48, qpCQHead = 52, qpPhase = 56, qpReserved = 60
    /// The state's size for a VDEV with `qps` queue pairs.
    public static func size(qps: Int) -> Int { qpOffset(qps: qps, qps) }

    public static func load32(_ b: [UInt8], _ off: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[off + $1]) << (8 * UInt32($1)) }
    }
    public static func store32(_ b: inout [UInt8], _ off: Int, _ v: UInt32) {
        for k in 0..<4 { b[off + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(k))) }
    }
    /// Recompute the CRC32C of a state (over the whole state, its CRC field zero).
    public static func fixCRC(_ b: inout [UInt8]) {
        guard b.count >= headerSize else { return }
        store32(&b, crcOffset, 0)
        store32(&b, crcOffset, CRC32C.checksum(b))
    }
}

extension VFIODevice {
    public func migrationFlags() throws(VFIOError) -> MigrationFlags {
        var flags: UInt64 = 0
        _ = try vfioCheck(hdiov_vfio_mig_flags(fd, &flags), "VFIO_DEVICE_FEATURE_MIGRATION", uuid)
        return MigrationFlags(rawValue: flags)
    }

    /// Move to `state`; returns the data file (saving or resuming) when the kernel hands one out.
    @discardableResult
    public func setMigrationState(_ state: MigrationState) throws(VFIOError) -> Int32? {
        var dataFD: Int32 = -1
        _ = try vfioCheck(hdiov_vfio_mig_set_state(fd, state.rawValue, &dataFD), "MIG_DEVICE_STATE \(state)", uuid)
        return dataFD >= 0 ? dataFD : nil
    }

    public func migrationState() throws(VFIOError) -> MigrationState {
        var s: UInt32 = 0
        _ = try vfioCheck(hdiov_vfio_mig_get_state(fd, &s), "MIG_DEVICE_STATE GET", uuid)
        return MigrationState(rawValue: s) ?? .error
    }

    /// VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, or nil where the kernel lacks it.
    public func migrationDataSize() throws(VFIOError) -> UInt64? {
        var size: UInt64 = 0
        let r = hdiov_vfio_mig_data_size(fd, &size)
        if r == -ENOTTY || r == -EINVAL { return nil }
        _ = try vfioCheck(r, "VFIO_DEVICE_FEATURE_MIG_DATA_SIZE", uuid)
        return size
    }

    /// Save: the device goes to STOP_COPY (through the states the core chooses); returns the state.
    public func saveState() throws(VFIOError) -> [UInt8] {
        guard let data = try setMigrationState(.stopCopy) else {
            throw VFIOError(operation: "STOP_COPY returned no data file", path: uuid, errno: EIO)
        }
        defer { Glibc.close(data) }
        return try readMigrationData(data)
    }

    /// Resume: RESUMING, write `state`, then `final` (STOP or RUNNING). Errors carry the errno
    /// of the step that failed; the device is left where that step left it.
    public func resumeState(_ state: [UInt8], then final: MigrationState = .running) throws(VFIOError) {
        guard let data = try setMigrationState(.resuming) else {
            throw VFIOError(operation: "RESUMING returned no data file", path: uuid, errno: EIO)
        }
        defer { Glibc.close(data) }
        try writeMigrationData(data, state)
        try setMigrationState(final)
    }

    // Type1 dirty page tracking of this device's container.
    public func startDirtyTracking() throws(VFIOError) {
        _ = try vfioCheck(hdiov_vfio_dirty_start(container), "VFIO_IOMMU_DIRTY_PAGES START", "container")
    }

    public func stopDirtyTracking() throws(VFIOError) {
        _ = try vfioCheck(hdiov_vfio_dirty_stop(container), "VFIO_IOMMU_DIRTY_PAGES STOP", "container")
    }

    /// The dirty pages of one whole mapping, as page indices from `iova`.
    public func dirtyPages(iova: UInt64, size: Int, pageSize: Int = 4096) throws(VFIOError) -> Set<Int> {
        let pages = (size + pageSize - 1) / pageSize
        var bitmap = [UInt64](repeating: 0, count: (pages + 63) / 64)
        let r = bitmap.withUnsafeMutableBufferPointer {
            hdiov_vfio_dirty_bitmap(container, iova, UInt64(size), UInt64(pageSize), $0.baseAddress, UInt64($0.count * 8))
        }
        _ = try vfioCheck(r, "VFIO_IOMMU_DIRTY_PAGES GET_BITMAP", "container")
        return Set((0..<pages).filter { bitmap[$0 / 64] & (1 << UInt64($0 % 64)) != 0 })
    }
}

/// Read a migration data file to its end.
public func readMigrationData(_ fd: Int32) throws(VFIOError) -> [UInt8] {
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw VFIOError(operation: "read migration data", path: "data fd", errno: errno)
        }
        if n == 0 { return out }
        out += buf[0..<n]
    }
}

/// Write all of `bytes` to a migration data file.
public func writeMigrationData(_ fd: Int32, _ bytes: [UInt8]) throws(VFIOError) {
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
        if n < 0 {
            if errno == EINTR { continue }
            throw VFIOError(operation: "write migration data", path: "data fd", errno: errno)
        }
        done += n
    }
}

/// Memory already mapped for one device, mapped at the same IOVA in another device's
/// container (a migration target sees the guest memory the source saw).
public final class DMAAlias {
    public let iova: UInt64
    public let size: Int
    private let container: Int32

    public init(_ buffer: DMABuffer, into device: VFIODevice) throws(VFIOError) {
        let r = hdiov_vfio_dma_map_prot(device.container, buffer.pointer, buffer.iova, UInt64(buffer.size),
                                        buffer.writable ? 1 : 0)
        _ = try vfioCheck(r, String(format: "VFIO_IOMMU_MAP_DMA alias at IOVA 0x%llx", buffer.iova), "container")
        iova = buffer.iova
        size = buffer.size
        container = device.container
    }

    deinit { _ = hdiov_vfio_dma_unmap(container, iova, UInt64(size)) }
}

/// The driver side of a queue pair that moves between devices: the rings stay where they are
/// (guest memory), the indices go on; only the doorbell page changes.
public final class MigratingQueue {
    public let index: Int
    public let ringSize: Int
    let sq: UnsafeMutableRawPointer
    let cq: UnsafeMutableRawPointer
    public private(set) var device: VFIODevice
    private var doorbell: UnsafeMutableRawPointer
    private var bar0: VFIORegionInfo
    public private(set) var sqTail: UInt32
    public private(set) var cqHead: UInt32

    /// Take over `qp` (programmed and driven so far through `QueuePair`) on its own device.
    public init(_ qp: QueuePair, doorbells: UnsafeMutableRawPointer) {
        index = qp.index
        ringSize = qp.ringSize
        sq = qp.sq.pointer
        cq = qp.cq.pointer
        device = qp.device
        bar0 = qp.bar0
        doorbell = doorbells + qp.index * HDIOVBits.doorbellPage
        sqTail = qp.sqTail
        cqHead = qp.cqHead
    }

    /// Continue on `device` (resumed from this queue's device), whose doorbell pages are mapped at `doorbells`.
    public func move(to device: VFIODevice, doorbells: UnsafeMutableRawPointer) throws {
        self.device = device
        bar0 = try device.regionInfo(.bar0)
        doorbell = doorbells + index * HDIOVBits.doorbellPage
    }

    public func register(_ off: UInt64) throws -> UInt32 { try device.read32(bar0, at: HDIOVReg.qp(index) + off) }

    public var space: Int { ringSize - Int(sqTail &- cqHead) }

    /// Write descriptors and publish SQ_TAIL (kicking when asked).
    public func submit(_ descriptors: [Descriptor]) throws {
        guard descriptors.count <= space else { throw DataPathError("QP \(index): ring full") }
        for d in descriptors {
            d.store(to: sq + Int(sqTail & UInt32(ringSize - 1)) * HDIOVBits.sqeSize)
            sqTail &+= 1
        }
        try ring()
    }

    public func ring() throws {
        hdiov_mb()
        hdiov_store32(doorbell + HDIOVBits.dbSQTail, sqTail)
        hdiov_mb()
        if hdiov_load32(doorbell + HDIOVBits.dbEngineFlags) & HDIOVBits.needKick != 0 {
            try device.write32(bar0, at: HDIOVReg.kick, UInt32(index))
        }
    }

    /// The completion at CQ position `pos`, if written (phase bit matches).
    public func peek(_ pos: UInt32) -> Completion? {
        let e = cq + Int(pos & UInt32(ringSize - 1)) * HDIOVBits.cqeSize
        let flags = hdiov_load16(e + MemoryLayout<hdiov_cqe>.offset(of: \.flags)!)
        let phase = UInt16(HDIOV_CQE_PHASE)
        guard flags & phase == ((pos & UInt32(ringSize)) == 0 ? phase : 0) else { return nil }
        let c = e.load(as: hdiov_cqe.self)
        return Completion(cookie: UInt64(littleEndian: c.cookie), result: UInt32(littleEndian: c.result),
                          rawStatus: c.status, flags: flags)
    }

    /// Take what has completed and publish CQ_HEAD.
    public func reap() -> [Completion] {
        var out: [Completion] = []
        while cqHead != sqTail, let c = peek(cqHead) {
            out.append(c)
            cqHead &+= 1
        }
        if !out.isEmpty {
            hdiov_mb()
            hdiov_store32(doorbell + HDIOVBits.dbCQHead, cqHead)
        }
        return out
    }

    /// Reap until `count` completions, within `timeout` seconds.
    public func wait(count: Int, timeout: Double = 20) throws -> [Completion] {
        var out: [Completion] = []
        let deadline = Date().addingTimeInterval(timeout)
        while out.count < count {
            let got = reap()
            out += got
            if got.isEmpty {
                if Date() > deadline {
                    throw DataPathError("QP \(index): \(out.count) of \(count) completions within \(timeout) s "
                        + "(SQ_HEAD \((try? register(HDIOVReg.sqHead)) ?? 0), QP_STATUS 0x\(String((try? register(HDIOVReg.qpStatus)) ?? 0, radix: 16)))")
                }
                usleep(100)
            }
        }
        return out
    }
}
