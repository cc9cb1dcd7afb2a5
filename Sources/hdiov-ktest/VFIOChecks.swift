import Foundation
import HDIOVSpec
import HDIOVSysfs
import HDIOVVFIO
import CHDIOVShim

/// The VFIO view of one VDEV (contract sections 4–6), through the VFIO client library.
struct VFIOChecks {
    let suite: KernelSuite
    let uuid: String
    let type: MdevTypeSpec

    var spec: DeviceSpec { suite.spec }
    var harness: Harness { suite.harness }
    var qps: Int { type.initialQueuePairs }

    func run() {
        var dev: VFIODevice?
        harness.check("VFIO: open group, container and device") {
            dev = try VFIODevice(uuid: uuid)
        }
        guard let dev else { return }
        harness.check("VFIO: GET_INFO, regions, IRQs") {
            let info = try dev.info()
            try expectEqual(info.flags & 0x3, 0x3, "flags RESET|PCI")
            try expectEqual(info.regions, 9, "num_regions")
            try expectEqual(info.irqs, 5, "num_irqs")
            try expectEqual(try dev.regionInfo(.config).size, 256, "config size")
            try expectEqual(try dev.regionInfo(.bar0).size, 0x10000, "BAR0 size")
            let bar2 = try dev.regionInfo(.bar2)
            var pow2 = UInt64(HDIOVBits.doorbellPage)
            while pow2 < UInt64(qps * HDIOVBits.doorbellPage) { pow2 <<= 1 }
            try expectEqual(bar2.size, pow2, "BAR2 size")
            try expect(bar2.mappable && bar2.readable && bar2.writable, "BAR2 flags \(bar2.flags)")
            try expectEqual(bar2.sparseAreaCount, 1, "sparse areas")
            try expectEqual(bar2.sparseArea?.offset ?? 99, 0, "sparse offset")
            try expectEqual(bar2.sparseArea?.size ?? 0, UInt64(qps * HDIOVBits.doorbellPage), "sparse size")
            for r in [VFIORegion.bar1, .bar3, .bar4, .bar5, .rom, .vga] {
                try expectEqual(try dev.regionInfo(r).size, 0, "region \(r) size")
            }
            try expectEqual(try dev.irqInfo(.intx).count, 1, "INTx count")
            try expectEqual(try dev.irqInfo(.msi).count, 0, "MSI count")
            try expectEqual(try dev.irqInfo(.msix).count, UInt32(1 + qps), "MSI-X count")
            try expectEqual(try dev.irqInfo(.err).count, 0, "ERR count")
            try expectEqual(try dev.irqInfo(.req).count, 1, "REQ count")
        }
        harness.check("VFIO: config space identity, MSI-X capability, BAR sizing") {
            let cfg = try dev.regionInfo(.config)
            try expectEqual(try dev.read32(cfg, at: 0), UInt32(spec.pci.device) << 16 | UInt32(spec.pci.vendor), "vendor/device")
            try expectEqual(try dev.read32(cfg, at: 8), spec.pci.classCode << 8 | UInt32(spec.pci.revision), "class/revision")
            try expectEqual(try dev.read32(cfg, at: 0x2c),
                            UInt32(spec.pci.subsystemDevice) << 16 | UInt32(spec.pci.subsystemVendor), "subsystem")
            let capPtr = try dev.read(cfg, at: 0x34, count: 1)[0]
            let cap = try dev.read32(cfg, at: UInt64(capPtr))
            try expectEqual(cap & 0xff, 0x11, "MSI-X capability id")
            try expectEqual(Int((cap >> 16) & 0x7ff) + 1, 1 + qps, "MSI-X table size")
            try expectEqual(try dev.read32(cfg, at: UInt64(capPtr) + 4), UInt32(HDIOVReg.msixTable), "MSI-X table offset/BIR")
            try expectEqual(try dev.read32(cfg, at: UInt64(capPtr) + 8), UInt32(HDIOVReg.msixPBA), "MSI-X PBA offset/BIR")
            try dev.write32(cfg, at: 0x10, 0xffff_ffff)
            try expectEqual(try dev.read32(cfg, at: 0x10), 0xffff_0004, "BAR0 sizing")
            try dev.write32(cfg, at: 0x18, 0xffff_ffff)
            let bar2 = try dev.regionInfo(.bar2).size
            try expectEqual(try dev.read32(cfg, at: 0x18), UInt32(truncatingIfNeeded: ~(bar2 - 1)) | 0xc, "BAR2 sizing")
            try dev.write32(cfg, at: 0, 0)
            try expectEqual(try dev.read32(cfg, at: 0) & 0xffff, UInt32(spec.pci.vendor), "vendor id is read-only")
        }
        harness.check("VFIO: BAR0 registers and access rules") {
            let bar0 = try dev.regionInfo(.bar0)
            try expectEqual(try dev.read32(bar0, at: HDIOVReg.id), HDIOVBits.idValue, "ID")
            try expectEqual(try dev.read32(bar0, at: HDIOVReg.version), HDIOVBits.versionValue, "VERSION")
            try expectEqual(try dev.read32(bar0, at: HDIOVReg.caps), spec.caps(of: type), "CAPS")
            try expectEqual(try dev.read32(bar0, at: HDIOVReg.numQPs), UInt32(qps), "NUM_QPS")
            try expectEqual(try dev.read32(bar0, at: HDIOVReg.maxRing), UInt32(spec.maxRing), "MAX_RING")
            try expectEqual(try dev.read32(bar0, at: HDIOVReg.maxXfer), UInt32(spec.maxXfer), "MAX_XFER")
            try dev.write32(bar0, at: HDIOVReg.id, 0)
            try expectEqual(try dev.read32(bar0, at: HDIOVReg.id), HDIOVBits.idValue, "ID is read-only")
            try expectEqual(try dev.read32(bar0, at: 0x500), 0, "unassigned offset")
            let q = HDIOVReg.qp(qps - 1)
            try dev.write32(bar0, at: q + HDIOVReg.sqBase, 0x1000)
            try dev.write32(bar0, at: q + HDIOVReg.sqBase + 4, 0x1)
            try expectEqual(try dev.read32(bar0, at: q + HDIOVReg.sqBase), 0x1000, "SQ_BASE lo")
            try expectEqual(try dev.read32(bar0, at: q + HDIOVReg.sqBase + 4), 0x1, "SQ_BASE hi")
            try expectEqual(try dev.read32(bar0, at: q + HDIOVReg.msixVector), UInt32(qps), "MSIX_VECTOR default 1+i")
            try dev.write32(bar0, at: q + HDIOVReg.ringSize, 3)
            try expectEqual(try dev.read32(bar0, at: q + HDIOVReg.ringSize), 0, "RING_SIZE ignores a non-power of two")
            try dev.write32(bar0, at: q + HDIOVReg.ringSize, 64)
            try expectEqual(try dev.read32(bar0, at: q + HDIOVReg.ringSize), 64, "RING_SIZE")
            try dev.write32(bar0, at: q + HDIOVReg.qpCtrl, HDIOVBits.qpEnable)
            try expectEqual(try dev.read32(bar0, at: q + HDIOVReg.qpStatus) & HDIOVBits.qpEnabled, HDIOVBits.qpEnabled, "QP_STATUS.ENABLED")
            try dev.write32(bar0, at: q + HDIOVReg.sqBase, 0x2000)
            try expectEqual(try dev.read32(bar0, at: q + HDIOVReg.sqBase), 0x1000, "SQ_BASE ignored while enabled")
            try expectEqual(try dev.read32(bar0, at: HDIOVReg.qp(qps)), 0, "QP block past NUM_QPS")
            try dev.reset()
            try expectEqual(try dev.read32(bar0, at: q + HDIOVReg.qpCtrl), 0, "QP_CTRL after VFIO_DEVICE_RESET")
            try expectEqual(try dev.read32(bar0, at: q + HDIOVReg.sqBase), 0, "SQ_BASE after reset")
            try dev.write32(bar0, at: HDIOVReg.devCtrl, HDIOVBits.devEnable)
            try expectEqual(try dev.read32(bar0, at: HDIOVReg.devStatus) & HDIOVBits.devEnabled, HDIOVBits.devEnabled, "DEV_STATUS.ENABLED")
            try dev.write32(bar0, at: HDIOVReg.devCtrl, HDIOVBits.devReset)
            try expectEqual(try dev.read32(bar0, at: HDIOVReg.devCtrl), 0, "DEV_CTRL.RESET self-clears")
        }
        harness.check("VFIO: doorbell pages mmap'd, seen through the trapped path") {
            let bar2 = try dev.regionInfo(.bar2)
            let size = qps * HDIOVBits.doorbellPage
            let p = try dev.map(bar2, size: size)
            defer { munmap(p, size) }
            let last = UInt64((qps - 1) * HDIOVBits.doorbellPage)
            p.storeBytes(of: UInt32(7).littleEndian, toByteOffset: Int(last), as: UInt32.self)
            try expectEqual(try dev.read32(bar2, at: last), 7, "SQ_TAIL written through mmap")
            try dev.write32(bar2, at: last + 4, 5)
            try expectEqual(p.load(fromByteOffset: Int(last) + 4, as: UInt32.self), 5, "CQ_HEAD written through pwrite")
            do {
                _ = try dev.map(bar2, offset: UInt64(size), size: HDIOVBits.doorbellPage)
                throw Harness.Failure(description: "mmap past the doorbell pages succeeded")
            } catch let e as VFIOError {
                try expectEqual(e.errno, EINVAL, "mmap past the doorbell pages")
            }
        }
        harness.check("VFIO: out-of-range access and bad ioctl arguments are refused") {
            let bar0 = try dev.regionInfo(.bar0)
            do {
                _ = try dev.read(bar0, at: 0x10000, count: 4)
                throw Harness.Failure(description: "read past BAR0 succeeded")
            } catch let e as VFIOError {
                try expectEqual(e.errno, EINVAL, "read past BAR0")
            }
            do {
                _ = try dev.regionInfo(9)
                throw Harness.Failure(description: "region 9 info succeeded")
            } catch let e as VFIOError {
                try expectEqual(e.errno, EINVAL, "region 9")
            }
        }
        if type.isFlex == false, let flex = spec.types.first(where: { $0.isFlex }) {
            _ = flex  // flex resize while open is covered by the flex device below
        }
        harness.check("VFIO: remove while open signals REQ and completes after close") {
            let efd = hdiov_eventfd()
            try expect(efd >= 0, "eventfd")
            defer { close(efd) }
            try dev.setEventfds(.req, fds: [efd])
            // A second device, so the one under test stays for the later checks.
            let other = try suite.create(type)
            let odev = try VFIODevice(uuid: other)
            try odev.setEventfds(.req, fds: [efd])
            let done = DispatchSemaphore(value: 0)
            let removeError = LockedBox<Error?>(nil)
            let removePath = suite.env.device(other) + "/remove"
            Thread.detachNewThread {
                do { try SysfsFile.write(removePath, "1") } catch { removeError.value = error }
                done.signal()
            }
            var pfd = pollfd(fd: efd, events: Int16(POLLIN), revents: 0)
            try expect(poll(&pfd, 1, 15_000) == 1, "no REQ within 15 s")
            try expect(done.wait(timeout: .now() + 0.5) == .timedOut, "remove returned while the device was open")
            odev.close()
            try expect(done.wait(timeout: .now() + 15) == .success, "remove did not complete after close")
            if let e = removeError.value { throw e }
            try expect(!SysfsFile.exists(suite.env.device(other)), "device still present")
            try dev.setEventfds(.req, fds: [-1])
        }
        dev.close()
    }
}

final class LockedBox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var _value: T
    init(_ value: T) { _value = value }
    var value: T {
        get { lock.lock(); defer { lock.unlock() }; return _value }
        set { lock.lock(); _value = newValue; lock.unlock() }
    }
    /// Read-modify-write under the lock.
    func mutate(_ body: (inout T) -> Void) {
        lock.lock()
        body(&_value)
        lock.unlock()
    }
}
