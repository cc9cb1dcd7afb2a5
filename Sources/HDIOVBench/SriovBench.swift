import Foundation
import HDIOVSysfs
import HDIOVVFIO

// The SR-IOV analogue (issue 5 item 5): the same N devices brought up as SR-IOV VFs of QEMU's
// emulated NVMe controller (enable, bind to vfio-pci, VFIO open) and as our VDEVs (create,
// VFIO open), in one guest, on a q35 machine with an emulated VT-d; plus the device-count
// limits of both.

/// One parent's count limit, from its sysfs attributes.
public struct SriovParentLimit: Codable, Sendable, Equatable {
    public var name: String
    public var vdevMax: Int
    public var qpTotal: Int
    public init(name: String, vdevMax: Int, qpTotal: Int) {
        self.name = name; self.vdevMax = vdevMax; self.qpTotal = qpTotal
    }
}

/// Results of `hdiov bench sriov` (docs/bench/sriov.json).
public struct SriovResult: Codable, Sendable {
    /// The paper's device counts (EuroSys'24 HD-IOV): 758 HD-IOV VDEVs vs 256 SR-IOV VFs.
    public static let paperVdevs = 758
    public static let paperVFs = 256
    /// The paper's median device-init speedup over SR-IOV.
    public static let paperInitSpeedup = 2.9

    public var kernel: String
    public var machine: String
    /// The QEMU machine: preset name and its arguments.
    public var qemuMachine: String
    public var date: String
    /// The NVMe PF (PCI address) and its VF device id.
    public var pf: String
    /// Devices measured on each side.
    public var devices: Int
    /// `sriov_numvfs` write of `devices` VFs (0 → N), one sample per round, µs.
    public var vfEnableMicros: Summary
    /// `sriov_numvfs` write of a single VF (0 → 1), µs.
    public var vfEnableOneMicros: Summary
    /// `sriov_numvfs` write of 0 (N → 0), µs.
    public var vfDisableMicros: Summary
    /// Per VF: driver_override = vfio-pci + drivers_probe, µs.
    public var vfBindMicros: Summary
    /// Per VF: VFIO container + group + set IOMMU + device fd, µs.
    public var vfOpenMicros: Summary
    /// Per VF: the enable median divided by N, plus its own bind and open, µs.
    public var vfTotalMicros: Summary
    /// Our VDEV type and parents used.
    public var vdevType: String
    /// Per VDEV: the `create` write, µs.
    public var vdevCreateMicros: Summary
    /// Per VDEV: VFIO container + group + set IOMMU + device fd, µs.
    public var vdevOpenMicros: Summary
    /// Per VDEV: create + open, µs.
    public var vdevTotalMicros: Summary
    /// The PF's `sriov_totalvfs`, and the most VFs that were enabled at once.
    public var sriovTotalVFs: Int
    public var sriovEnabledVFs: Int
    /// Our parents' limits; `vdevLimit` = Σ min(vdev_max, qp_total) (the 1-QP type),
    /// `vdevMaxSum` = Σ vdev_max.
    public var parents: [SriovParentLimit]
    public var vdevMaxSum: Int
    public var vdevLimit: Int
    /// VDEVs of the 1-QP type actually created at once (every parent filled until ENOSPC) in this
    /// run, when checked; and the VFs' reset method (`reset_method`), which vfio-pci's open runs.
    public var vdevReached: Int?
    /// Why each parent took no more VDEVs in that fill (errno names, one per parent).
    public var vdevFillStops: [String]?
    public var vfResetMethod: String?
    /// vdevLimit / sriovTotalVFs (the paper: 758 / 256 = 2.96).
    public var countRatio: Double
    /// vfTotal median / vdevTotal median (the paper: 2.9).
    public var initRatio: Double
    /// vfOpen median / vdevOpen median.
    public var openRatio: Double

