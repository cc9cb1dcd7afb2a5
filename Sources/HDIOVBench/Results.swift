import Foundation

/// Median and 90th percentile of a sample, in the sample's unit.
public struct Summary: Codable, Equatable, Sendable {
    public var count: Int
    public var median: Double
    public var p90: Double

    public init(_ samples: [Double]) {
        let s = samples.sorted()
        count = s.count
        median = Self.percentile(s, 0.5)
        p90 = Self.percentile(s, 0.9)
    }

    /// Nearest-rank percentile of sorted samples (0 for none).
    static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((q * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }
}

/// Create and remove latencies (µs) of one driver's mdevs.
public struct LifecycleResult: Codable, Sendable {
    public var driver: String
    public var type: String
    public var devices: Int
    public var rounds: Int
    public var createMicros: Summary
    public var removeMicros: Summary
}

/// What 'count' live VDEVs cost.
public struct ScaleResult: Codable, Sendable {
    public var type: String
    public var reached: Int
    public var requested: Int
    /// Median create latency (µs) of each block of `blockSize` creates.
    public var blockSize: Int
    public var blockMedianMicros: [Double]
    /// Kernel memory (Slab + VmallocUsed + Percpu, KiB) sampled after each block.
    public var kernelMemoryKiB: [Int]
    public var kernelMemoryBaseKiB: Int
    public var bytesPerVdev: Double
    /// MemFree drop per VDEV (after dropping caches): everything, page allocations included
    /// (the doorbell pages come from the page allocator and are in no counter above). Optional:
    /// results from before it was measured lack it.
    public var memFreeBytesPerVdev: Double?
    /// Wall time of listing everything, ms.
    public var hdiovListJSONMillis: Double?
    public var mdevctlListMillis: Double?
    public var removeAllSeconds: Double
}

public struct BenchReport: Codable, Sendable {
    public var kernel: String
    public var machine: String
    public var date: String
    public var lifecycle: [LifecycleResult]
    public var scale: ScaleResult?
    /// Data path (absent in reports from before it was measured).
    public var datapath: DatapathResult?
    /// Device initialization time over many VDEVs (absent in older reports).
    public var deviceInit: DeviceInitResult?

    public init(kernel: String, machine: String, date: String, lifecycle: [LifecycleResult], scale: ScaleResult?,
                datapath: DatapathResult? = nil, deviceInit: DeviceInitResult? = nil) {
        self.kernel = kernel
        self.machine = machine
        self.date = date
        self.lifecycle = lifecycle
        self.scale = scale
        self.datapath = datapath
        self.deviceInit = deviceInit
    }
}

/// Markers around the JSON the guest prints, so the host finds it in the console output.
public enum BenchMarkers {
    public static let begin = "HDIOV-BENCH-JSON-BEGIN"
    public static let end = "HDIOV-BENCH-JSON-END"
}
