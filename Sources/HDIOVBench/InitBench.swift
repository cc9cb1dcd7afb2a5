import Foundation
import HDIOVSysfs
import HDIOVVFIO

extension GuestBench {
    /// Device initialization (the paper's Fig. 12 analogue): for each of `count` VDEVs, one
    /// after the other, time create (sysfs write) → open (container, group, device) →
    /// program QP 0 (rings mapped for DMA, registers written, enabled) → first NOP
    /// completion. The VDEVs stay created (closed) until all are measured, then are removed.
    public func deviceInit(parent: String, type: String, count: Int = 256, ringSize: Int = 64) throws -> DeviceInitResult {
        var total: [Double] = [], create: [Double] = [], open: [Double] = [], program: [Double] = [], first: [Double] = []
        var uuids: [String] = []
        defer { for u in uuids { try? SysfsFile.write(env.device(u) + "/remove", "1") } }
        let createPath = env.type(parent, type) + "/create"
        for _ in 0..<count {
            let u = UUID().uuidString.lowercased()
            let t0 = Self.now()
            try SysfsFile.write(createPath, u)
            uuids.append(u)
            let t1 = Self.now()
            let dev = try VFIODevice(uuid: u)
            let t2 = Self.now()
            var doorbells: UnsafeMutableRawPointer?
            var qp: QueuePair?
            defer {
                // DMA unmapped before the container closes: its fd number gets reused.
                if let qp { qp.sq.unmap(); qp.cq.unmap() }
                if let doorbells { munmap(doorbells, HDIOVBits.doorbellPage) }
                dev.close()
            }
            doorbells = try dev.map(try dev.regionInfo(.bar2), size: HDIOVBits.doorbellPage)
            qp = try QueuePair(device: dev, index: 0, ringSize: ringSize, sqIOVA: 0x1000_0000, cqIOVA: 0x2000_0000,
                               doorbells: doorbells)
            let t3 = Self.now()
            let c = try qp!.run([.nop(cookie: 0x1517)], timeout: 10)
            let t4 = Self.now()
            guard c.count == 1, c[0].rawStatus == 0, c[0].cookie == 0x1517 else {
                throw DataPathError("first NOP on \(u): \(c)")
            }
            create.append(t1 - t0); open.append(t2 - t1); program.append(t3 - t2); first.append(t4 - t3)
            total.append(t4 - t0)
        }
        return DeviceInitResult(
            devices: count, type: type, totalMicros: Summary(total), createMicros: Summary(create),
            openMicros: Summary(open), programMicros: Summary(program), firstCompletionMicros: Summary(first))
    }
}