    public init(kernel: String, machine: String, qemuMachine: String, date: String, pf: String, devices: Int,
                vfEnable: [Double], vfEnableOne: [Double], vfDisable: [Double], vfBind: [Double], vfOpen: [Double],
                vdevType: String, vdevCreate: [Double], vdevOpen: [Double],
                sriovTotalVFs: Int, sriovEnabledVFs: Int, parents: [SriovParentLimit]) {
        self.kernel = kernel; self.machine = machine; self.qemuMachine = qemuMachine; self.date = date
        self.pf = pf; self.devices = devices
        vfEnableMicros = Summary(vfEnable); vfEnableOneMicros = Summary(vfEnableOne); vfDisableMicros = Summary(vfDisable)
        vfBindMicros = Summary(vfBind); vfOpenMicros = Summary(vfOpen)
        let share = devices > 0 ? vfEnableMicros.median / Double(devices) : 0
        vfTotalMicros = Summary(zip(vfBind, vfOpen).map { share + $0 + $1 })
        self.vdevType = vdevType
        vdevCreateMicros = Summary(vdevCreate); vdevOpenMicros = Summary(vdevOpen)
        vdevTotalMicros = Summary(zip(vdevCreate, vdevOpen).map { $0 + $1 })
        self.sriovTotalVFs = sriovTotalVFs; self.sriovEnabledVFs = sriovEnabledVFs
        self.parents = parents
        vdevMaxSum = parents.reduce(0) { $0 + $1.vdevMax }
        vdevLimit = parents.reduce(0) { $0 + min($1.vdevMax, $1.qpTotal) }
        countRatio = sriovTotalVFs > 0 ? Double(vdevLimit) / Double(sriovTotalVFs) : 0
        initRatio = vdevTotalMicros.median > 0 ? vfTotalMicros.median / vdevTotalMicros.median : 0
        openRatio = vdevOpenMicros.median > 0 ? vfOpenMicros.median / vdevOpenMicros.median : 0
    }

    // MARK: Report

    static func f(_ v: Double) -> String {
        v >= 100 ? String(format: "%.0f", v) : v >= 10 ? String(format: "%.1f", v) : String(format: "%.2f", v)
    }

    static func row(_ name: String, _ s: Summary, note: String = "") -> String {
        "| \(name) | \(s.count) | \(f(s.median)) | \(f(s.p90)) | \(note) |"
    }

    /// The table of both sides (markdown; also what the command prints).
    public func table() -> String {
        let share = devices > 0 ? vfEnableMicros.median / Double(devices) : 0
        return """
        | step | samples | median µs | p90 µs | |
        |---|---:|---:|---:|---|
        \(Self.row("SR-IOV: enable \(devices) VFs (`sriov_numvfs` 0 → \(devices))", vfEnableMicros, note: "\(Self.f(share)) µs per VF"))
        \(Self.row("SR-IOV: enable 1 VF (0 → 1)", vfEnableOneMicros))
        \(Self.row("SR-IOV: disable (\(devices) → 0)", vfDisableMicros))
        \(Self.row("SR-IOV: bind VF to vfio-pci (driver_override + drivers_probe)", vfBindMicros, note: "per VF"))
        \(Self.row("SR-IOV: VFIO open (container + group + device fd)", vfOpenMicros, note: "per VF"))
        \(Self.row("**SR-IOV per VF: enable share + bind + open**", vfTotalMicros))
        \(Self.row("HD-IOV: create VDEV (sysfs write)", vdevCreateMicros, note: "\(vdevType)"))
        \(Self.row("HD-IOV: VFIO open (container + group + device fd)", vdevOpenMicros, note: "per VDEV"))
        \(Self.row("**HD-IOV per VDEV: create + open**", vdevTotalMicros))
        """
    }

    public func limitsTable() -> String {
        let parentText = parents.map { "\($0.name): vdev_max \($0.vdevMax), qp_total \($0.qpTotal)" }.joined(separator: "; ")
        return """
        | | devices | |
        |---|---:|---|
        | SR-IOV: NVMe PF `sriov_totalvfs` | \(sriovTotalVFs) | \(sriovEnabledVFs) enabled at once and bound to vfio-pci in this run |
        | HD-IOV: Σ min(vdev_max, qp_total) over \(parents.count) parents | \(vdevLimit) | \(parentText) (Σ vdev_max \(vdevMaxSum))\(vdevReached.map { "; \($0) created at once in this run" } ?? "")\(vdevFillStops.map { ", the next create on each parent: " + $0.joined(separator: ", ") } ?? "") |
        | **ratio HD-IOV / SR-IOV** | \(String(format: "%.1fx", countRatio)) | paper: \(Self.paperVdevs) vs \(Self.paperVFs) = \(String(format: "%.2fx", Double(Self.paperVdevs) / Double(Self.paperVFs))) |
        """
    }

