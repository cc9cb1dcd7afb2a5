import Foundation
import Testing
@testable import HDIOVMachine

// The pure parts of the embedded machine: no apt, no QEMU, no files.

// MARK: Cache location and layout

@Test func cacheRootPrefersHDIOVCacheThenXDGThenHome() {
    #expect(KernelCache.defaultRoot(environment: ["HDIOV_CACHE": "/c", "XDG_CACHE_HOME": "/x", "HOME": "/h"]) == "/c")
    #expect(KernelCache.defaultRoot(environment: ["XDG_CACHE_HOME": "/x", "HOME": "/h"]) == "/x/hdiov")
    #expect(KernelCache.defaultRoot(environment: ["HDIOV_CACHE": "", "XDG_CACHE_HOME": "", "HOME": "/h"])
            == "/h/.cache/hdiov")
}

@Test func cachePathsAreKeyedByRelease() {
    let cache = KernelCache(root: "/cache", progress: { _ in })
    let k = cache.prepared(.v6_12, release: "6.12.117+deb12-amd64")
    #expect(k.choice == .v6_12)
    #expect(k.release == "6.12.117+deb12-amd64")
    #expect(k.vmlinuz == "/cache/kernels/6.12.117+deb12-amd64/boot/vmlinuz-6.12.117+deb12-amd64")
    #expect(k.modulesDir == "/cache/kernels/6.12.117+deb12-amd64/lib/modules/6.12.117+deb12-amd64")
    #expect(k.headersDir == "/cache/headers/6.12.117+deb12-amd64/usr/src/linux-headers-6.12.117+deb12-amd64")
    #expect(cache.initramfsPath("6.1.0-56-amd64") == "/cache/initramfs/6.1.0-56-amd64.cpio.gz")
    #expect(cache.initramfsStampPath("6.1.0-56-amd64") == "/cache/initramfs/6.1.0-56-amd64.cpio.gz.stamp")
    #expect(cache.debsDir == "/cache/debs")
}

@Test func kernelChoicesNameTheirMetapackages() {
    #expect(KernelChoice(rawValue: "6.1") == .v6_1)
    #expect(KernelChoice(rawValue: "6.12") == .v6_12)
    #expect(KernelChoice.v6_1.imageMetapackage == "linux-image-amd64")
    #expect(KernelChoice.v6_12.imageMetapackage == "linux-image-6.12-amd64")
    #expect(KernelChoice.allCases.map(\.rawValue) == ["6.1", "6.12"])
}

// MARK: apt output

@Test func firstImageDependencyOfTheMetapackage() {
    let out = """
    linux-image-amd64
      Depends: linux-image-6.1.0-56-amd64
      Recommends: <linux-image-virtual>

    """
    #expect(AptParse.firstDependency(inDependsOutput: out, prefix: "linux-image-") == "linux-image-6.1.0-56-amd64")
    let alt = """
    linux-image-6.12-amd64
     |Depends: linux-image-6.12.117+deb12-amd64
      Depends: linux-image-6.12.117+deb12-amd64-unsigned
    """
    #expect(AptParse.firstDependency(inDependsOutput: alt, prefix: "linux-image-")
            == "linux-image-6.12.117+deb12-amd64")
    #expect(AptParse.firstDependency(inDependsOutput: "x\n  Depends: gcc-12\n", prefix: "linux-image-") == nil)
}

@Test func headersDependsYieldCommonAndKbuild() {
    let show = """
    Package: linux-headers-6.12.117+deb12-amd64
    Version: 6.12.117-1~deb12u1
    Depends: linux-base (>= 4.12~), linux-headers-6.12.117+deb12-common (= 6.12.117-1~deb12u1), linux-image-6.12.117+deb12-amd64 (= 6.12.117-1~deb12u1) | linux-image-6.12.117+deb12-amd64-unsigned (= 6.12.117-1~deb12u1), linux-kbuild-6.12.117+deb12, gcc-12
    Description: Header files
     more text

    Package: linux-headers-6.12.117+deb12-amd64
    Version: 6.12.100-1
    """
    let fields = AptParse.fields(ofShowOutput: show)
    #expect(fields["Version"] == "6.12.117-1~deb12u1")
    #expect(fields["Description"] == "Header files more text")
    let support = AptParse.headerSupportPackages(fields["Depends"] ?? "")
    #expect(support.map(\.name) == ["linux-headers-6.12.117+deb12-common", "linux-kbuild-6.12.117+deb12"])
    #expect(support.map(\.exactVersion) == ["6.12.117-1~deb12u1", nil])

    let six1 = "linux-headers-6.1.0-56-common (= 6.1.192-2), linux-kbuild-6.1 (>= 6.1.192-2), linux-compiler-gcc-12-x86"
    let s1 = AptParse.headerSupportPackages(six1)
    #expect(s1.map(\.name) == ["linux-headers-6.1.0-56-common", "linux-kbuild-6.1"])
    #expect(s1.map(\.exactVersion) == ["6.1.192-2", nil])
}

