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
        let r: CopyThrough.Result
        do {
            r = try CopyThrough(queuePair: qp, chunk: chunk, ringSize: ring).run(data, device: dev)
        } catch let e as CopyThrough.BadSetting {
            throw ValidationError("--\(e.description)")
        }
        let mib = Double(r.bytes) / 1_048_576
        print(String(format: "%@: %d bytes in %d COPY descriptors, %.3f s, %.1f MiB/s", file, r.bytes,
                     r.descriptors, r.seconds, r.seconds > 0 ? mib / r.seconds : 0))
        print(String(format: "CRC32C device 0x%08x, reference 0x%08x: %@", r.deviceCRC, r.referenceCRC,
                     r.matches ? "match" : "MISMATCH"))
        if !r.matches { throw ExitCode(1) }
    }
}