    /// The summary line of ratios from this run.
    public func ratiosLine() -> String {
        String(format: "Per-device init, SR-IOV / HD-IOV (medians): %.2fx (paper: %.1fx); VFIO open alone: %.2fx; "
               + "device count HD-IOV / SR-IOV: %.1fx (paper: %.2fx).",
               initRatio, Self.paperInitSpeedup, openRatio, countRatio, Double(Self.paperVdevs) / Double(Self.paperVFs))
    }

    /// docs/bench/sriov.md: a self-contained section BENCHMARKS.md can include or link to.
    public func markdown() -> String {
        """
        ## SR-IOV analogue: NVMe VFs vs HD-IOV VDEVs

        <!-- generated by `hdiov bench sriov`; do not edit by hand (data: docs/bench/sriov.json) -->

        The same \(devices) devices brought up in one guest both ways: as SR-IOV VFs of QEMU's emulated NVMe \
        controller (PF \(pf)) — enable, bind to vfio-pci, open through VFIO — and as HD-IOV VDEVs of our \
        module — create, open through VFIO. Each device is opened in its own group and container, with \
        the same calls on both sides; a VF's container gets a VT-d domain (QEMU's emulated intel-iommu, \
        `intel_iommu=on`), a VDEV's uses VFIO's emulated IOMMU for mdevs (no hardware domain), as on real \
        hardware. Times are taken in the guest \
        (CLOCK_MONOTONIC around each write(2)/open), so they are TCG times: compare the two sides, not \
        absolute numbers with the paper's hardware.

        - Kernel: \(kernel)
        - Machine: \(machine)
        - QEMU machine: \(qemuMachine)
        - Date: \(date)

        ### Device initialization, per device

        \(table())

        \(vfResetMethod.map { "Opening a VF through vfio-pci resets the function first (the VFs' `reset_method`: \($0)); for an FLR the kernel waits the 100 ms PCIe requires after it (`pcie_flr`) before touching the function again, which alone is most of the VF's open time. Opening a VDEV resets nothing in hardware. " } ?? "")Neither side programs a queue here (QEMU's NVMe VFs \
        stay offline until the PF assigns them queues and vectors with Virtualization Management commands, \
        e.g. `nvme virt-mgmt`); the VDEVs' full init to a first completion is in the device-init section of \
        BENCHMARKS.md. The enable write brings up all \(devices) VFs at once (SR-IOV cannot add a VF to an enabled PF); its \
        median is split evenly over the VFs in the per-VF total.

        ### Device count limits

        \(limitsTable())

        Our limit is the spec's `pfs` × `max_vdevs` (bounded by `queue_pairs` per parent for the 1-QP type): \
        a software setting, raised by editing the spec; what bounds it for real is kernel memory per VDEV \
        (the scale section of BENCHMARKS.md). QEMU 7.2's NVMe controller caps `sriov_max_vfs` at 127 (NVME_MAX_VFS); the SR-IOV capability itself \
        allows up to 65535 VFs per PF, bounded in practice by the device's resources (the paper's NIC: 256).

        ### Ratios (this run)

        \(ratiosLine())

        """
    }
}

extension GuestBench {
    /// The PF among PCI devices: the first with `sriov_totalvfs` > 0.
    public static func findSriovPF(sysfs: String = "/sys/bus/pci/devices") -> String? {
        SysfsFile.list(sysfs).sorted().first { name in
            (try? SysfsFile.read(sysfs + "/" + name + "/sriov_totalvfs")).flatMap { Int($0) }.map { $0 > 0 } ?? false
        }
    }

