import Foundation
import Testing
@testable import HDIOVMachine

// Extra QEMU / kernel arguments and the sriov-nvme machine preset: pure argument building.

private func arguments(_ options: VMOptions) -> [String] {
    let cache = KernelCache(root: "/cache", progress: { _ in })
    let k = cache.prepared(.v6_1, release: "6.1.0-56-amd64")
    return VirtualMachine.qemuArguments(kernel: k, initramfs: "/i.cpio.gz", runDir: "/tmp/run", options: options)
}

private func values(after flag: String, in args: [String]) -> [String] {
    args.indices.filter { args[$0] == flag && $0 + 1 < args.count }.map { args[$0 + 1] }
}

@Test func defaultMachineHasNoExtrasNoMachineTypeAndNoIOMMU() {
    let args = arguments(VMOptions())
    #expect(VMOptions().extraQemuArguments.isEmpty)
    #expect(VMOptions().extraKernelArguments.isEmpty)
    #expect(!args.contains("-machine"))
    #expect(!args.contains("-device"))
    #expect(values(after: "-append", in: args) == ["console=ttyS0 quiet loglevel=3 panic=-1"])
    // The last arguments are still the two shares.
    #expect(args.suffix(4).first == "-virtfs")
}

@Test func extraArgumentsAreAppendedInOrder() {
    let args = arguments(VMOptions(extraQemuArguments: ["-device", "nvme,serial=x,,y", "-s"],
                                   extraKernelArguments: ["foo=1", "bar"]))
    #expect(Array(args.suffix(3)) == ["-device", "nvme,serial=x,,y", "-s"])
    #expect(values(after: "-append", in: args) == ["console=ttyS0 quiet loglevel=3 panic=-1 foo=1 bar"])
    // Nothing of the default line is lost.
    #expect(values(after: "-accel", in: args) == ["tcg,thread=single"])
    #expect(values(after: "-virtfs", in: args).count == 2)
}

@Test func machinePresetNames() {
    #expect(MachinePreset(name: "sriov-nvme") == .sriovNVMe(maxVFs: 8))
    #expect(MachinePreset(name: "sriov-nvme:1") == .sriovNVMe(maxVFs: 1))
    #expect(MachinePreset(name: "sriov-nvme:127") == .sriovNVMe(maxVFs: 127))
    #expect(MachinePreset(name: "sriov-nvme:128") == nil)
    #expect(MachinePreset(name: "sriov-nvme:0") == nil)
    #expect(MachinePreset(name: "sriov-nvme:") == nil)
    #expect(MachinePreset(name: "sriov-nvme:x") == nil)
    #expect(MachinePreset(name: "q35") == nil)
    #expect(MachinePreset.sriovNVMe(maxVFs: 16).name == "sriov-nvme:16")
}

@Test func sriovNVMePresetAddsQ35IOMMUAndTheNVMePF() {
    let preset = MachinePreset.sriovNVMe(maxVFs: 8)
    let options = preset.applied(to: VMOptions(memoryMiB: 1024, extraQemuArguments: ["-s"], extraKernelArguments: ["x=1"]))
    #expect(options.memoryMiB == 1024)
    let args = arguments(options)
    #expect(values(after: "-machine", in: args) == ["q35,kernel-irqchip=split"])
    #expect(values(after: "-device", in: args) == [
        "intel-iommu,intremap=on,caching-mode=on",
        "pcie-root-port,id=hdiov_rp0,chassis=1",
        "nvme-subsys,id=hdiov_subsys0",
        "nvme,serial=deadbeef,bus=hdiov_rp0,subsys=hdiov_subsys0,sriov_max_vfs=8,sriov_vq_flexible=16,"
            + "sriov_vi_flexible=8,max_ioqpairs=64,msix_qsize=65",
    ])
    // The preset's arguments come before the user's own.
    #expect(args.last == "-s")
    #expect(values(after: "-append", in: args) == ["console=ttyS0 quiet loglevel=3 panic=-1 intel_iommu=on x=1"])
    // The default machine's parts are all still there.
    #expect(values(after: "-virtfs", in: args).count == 2)
    #expect(values(after: "-serial", in: args) == ["chardev:console"])
}

@Test func sriovNVMeResourcesSatisfyQEMUsChecksForEveryCount() {
    // hw/nvme/ctrl.c: vq_flexible >= 2 * max_vfs, vi_flexible >= max_vfs,
    // max_ioqpairs - vq_flexible >= 2, msix_qsize - vi_flexible >= 1.
    for n in 1...MachinePreset.nvmeMaxVFs {
        let nvme = MachinePreset.sriovNVMe(maxVFs: n).qemuArguments.last!
        var p: [String: Int] = [:]
        for kv in nvme.split(separator: ",").dropFirst() {
            let parts = kv.split(separator: "=")
            if let v = Int(parts[1]) { p[String(parts[0])] = v }
        }
        #expect(p["sriov_max_vfs"] == n)
        #expect(p["sriov_vq_flexible"]! >= 2 * n)
        #expect(p["sriov_vi_flexible"]! >= n)
        #expect(p["max_ioqpairs"]! - p["sriov_vq_flexible"]! >= 2)
        #expect(p["msix_qsize"]! - p["sriov_vi_flexible"]! >= 1)
        #expect(p["msix_qsize"]! <= 2048)
    }
}