@Test func debFileNamesEscapeTheEpoch() {
    #expect(DebPackage(name: "linux-kbuild-6.1", version: "6.1.192-2").filePrefix == "linux-kbuild-6.1_6.1.192-2_")
    #expect(DebPackage(name: "qemu", version: "1:7.2+dfsg-7").filePrefix == "qemu_1%3a7.2+dfsg-7_")
}

@Test func resolvedRecordRoundTrips() {
    let text = """
    release=6.1.0-56-amd64
    image=linux-image-6.1.0-56-amd64=6.1.192-2
    headers=linux-headers-6.1.0-56-amd64=6.1.192-2
    headers=linux-kbuild-6.1=6.1.192-2

    """
    let r = KernelCache.parseRecord(text)
    #expect(r?.release == "6.1.0-56-amd64")
    #expect(r?.image == DebPackage(name: "linux-image-6.1.0-56-amd64", version: "6.1.192-2"))
    #expect(r?.headers.count == 2)
    #expect(KernelCache.parseRecord("release=x\n") == nil)
}

@Test func headersMakefileIncludePointsIntoTheCache() {
    let original = "include /usr/src/linux-headers-6.1.0-56-common/Makefile\n"
    #expect(rewriteHeadersMakefile(original, unpackRoot: "/c/headers/6.1.0-56-amd64")
            == "include /c/headers/6.1.0-56-amd64/usr/src/linux-headers-6.1.0-56-common/Makefile\n")
    #expect(rewriteHeadersMakefile("# /usr/src/x\nobj-m := a.o", unpackRoot: "/c") == "# /usr/src/x\nobj-m := a.o")
}

// MARK: Modules

@Test func bootModulesLoadDependenciesFirstAndSkipBuiltins() throws {
    let dep = """
    kernel/drivers/virtio/virtio_ring.ko.xz:
    kernel/net/9p/9pnet.ko.xz:
    kernel/net/9p/9pnet_virtio.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz
    kernel/fs/netfs/netfs.ko.xz:
    kernel/fs/9p/9p.ko.xz: kernel/fs/netfs/netfs.ko.xz kernel/net/9p/9pnet.ko.xz
    kernel/drivers/vfio/mdev/mdev.ko.xz: kernel/drivers/vfio/vfio.ko.xz
    """
    let builtin = "kernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/virtio/virtio.ko\n"
    let deps = ModuleDependencies(modulesDep: dep, modulesBuiltin: builtin)
    let order = try deps.loadOrder(for: ["virtio_pci", "9pnet_virtio", "9p"])
    #expect(order == [
        "kernel/drivers/virtio/virtio_ring.ko.xz", "kernel/net/9p/9pnet.ko.xz", "kernel/net/9p/9pnet_virtio.ko.xz",
        "kernel/fs/netfs/netfs.ko.xz", "kernel/fs/9p/9p.ko.xz",
    ])
    // Each module comes after all of its dependencies, and only once.
    for (i, path) in order.enumerated() {
        for d in deps.dependencies[path] ?? [] { #expect((order.firstIndex(of: d) ?? .max) < i) }
    }
    #expect(Set(order).count == order.count)
    #expect(throws: ModuleDependencies.LookupError.self) { try deps.loadOrder(for: ["nosuchmodule"]) }
    #expect(ModuleDependencies.name(ofPath: "kernel/drivers/vfio/vfio_iommu_type1.ko.xz") == "vfio_iommu_type1")
    #expect(ModuleDependencies.name(ofPath: "kernel/x/snd-hda.ko") == "snd_hda")
}

