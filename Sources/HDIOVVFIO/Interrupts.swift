import CHDIOVABI
import CHDIOVShim
import Foundation

/// The MSI-X structures a driver programs (PCI spec; contract sections 4 and 8): the table
/// and PBA in BAR0, the capability's Message Control in config space.
public enum MSIX {
    public static let entrySize = UInt64(HDIOV_MSIX_ENTRY_SIZE)
    /// Offset of an entry's Vector Control dword; its bit 0 masks the vector.
    public static let vectorControl: UInt64 = 12
    public static let vectorMaskBit: UInt32 = 1
    /// Capability ID, and Message Control (capability + 2): bit 14 function mask, bit 15 enable.
    public static let capabilityID: UInt8 = 0x11
    public static let messageControl: UInt64 = 2
    public static let functionMask: UInt16 = 1 << 14
    public static let enable: UInt16 = 1 << 15
}

/// PCI config space offsets and bits used by drivers here.
public enum PCIConfig {
    public static let command: UInt64 = 0x04
    public static let commandBusMaster: UInt16 = 1 << 2
    public static let capabilityList: UInt64 = 0x34
}

extension VFIODevice {
    /// ACTION_TRIGGER with DATA_NONE and count 0: every vector of `irq` loses its trigger.
    public func disableIRQ(_ irq: VFIOIRQ) throws(VFIOError) {
        _ = try vfioCheck(hdiov_vfio_disable_irq(fd, irq.rawValue), "VFIO_DEVICE_SET_IRQS disable \(irq)", uuid)
    }

    public func read16(_ region: VFIORegionInfo, at offset: UInt64) throws(VFIOError) -> UInt16 {
        let b = try read(region, at: offset, count: 2)
        guard b.count == 2 else { throw VFIOError(operation: "read16 at \(offset)", path: uuid, errno: EIO) }
        return UInt16(b[0]) | UInt16(b[1]) << 8
    }

    public func write16(_ region: VFIORegionInfo, at offset: UInt64, _ value: UInt16) throws(VFIOError) {
        try write(region, at: offset, bytes: [UInt8(truncatingIfNeeded: value), UInt8(truncatingIfNeeded: value >> 8)])
    }

    /// Mask or unmask MSI-X vector `vector` in the table (its Vector Control dword).
    public func setMSIXVectorMask(_ vector: Int, masked: Bool) throws(VFIOError) {
        let at = HDIOVReg.msixTable + UInt64(vector) * MSIX.entrySize + MSIX.vectorControl
        try write32(try regionInfo(.bar0), at: at, masked ? MSIX.vectorMaskBit : 0)
    }

    /// Whether vector `vector`'s bit is set in the PBA (64-bit words, read as dwords).
    public func msixPending(_ vector: Int) throws(VFIOError) -> Bool {
        let word = try read32(try regionInfo(.bar0), at: HDIOVReg.msixPBA + UInt64(vector / 32) * 4)
        return word & (1 << UInt32(vector % 32)) != 0
    }

    /// Offset of the MSI-X capability in config space (walking the capability list).
    public func msixCapability() throws(VFIOError) -> UInt64 {
        let cfg = try regionInfo(.config)
        var ptr = UInt64(try read(cfg, at: PCIConfig.capabilityList, count: 1).first ?? 0) & ~3
        var hops = 0
        while ptr >= 0x40 && hops < 48 {
            let header = try read16(cfg, at: ptr)
            if UInt8(truncatingIfNeeded: header) == MSIX.capabilityID { return ptr }
            ptr = UInt64(header >> 8) & ~3
            hops += 1
        }
        throw VFIOError(operation: "find the MSI-X capability", path: uuid, errno: ENOENT)
    }

    /// Set or clear the MSI-X function mask (Message Control bit 14), keeping the other bits.
    public func setMSIXFunctionMask(_ masked: Bool) throws(VFIOError) {
        let cfg = try regionInfo(.config)
        let at = try msixCapability() + MSIX.messageControl
        let ctrl = try read16(cfg, at: at)
        try write16(cfg, at: at, masked ? ctrl | MSIX.functionMask : ctrl & ~MSIX.functionMask)
    }

    /// Set or clear Bus Master in the COMMAND register, keeping the other bits.
    public func setBusMaster(_ on: Bool) throws(VFIOError) {
        let cfg = try regionInfo(.config)
        let cmd = try read16(cfg, at: PCIConfig.command)
        try write16(cfg, at: PCIConfig.command, on ? cmd | PCIConfig.commandBusMaster : cmd & ~PCIConfig.commandBusMaster)
    }
}

/// Interrupts counted on an eventfd within a moment: until `expected` have arrived (at most
/// 1 s), or for 50 ms when none is expected. The engine signals just after it writes the
/// completions, so a check gives it that long.
public func eventfdCount(_ fd: Int32, expected: UInt64 = 0) -> UInt64 {
    var total: UInt64 = 0
    let deadline = Date().addingTimeInterval(expected == 0 ? 0.05 : 1)
    repeat {
        var v: UInt64 = 0
        if hdiov_eventfd_read(fd, &v) == 0 { total += v }
        if expected > 0 && total >= expected { break }
        usleep(1000)
    } while Date() < deadline
    return total
}
