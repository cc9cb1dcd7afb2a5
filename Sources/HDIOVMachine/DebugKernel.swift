import Foundation

/// A 6.12 kernel built from Debian's `linux-source-6.12` with KASAN, lockdep (PROVE_LOCKING) and
/// kmemleak, everything the embedded machine and the module need built in (no modules at all).
///
/// Layout under `<cache root>/debug/`:
///
///     <key>/linux-source-6.12/                     the built tree (+ Module.symvers): make -C here (hdiov build --kdir)
///     <key>/linux-source-6.12/arch/x86/boot/bzImage
///     <key>/lib/modules/<release>/                 modules.builtin + an empty modules.dep (depmod)
///     <key>/complete                               the fragment and source version it was built from
///     .build-<key>/                                a build in progress (resumed if interrupted)
///
/// `<key>` hashes the config fragment and the source package's version, so changing either builds
/// a new kernel; the build happens under `.build-<key>` and is renamed into place when complete.
public struct DebugKernel: Sendable {
    public let cache: KernelCache
    /// `make -j`.
    public var jobs: Int

    /// The Debian package with the kernel source tarball.
    public static let sourcePackage = "linux-source-6.12"
    public static let sourceTarball = "/usr/src/linux-source-6.12.tar.xz"
    static let treeName = "linux-source-6.12"

    /// Merged over `make defconfig kvm_guest.config`. VFIO_MDEV has no prompt of its own: the
    /// mtty sample selects it. OVERLAY_FS: the guest's root is the host's under a RAM upper layer.
    public static let fragment = """
        CONFIG_LOCALVERSION="-hdiov-debug"
        CONFIG_VFIO=y
        CONFIG_VFIO_CONTAINER=y
        CONFIG_VFIO_IOMMU_TYPE1=y
        CONFIG_NET_9P=y
        CONFIG_NET_9P_VIRTIO=y
        CONFIG_9P_FS=y
        CONFIG_9P_FS_POSIX_ACL=y
        CONFIG_OVERLAY_FS=y
        CONFIG_SAMPLES=y
        CONFIG_SAMPLE_VFIO_MDEV_MTTY=y
        CONFIG_CRYPTO_CRC32C=y
        CONFIG_LIBCRC32C=y
        CONFIG_DEBUG_FS=y
        CONFIG_DEBUG_INFO_NONE=y
        CONFIG_KASAN=y
        CONFIG_KASAN_GENERIC=y
        CONFIG_PROVE_LOCKING=y
        CONFIG_DEBUG_ATOMIC_SLEEP=y
        CONFIG_DEBUG_KMEMLEAK=y
        CONFIG_DEBUG_KMEMLEAK_MEM_POOL_SIZE=16000
        # CONFIG_DEBUG_KMEMLEAK_DEFAULT_OFF is not set

        """

    /// Options that must be `=y` in the final .config (a fragment line whose dependencies are
    /// not met is silently dropped by kconfig).
    public static let required = [
        "VFIO", "VFIO_IOMMU_TYPE1", "VFIO_MDEV", "SAMPLE_VFIO_MDEV_MTTY", "NET_9P_VIRTIO", "9P_FS",
        "VIRTIO_PCI", "OVERLAY_FS", "LIBCRC32C", "CRYPTO_CRC32C", "DEBUG_FS", "KASAN", "PROVE_LOCKING", "DEBUG_KMEMLEAK",
    ]

    public init(cache: KernelCache, jobs: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.cache = cache
        self.jobs = max(1, jobs)
    }

    // MARK: Pure parts

    /// FNV-1a 64 of the fragment and the source version, as 16 hex digits.
    public static func key(fragment: String, sourceVersion: String) -> String {
        let h = (fragment + "\nsource " + sourceVersion + "\n").utf8
            .reduce(UInt64(14695981039346656037)) { ($0 ^ UInt64($1)) &* 1099511628211 }
        return String(h, radix: 16).leftPadded(to: 16)
    }

