import CHDIOVShim
import Foundation

/// Moves bytes through a VDEV's engine: COPY in chunks from one DMA buffer to another on one
/// queue pair, then CRC32C of the destination computed by the device (chained chunk by
/// chunk) against the Swift reference. What `hdiov io --copy` runs.
public struct CopyThrough {
    public struct Result: Sendable {
        public var bytes: Int
        public var descriptors: Int
        /// Wall time of the COPY descriptors alone.
        public var seconds: Double
        public var deviceCRC: UInt32
        public var referenceCRC: UInt32
        /// The destination equals the source byte for byte.
        public var identical: Bool
        public var matches: Bool { identical && deviceCRC == referenceCRC }
    }

    /// A setting the device cannot take: which one (`qp`, `chunk`, `ring`) and why.
    public struct BadSetting: Error, CustomStringConvertible, Sendable {
        public var setting: String
        public var value: Int
        public var problem: String
        public var description: String { "\(setting) \(value): \(problem)" }
    }

    public var queuePair = 0
    public var chunk = 1 << 20
    public var ringSize = 64
    /// IOVAs: rings at 256 MiB and 512 MiB, the source at 1 GiB, the destination after it.
    static let sqIOVA: UInt64 = 0x1000_0000, cqIOVA: UInt64 = 0x2000_0000, dataIOVA: UInt64 = 0x4000_0000

    public init(queuePair: Int = 0, chunk: Int = 1 << 20, ringSize: Int = 64) {
        self.queuePair = queuePair
        self.chunk = chunk
        self.ringSize = ringSize
    }

    /// Copies `data` through `device` (opened, not used by anyone else) and checks it.
    public func run(_ data: Data, device dev: VFIODevice) throws -> Result {
        let bar0 = try dev.regionInfo(.bar0)
        let maxXfer = Int(try dev.read32(bar0, at: HDIOVReg.maxXfer))
        let qps = Int(try dev.read32(bar0, at: HDIOVReg.numQPs))
        guard queuePair >= 0 && queuePair < qps else {
            throw BadSetting(setting: "qp", value: queuePair, problem: "the VDEV has \(qps) queue pairs")
        }
        guard chunk >= 1 && chunk <= maxXfer else {
            throw BadSetting(setting: "chunk", value: chunk, problem: "must be 1 to MAX_XFER (\(maxXfer))")
        }
        guard ringSize >= 2 && ringSize & (ringSize - 1) == 0 else {
            throw BadSetting(setting: "ring", value: ringSize, problem: "a power of two from 2")
        }
        let size = max(data.count, 1)
        let src = try dev.mapDMA(size: size, iova: Self.dataIOVA)
        let dst = try dev.mapDMA(size: size, iova: Self.dataIOVA + UInt64(src.size) + 0x10_0000)
        data.withUnsafeBytes { src.pointer.copyMemory(from: $0.baseAddress!, byteCount: data.count) }
        let bar2 = try dev.regionInfo(.bar2)
        let mapped = qps * HDIOVBits.doorbellPage
        let doorbells = try dev.map(bar2, size: mapped)
        defer { munmap(doorbells, mapped) }
        let q = try QueuePair(device: dev, index: queuePair, ringSize: ringSize, sqIOVA: Self.sqIOVA,
                              cqIOVA: Self.cqIOVA, doorbells: doorbells)
        var descriptors: [Descriptor] = []
        for off in stride(from: 0, to: data.count, by: chunk) {
            let n = min(chunk, data.count - off)
            descriptors.append(.copy(src: src.iova + UInt64(off), dst: dst.iova + UInt64(off), length: n, cookie: UInt64(off)))
        }
        let start = Date()
        let done = try q.run(descriptors, timeout: 60)
        let seconds = Date().timeIntervalSince(start)
        if let bad = done.first(where: { $0.status != .ok }) {
            throw DataPathError("COPY at offset \(bad.cookie): status \(bad.status.map { "\($0)" } ?? "\(bad.rawStatus)")")
        }
        var crc: UInt32 = 0
        for off in stride(from: 0, to: data.count, by: chunk) {
            let n = min(chunk, data.count - off)
            let c = try q.run([.crc32c(src: dst.iova + UInt64(off), length: n, seed: crc)])
            guard c[0].status == .ok else { throw DataPathError("CRC32C at offset \(off): status \(c[0].rawStatus)") }
            crc = c[0].result
        }
        return Result(bytes: data.count, descriptors: descriptors.count, seconds: seconds, deviceCRC: crc,
                      referenceCRC: data.withUnsafeBytes { CRC32C.checksum($0) },
                      identical: memcmp(src.pointer, dst.pointer, data.count) == 0)
    }
}
