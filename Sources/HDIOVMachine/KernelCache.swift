import Foundation

/// Debian kernels fetched with `apt-get download` and unpacked with `dpkg -x` into a cache outside
/// the repository. Nothing is installed on this machine: no kernel image, no headers package.
///
/// Layout under `root` (default `$HDIOV_CACHE`, `$XDG_CACHE_HOME/hdiov` or `~/.cache/hdiov`):
///
///     debs/                                 downloaded .deb files (kept, reused)
///     kernels/<release>/boot/vmlinuz-<release>
///     kernels/<release>/lib/modules/<release>/   the image's modules + modules.dep (+ build → headers)
///     headers/<release>/usr/src/linux-headers-<release>/   make -C here
///     initramfs/<release>.cpio.gz (+ .stamp)
///
/// Every directory is unpacked under a temporary name and renamed into place when complete,
/// so an interrupted run never leaves a half-populated cache entry.
public struct KernelCache: Sendable {
    public let root: String
    public let progress: @Sendable (String) -> Void

    public init(root: String? = nil, progress: @escaping @Sendable (String) -> Void) {
        self.root = root ?? Self.defaultRoot(environment: ProcessInfo.processInfo.environment)
        self.progress = progress
    }

    /// `$HDIOV_CACHE`, else `$XDG_CACHE_HOME/hdiov`, else `$HOME/.cache/hdiov`.
    public static func defaultRoot(environment env: [String: String]) -> String {
        if let c = env["HDIOV_CACHE"], !c.isEmpty { return c }
        if let x = env["XDG_CACHE_HOME"], !x.isEmpty { return x + "/hdiov" }
        let home = env["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.cache/hdiov"
    }

    // MARK: Paths (pure)

    public var debsDir: String { root + "/debs" }
    func kernelDir(_ release: String) -> String { root + "/kernels/" + release }
    func headersRoot(_ release: String) -> String { root + "/headers/" + release }
    func vmlinuzPath(_ release: String) -> String { kernelDir(release) + "/boot/vmlinuz-" + release }
    func modulesDir(_ release: String) -> String { kernelDir(release) + "/lib/modules/" + release }
    func headersDir(_ release: String) -> String { headersRoot(release) + "/usr/src/linux-headers-" + release }
    func initramfsPath(_ release: String) -> String { root + "/initramfs/" + release + ".cpio.gz" }
    func initramfsStampPath(_ release: String) -> String { initramfsPath(release) + ".stamp" }
    func resolvedRecordPath(_ choice: KernelChoice) -> String { root + "/resolved-" + choice.rawValue }

    /// The PreparedKernel paths for a release in this cache (whether or not they exist yet).
    func prepared(_ choice: KernelChoice, release: String) -> PreparedKernel {
        PreparedKernel(choice: choice, release: release, vmlinuz: vmlinuzPath(release),
                       modulesDir: modulesDir(release), headersDir: headersDir(release))
    }

    // MARK: Prepare

    /// Makes sure the kernel image, its modules (with modules.dep) and its headers are in the cache.
    public func prepare(_ choice: KernelChoice) throws -> PreparedKernel {
        let resolved = try resolve(choice)
        let kernel = prepared(choice, release: resolved.release)
        let fm = FileManager.default
        if !fm.isDirectory(headersRoot(resolved.release)) {
            let debs = try resolved.headers.map { try fetch($0) }
            try unpackHeaders(debs, release: resolved.release)
        }
        if !fm.isDirectory(kernelDir(resolved.release)) {
            let deb = try fetch(resolved.image)
            try unpackImage(deb, release: resolved.release)
        }
        guard fm.fileExists(atPath: kernel.vmlinuz), fm.fileExists(atPath: kernel.modulesDir + "/modules.dep"),
              fm.fileExists(atPath: kernel.headersDir + "/Makefile") else {
            throw MachineError.badKernel("cache entry for \(resolved.release) under \(root) is incomplete; delete "
                                         + "\(kernelDir(resolved.release)) and \(headersRoot(resolved.release))")
        }
        return kernel
    }

    // MARK: Resolving package names

    /// Asks apt which concrete packages make up `choice` today. Runs `apt-get update` once if the
    /// lookup fails; falls back to the last successful lookup recorded in the cache.
    func resolve(_ choice: KernelChoice) throws -> ResolvedKernel {
        // apt's answer only changes when its package lists do: skip the (slow, ~2 s) lookups if the
        // recorded answer is newer than the lists.
        if let r = recorded(choice), let recordedAt = Self.mtime(resolvedRecordPath(choice)),
           let listsAt = Self.aptListsChanged(), recordedAt > listsAt {
            return r
        }
        // Inside the embedded machine (a nested guest started from the outer one) there is no
        // network, and the cache is the host's, filled by the run that booted us: take the
        // recorded answer when its kernel is there, without asking apt.
        if let r = recorded(choice),
           Self.trustRecordWithoutApt(environment: ProcessInfo.processInfo.environment,
                                      cached: FileManager.default.isDirectory(kernelDir(r.release))
                                          && FileManager.default.isDirectory(headersRoot(r.release))) {
            return r
        }
        do {
            let r = try resolveWithApt(choice)
            try? record(r, for: choice)
            return r
        } catch {
            if Self.isRoot, Shell.which("apt-get") != nil {
                progress("package lookup failed (\(error)); running apt-get update …")
                _ = try? Shell.run("apt-get", ["update"])
                if let r = try? resolveWithApt(choice) {
                    try? record(r, for: choice)
                    return r
                }
            }
            if let r = recorded(choice) {
                progress("apt lookup failed; using the recorded \(r.image.name) \(r.image.version)")
                return r
            }
            throw error
        }
    }

    /// Whether a recorded lookup is used as it is, apt not asked: inside the embedded machine
    /// (`HDIOV_VM=1`, set for every guest command) when the recorded kernel is in the cache.
    static func trustRecordWithoutApt(environment: [String: String], cached: Bool) -> Bool {
        environment["HDIOV_VM"] == "1" && cached
    }

    func resolveWithApt(_ choice: KernelChoice) throws -> ResolvedKernel {
        let depends = try Shell.check("apt-cache", ["depends", choice.imageMetapackage])
        guard let imageName = AptParse.firstDependency(inDependsOutput: depends, prefix: "linux-image-") else {
            throw MachineError.packageLookup("apt-cache depends \(choice.imageMetapackage) names no linux-image package")
        }
        let release = String(imageName.dropFirst("linux-image-".count))
        let imageVersion = try candidateVersion(imageName)
        let headersName = "linux-headers-" + release
        let headersFields = try showFields(headersName)
        guard let headersVersion = headersFields["Version"] else {
            throw MachineError.packageLookup("apt-cache show \(headersName) has no Version")
        }
        var headers = [DebPackage(name: headersName, version: headersVersion)]
        let support = AptParse.headerSupportPackages(headersFields["Depends"] ?? "")
        guard support.contains(where: { $0.name.hasPrefix("linux-headers-") }),
              support.contains(where: { $0.name.hasPrefix("linux-kbuild-") }) else {
            throw MachineError.packageLookup("\(headersName) does not depend on a -common headers and a kbuild package")
        }
        for dep in support {
            headers.append(DebPackage(name: dep.name, version: try dep.exactVersion ?? candidateVersion(dep.name)))
        }
        return ResolvedKernel(release: release, image: DebPackage(name: imageName, version: imageVersion),
                              headers: headers)
    }

    private func showFields(_ package: String) throws -> [String: String] {
        let out = try Shell.check("apt-cache", ["show", "--no-all-versions", package])
        let fields = AptParse.fields(ofShowOutput: out)
        guard !fields.isEmpty else { throw MachineError.packageLookup("apt-cache show \(package): no record") }
        return fields
    }

    private func candidateVersion(_ package: String) throws -> String {
        guard let v = try showFields(package)["Version"] else {
            throw MachineError.packageLookup("apt-cache show \(package) has no Version")
        }
        return v
    }

    private func record(_ r: ResolvedKernel, for choice: KernelChoice) throws {
        let lines = ["release=\(r.release)", "image=\(r.image.name)=\(r.image.version)"]
            + r.headers.map { "headers=\($0.name)=\($0.version)" }
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try writeAtomically(lines.joined(separator: "\n") + "\n", to: resolvedRecordPath(choice))
    }

    private func recorded(_ choice: KernelChoice) -> ResolvedKernel? {
        guard let text = try? String(contentsOfFile: resolvedRecordPath(choice), encoding: .utf8) else { return nil }
        return Self.parseRecord(text)
    }

    static func mtime(_ path: String) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }

