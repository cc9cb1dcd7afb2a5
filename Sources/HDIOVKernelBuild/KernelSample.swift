import Foundation

/// A module whose one source file comes from Debian's kernel source tarball
/// (`/usr/src/linux-source-<major.minor>.tar.xz`), built out of tree against a kernel's headers:
/// modules Debian's kernels do not ship (the mtty sample; dmatest, CONFIG_DMATEST is off).
///
/// The source is taken from the tarball of the headers' own version (6.1 for 6.1.0-57-amd64,
/// 6.12 for 6.12.118+deb12-amd64 and the debug kernel 6.12.118-hdiov-debug) and built unchanged.
/// Everything lives under `<cacheRoot>/samples/<name>/<release>/`:
///
///     src/<name>.c, src/Kbuild, src/.stamp     the extracted source (stamp: the tarball it came from)
///     build/<name>.ko                          Kbuild's output
public struct KernelSample: Sendable, Equatable {
    /// The module name (`obj-m := <name>.o`), which is also the source file's base name.
    public let name: String
    /// The source file inside the kernel tree, e.g. `drivers/dma/dmatest.c`.
    public let sourcePath: String
    /// One line for `--help`.
    public let summary: String

    public init(name: String, sourcePath: String, summary: String) {
        self.name = name
        self.sourcePath = sourcePath
        self.summary = summary
    }

    /// `samples/vfio-mdev/mtty.c`: the kernel's sample mdev driver (a virtual serial port).
    public static let mtty = KernelSample(
        name: "mtty", sourcePath: "samples/vfio-mdev/mtty.c", summary: "the kernel's sample mdev driver (virtual serial ports)")
    /// `drivers/dma/dmatest.c`: the DMA engine test client (Debian builds no CONFIG_DMATEST).
    public static let dmatest = KernelSample(
        name: "dmatest", sourcePath: "drivers/dma/dmatest.c", summary: "the DMA engine test client (CONFIG_DMATEST)")

    public static let all: [KernelSample] = [.mtty, .dmatest]

    public static func named(_ name: String) -> KernelSample? { all.first { $0.name == name } }

    // MARK: Pure parts

    /// The `major.minor` of a kernel release: `6.1.0-57-amd64` → `6.1`, `6.12.118+deb12-amd64` → `6.12`.
    public static func sourceVersion(forRelease release: String) -> String? {
        let digitsAndDots = release.prefix { $0.isNumber || $0 == "." }
        let parts = digitsAndDots.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 2, let major = Int(parts[0]), let minor = Int(parts[1]) else { return nil }
        return "\(major).\(minor)"
    }

    /// Debian's source tarball for a `major.minor` version (package `linux-source-<version>`).
    public static func tarball(version: String) -> String { "/usr/src/linux-source-\(version).tar.xz" }

    /// This module's file inside that tarball.
    public func tarMember(version: String) -> String { "linux-source-\(version)/\(sourcePath)" }

    /// The Kbuild file that builds it.
    public var kbuildText: String { "obj-m := \(name).o\n" }

    /// `<cacheRoot>/samples/<name>/<release>`.
    public func cacheDirectory(root: String, release: String) -> String {
        root + "/samples/" + name + "/" + release
    }

    /// What the extracted source came from; a different tarball (a new linux-source upload) means
    /// extracting again.
    static func stamp(tarball: String, member: String) -> String {
        let attrs = (try? FileManager.default.attributesOfItem(atPath: tarball)) ?? [:]
        let size = (attrs[.size] as? NSNumber)?.int64Value ?? -1
        let mtime = (attrs[.modificationDate] as? Date)?.timeIntervalSince1970 ?? -1
        return "\(tarball) \(size) \(Int64(mtime)) \(member)\n"
    }

    // MARK: Building

    /// Extracts the source (once per tarball) and builds the module against `headers` (a kernel
    /// build directory, `make -C`); returns the `.ko` path. `tarball` overrides the source tarball.
    public func build(headers: String, cacheRoot: String, tarball: String? = nil) throws -> String {
        let kbuild = Kbuild(kernelDirectory: headers)
        guard let release = kbuild.release else {
            throw Kbuild.Failure(description: "\(headers): no include/config/kernel.release; not a kernel build directory")
        }
        guard let version = Self.sourceVersion(forRelease: release) else {
            throw Kbuild.Failure(description: "cannot tell the kernel version of release \(release)")
        }
        let tar = tarball ?? Self.tarball(version: version)
        let top = ((tar as NSString).lastPathComponent as NSString).deletingPathExtension
            .replacingOccurrences(of: ".tar", with: "")
        let member = top + "/" + sourcePath
        let dir = cacheDirectory(root: cacheRoot, release: release)
        let src = dir + "/src"
        let fm = FileManager.default
        guard fm.fileExists(atPath: tar) else {
            throw Kbuild.Failure(description: "\(tar) is missing: apt-get install \(top)")
        }
        let stamp = Self.stamp(tarball: tar, member: member)
        if (try? String(contentsOfFile: src + "/.stamp", encoding: .utf8)) != stamp
            || !fm.fileExists(atPath: src + "/" + name + ".c") {
            try extract(member: member, from: tar, into: src, stamp: stamp)
        }
        return try kbuild.build(source: src, buildDirectory: dir + "/build", moduleName: name).module
    }

    /// Extracts one file into a fresh directory next to `src`, then renames it into place.
    private func extract(member: String, from tar: String, into src: String, stamp: String) throws {
        let fm = FileManager.default
        let parent = (src as NSString).deletingLastPathComponent
        try fm.createDirectory(atPath: parent, withIntermediateDirectories: true)
        let tmp = parent + "/.src-\(getpid())-\(UUID().uuidString.prefix(8))"
        try fm.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: tmp) }
        let depth = member.split(separator: "/").count - 1
        // --occurrence: stop reading the (xz, ~150 MB) tarball once the file is out.
        let (status, log) = try Kbuild.run("/bin/tar", [
            "-xJf", tar, "-C", tmp, "--occurrence=1", "--strip-components=\(depth)", member,
        ])
        guard status == 0, fm.fileExists(atPath: tmp + "/" + name + ".c") else {
            throw Kbuild.Failure(description: "extracting \(member) from \(tar) failed (exit \(status)):\n\(log)")
        }
        try kbuildText.write(toFile: tmp + "/Kbuild", atomically: false, encoding: .utf8)
        try stamp.write(toFile: tmp + "/.stamp", atomically: false, encoding: .utf8)
        if fm.fileExists(atPath: src) { try fm.removeItem(atPath: src) }
        try fm.moveItem(atPath: tmp, toPath: src)
    }
}
