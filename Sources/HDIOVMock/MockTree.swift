import Foundation
import HDIOVSpec
import HDIOVSysfs

#if canImport(Glibc)
import Glibc
#endif

/// The files, directories and links of the mock tree, laid out as the kernel lays out
/// sysfs for the module (class device parents under /sys/devices/virtual/<module>, their
/// mdev types, the mdevs under their parents, and the links that lead there), with the
/// kernel's file modes: 0444 read-only, 0644 read-write, 0200 write-only.
struct MockTree {
    let env: SysfsEnvironment
    let spec: MockSpec

    var module: String { spec.module }

    // MARK: Paths

    func parentDir(_ p: Int) -> String { env.parentDevice(spec.parentNames[p], module: module) }
    func typeDir(_ p: Int, _ t: MockTypeSpec) -> String {
        join(parentDir(p), "mdev_supported_types", spec.typeDirectory(t))
    }
    func deviceDir(_ d: MockDevice) -> String { join(parentDir(d.parent), d.uuid) }
    func groupDir(_ d: MockDevice) -> String { join(deviceDir(d), module) }

    // MARK: Building

    /// Parents with their attributes and types, and the buses, classes and directories
    /// around them. Runs once, on an empty root.
    func buildStatic(_ state: MockState) throws {
        try mkdir(env.parentBase)
        try mkdir(env.classBase(module: module))
        try mkdir(env.deviceBase)
        try mkdir(env.mdevDriver(module: module))
        try mkdir(env.iommuGroupBase)
        try mkdir(env.module(module))
        try file(join(env.module(module), "initstate"), "live", mode: 0o444)
        try mkdir(env.vfioDevBase)
        try file(join(env.vfioDevBase, "vfio"), "", mode: 0o666)
        for p in 0..<spec.pfs {
            let dir = parentDir(p)
            try mkdir(dir)
            try file(join(dir, "qp_total"), "\(spec.queuePairs)", mode: 0o444)
            try file(join(dir, "vdev_max"), "\(spec.maxVdevs)", mode: 0o444)
            try file(join(dir, "version"), Contract.version, mode: 0o444)
            try file(join(dir, "uevent"), "", mode: 0o644)
            try link(join(dir, "subsystem"), to: env.classBase(module: module))
            for t in spec.types {
                let td = typeDir(p, t)
                try mkdir(join(td, "devices"))
                try file(join(td, "name"), t.name, mode: 0o444)
                try file(join(td, "description"), t.description, mode: 0o444)
                try file(join(td, "device_api"), "vfio-pci", mode: 0o444)
                try file(join(td, "create"), nil, mode: 0o200)
            }
            try link(join(env.parentBase, spec.parentNames[p]), to: dir)
            try link(join(env.classBase(module: module), spec.parentNames[p]), to: dir)
            try renderParent(p, state)
        }
    }

    /// The counters that change with every device: `qp_free`, `vdev_count` and each
    /// type's `available_instances`.
    func renderParent(_ p: Int, _ state: MockState) throws {
        let dir = parentDir(p)
        try file(join(dir, "qp_free"), "\(state.qpFree(p))", mode: 0o444)
        try file(join(dir, "vdev_count"), "\(state.vdevCount(p))", mode: 0o444)
        for t in spec.types {
            try file(join(typeDir(p, t), "available_instances"), "\(state.availableInstances(t, parent: p))", mode: 0o444)
        }
    }

    /// A new mdev: its directory, group, links, IOMMU group and VFIO group node.
    func addDevice(_ d: MockDevice, type t: MockTypeSpec) throws {
        let dir = deviceDir(d)
        try mkdir(dir)
        try file(join(dir, "remove"), nil, mode: 0o200)
        try file(join(dir, "uevent"), "DRIVER=\(module)", mode: 0o644)
        try link(join(dir, "mdev_type"), to: typeDir(d.parent, t))
        try link(join(dir, "driver"), to: env.mdevDriver(module: module))
        try link(join(dir, "subsystem"), to: env.mdevBus)
        try link(join(dir, "iommu_group"), to: env.iommuGroup("\(d.iommuGroup)"))
        try mkdir(groupDir(d))
        try renderDevice(d, type: t)
        try link(join(env.deviceBase, d.uuid), to: dir)
        try link(join(typeDir(d.parent, t), "devices", d.uuid), to: dir)
        try link(join(env.mdevDriver(module: module), d.uuid), to: dir)
        let group = env.iommuGroup("\(d.iommuGroup)")
        try mkdir(join(group, "devices"))
        try file(join(group, "name"), "vfio-noiommu", mode: 0o444)
        try file(join(group, "reserved_regions"), nil, mode: 0o444)
        try link(join(group, "devices", d.uuid), to: dir)
        try file(env.vfioGroupNode("\(d.iommuGroup)"), nil, mode: 0o600)
    }