// MARK: Guest init and run script

@Test func initScriptMountsTheSharesAndChroots() {
    let s = Initramfs.initScript
    #expect(s.hasPrefix("#!/bin/sh\n"))
    for needle in [
        "mount -t proc proc /proc", "mount -t sysfs sysfs /sys", "mount -t devtmpfs devtmpfs /dev",
        "insmod \"/modules/$m\"",
        "hdiovrun /hdiovrun", ". /hdiovrun/vm.conf",
        "version=9p2000.L,ro,", "hostroot /lower",
        "mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /host",
        "mkdir -p \"/host/lib/modules/$REL\"",
        "mount -t proc proc /host/proc", "mount -t sysfs sysfs /host/sys",
        "securityfs /host/sys/kernel/security", "debugfs /host/sys/kernel/debug",
        "mount -t devtmpfs devtmpfs /host/dev", "devpts /host/dev/pts",
        "tmpfs /host/run",
        "mount --bind \"/lower$HDIOV_MODULES\" \"/host/lib/modules/$REL\"",
        "mount --bind /hdiovrun /host/run/hdiov-vm",
        "$HDIOV_MARKER:BEGIN", "$HDIOV_MARKER:END",
        "chroot /host /bin/sh /run/hdiov-vm/run.sh",
        "/hdiovrun/status", "poweroff -f", "/proc/sysrq-trigger",
    ] {
        #expect(s.contains(needle), "init script lacks \(needle)")
    }
    // Nothing is mounted on the host's tree itself (a path the host may lack): only on the
    // writable root, after it exists. The status is written before END.
    let overlay = s.range(of: "overlay /host")!.lowerBound
    for m in ["tmpfs /host/", "--bind \"/lower$HDIOV_MODULES\"", "proc /host/proc"] {
        #expect(overlay < s.range(of: m)!.lowerBound, "\(m) before the writable root")
    }
    #expect(!s.contains("tmpfs /host/lib/modules"))
    #expect(s.range(of: "/hdiovrun/status")!.lowerBound < s.range(of: "$HDIOV_MARKER:END")!.lowerBound)
    #expect(Initramfs.bootModules == ["virtio_pci", "9pnet_virtio", "9p", "overlay"])
}

@Test func initramfsStampChangesWithItsInputs() {
    let a = Initramfs.stamp(release: "6.1.0-56-amd64", modules: ["a.ko"], busybox: "/nonexistent")
    #expect(a == Initramfs.stamp(release: "6.1.0-56-amd64", modules: ["a.ko"], busybox: "/nonexistent"))
    #expect(a != Initramfs.stamp(release: "6.1.0-57-amd64", modules: ["a.ko"], busybox: "/nonexistent"))
    #expect(a != Initramfs.stamp(release: "6.1.0-56-amd64", modules: ["a.ko", "b.ko"], busybox: "/nonexistent"))
}

@Test func runScriptQuotesTheCommandAndSetsTheEnvironment() {
    let s = VirtualMachine.runScript(command: ["sh", "-c", "echo 'hi' $X"], workingDirectory: "/work/my dir",
                                     options: VMOptions(environment: ["X=a b", "PATH=/opt/bin:/usr/bin"]))
    #expect(s.contains("export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"))
    #expect(s.contains("export HOME=/root\n"))
    #expect(s.contains("export TERM=dumb\n"))
    #expect(s.contains("export 'X=a b'\n"))
    // User variables come after the defaults, so they win.
    #expect(s.range(of: "export PATH=/opt/bin:/usr/bin")!.lowerBound > s.range(of: "export HOME=/root")!.lowerBound)
    #expect(s.contains("cd '/work/my dir' 2>/dev/null ||"))
    #expect(s.hasSuffix("exec sh -c 'echo '\\''hi'\\'' $X' </dev/null\n"))
    #expect(!s.contains("udevd"))

    let u = VirtualMachine.runScript(command: ["true"], workingDirectory: "/", options: VMOptions(udev: true))
    #expect(u.contains("/lib/systemd/systemd-udevd --daemon"))
    #expect(u.contains("udevadm trigger --action=add"))
    #expect(u.contains("udevadm settle"))
    #expect(u.contains("SYSTEMD_IGNORE_CHROOT=1"))
    #expect(u.range(of: "udevadm settle")!.lowerBound < u.range(of: "exec true")!.lowerBound)
}

