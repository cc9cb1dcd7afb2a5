import Foundation

/// The rest of the mdev tree: attribute paths the manager reads and writes, and the real
/// (non-link) locations the kernel creates, which the mock kernel builds. Like the base
/// paths in SysfsEnvironment.swift, every one starts at `root`.
extension SysfsEnvironment {
    private func rooted(_ components: [String]) -> String { join(components) }

    // Attributes, through the links userspace is meant to use.

    /// A parent attribute: `qp_total`, `qp_free`, `vdev_count`, `vdev_max`, `version`.
    public func parentAttribute(_ parent: String, _ name: String) -> String {
        self.parent(parent) + "/" + name
    }
    /// A type attribute: `name`, `description`, `device_api`, `available_instances`, `create`.
    public func typeAttribute(_ parent: String, _ type: String, _ name: String) -> String {
        self.type(parent, type) + "/" + name
    }
    /// `<type>/devices`: one link per device of that type.
    public func typeDevices(_ parent: String, _ type: String) -> String {
        typeAttribute(parent, type, "devices")
    }
    /// A file or link of the mdev itself: `remove`, `mdev_type`, `iommu_group`.
    public func deviceEntry(_ uuid: String, _ name: String) -> String {
        device(uuid) + "/" + name
    }
    /// An attribute of the VDEV's group: `queue_pairs`, `weight`, `pasid`, `qp_ids`, `stats`.
    public func deviceAttribute(_ uuid: String, module: String, _ name: String) -> String {
        deviceGroup(uuid, module: module) + "/" + name
    }

    // Where the kernel really puts things (what the links point at).

    /// /sys: the top of the tree, for relative link targets.
    public var sysBase: String { rooted(["sys"]) }
    /// /sys/devices/virtual/<module>: the parents of a class device without a bus parent.
    public func classDevices(module: String) -> String { rooted(["sys", "devices", "virtual", module]) }
    /// /sys/devices/virtual/<module>/<parent>: a parent's own directory.
    public func parentDevice(_ parent: String, module: String) -> String {
        rooted(["sys", "devices", "virtual", module, parent])
    }
    /// /sys/class/<module>: the module's device class.
    public func classBase(module: String) -> String { rooted(["sys", "class", module]) }
    /// /sys/bus/mdev: the mdev bus.
    public var mdevBus: String { rooted(["sys", "bus", "mdev"]) }
    /// /sys/bus/mdev/drivers/<module>: the module's mdev driver.
    public func mdevDriver(module: String) -> String { rooted(["sys", "bus", "mdev", "drivers", module]) }
    /// /sys/kernel/iommu_groups: one directory per IOMMU group.
    public var iommuGroupBase: String { rooted(["sys", "kernel", "iommu_groups"]) }
    public func iommuGroup(_ group: String) -> String { rooted(["sys", "kernel", "iommu_groups", group]) }
    /// /sys/module/<module>: present while the module is loaded.
    public func module(_ name: String) -> String { rooted(["sys", "module", name]) }
    /// /sys/module/<module>/<attribute>: `initstate`, `refcnt`.
    public func moduleAttribute(_ name: String, _ attribute: String) -> String { rooted(["sys", "module", name, attribute]) }
    /// /sys/module/<module>/parameters: one file per parameter.
    public func moduleParameters(_ name: String) -> String { rooted(["sys", "module", name, "parameters"]) }
    /// /sys/module/<module>/holders: the modules using it.
    public func moduleHolders(_ name: String) -> String { rooted(["sys", "module", name, "holders"]) }
    /// The path QEMU's `sysfsdev=` takes for a device: /sys/bus/mdev/devices/<uuid>.
    public func qemuSysfsdev(_ uuid: String) -> String { device(uuid) }
}
