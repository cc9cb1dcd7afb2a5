import CHDIOVShim
import Foundation

/// Region indices and interrupt indices of the vfio-pci API.
public enum VFIORegion: UInt32, Sendable {
    case bar0 = 0, bar1, bar2, bar3, bar4, bar5, rom, config, vga
}

public enum VFIOIRQ: UInt32, Sendable {
    case intx = 0, msi, msix, err, req
}

public struct VFIORegionInfo: Equatable, Sendable {
    public var size: UInt64
    public var offset: UInt64
    public var flags: UInt32
    /// The sparse-mmap area, when the region has one.
    public var sparseArea: (offset: UInt64, size: UInt64)?
    public var sparseAreaCount: UInt32

    public var readable: Bool { flags & 1 != 0 }
    public var writable: Bool { flags & 2 != 0 }
    public var mappable: Bool { flags & 4 != 0 }

    public static func == (a: Self, b: Self) -> Bool {
        a.size == b.size && a.offset == b.offset && a.flags == b.flags
            && a.sparseArea?.offset == b.sparseArea?.offset && a.sparseArea?.size == b.sparseArea?.size
    }
}

/// An open VDEV: its container, group and device file descriptors.
/// Closing (or deinit) closes the device, which the kernel sees as close_device.
public final class VFIODevice {
    public let uuid: String
    public let groupPath: String
    public private(set) var container: Int32 = -1
    public private(set) var group: Int32 = -1
    public private(set) var fd: Int32 = -1

    /// Open the VDEV `uuid` whose IOMMU group node is `groupPath` (/dev/vfio/N).
    public init(uuid: String, groupPath: String, containerPath: String = "/dev/vfio/vfio") throws(VFIOError) {
        self.uuid = uuid
        self.groupPath = groupPath
        do {
            container = try vfioCheck(hdiov_vfio_open_container(containerPath), "open container", containerPath)
            group = try vfioCheck(hdiov_vfio_open_group(groupPath, container), "attach group", groupPath)
            _ = try vfioCheck(hdiov_vfio_set_iommu(container), "set IOMMU type1", containerPath)
            fd = try vfioCheck(hdiov_vfio_open_device(group, uuid), "open device \(uuid)", groupPath)
        } catch {
            close()
            throw error
        }
    }

    /// Open by UUID, finding the group through sysfs (`iommu_group` link of the mdev).
    public convenience init(uuid: String, sysfsRoot: String = "/") throws(VFIOError) {
        let link = URL(fileURLWithPath: sysfsRoot).appendingPathComponent("sys/bus/mdev/devices/\(uuid.lowercased())/iommu_group").path
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: link) else {
            throw VFIOError(operation: "find IOMMU group", path: link, errno: ENOENT)
        }
        let group = (target as NSString).lastPathComponent
        try self.init(uuid: uuid.lowercased(), groupPath: URL(fileURLWithPath: sysfsRoot).appendingPathComponent("dev/vfio/\(group)").path)
    }

    deinit { close() }

    public func close() {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
        if group >= 0 { Glibc.close(group); group = -1 }
        if container >= 0 { Glibc.close(container); container = -1 }
    }

    /// Close only the device fd (close_device in the kernel), keeping group and container.
    public func closeDevice() {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    public func info() throws(VFIOError) -> (flags: UInt32, regions: UInt32, irqs: UInt32) {
        var flags: UInt32 = 0, regions: UInt32 = 0, irqs: UInt32 = 0
        _ = try vfioCheck(hdiov_vfio_device_info(fd, &flags, &regions, &irqs), "VFIO_DEVICE_GET_INFO", uuid)
        return (flags, regions, irqs)
    }

    public func regionInfo(_ index: UInt32) throws(VFIOError) -> VFIORegionInfo {
        var r = hdiov_region()
        _ = try vfioCheck(hdiov_vfio_region_info(fd, index, &r), "VFIO_DEVICE_GET_REGION_INFO \(index)", uuid)
        return VFIORegionInfo(
            size: r.size, offset: r.offset, flags: r.flags,
            sparseArea: r.nr_sparse_areas > 0 ? (r.sparse_offset, r.sparse_size) : nil,
            sparseAreaCount: r.nr_sparse_areas)
    }

    public func regionInfo(_ region: VFIORegion) throws(VFIOError) -> VFIORegionInfo {
        try regionInfo(region.rawValue)
    }

    public func irqInfo(_ irq: VFIOIRQ) throws(VFIOError) -> (flags: UInt32, count: UInt32) {
        var flags: UInt32 = 0, count: UInt32 = 0
        _ = try vfioCheck(hdiov_vfio_irq_info(fd, irq.rawValue, &flags, &count), "VFIO_DEVICE_GET_IRQ_INFO", uuid)
        return (flags, count)
    }

    public func setEventfds(_ irq: VFIOIRQ, start: UInt32 = 0, fds: [Int32]) throws(VFIOError) {
        _ = try vfioCheck(
            hdiov_vfio_set_irq_eventfds(fd, irq.rawValue, start, UInt32(fds.count), fds), "VFIO_DEVICE_SET_IRQS", uuid)
    }

    public func reset() throws(VFIOError) {
        _ = try vfioCheck(hdiov_vfio_reset(fd), "VFIO_DEVICE_RESET", uuid)
    }

    // Trapped access (pread/pwrite on the device fd at the region's offset).

    public func read(_ region: VFIORegionInfo, at offset: UInt64, count: Int) throws(VFIOError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(region.offset + offset)) }
        if n < 0 { throw VFIOError(operation: "read at \(offset)", path: uuid, errno: errno) }
        return Array(buffer[0..<n])
    }

    public func write(_ region: VFIORegionInfo, at offset: UInt64, bytes: [UInt8]) throws(VFIOError) {
        let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, bytes.count, off_t(region.offset + offset)) }
        if n < 0 { throw VFIOError(operation: "write at \(offset)", path: uuid, errno: errno) }
    }

    public func read32(_ region: VFIORegionInfo, at offset: UInt64) throws(VFIOError) -> UInt32 {
        let b = try read(region, at: offset, count: 4)
        guard b.count == 4 else { throw VFIOError(operation: "read32 at \(offset)", path: uuid, errno: EIO) }
        return UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
    }

    public func write32(_ region: VFIORegionInfo, at offset: UInt64, _ value: UInt32) throws(VFIOError) {
        try write(region, at: offset, bytes: (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) })
    }

    /// Map `size` bytes of a region at `offset` (MAP_SHARED, read/write).
    public func map(_ region: VFIORegionInfo, offset: UInt64 = 0, size: Int) throws(VFIOError) -> UnsafeMutableRawPointer {
        let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off_t(region.offset + offset))
        guard let p, p != MAP_FAILED else { throw VFIOError(operation: "mmap \(size) bytes at \(offset)", path: uuid, errno: errno) }
        return p
    }
}