    /// The required options that are not `=y` in a .config's text.
    public static func missingOptions(inConfig text: String) -> [String] {
        let set = Set(text.split(separator: "\n").map(String.init))
        return required.filter { !set.contains("CONFIG_\($0)=y") }
    }

    var debugRoot: String { cache.root + "/debug" }
    func finalDir(_ key: String) -> String { debugRoot + "/" + key }
    func stagingDir(_ key: String) -> String { debugRoot + "/.build-" + key }

    /// The PreparedKernel of a complete build directory.
    static func prepared(dir: String, release: String) -> PreparedKernel {
        PreparedKernel(choice: .v6_12, release: release, vmlinuz: dir + "/" + treeName + "/arch/x86/boot/bzImage",
                       modulesDir: dir + "/lib/modules/" + release, headersDir: dir + "/" + treeName)
    }

    // MARK: Prepare

    /// The installed source package's version; nil when it is not installed.
    public static func installedSourceVersion() -> String? {
        guard FileManager.default.fileExists(atPath: sourceTarball),
              let r = try? Shell.run("dpkg-query", ["-W", "-f=${Version}", sourcePackage]), r.status == 0 else { return nil }
        let v = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return v.isEmpty ? nil : v
    }

    /// The debug kernel, built first if this fragment and source version have not been built yet.
    public func prepare() throws -> PreparedKernel {
        guard let version = Self.installedSourceVersion() else {
            throw MachineError.missingTool(Self.sourceTarball, hint: "apt-get install \(Self.sourcePackage) flex bison bc libelf-dev libssl-dev")
        }
        let key = Self.key(fragment: Self.fragment, sourceVersion: version)
        let final = finalDir(key)
        if let k = complete(final) { return k }
        try FileManager.default.createDirectory(atPath: debugRoot, withIntermediateDirectories: true)
        // One builder at a time per key; a second one waits and then finds it complete.
        let lockPath = stagingDir(key) + ".lock"
        let lock = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lock >= 0 else { throw MachineError.commandFailed(command: "open \(lockPath)", status: errno, output: "") }
        defer { close(lock) }
        if flock(lock, LOCK_EX | LOCK_NB) != 0 {
            cache.progress("another process is building the debug kernel \(key); waiting …")
            flock(lock, LOCK_EX)
        }
        if let k = complete(final) { return k }
        let fm = FileManager.default
        if fm.fileExists(atPath: final + "/" + Self.treeName + "/.config"), !fm.fileExists(atPath: stagingDir(key)) {
            // An entry that lacks something (an older hdiov built no Module.symvers): finish it.
            guard rename(final, stagingDir(key)) == 0 else {
                throw MachineError.commandFailed(command: "rename \(final) to \(stagingDir(key))", status: errno, output: "")
            }
            try "\(key)\n".write(toFile: stagingDir(key) + "/configured", atomically: false, encoding: .utf8)
        }
        try build(key: key, version: version)
        guard let k = complete(final) else {
            throw MachineError.badKernel("the debug kernel build \(final) is incomplete; delete it and \(stagingDir(key))")
        }
        return k
    }

    /// A complete build in `dir`, or nil.
    func complete(_ dir: String) -> PreparedKernel? {
        guard let release = try? String(contentsOfFile: dir + "/" + Self.treeName + "/include/config/kernel.release", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines), !release.isEmpty,
            FileManager.default.fileExists(atPath: dir + "/complete") else { return nil }
        let k = Self.prepared(dir: dir, release: release)
        let fm = FileManager.default
        guard fm.fileExists(atPath: k.vmlinuz), fm.fileExists(atPath: k.modulesDir + "/modules.dep"),
              fm.fileExists(atPath: k.headersDir + "/Module.symvers") else { return nil }
        return k
    }