    /// When apt's package lists last changed (`apt-get update` replaces files in the directory).
    static func aptListsChanged() -> Date? {
        ["/var/lib/apt/lists", "/var/cache/apt/pkgcache.bin", "/etc/apt/sources.list", "/etc/apt/sources.list.d"]
            .compactMap(mtime).max()
    }

    static func parseRecord(_ text: String) -> ResolvedKernel? {
        var release: String?, image: DebPackage?, headers: [DebPackage] = []
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 2).map(String.init)
            switch (parts.first, parts.count) {
            case ("release", 2): release = parts[1]
            case ("image", 3): image = DebPackage(name: parts[1], version: parts[2])
            case ("headers", 3): headers.append(DebPackage(name: parts[1], version: parts[2]))
            default: continue
            }
        }
        guard let release, let image, !headers.isEmpty else { return nil }
        return ResolvedKernel(release: release, image: image, headers: headers)
    }

    // MARK: Downloading

    static var isRoot: Bool { getuid() == 0 }

    /// The cached .deb for `package`, downloading it with `apt-get download` if needed.
    func fetch(_ package: DebPackage) throws -> String {
        let fm = FileManager.default
        if let existing = cachedDeb(package) { return existing }
        try fm.createDirectory(atPath: debsDir, withIntermediateDirectories: true)
        progress("fetching \(package.name) \(package.version) …")
        let tmp = debsDir + "/.download-\(getpid())-\(UUID().uuidString.prefix(8))"
        try fm.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        defer { fm.removeIfPresent(tmp) }
        // As root apt drops to the _apt user for downloads, which cannot write into /root/…; stay root.
        let args = ["-q", "-o", "APT::Sandbox::User=root", "download", "\(package.name)=\(package.version)"]
        var result = try Shell.run("apt-get", args, cwd: tmp)
        if result.status != 0, Self.isRoot {
            progress("apt-get download failed; running apt-get update …")
            _ = try? Shell.run("apt-get", ["update"])
            result = try Shell.run("apt-get", args, cwd: tmp)
        }
        guard result.status == 0 else {
            throw MachineError.commandFailed(command: "apt-get download \(package.name)=\(package.version)",
                                             status: result.status, output: result.stderr + result.stdout)
        }
        let files = (try? fm.contentsOfDirectory(atPath: tmp))?.filter { $0.hasSuffix(".deb") } ?? []
        guard let file = files.first(where: { $0.hasPrefix(package.filePrefix) }) ?? files.first else {
            throw MachineError.packageLookup("apt-get download \(package.name) produced no .deb")
        }
        let dest = debsDir + "/" + file
        fm.removeIfPresent(dest)
        try fm.moveItem(atPath: tmp + "/" + file, toPath: dest)
        return dest
    }

    func cachedDeb(_ package: DebPackage) -> String? {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: debsDir)) ?? []
        return files.sorted().first { $0.hasPrefix(package.filePrefix) && $0.hasSuffix(".deb") }
            .map { debsDir + "/" + $0 }
    }

    // MARK: Unpacking

    /// A fresh temporary directory next to `final`, for unpack-then-rename.
    private func staging(for final: String) throws -> String {
        let parent = (final as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        let tmp = parent + "/.tmp-" + (final as NSString).lastPathComponent + "-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        return tmp
    }

    /// Renames a completed staging directory into place; if another process won the race, keeps theirs.
    private func commit(_ tmp: String, to final: String) throws {
        do {
            try FileManager.default.moveItem(atPath: tmp, toPath: final)
        } catch {
            FileManager.default.removeIfPresent(tmp)
            if !FileManager.default.isDirectory(final) { throw error }
        }
    }

    private func unpackImage(_ deb: String, release: String) throws {
        let final = kernelDir(release)
        let tmp = try staging(for: final)
        var committed = false
        defer { if !committed { FileManager.default.removeIfPresent(tmp) } }
        progress("unpacking linux-image-\(release) …")
        try Shell.check("dpkg", ["-x", deb, tmp])
        let fm = FileManager.default
        var modules = tmp + "/lib/modules/" + release
        if !fm.isDirectory(modules), fm.isDirectory(tmp + "/usr/lib/modules/" + release) {
            // A usr-merged image package: give it the lib/modules layout depmod -b and we expect.
            try fm.createSymbolicLink(atPath: tmp + "/lib", withDestinationPath: "usr/lib")
            modules = tmp + "/lib/modules/" + release
        }
        guard fm.fileExists(atPath: tmp + "/boot/vmlinuz-" + release), fm.isDirectory(modules) else {
            throw MachineError.badKernel("\(deb) has no boot/vmlinuz-\(release) or lib/modules/\(release)")
        }
        progress("depmod \(release) …")
        try Shell.check("depmod", ["-b", tmp, release])
        // Let `make -C /lib/modules/$(uname -r)/build` work in the guest too.
        fm.removeIfPresent(modules + "/build")
        try fm.createSymbolicLink(atPath: modules + "/build", withDestinationPath: headersDir(release))
        try commit(tmp, to: final)
        committed = true
    }

    private func unpackHeaders(_ debs: [String], release: String) throws {
        let final = headersRoot(release)
        let tmp = try staging(for: final)
        var committed = false
        defer { if !committed { FileManager.default.removeIfPresent(tmp) } }
        progress("unpacking linux-headers-\(release) …")
        for deb in debs { try Shell.check("dpkg", ["-x", deb, tmp]) }
        let makefile = tmp + "/usr/src/linux-headers-" + release + "/Makefile"
        guard let text = try? String(contentsOfFile: makefile, encoding: .utf8) else {
            throw MachineError.badKernel("headers for \(release) have no \(makefile)")
        }
        // Point the absolute include at the final (post-rename) location.
        try rewriteHeadersMakefile(text, unpackRoot: final).write(toFile: makefile, atomically: true, encoding: .utf8)
        guard FileManager.default.fileExists(atPath: tmp + "/usr/src/linux-headers-" + release + "/scripts/Makefile.build")
        else {
            throw MachineError.badKernel("headers for \(release): scripts/ does not resolve (missing linux-kbuild?)")
        }
        try commit(tmp, to: final)
        committed = true
    }
}

/// Writes a file via a temporary name and rename.
func writeAtomically(_ text: String, to path: String) throws {
    let tmp = path + ".tmp-\(getpid())"
    try text.write(toFile: tmp, atomically: false, encoding: .utf8)
    guard rename(tmp, path) == 0 else {
        try? FileManager.default.removeItem(atPath: tmp)
        throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
    }
}