    /// The SR-IOV side: `rounds` times enable N VFs and disable them again, enable 1 VF and disable
    /// it; then enable N and, for each VF, bind to vfio-pci and open (then close) it through VFIO.
    /// The VFs stay enabled (bound to vfio-pci) on return.
    public func sriov(pf: String, count: Int, rounds: Int)
        throws -> (enable: [Double], enableOne: [Double], disable: [Double], bind: [Double], open: [Double], vfs: [String]) {
        let dir = "/sys/bus/pci/devices/" + pf
        try SysfsFile.write(dir + "/sriov_drivers_autoprobe", "0")
        if (try? SysfsFile.read(dir + "/sriov_numvfs")) != "0" { try SysfsFile.write(dir + "/sriov_numvfs", "0") }
        var enable: [Double] = [], enableOne: [Double] = [], disable: [Double] = []
        for round in 0..<rounds {
            enableOne.append(try Self.time { try SysfsFile.write(dir + "/sriov_numvfs", "1") })
            try SysfsFile.write(dir + "/sriov_numvfs", "0")
            enable.append(try Self.time { try SysfsFile.write(dir + "/sriov_numvfs", String(count)) })
            if round < rounds - 1 {
                disable.append(try Self.time { try SysfsFile.write(dir + "/sriov_numvfs", "0") })
            }
        }
        var vfs: [String] = []
        for i in 0..<count {
            guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/virtfn\(i)") else {
                throw SysfsError(path: dir + "/virtfn\(i)", errno: ENOENT, operation: "readlink")
            }
            vfs.append((link as NSString).lastPathComponent)
        }
        var bind: [Double] = [], open: [Double] = []
        for vf in vfs {
            let t0 = Self.now()
            try SysfsFile.write("/sys/bus/pci/devices/\(vf)/driver_override", "vfio-pci")
            try SysfsFile.write("/sys/bus/pci/drivers_probe", vf)
            let t1 = Self.now()
            guard let group = SysfsFile.linkName("/sys/bus/pci/devices/\(vf)/iommu_group") else {
                throw SysfsError(path: "/sys/bus/pci/devices/\(vf)/iommu_group", errno: ENOENT, operation: "readlink")
            }
            let t2 = Self.now()
            let dev = try VFIODevice(uuid: vf, groupPath: "/dev/vfio/" + group)
            let t3 = Self.now()
            dev.close()
            bind.append(t1 - t0)
            open.append(t3 - t2)
        }
        return (enable, enableOne, disable, bind, open, vfs)
    }

    /// The HD-IOV side: `count` VDEVs of `type`, filling `parents` in order; each created, then
    /// opened and closed through VFIO (group found through sysfs, as for the VFs). Removed on return.
    public func vdevInit(parents: [String], type: String, count: Int) throws -> (create: [Double], open: [Double]) {
        var create: [Double] = [], open: [Double] = []
        var uuids: [String] = []
        defer { for u in uuids { try? SysfsFile.write(env.device(u) + "/remove", "1") } }
        var parentIndex = 0
        while uuids.count < count {
            guard parentIndex < parents.count else {
                throw SysfsError(path: env.type(parents.last ?? "", type) + "/create", errno: ENOSPC, operation: "write")
            }
            let u = UUID().uuidString.lowercased()
            let path = env.type(parents[parentIndex], type) + "/create"
            let t0 = Self.now()
            let written = Result { () throws(SysfsError) in try SysfsFile.write(path, u) }
            let t1 = Self.now()
            if case .failure(let e) = written {
                if e.errno == ENOSPC { parentIndex += 1; continue }
                throw e
            }
            uuids.append(u)
            guard let group = SysfsFile.linkName(env.device(u) + "/iommu_group") else {
                throw SysfsError(path: env.device(u) + "/iommu_group", errno: ENOENT, operation: "readlink")
            }
            let t2 = Self.now()
            let dev = try VFIODevice(uuid: u, groupPath: env.vfioGroupNode(group))
            let t3 = Self.now()
            dev.close()
            create.append(t1 - t0)
            open.append(t3 - t2)
        }
        return (create, open)
    }

    /// Create VDEVs of `type` on every parent until each refuses (ENOSPC); returns how many were live
    /// at once, then removes them. Stops at the first other error.
    public func fill(parents: [String], type: String) -> (count: Int, stops: [String]) {
        var uuids: [String] = [], stops: [String] = []
        defer { for u in uuids { try? SysfsFile.write(env.device(u) + "/remove", "1") } }
        for p in parents {
            let path = env.type(p, type) + "/create"
            while true {
                let u = UUID().uuidString.lowercased()
                let written = Result { () throws(SysfsError) in try SysfsFile.write(path, u) }
                if case .failure(let e) = written {
                    stops.append(Errno.name(e.errno))
                    break
                }
                uuids.append(u)
            }
        }
        return (uuids.count, stops)
    }

    /// Each parent's vdev_max and qp_total.
    public func parentLimits(_ parents: [String]) throws -> [SriovParentLimit] {
        try parents.map { p throws(SysfsError) in
            let vmax = Int(try SysfsFile.read(env.parentAttribute(p, "vdev_max"))) ?? 0
            let qps = Int(try SysfsFile.read(env.parentAttribute(p, "qp_total"))) ?? 0
            return SriovParentLimit(name: p, vdevMax: vmax, qpTotal: qps)
        }
    }
}
