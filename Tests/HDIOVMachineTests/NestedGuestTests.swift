import Foundation
import HDIOVKernelBuild
import Testing
@testable import HDIOVMachine

// The pure parts of the nested guest (hdiov vm run --nested / --vfio-mdev) and of the kernel
// sample builder: no QEMU, no sysfs, no files.

// MARK: VDEV requests and their placement

@Test func vdevRequestsParseTypeAndParent() {
    #expect(VDEVRequest(argument: "1qp") == VDEVRequest(type: "1qp"))
    #expect(VDEVRequest(argument: "4qp@hdiov1") == VDEVRequest(type: "4qp", parent: "hdiov1"))
    #expect(VDEVRequest(argument: "hdiov-flex@hdiov0")?.description == "hdiov-flex@hdiov0")
    for bad in ["", "@hdiov0", "1qp@", "1qp@a@b", "../x", "1 qp", "a/b@hdiov0", ".."] {
        #expect(VDEVRequest(argument: bad) == nil, "\(bad)")
    }
    #expect(VDEVRequest.default.description == "1qp")
}

private let twoParents = [
    MdevParent(name: "hdiov1", typeDirectories: ["hdiov-16qp", "hdiov-1qp", "hdiov-4qp", "hdiov-flex"]),
    MdevParent(name: "hdiov0", typeDirectories: ["hdiov-16qp", "hdiov-1qp", "hdiov-4qp", "hdiov-flex"]),
]

@Test func unpinnedVDEVsSpreadOverTheParentsByGuest() throws {
    let slots = try Nested.place([.default], guests: 3, module: "hdiov", parents: twoParents)
    #expect(slots == [
        [VDEVSlot(parent: "hdiov0", typeDirectory: "hdiov-1qp")],
        [VDEVSlot(parent: "hdiov1", typeDirectory: "hdiov-1qp")],
        [VDEVSlot(parent: "hdiov0", typeDirectory: "hdiov-1qp")],
    ])
    #expect(slots[1][0].createPath() == "/sys/class/mdev_bus/hdiov1/mdev_supported_types/hdiov-1qp/create")
}

@Test func pinnedVDEVsStayOnTheirParentAndEveryGuestGetsEachRequest() throws {
    let requests = [VDEVRequest(type: "4qp", parent: "hdiov1"), VDEVRequest(type: "hdiov-flex")]
    let slots = try Nested.place(requests, guests: 2, module: "hdiov", parents: twoParents)
    #expect(slots == [
        [VDEVSlot(parent: "hdiov1", typeDirectory: "hdiov-4qp"), VDEVSlot(parent: "hdiov0", typeDirectory: "hdiov-flex")],
        [VDEVSlot(parent: "hdiov1", typeDirectory: "hdiov-4qp"), VDEVSlot(parent: "hdiov1", typeDirectory: "hdiov-flex")],
    ])
}

@Test func typeDirectoriesOfOtherModulesAndSuffixes() throws {
    // Another module's parent is skipped; a type another driver names differently is found by suffix.
    let parents = [MdevParent(name: "mtty", typeDirectories: ["mtty-1", "mtty-2"]),
                   MdevParent(name: "qat0", typeDirectories: ["qat_4xxx-sym", "qat_4xxx-dc"])]
    #expect(Nested.typeDirectory("sym", module: "qat", on: parents[1]) == "qat_4xxx-sym")
    #expect(Nested.typeDirectory("1qp", module: "hdiov", on: parents[0]) == nil)
    let slots = try Nested.place([VDEVRequest(type: "dc")], guests: 1, module: "qat", parents: parents)
    #expect(slots == [[VDEVSlot(parent: "qat0", typeDirectory: "qat_4xxx-dc")]])
}

@Test func placementErrorsNameWhatIsThere() {
    #expect(throws: Nested.PlacementError.self) {
        try Nested.place([VDEVRequest(type: "1qp", parent: "hdiov9")], guests: 1, module: "hdiov", parents: twoParents)
    }
    do {
        _ = try Nested.place([VDEVRequest(type: "8qp")], guests: 1, module: "hdiov", parents: twoParents)
        Issue.record("placed a type no parent offers")
    } catch {
        #expect("\(error)".contains("no parent offers type 8qp"))
        #expect("\(error)".contains("hdiov0 (hdiov-16qp, hdiov-1qp, hdiov-4qp, hdiov-flex)"))
    }
    do {
        _ = try Nested.place([.default], guests: 1, module: "hdiov", parents: [])
        Issue.record("placed a VDEV without parents")
    } catch {
        #expect("\(error)".contains("no mdev parents are registered"))
    }
}

// MARK: Command lines