@Test func vmConfCarriesMarkerReleaseAndModules() {
    let c = VirtualMachine.vmConf(marker: "HDIOV-VM-1", release: "6.12.117+deb12-amd64",
                                  modulesDir: "/c/kernels/x/lib/modules/6.12.117+deb12-amd64", dmesg: false)
    #expect(c.contains("HDIOV_MARKER=HDIOV-VM-1\n"))
    #expect(c.contains("HDIOV_RELEASE=6.12.117+deb12-amd64\n"))
    #expect(c.contains("HDIOV_MODULES=/c/kernels/x/lib/modules/6.12.117+deb12-amd64\n"))
    #expect(c.contains("HDIOV_DMESG=\n"))
}

@Test func qemuArgumentsUseTCGTheSharesAndADetachedConsole() {
    let cache = KernelCache(root: "/cache", progress: { _ in })
    let k = cache.prepared(.v6_1, release: "6.1.0-56-amd64")
    let args = VirtualMachine.qemuArguments(kernel: k, initramfs: "/cache/initramfs/6.1.0-56-amd64.cpio.gz",
                                            runDir: "/tmp/run,1", options: VMOptions(memoryMiB: 1024))
    func value(after flag: String) -> [String] {
        args.indices.filter { args[$0] == flag && $0 + 1 < args.count }.map { args[$0 + 1] }
    }
    #expect(value(after: "-accel") == ["tcg,thread=single"])
    #expect(value(after: "-m") == ["1024"])
    #expect(value(after: "-smp") == ["2"])
    #expect(value(after: "-kernel") == [k.vmlinuz])
    #expect(value(after: "-initrd") == ["/cache/initramfs/6.1.0-56-amd64.cpio.gz"])
    #expect(args.contains("-no-reboot"))
    #expect(value(after: "-append").first?.contains("console=ttyS0") == true)
    #expect(value(after: "-append").first?.contains("panic=-1") == true)
    #expect(value(after: "-append").first?.contains("quiet loglevel=3") == true)
    #expect(value(after: "-virtfs") == [
        "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
        "local,path=/tmp/run,,1,mount_tag=hdiovrun,security_model=none,multidevs=remap",
    ])
    #expect(value(after: "-chardev") == ["stdio,id=console,signal=off"])
    #expect(value(after: "-serial") == ["chardev:console"])
    #expect(!args.contains("-enable-kvm"))
}

// MARK: Console

@Test func consoleFilterPassesOnlyTheCommandOutput() {
    var f = ConsoleFilter(marker: "M1")
    var out: [UInt8] = []
    // Split at awkward places: inside the marker and inside a CRLF.
    for chunk in ["[ 1.0] boot noise\r\nhdiov-init: x\r\nM", "1:BEGIN\r\nhello\r", "\nworld\r\n[ 2.0] WARNING: x\r\n",
                  "tail-no-newlineM1:END\r\n", "[ 3.0] reboot: Power down\r\n"] {
        out += f.feed(Array(chunk.utf8))
    }
    out += f.finish()
    #expect(String(decoding: out, as: UTF8.self) == "hello\nworld\n[ 2.0] WARNING: x\ntail-no-newline")
    #expect(f.state == .after)
    #expect(f.beginSeenAt != nil)
    #expect(f.tail().contains("boot noise"))
    #expect(f.tail().contains("Power down"))
    #expect(!f.tail().contains("hello"))
}

@Test func consoleFilterWithoutMarkersPassesNothing() {
    var f = ConsoleFilter(marker: "M2")
    let out = f.feed(Array("Kernel panic - not syncing\r\n".utf8)) + f.finish()
    #expect(out.isEmpty)
    #expect(f.state == .before)
    #expect(f.tail() == "Kernel panic - not syncing")
}

@Test func shellQuoting() {
    #expect(Shell.quote("plain-word_1.0/x=y") == "plain-word_1.0/x=y")
    #expect(Shell.quote("") == "''")
    #expect(Shell.quote("a b") == "'a b'")
    #expect(Shell.quote("it's") == "'it'\\''s'")
    #expect(Shell.quote("$HOME") == "'$HOME'")
}
