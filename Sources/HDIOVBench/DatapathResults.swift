import Foundation

/// NOP descriptors per second, batches through the mmap'd doorbell vs a trapped write.
public struct DoorbellResult: Codable, Sendable {
    public var batch: Int
    public var ringSize: Int
    /// Descriptors per second, one sample per run.
    public var mmapDescPerSec: Summary
    public var trappedDescPerSec: Summary
    /// KICKs the fast path needed (NEED_KICK set), summed over its runs, and its batches.
    public var mmapKicks: Int
    public var mmapBatches: Int
    /// The doorbell alone: µs per SQ_TAIL write (same value, no new descriptors) in a tight
    /// loop, through the mapping (barrier + store) or trapped (pwrite on BAR2).
    public var mmapDoorbellMicros: Summary?
    public var trappedDoorbellMicros: Summary?
    public var ratio: Double { trappedDescPerSec.median > 0 ? mmapDescPerSec.median / trappedDescPerSec.median : 0 }
    /// Trapped / mmap doorbell cost per batch: how much cheaper the doorbell itself is.
    public var doorbellCostRatio: Double? {
        guard let f = mmapDoorbellMicros?.median, let t = trappedDoorbellMicros?.median, f > 0 else { return nil }
        return t / f
    }

    public init(batch: Int, ringSize: Int, mmapDescPerSec: Summary, trappedDescPerSec: Summary, mmapKicks: Int, mmapBatches: Int,
                mmapDoorbellMicros: Summary? = nil, trappedDoorbellMicros: Summary? = nil) {
        self.batch = batch; self.ringSize = ringSize
        self.mmapDescPerSec = mmapDescPerSec; self.trappedDescPerSec = trappedDescPerSec
        self.mmapKicks = mmapKicks; self.mmapBatches = mmapBatches
        self.mmapDoorbellMicros = mmapDoorbellMicros; self.trappedDoorbellMicros = trappedDoorbellMicros
    }
}

/// COPY through one QP vs memcpy in the guest, one transfer size (MiB/s per run).
public struct CopyResult: Codable, Sendable {
    public var bytes: Int
    public var batch: Int
    public var deviceMiBps: Summary
    public var memcpyMiBps: Summary
    public var ratio: Double { memcpyMiBps.median > 0 ? deviceMiBps.median / memcpyMiBps.median : 0 }

    public init(bytes: Int, batch: Int, deviceMiBps: Summary, memcpyMiBps: Summary) {
        self.bytes = bytes; self.batch = batch; self.deviceMiBps = deviceMiBps; self.memcpyMiBps = memcpyMiBps
    }
}

/// Aggregate COPY throughput over `vdevs` VDEVs (one QP each) with `engineThreads` engine kthreads.
public struct AggregateResult: Codable, Sendable {
    public var vdevs: Int
    public var engineThreads: Int
    public var bytes: Int
    public var MiBps: Summary
    public var descPerSec: Summary

    public init(vdevs: Int, engineThreads: Int, bytes: Int, MiBps: Summary, descPerSec: Summary) {
        self.vdevs = vdevs; self.engineThreads = engineThreads; self.bytes = bytes
        self.MiBps = MiBps; self.descPerSec = descPerSec
    }
}

/// Everything `hdiov bench datapath` measures, from one run.
public struct DatapathResult: Codable, Sendable {
    public var kernel: String
    public var machine: String
    public var date: String
    /// Runs per number (the median is reported) and seconds per run.
    public var repeats: Int
    public var secondsPerRun: Double
    public var doorbell: DoorbellResult?
    public var copy: [CopyResult]
    public var aggregate: [AggregateResult]
    /// Guest vCPUs the numbers were taken with.
    public var guestCPUs: Int
    public var notes: [String]

    public init(kernel: String, machine: String, date: String, repeats: Int, secondsPerRun: Double,
                doorbell: DoorbellResult?, copy: [CopyResult], aggregate: [AggregateResult],
                guestCPUs: Int, notes: [String]) {
        self.kernel = kernel; self.machine = machine; self.date = date
        self.repeats = repeats; self.secondsPerRun = secondsPerRun
        self.doorbell = doorbell; self.copy = copy; self.aggregate = aggregate
        self.guestCPUs = guestCPUs; self.notes = notes
    }
}

/// Device initialization (the paper's Fig. 12): create → open → program a QP → first NOP
/// completion, per VDEV, µs.
public struct DeviceInitResult: Codable, Sendable {
    public var devices: Int
    public var type: String
    public var totalMicros: Summary
    public var createMicros: Summary
    public var openMicros: Summary
    public var programMicros: Summary
    public var firstCompletionMicros: Summary

    public init(devices: Int, type: String, totalMicros: Summary, createMicros: Summary, openMicros: Summary,
                programMicros: Summary, firstCompletionMicros: Summary) {
        self.devices = devices; self.type = type; self.totalMicros = totalMicros
        self.createMicros = createMicros; self.openMicros = openMicros
        self.programMicros = programMicros; self.firstCompletionMicros = firstCompletionMicros
    }
}

/// Markers around `hdiov bench datapath`'s JSON in the guest's output.
public enum DatapathMarkers {
    public static let begin = "HDIOV-DATAPATH-JSON-BEGIN"
    public static let end = "HDIOV-DATAPATH-JSON-END"
}