@Test func vfioMdevArgumentsAndUUIDs() {
    let u = "118f253a-8877-4ff6-b2d0-d778f82786de"
    #expect(Nested.vfioMdevQemuArguments([u, u]) == [
        "-device", "vfio-pci,sysfsdev=/sys/bus/mdev/devices/\(u)",
        "-device", "vfio-pci,sysfsdev=/sys/bus/mdev/devices/\(u)",
    ])
    #expect(Nested.vfioMdevQemuArguments([]).isEmpty)
    #expect(Nested.isUUID(u))
    #expect(Nested.isUUID(u.uppercased()))
    #expect(!Nested.isUUID("118f253a-8877-4ff6-b2d0-d778f82786d"))
    #expect(!Nested.isUUID("118f253a88774ff6b2d0d778f82786de"))
    #expect(!Nested.isUUID("../../../../etc/passwd"))
}

@Test func outerAndInnerCommandLines() {
    let o = NestedOptions(hostModule: "/b/hdiov.ko", moduleName: "hdiov",
                          vdevs: [VDEVRequest(type: "1qp"), VDEVRequest(type: "4qp", parent: "hdiov1")],
                          guests: 2, innerMemoryMiB: 640, innerCPUs: 1, innerTimeout: 2850,
                          innerEnvironment: ["A=b c"], innerUdev: false, innerFastBoot: true, quiet: true)
    #expect(Nested.outerCommand(hdiov: "/h/hdiov", kernel: .v6_12, options: o, command: ["sh", "-c", "lspci -nn"]) == [
        "/h/hdiov", "vm", "nested-guests", "--kernel", "6.12", "--host-module", "/b/hdiov.ko", "--module-name", "hdiov",
        "--guests", "2", "--inner-memory", "640", "--inner-cpus", "1", "--inner-timeout", "2850",
        "--vdev", "1qp", "--vdev", "4qp@hdiov1", "--env", "A=b c", "--fast-boot", "--quiet", "--", "sh", "-c", "lspci -nn",
    ])
    #expect(Nested.innerCommand(hdiov: "/h/hdiov", kernel: .v6_1, uuids: ["u1", "u2"], options: o, command: ["true"]) == [
        "/h/hdiov", "vm", "run", "--kernel", "6.1", "--memory", "640", "--cpus", "1", "--timeout", "2850",
        "--vfio-mdev", "u1", "--vfio-mdev", "u2", "--env", "A=b c", "--fast-boot", "--", "true",
    ])
    var slow = o
    slow.innerFastBoot = false
    #expect(Nested.outerCommand(hdiov: "/h", kernel: .v6_1, options: slow, command: ["true"]).contains("--no-fast-boot"))
    #expect(!Nested.innerCommand(hdiov: "/h", kernel: .v6_1, uuids: [], options: slow, command: ["true"]).contains("--fast-boot"))
}

@Test func outerMachineSizing() {
    #expect(Nested.outerMemoryMiB(guests: 1) == 1728)
    #expect(Nested.outerMemoryMiB(guests: 2) == 2432)
    #expect(Nested.outerMemoryMiB(guests: 1, innerMemoryMiB: 1024) == 2240)
    #expect(Nested.outerCPUs(guests: 1) == 2)
    #expect(Nested.outerCPUs(guests: 3) == 4)
    #expect(Nested.innerTimeout(outer: Nested.defaultTimeout(guests: 1)) == 1950)
    #expect(Nested.innerTimeout(outer: 100) == 60)
}

// MARK: Output and timings

@Test func guestOutputIsPrefixedOnlyWithSeveralGuests() {
    #expect(Nested.prefixed("00:04.0 Co-processor", guest: 0, of: 1) == "00:04.0 Co-processor")
    #expect(Nested.prefixed("00:04.0 Co-processor", guest: 1, of: 2) == "[g2] 00:04.0 Co-processor")
    #expect(Nested.isProgressLine("hdiov vm: booting 6.1.0-57-amd64 (tcg) …"))
    #expect(!Nested.isProgressLine("hdiov vm: error: guest did not finish"))
    #expect(!Nested.isProgressLine("dmatest 36864 0"))
}

@Test func innerFinishLinesGiveTheBootTime() {
    let f = Nested.parseFinished("hdiov vm: guest finished in 311.5 s (boot 207.4 s), exit 0")
    #expect(f?.total == 311.5)
    #expect(f?.boot == 207.4)
    #expect(f?.status == 0)
    #expect(Nested.parseFinished("hdiov vm: guest finished in 12.0 s, exit 3")?.boot == nil)
    #expect(Nested.parseFinished("hdiov vm: guest finished in 12.0 s, exit 3")?.status == 3)
    #expect(Nested.parseFinished("hdiov vm: booting 6.1.0-57-amd64 (tcg) …") == nil)
}

