import Foundation
import HDIOVModules
import HDIOVSysfs

#if canImport(Glibc)
import Glibc
#endif

/// The guest side of `hdiov bench suite`, `bench datapath` and `bench sriov`: load what is
/// measured, measure, unload. The host side (building, booting the embedded machine) and
/// printing stay with the command.
extension GuestBench {
    /// `bench suite` in the guest: lifecycle latency vs mtty, device init, scale to `scale`
    /// VDEVs (listing them with each of `listCommands`), the data path; the modules are
    /// unloaded again.
    public func suite(
        ours: String, mtty: String, scale: Int, devices: Int, rounds: Int, initDevices: Int, datapath: Bool,
        listCommands: [(name: String, command: String)], log: @escaping (String) -> Void
    ) throws -> BenchReport {
        let module = try BenchModule.load(ours, environment: env)
        let mttyModule = try BenchModule.load(mtty, environment: env)
        let parent = try module.firstParent()
        let ourType = try module.benchType()
        var lifecycle = [
            try self.lifecycle(driver: "mtty", parent: "mtty", type: "mtty-1", devices: devices, rounds: rounds),
            try self.lifecycle(driver: "hdiov", parent: parent, type: ourType, devices: devices, rounds: rounds),
        ]
        // Once more in the other order, so neither driver always goes first.
        lifecycle[0] = try self.lifecycle(driver: "mtty", parent: "mtty", type: "mtty-1", devices: devices, rounds: rounds)
        try? mttyModule.unload()
        let deviceInit = initDevices > 0 ? try self.deviceInit(parent: parent, type: ourType, count: initDevices) : nil
        let scaleResult = try self.scale(
            parents: module.parents, type: ourType, count: scale, blockSize: 256, listCommands: listCommands,
            run: { system($0) })
        let datapathResult = datapath ? try DatapathBench.measure(
            module: module, repeats: 5, seconds: 0.5, vdevs: [1, 4, 16], threads: [1, 2], log: log) : nil
        try? module.unload()
        return BenchReport(
            kernel: KernelModules.runningRelease(), machine: "", date: ISO8601DateFormatter().string(from: Date()),
            lifecycle: lifecycle, scale: scaleResult, datapath: datapathResult, deviceInit: deviceInit)
    }

    /// `bench sriov` in the guest: nvme and vfio-pci, then our module from `ours`; `devices`
    /// (default: all) VFs of the PF vs as many VDEVs, the parents' limits and (`fill`) how
    /// many VDEVs fit at once. The VFs are disabled and the module unloaded again.
    public func sriovComparison(
        ours: String, devices: Int?, rounds: Int, fill: Bool, qemuMachine: String, log: (String) -> Void
    ) throws -> SriovResult {
        do {
            try KernelModules().probe(["nvme", "vfio_pci"])
        } catch {
            throw BenchError("modprobe nvme vfio-pci failed\n" + error.description)
        }
        let module = try BenchModule.load(ours, environment: env)
        guard let pf = Self.findSriovPF() else {
            throw BenchError("no PCI device with sriov_totalvfs > 0: boot with --machine sriov-nvme[:N]")
        }
        let total = Int(try SysfsFile.read("/sys/bus/pci/devices/\(pf)/sriov_totalvfs")) ?? 0
        let count = devices ?? total
        guard count <= total else { throw BenchError("--devices \(count) > sriov_totalvfs \(total)") }
        log("SR-IOV: \(count) VFs of \(pf), \(rounds) enable rounds")
        let vf = try sriov(pf: pf, count: count, rounds: rounds)
        let enabled = vf.vfs.count
        let type = try module.benchType()
        let parents = module.parents
        log("HD-IOV: \(count) VDEVs of \(type)")
        let vdev = try vdevInit(parents: parents, type: type, count: count)
        let limits = try parentLimits(parents)
        let filled = fill ? self.fill(parents: parents, type: type) : nil
        if let filled { log("HD-IOV: \(filled.count) VDEVs live at once; then \(filled.stops.joined(separator: ", "))") }
        let resetMethod = vf.vfs.first.flatMap { try? SysfsFile.read("/sys/bus/pci/devices/\($0)/reset_method") }
        try? SysfsFile.write("/sys/bus/pci/devices/\(pf)/sriov_numvfs", "0")
        try? module.unload()
        var result = SriovResult(
            kernel: KernelModules.runningRelease(), machine: "", qemuMachine: qemuMachine,
            date: ISO8601DateFormatter().string(from: Date()), pf: pf, devices: count,
            vfEnable: vf.enable, vfEnableOne: vf.enableOne, vfDisable: vf.disable, vfBind: vf.bind, vfOpen: vf.open,
            vdevType: type, vdevCreate: vdev.create, vdevOpen: vdev.open,
            sriovTotalVFs: total, sriovEnabledVFs: enabled, parents: limits)
        result.vdevReached = filled?.count
        result.vdevFillStops = filled?.stops
        result.vfResetMethod = resetMethod
        return result
    }
}

extension DatapathBench {
    /// `bench datapath` in the guest, `module` loaded: measure with its engine threads and,
    /// when its .ko is known, reloaded with each of `threads`; then back to the original count.
    public static func measure(module: BenchModule, repeats: Int, seconds: Double, vdevs: [Int],
                               threads: [Int], log: @escaping (String) -> Void) throws -> DatapathResult {
        let bench = DatapathBench(env: module.manager.environment, parent: try module.firstParent(), type: try module.benchType(),
                                  repeats: repeats, seconds: seconds, log: log)
        let original = module.engineThreads ?? 1
        let reload: (Int) -> Bool = { n in
            guard module.path != nil else { return false }
            log("reloading \(module.name) with engine_threads=\(n)")
            return module.reload(parameters: ["engine_threads=\(n)"]) && module.engineThreads == n
        }
        let result = try bench.all(module: module.name, vdevCounts: vdevs, reloadThreads: module.path == nil ? [] : threads,
                                   reload: reload)
        if module.path != nil, module.engineThreads != original { _ = reload(original) }
        return result
    }
}
