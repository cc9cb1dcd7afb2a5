import Foundation
import HDIOVModules

#if canImport(Glibc)
import Glibc
#endif

/// One transfer size: Linux's dmatest (memcpy through a guest driver channel, one transfer at a
/// time, no verification) vs memcpy by the CPU of the same guest.
public struct NestedCopyRow: Codable, Equatable, Sendable {
    public var bytes: Int
    public var transfers: Int
    public var dmatestIops: Double
    public var dmatestMiBps: Double
    public var memcpyMiBps: Double
    public var ratio: Double { memcpyMiBps > 0 ? dmatestMiBps / memcpyMiBps : 0 }
}

/// `hdiov bench vm`: what a VM sees of a VDEV through the generated guest driver.
public struct NestedBenchResult: Codable, Equatable, Sendable {
    public var kernel: String
    public var machine: String
    public var date: String
    public var channels: Int
    /// insmod of the guest driver (probe, MSI-X, rings, crc32c registration and its self-test).
    public var bindMs: Double
    /// The driver's "first completion N us after probe began" (the crc32c self-test's first).
    public var probeToFirstCompletionUs: Int?
    public var copy: [NestedCopyRow]

    public func markdown() -> String {
        var md = """
        ## A VM drives a VDEV (`hdiov bench vm`)

        An inner guest (TCG inside the TCG embedded machine, kernel \(kernel)) with one VDEV bound
        to the generated guest driver. Machine: \(machine); \(date). TCG inside TCG: compare the
        columns, do not quote the absolutes.

        - Guest driver bind (insmod → probe done, incl. the crc32c self-test): \(String(format: "%.0f", bindMs)) ms
        - Probe start → first completion: \(probeToFirstCompletionUs.map { String(format: "%.1f ms", Double($0) / 1000) } ?? "not reported")
        - DMA channels: \(channels)

        | transfer | dmatest transfers | dmatest iops | dmatest MiB/s | memcpy MiB/s (same guest) | dmatest / memcpy |
        |---:|---:|---:|---:|---:|---:|

        """
        for r in copy {
            md += String(format: "| %d | %d | %.0f | %.1f | %.1f | %.1f%% |\n",
                         r.bytes, r.transfers, r.dmatestIops, r.dmatestMiBps, r.memcpyMiBps, r.ratio * 100)
        }
        md += """

        dmatest submits one transfer, waits for its completion interrupt, then the next
        (`norandom=1 noverify=1`, one thread on dma0chan0): the column is latency-bound, a
        client's view; memcpy is the guest CPU copying the same sizes over a 16 MiB area.

        """
        return md
    }
}

public enum NestedBenchError: Error, CustomStringConvertible {
    case failed(String)
    public var description: String {
        switch self { case .failed(let s): s }
    }
}

/// The guest side of `hdiov bench vm` (runs in the inner guest as root). Uses system(3) rather
/// than Process: nothing here needs a run loop.
public enum NestedBench {
    /// The driver's dmesg line: "first completion N us after probe began".
    public static func firstCompletionUs(dmesg: String) -> Int? {
        for line in dmesg.split(separator: "\n") {
            guard let r = line.range(of: "first completion ") else { continue }
            let rest = line[r.upperBound...]
            if let n = Int(rest.prefix { $0.isNumber }) { return n }
        }
        return nil
    }

    /// dmatest's "summary N tests, F failures X iops Y KB/s (R)" for one channel thread.
    public static func dmatestSummary(dmesg: String, channel: String) -> (tests: Int, failures: Int, iops: Double, kbps: Double)? {
        for line in dmesg.split(separator: "\n").reversed() where line.contains("\(channel)-") && line.contains("summary") {
            let words = line.split(separator: " ").map(String.init)
            func before(_ word: String) -> String? {
                guard let i = words.firstIndex(where: { $0.hasPrefix(word) }), i > 0 else { return nil }
                return words[i - 1]
            }
            guard let tests = before("tests").flatMap({ Int($0) }),
                  let failures = before("failures").flatMap({ Int($0) }),
                  let iops = before("iops").flatMap({ Double($0) }),
                  let kbps = before("KB/s").flatMap({ Double($0) }) else { continue }
            return (tests, failures, iops, kbps)
        }
        return nil
    }

    static func sh(_ command: String) throws {
        let status = system(command)
        guard status == 0 else { throw NestedBenchError.failed("`\(command)` failed (status \(status))") }
    }

    static func dmesg() -> String {
        let path = "/tmp/hdiov-bench-dmesg"
        _ = system("dmesg > \(path)")
        defer { unlink(path) }
        return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    static func write(_ path: String, _ value: String) throws {
        guard let f = FileHandle(forWritingAtPath: path) else { throw NestedBenchError.failed("cannot open \(path)") }
        defer { try? f.close() }
        try f.write(contentsOf: Data((value + "\n").utf8))
    }

    public static func measure(guestDriver: String, dmatest: String, sizes: [Int], transfers: Int,
                               log: (String) -> Void) throws -> NestedBenchResult {
        let start = GuestBench.now()
        try sh("insmod \(guestDriver)")
        let bindMs = (GuestBench.now() - start) / 1000
        let channels = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/dma"))?.count ?? 0
        guard channels > 0 else { throw NestedBenchError.failed("the guest driver bound no DMA channel") }
        log(String(format: "guest driver bound in %.0f ms, %d channel(s)", bindMs, channels))
        var rows: [NestedCopyRow] = []
        let area = 16 << 20
        let src = UnsafeMutableRawPointer.allocate(byteCount: area, alignment: 4096)
        let dst = UnsafeMutableRawPointer.allocate(byteCount: area, alignment: 4096)
        defer { src.deallocate(); dst.deallocate() }
        memset(src, 0x5a, area)
        memset(dst, 0, area)
        for size in sizes {
            try sh("insmod \(dmatest)")
            let p = "/sys/module/dmatest/parameters/"
            for (name, value) in [("test_buf_size", String(size)), ("norandom", "1"), ("noverify", "1"),
                                  ("iterations", String(transfers)), ("timeout", "20000"), ("dmatest", "0"),
                                  ("threads_per_chan", "1"), ("channel", "dma0chan0"), ("run", "1")] {
                try write(p + name, value)
            }
            _ = try? String(contentsOfFile: p + "wait", encoding: .utf8)
            let text = dmesg()
            _ = system("rmmod dmatest")
            guard let s = dmatestSummary(dmesg: text, channel: "dma0chan0") else {
                throw NestedBenchError.failed("dmatest printed no summary for \(size) bytes")
            }
            guard s.failures == 0 else { throw NestedBenchError.failed("dmatest: \(s.failures) failures at \(size) bytes") }
            let mem = DatapathBench.memcpyRate(dst, src, size: size, area: area, seconds: 1.0)
            let row = NestedCopyRow(bytes: size, transfers: s.tests, dmatestIops: s.iops,
                                    dmatestMiBps: s.kbps / 1024, memcpyMiBps: mem)
            log(String(format: "%d bytes: dmatest %.1f MiB/s (%.0f iops), memcpy %.1f MiB/s", size, row.dmatestMiBps,
                       row.dmatestIops, mem))
            rows.append(row)
        }
        let first = firstCompletionUs(dmesg: dmesg())
        _ = system("rmmod \(URL(fileURLWithPath: guestDriver).deletingPathExtension().lastPathComponent)")
        return NestedBenchResult(
            kernel: KernelModules.runningRelease(), machine: "", date: ISO8601DateFormatter().string(from: Date()),
            channels: channels, bindMs: bindMs, probeToFirstCompletionUs: first, copy: rows)
    }
}