@Test func resultLinesRoundTripAndSummarize() {
    let line = Nested.resultLine(guest: 1, status: 0, boot: 207.44, total: 311.5)
    #expect(line == "hdiov nested: g2 exit 0, boot 207.4 s, total 311.5 s")
    #expect(Nested.parseResultLine(line) == Nested.GuestResult(guest: "g2", status: 0, boot: 207.4, total: 311.5))
    #expect(Nested.parseResultLine("[g1] " + Nested.resultLine(guest: 0, status: 124, boot: nil, total: 1950))
            == Nested.GuestResult(guest: "g1", status: 124, boot: nil, total: 1950))
    #expect(Nested.parseResultLine("hdiov nested: g1: VDEV 1234 (hdiov-1qp on hdiov0)") == nil)
    let s = Nested.summary(release: "6.1.0-57-amd64", outer: VirtualMachine.Timing(boot: 11.5, total: 333.2), guests: [
        Nested.GuestResult(guest: "g1", status: 0, boot: 207.4, total: 311.5),
        Nested.GuestResult(guest: "g2", status: 1, boot: nil, total: 20),
    ])
    #expect(s == "nested on 6.1.0-57-amd64: outer boot 11.5 s; g1 boot 207.4 s (ran 311.5 s); g2 boot ? (ran 20.0 s), exit 1; total 333.2 s")
}

@Test func kernelProblemsInTheOuterDmesg() {
    let dmesg = """
    [    6.572913] hdiov: loading out-of-tree module taints kernel.
    [    6.944904] hdiov 2567f41a-4e20-409a-9bbf-f173b01c679b: Adding to iommu group 0
    [   10.000000] WARNING: CPU: 0 PID: 1 at drivers/vfio/vfio_main.c:100 vfio_x+0x1/0x2
    [   11.000000] BUG: KASAN: slab-out-of-bounds in hdiov_y+0x10/0x20
    [   12.000000] general protection fault, probably for non-canonical address 0xdead: 0000 [#1]
    [   13.000000] Oops: 0002 [#2] PREEMPT SMP
    [   14.000000] WARNING: possible circular locking dependency detected
    [   15.000000] hdiov hdiov0: MDEV: Unregistering
    """
    let p = Nested.kernelProblems(inDmesg: dmesg)
    #expect(p.count == 5)
    #expect(p.first?.contains("vfio_main.c") == true)
    #expect(p.allSatisfy { !$0.contains("Unregistering") && !$0.contains("taints") })
    #expect(Nested.kernelProblems(inDmesg: "[ 1.0] hdiov hdiov0: MDEV: Registered\n").isEmpty)
}

// MARK: The machine inside the machine

@Test func aRecordedKernelIsTrustedWithoutAptOnlyInsideTheMachine() {
    #expect(KernelCache.trustRecordWithoutApt(environment: ["HDIOV_VM": "1"], cached: true))
    #expect(!KernelCache.trustRecordWithoutApt(environment: ["HDIOV_VM": "1"], cached: false))
    #expect(!KernelCache.trustRecordWithoutApt(environment: [:], cached: true))
}

@Test func theGuestBringsUpLoopbackAndSharesTheRunDirectoryWithRemap() {
    let s = VirtualMachine.runScript(command: ["true"], workingDirectory: "/", options: VMOptions())
    #expect(s.contains("ip link set lo up"))
    #expect(s.range(of: "ip link set lo up")!.lowerBound < s.range(of: "exec true")!.lowerBound)
    let cache = KernelCache(root: "/cache", progress: { _ in })
    let k = cache.prepared(.v6_1, release: "6.1.0-57-amd64")
    let args = VirtualMachine.qemuArguments(kernel: k, initramfs: "/i", runDir: "/tmp/r", options: VMOptions(
        extraQemuArguments: Nested.vfioMdevQemuArguments(["118f253a-8877-4ff6-b2d0-d778f82786de"])))
    #expect(args.contains("local,path=/tmp/r,mount_tag=hdiovrun,security_model=none,multidevs=remap"))
    #expect(Array(args.suffix(2)) == ["-device", "vfio-pci,sysfsdev=/sys/bus/mdev/devices/118f253a-8877-4ff6-b2d0-d778f82786de"])
}

// MARK: Modules from linux-source