    private func build(key: String, version: String) throws {
        let fm = FileManager.default
        let staging = stagingDir(key)
        let tree = staging + "/" + Self.treeName
        let start = Date()
        if fm.fileExists(atPath: staging + "/configured"), fm.fileExists(atPath: tree + "/.config") {
            cache.progress("resuming the debug kernel build in \(staging) …")
        } else {
            fm.removeIfPresent(staging)
            try fm.createDirectory(atPath: staging, withIntermediateDirectories: true)
            cache.progress("unpacking \(Self.sourcePackage) \(version) …")
            try Shell.check("tar", ["-xf", Self.sourceTarball, "-C", staging])
            guard fm.fileExists(atPath: tree + "/Makefile") else {
                throw MachineError.badKernel("\(Self.sourceTarball) has no \(Self.treeName)/Makefile")
            }
            try Self.fragment.write(toFile: tree + "/kernel/configs/hdiov_debug.config", atomically: false, encoding: .utf8)
            try Shell.check("make", ["-C", tree, "-s", "defconfig", "kvm_guest.config", "hdiov_debug.config"])
            let config = try String(contentsOfFile: tree + "/.config", encoding: .utf8)
            let missing = Self.missingOptions(inConfig: config)
            guard missing.isEmpty else {
                throw MachineError.badKernel("the debug kernel's .config lacks " + missing.map { "CONFIG_\($0)=y" }.joined(separator: ", "))
            }
            try "\(key)\n".write(toFile: staging + "/configured", atomically: false, encoding: .utf8)
        }
        let log = staging + "/build.log"
        cache.progress("building the debug kernel (\(Self.sourcePackage) \(version), KASAN + lockdep + kmemleak; "
                       + "about 12 min on 2 cores; log: \(log)) …")
        // `modules` (a dozen small =m ones of defconfig) for Module.symvers: modpost of an
        // out-of-tree module needs it; `modules_prepare` alone does not write it.
        try make(["bzImage", "modules"], in: tree, log: log, start: start)
        let release = try String(contentsOfFile: tree + "/include/config/kernel.release", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        // Everything is built in: an empty module tree with modules.builtin, so modprobe of a
        // built-in module succeeds and the initramfs loads nothing.
        let modules = staging + "/lib/modules/" + release
        fm.removeIfPresent(staging + "/lib")
        try fm.createDirectory(atPath: modules, withIntermediateDirectories: true)
        for f in ["modules.builtin", "modules.builtin.modinfo"] where fm.fileExists(atPath: tree + "/" + f) {
            try fm.copyItem(atPath: tree + "/" + f, toPath: modules + "/" + f)
        }
        try "".write(toFile: modules + "/modules.order", atomically: false, encoding: .utf8)
        try Shell.check("depmod", ["-b", staging, release])
        try fm.createSymbolicLink(atPath: modules + "/build", withDestinationPath: finalDir(key) + "/" + Self.treeName)
        try (Self.fragment + "\nsource \(version)\n").write(toFile: staging + "/complete", atomically: false, encoding: .utf8)
        fm.removeIfPresent(staging + "/configured")
        guard rename(staging, finalDir(key)) == 0 else {
            throw MachineError.commandFailed(command: "rename \(staging) to \(finalDir(key))", status: errno, output: "")
        }
        cache.progress(String(format: "debug kernel %@ built in %.0f min", release, Date().timeIntervalSince(start) / 60))
    }

    /// `nice make -jN targets` in `tree`, output to `log`, with a progress line every minute.
    private func make(_ targets: [String], in tree: String, log: String, start: Date) throws {
        FileManager.default.createFile(atPath: log, contents: nil)
        guard let out = FileHandle(forWritingAtPath: log) else {
            throw MachineError.commandFailed(command: "open \(log)", status: errno, output: "")
        }
        defer { try? out.close() }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["nice", "make", "-C", tree, "-j\(jobs)"] + targets
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = out
        p.standardError = out
        try p.run()
        var last = Date()
        while p.isRunning {
            usleep(200_000)
            if Date().timeIntervalSince(last) >= 60 {
                last = Date()
                let compiled = (try? String(contentsOfFile: log, encoding: .utf8))?
                    .split(separator: "\n").filter { $0.hasPrefix("  CC ") }.count ?? 0
                cache.progress(String(format: "debug kernel: %d files compiled, %.0f min", compiled, Date().timeIntervalSince(start) / 60))
            }
        }
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let tail = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").suffix(30).joined(separator: "\n")
            throw MachineError.commandFailed(command: "make \(targets.joined(separator: " ")) in \(tree)",
                                             status: p.terminationStatus, output: tail)
        }
    }
}

