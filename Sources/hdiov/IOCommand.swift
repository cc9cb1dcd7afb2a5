import ArgumentParser
import Foundation
import HDIOVVFIO

/// `hdiov io UUID --copy FILE`: move a file's bytes through a VDEV (COPY in chunks),
/// check them with the device's CRC32C against a Swift reference, print throughput.
struct IOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "io",
        abstract: "Move a file's bytes through a VDEV's data path and check them (CRC32C).")

    @Argument(help: "The VDEV's UUID (it must not be open elsewhere).")
    var uuid: String

    @Option(name: .customLong("copy"), help: "The file whose bytes to copy through the device.")
    var file: String

    @Option(help: "Bytes per COPY descriptor (at most the device's MAX_XFER).")
    var chunk: Int = 1 << 20

    @Option(help: "Queue pair to use.")
    var qp: Int = 0

    @Option(help: "Ring entries (power of two, 2..MAX_RING).")
    var ring: Int = 64

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ValidationError("\(file): cannot read")
        }
        let dev = try VFIODevice(uuid: uuid)
        defer { dev.close() }
        let bar0 = try dev.regionInfo(.bar0)
        let maxXfer = Int(try dev.read32(bar0, at: HDIOVReg.maxXfer))
        let qps = Int(try dev.read32(bar0, at: HDIOVReg.numQPs))
        guard qp >= 0 && qp < qps else { throw ValidationError("--qp \(qp): the VDEV has \(qps) queue pairs") }
        guard chunk >= 1 && chunk <= maxXfer else { throw ValidationError("--chunk \(chunk): must be 1 to MAX_XFER (\(maxXfer))") }
        guard ring >= 2 && ring & (ring - 1) == 0 else { throw ValidationError("--ring \(ring): a power of two from 2") }
        let size = max(data.count, 1)
        let src = try dev.mapDMA(size: size, iova: 0x4000_0000)
        let dst = try dev.mapDMA(size: size, iova: 0x4000_0000 + UInt64(src.size) + 0x10_0000)
        data.withUnsafeBytes { src.pointer.copyMemory(from: $0.baseAddress!, byteCount: data.count) }
        let bar2 = try dev.regionInfo(.bar2)
        let doorbells = try dev.map(bar2, size: qps * 4096)
        defer { munmap(doorbells, qps * 4096) }
        let q = try QueuePair(device: dev, index: qp, ringSize: ring, sqIOVA: 0x1000_0000, cqIOVA: 0x2000_0000,
                              doorbells: doorbells)

        var descriptors: [Descriptor] = []
        var off = 0
        while off < data.count {
            let n = min(chunk, data.count - off)
            descriptors.append(.copy(src: src.iova + UInt64(off), dst: dst.iova + UInt64(off), length: n, cookie: UInt64(off)))
            off += n
        }
        let start = Date()
        let done = try q.run(descriptors, timeout: 60)
        let seconds = Date().timeIntervalSince(start)
        if let bad = done.first(where: { $0.rawStatus != 0 }) {
            throw DataPathError("COPY at offset \(bad.cookie): status \(bad.status.map { "\($0)" } ?? "\(bad.rawStatus)")")
        }
        // CRC32C of the destination, chained through the device, chunk by chunk.
        var crc: UInt32 = 0
        off = 0
        while off < data.count {
            let n = min(chunk, data.count - off)
            let c = try q.run([.crc32c(src: dst.iova + UInt64(off), length: n, seed: crc)])
            guard c[0].rawStatus == 0 else { throw DataPathError("CRC32C at offset \(off): status \(c[0].rawStatus)") }
            crc = c[0].result
            off += n
        }
        let reference = data.withUnsafeBytes { CRC32C.checksum($0) }
        let same = memcmp(src.pointer, dst.pointer, data.count) == 0
        let mib = Double(data.count) / 1_048_576
        print(String(format: "%@: %d bytes in %d COPY descriptors, %.3f s, %.1f MiB/s", file, data.count,
                     descriptors.count, seconds, seconds > 0 ? mib / seconds : 0))
        print(String(format: "CRC32C device 0x%08x, reference 0x%08x: %@", crc, reference,
                     crc == reference && same ? "match" : "MISMATCH"))
        if crc != reference || !same { throw ExitCode(1) }
    }
}