@Test func kernelSamplesComeFromTheirKernelsSource() {
    #expect(KernelSample.sourceVersion(forRelease: "6.1.0-57-amd64") == "6.1")
    #expect(KernelSample.sourceVersion(forRelease: "6.1.192") == "6.1")
    #expect(KernelSample.sourceVersion(forRelease: "6.12.118+deb12-amd64") == "6.12")
    #expect(KernelSample.sourceVersion(forRelease: "6.12.118-hdiov-debug") == "6.12")
    #expect(KernelSample.sourceVersion(forRelease: "unknown") == nil)
    #expect(KernelSample.tarball(version: "6.12") == "/usr/src/linux-source-6.12.tar.xz")
    #expect(KernelSample.dmatest.tarMember(version: "6.1") == "linux-source-6.1/drivers/dma/dmatest.c")
    #expect(KernelSample.mtty.tarMember(version: "6.12") == "linux-source-6.12/samples/vfio-mdev/mtty.c")
    #expect(KernelSample.dmatest.kbuildText == "obj-m := dmatest.o\n")
    #expect(KernelSample.dmatest.cacheDirectory(root: "/c", release: "6.1.192") == "/c/samples/dmatest/6.1.192")
    #expect(KernelSample.named("mtty") == .mtty)
    #expect(KernelSample.named("dmatest") == .dmatest)
    #expect(KernelSample.named("nope") == nil)
}

// MARK: Fast boot

/// A fake bzImage: the setup header fields the fast boot reads, and a payload.
private func bzImage(setupSects: UInt8, payload: [UInt8]) -> [UInt8] {
    let start = ((setupSects == 0 ? 4 : Int(setupSects)) + 1) * 512 // setup_sects 0 means 4
    var d = [UInt8](repeating: 0, count: start + 0x20)
    d[0x1f1] = setupSects
    d.replaceSubrange(0x202..<0x206, with: Array("HdrS".utf8))
    d[0x206] = 0x0f; d[0x207] = 0x02
    func put32(_ v: Int, at i: Int) { for k in 0..<4 { d[i + k] = UInt8((v >> (8 * k)) & 0xff) } }
    put32(0x20, at: 0x248)
    put32(payload.count, at: 0x24c)
    return d + payload + [0xaa, 0xbb]
}

@Test func fastBootFindsTheCompressedKernelInTheSetupHeader() throws {
    let xz: [UInt8] = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2, 3, 0x34, 0x12, 0x00, 0x00]
    let p = try FastBoot.payload(ofBzImage: bzImage(setupSects: 39, payload: xz))
    #expect(p == FastBoot.Payload(offset: 40 * 512 + 0x20, length: xz.count, compression: .xz, uncompressedSize: 0x1234))
    let zstd: [UInt8] = [0x28, 0xb5, 0x2f, 0xfd, 9, 9, 0, 0, 1, 0]
    #expect(try FastBoot.payload(ofBzImage: bzImage(setupSects: 0, payload: zstd)).offset == 5 * 512 + 0x20)
    #expect(try FastBoot.payload(ofBzImage: bzImage(setupSects: 0, payload: zstd)).compression == .zstd)
    #expect(throws: FastBoot.ParseError.self) { try FastBoot.payload(ofBzImage: bzImage(setupSects: 1, payload: [0x42, 0x5a, 0x68, 0, 0, 0])) }
    #expect(throws: FastBoot.ParseError.self) { try FastBoot.payload(ofBzImage: [UInt8](repeating: 0, count: 4096)) }
    #expect(FastBoot.decompressCommand(.xz).contains("--single-stream"))
    #expect(FastBoot.decompressCommand(.zstd).hasPrefix("head -c -4"))
}

@Test func fastBootPassesTheUncompressedKernel() {
    let cache = KernelCache(root: "/cache", progress: { _ in })
    let k = cache.prepared(.v6_1, release: "6.1.0-57-amd64")
    let fb = FastBoot(vmlinux: "/cache/kernels/6.1.0-57-amd64/boot/vmlinux-6.1.0-57-amd64")
    let args = VirtualMachine.qemuArguments(kernel: k, initramfs: "/i", runDir: "/r", options: VMOptions(), fastBoot: fb)
    func value(after flag: String, in args: [String]) -> [String] {
        args.indices.filter { args[$0] == flag && $0 + 1 < args.count }.map { args[$0 + 1] }
    }
    #expect(value(after: "-kernel", in: args) == [fb.vmlinux])
    #expect(!args.contains("-bios"))
    let plain = VirtualMachine.qemuArguments(kernel: k, initramfs: "/i", runDir: "/r", options: VMOptions())
    #expect(value(after: "-kernel", in: plain) == [k.vmlinuz])
    #expect(Array(plain.dropFirst(0)) == args.map { $0 == fb.vmlinux ? k.vmlinuz : $0 })
}