extension DebugKernel {
    /// Guest shell run after the command (its status in `$?`): two kmemleak scans, then the
    /// kmemleak list and dmesg searched. Fails (exit 1 instead of 0) on any KASAN or lockdep
    /// report and on any unreferenced object allocated from the hdiov module (its symbols, or a
    /// bare module-space address once it is unloaded); other kmemleak objects are only counted.
    public static let checkScript = #"""
        st=$?
        echo "hdiov vm: kernel checks (KASAN, lockdep, kmemleak) ..."
        k=/sys/kernel/debug/kmemleak
        [ -e "$k" ] || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
        leaks=-1; ours=-1
        if [ -w "$k" ]; then
            echo scan >"$k"; sleep 6; echo scan >"$k"
            cat "$k" >/tmp/hdiov-kmemleak.txt
            leaks=$(grep -c '^unreferenced object' /tmp/hdiov-kmemleak.txt)
            ours=$(awk '/^unreferenced object/ { if (hit) n++; hit = 0 }
                        /\[hdiov\]|\] 0xffffffffc/ { hit = 1 }
                        END { if (hit) n++; print n + 0 }' /tmp/hdiov-kmemleak.txt)
        fi
        dmesg >/tmp/hdiov-dmesg.txt
        kasan=$(grep -c 'BUG: KASAN' /tmp/hdiov-dmesg.txt)
        lockdep=$(grep -cE 'possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|BUG: sleeping function|bad unlock balance|lock held when returning|possible irq lock inversion|held lock freed|BUG: workqueue leaked lock' /tmp/hdiov-dmesg.txt)
        # Known upstream: VFIO type1 calls dma_unmap with iommu->device_list_lock held and asks
        # the driver to vfio_unpin_pages() there, which takes iommu->lock; device registration
        # takes them the other way round (vfio_iommu_type1.c, vfio_notify_dma_unmap). Every
        # driver that pins (kvmgt too) gets this report; it is counted apart, not as ours.
        upstream=$(awk '/possible circular locking/ { if (blk) n += hit; blk = 1; hit = 0; dll = 0 }
                        blk && /iommu->device_list_lock/ { dll = 1 }
                        blk && dll && /vfio_iommu_type1_unpin_pages/ { hit = 1 }
                        END { if (blk) n += hit; print n + 0 }' /tmp/hdiov-dmesg.txt)
        lockdep=$((lockdep - upstream))
        note=""
        if [ "$upstream" -gt 0 ]; then
            note="; known upstream: $upstream (VFIO type1 device_list_lock -> iommu->lock in dma_unmap; lockdep is off after it)"
        fi
        echo "kernel checks: KASAN $kasan, lockdep $lockdep, kmemleak $leaks unreferenced objects ($ours from hdiov)$note"
        if [ "$kasan" -gt 0 ] || [ "$lockdep" -gt 0 ]; then
            grep -E -A40 'BUG: KASAN|possible circular|possible recursive|inconsistent lock|suspicious RCU|BUG: sleeping|bad unlock|lock held when|irq lock inversion|held lock freed|leaked lock' /tmp/hdiov-dmesg.txt | head -200
        fi
        if [ "$ours" -gt 0 ]; then head -120 /tmp/hdiov-kmemleak.txt; fi
        if [ "$st" -eq 0 ] && { [ "$kasan" -gt 0 ] || [ "$lockdep" -gt 0 ] || [ "$ours" -gt 0 ] || [ "$ours" -lt 0 ]; }; then st=1; fi
        exit "$st"
        """#
}

extension String {
    fileprivate func leftPadded(to n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
