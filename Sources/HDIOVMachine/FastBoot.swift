import Foundation

/// A quicker way into the kernel for a nested guest (`hdiov vm run --fast-boot`): QEMU loads the
/// uncompressed kernel (an ELF `vmlinux` with a PVH entry note; Debian builds CONFIG_PVH=y) and
/// enters it at its 32-bit PVH entry point. That skips the real-mode boot and the decompression
/// of `vmlinuz` (xz on 6.1, zstd on 6.12), which under TCG inside TCG are a good part of an inner
/// guest's boot. The kernel then runs exactly as it would otherwise.
///
/// (qboot instead of SeaBIOS would save a little more, but with a vfio-pci device attached it never
/// reaches the kernel; SeaBIOS stays.)
public struct FastBoot: Sendable, Equatable {
    /// The uncompressed kernel (`-kernel`).
    public var vmlinux: String

    public init(vmlinux: String) {
        self.vmlinux = vmlinux
    }

    // MARK: Pure parts

    public enum Compression: String, Sendable, Equatable {
        case xz, zstd, gzip
    }

    /// Where a bzImage's compressed kernel is and what it is: from the boot protocol's setup header
    /// (`setup_sects` at 0x1f1, `payload_offset`/`payload_length` at 0x248, protocol ≥ 2.08).
    public struct Payload: Sendable, Equatable {
        public var offset: Int
        public var length: Int
        public var compression: Compression
        /// The uncompressed size (the last four bytes of the payload, little endian).
        public var uncompressedSize: Int
    }

    public enum ParseError: Error, CustomStringConvertible, Equatable {
        case notABzImage(String)
        public var description: String {
            switch self { case let .notABzImage(why): return "not a bzImage the fast boot can unpack: \(why)" }
        }
    }

    public static func payload(ofBzImage d: [UInt8]) throws -> Payload {
        func le32(_ at: Int) -> Int {
            Int(d[at]) | Int(d[at + 1]) << 8 | Int(d[at + 2]) << 16 | Int(d[at + 3]) << 24
        }
        guard d.count > 0x250, Array(d[0x202..<0x206]) == Array("HdrS".utf8) else {
            throw ParseError.notABzImage("no HdrS setup header")
        }
        let version = Int(d[0x206]) | Int(d[0x207]) << 8
        guard version >= 0x208 else { throw ParseError.notABzImage(String(format: "boot protocol %x < 2.08", version)) }
        let setupSects = d[0x1f1] == 0 ? 4 : Int(d[0x1f1])
        let offset = (setupSects + 1) * 512 + le32(0x248)
        let length = le32(0x24c)
        guard length > 4, offset + length <= d.count else { throw ParseError.notABzImage("payload out of the file") }
        let magic = Array(d[offset..<min(offset + 6, d.count)])
        let compression: Compression
        if magic.starts(with: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) {
            compression = .xz
        } else if magic.starts(with: [0x28, 0xb5, 0x2f, 0xfd]) {
            compression = .zstd
        } else if magic.starts(with: [0x1f, 0x8b]) {
            compression = .gzip
        } else {
            throw ParseError.notABzImage("payload compression " + magic.map { String(format: "%02x", $0) }.joined() + " is not xz, zstd or gzip")
        }
        return Payload(offset: offset, length: length, compression: compression, uncompressedSize: le32(offset + length - 4))
    }

    /// The shell pipeline that decompresses the payload (cut out to `$1`) into `$2`: the kernel's
    /// build appends the size after the xz and zstd streams, which the decompressors must not read.
    static func decompressCommand(_ c: Compression) -> String {
        switch c {
        case .xz: return "xz -dc --single-stream \"$1\" > \"$2\""
        case .zstd: return "head -c -4 \"$1\" | zstd -dcq > \"$2\""
        case .gzip: return "gzip -dc \"$1\" > \"$2\"; [ $? -le 2 ]"
        }
    }

    // MARK: Preparing

    /// The uncompressed kernel next to `vmlinuz` in the cache (`boot/vmlinux-<release>`), unpacked
    /// on first use.
    public static func prepare(_ kernel: PreparedKernel, progress: (String) -> Void) throws -> FastBoot {
        let dir = (kernel.vmlinuz as NSString).deletingLastPathComponent
        let out = dir + "/vmlinux-" + kernel.release
        let fm = FileManager.default
        if fm.fileExists(atPath: out) { return FastBoot(vmlinux: out) }
        guard let data = fm.contents(atPath: kernel.vmlinuz) else {
            throw MachineError.badKernel("cannot read \(kernel.vmlinuz)")
        }
        let bytes = [UInt8](data)
        let p: Payload
        do { p = try payload(ofBzImage: bytes) } catch { throw MachineError.badKernel("\(kernel.vmlinuz): \(error)") }
        progress("unpacking the uncompressed kernel for --fast-boot (\(p.compression.rawValue), \(p.uncompressedSize >> 20) MiB) …")
        let tag = "\(getpid())-\(UUID().uuidString.prefix(8))"
        let compressed = dir + "/.payload-" + tag
        let tmp = out + ".tmp-" + tag
        defer { fm.removeIfPresent(compressed); fm.removeIfPresent(tmp) }
        try Data(bytes[p.offset..<(p.offset + p.length)]).write(to: URL(fileURLWithPath: compressed))
        try Shell.check("/bin/sh", ["-c", decompressCommand(p.compression), "sh", compressed, tmp])
        let size = ((try? fm.attributesOfItem(atPath: tmp))?[.size] as? NSNumber)?.intValue ?? -1
        let head = fm.contents(atPath: tmp).map { [UInt8]($0.prefix(4)) } ?? []
        guard size == p.uncompressedSize, head == [0x7f, 0x45, 0x4c, 0x46] else {
            throw MachineError.badKernel("unpacking \(kernel.vmlinuz) gave \(size) bytes, not the \(p.uncompressedSize)-byte ELF vmlinux")
        }
        guard rename(tmp, out) == 0 else {
            throw MachineError.commandFailed(command: "rename \(tmp) to \(out)", status: errno, output: "")
        }
        return FastBoot(vmlinux: out)
    }
}