    /// The device's attribute group. `queue_pairs` is writable only for a flex type
    /// (`hdiov_vdev_attr_visible`).
    func renderDevice(_ d: MockDevice, type t: MockTypeSpec) throws {
        let g = groupDir(d)
        try file(join(g, "queue_pairs"), "\(d.qpIDs.count)", mode: t.flex ? 0o644 : 0o444)
        try file(join(g, "weight"), "\(d.weight)", mode: 0o644)
        try file(join(g, "pasid"), "\(d.pasid)", mode: 0o444)
        try file(join(g, "qp_ids"), QPIDList.format(d.qpIDs), mode: 0o444)
        try file(join(g, "stats"), d.stats.text, mode: 0o444)
    }

    func removeDevice(_ d: MockDevice, type t: MockTypeSpec) throws {
        for path in [join(env.deviceBase, d.uuid), join(typeDir(d.parent, t), "devices", d.uuid),
                     join(env.mdevDriver(module: module), d.uuid), env.vfioGroupNode("\(d.iommuGroup)"),
                     env.iommuGroup("\(d.iommuGroup)"), deviceDir(d)] {
            try removeItem(path)
        }
    }

    // MARK: File operations

    func join(_ base: String, _ components: String...) -> String {
        components.reduce(base) { ($0 as NSString).appendingPathComponent($1) }
    }

    func mkdir(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// A sysfs attribute: `text` and the newline `sysfs_emit` ends it with (nil: no
    /// contents, as for a write-only file), then the kernel's mode. Written to a temporary
    /// name and renamed over the old file, so a reader in another process (which takes no
    /// lock) sees the old contents or the new ones, never an empty file.
    func file(_ path: String, _ text: String?, mode: mode_t) throws {
        let bytes = Array((text.map { $0 + "\n" } ?? "").utf8)
        let tmp = path + ".hdiov-tmp"
        let flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW
        var fd = open(tmp, flags, 0o600)
        if fd < 0 && errno == EACCES && chmod(tmp, 0o600) == 0 {
            fd = open(tmp, flags, 0o600)  // a leftover 0444 or 0200 file, when not running as root
        }
        guard fd >= 0 else { throw MockError("cannot write \(tmp): \(String(cString: strerror(errno)))") }
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard n == bytes.count else {
            close(fd)
            throw MockError("cannot write \(tmp): \(String(cString: strerror(errno)))")
        }
        guard fchmod(fd, mode) == 0 else {
            close(fd)
            throw MockError("cannot chmod \(tmp): \(String(cString: strerror(errno)))")
        }
        close(fd)
        guard rename(tmp, path) == 0 else { throw MockError("cannot rename \(tmp) to \(path): \(String(cString: strerror(errno)))") }
    }

    /// A relative symlink, as sysfs makes them (`../../devices/virtual/hdiov/hdiov0`).
    func link(_ path: String, to target: String) throws {
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: Self.relative(from: path, to: target))
    }

    func removeItem(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        try FileManager.default.removeItem(atPath: path)
    }

    /// The target of a link at `linkPath` to `target`, relative to the link's directory.
    static func relative(from linkPath: String, to target: String) -> String {
        let from = (linkPath as NSString).deletingLastPathComponent.split(separator: "/")
        let to = target.split(separator: "/")
        var common = 0
        while common < from.count, common < to.count, from[common] == to[common] { common += 1 }
        let up = Array(repeating: "..", count: from.count - common)
        return (up + to[common...].map(String.init)).joined(separator: "/")
    }
}
