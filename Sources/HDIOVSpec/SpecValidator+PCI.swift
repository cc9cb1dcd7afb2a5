import Yams

/// `pci`: the PCI identity every VDEV presents in its config space.
extension SpecValidator {
    static let pciKeys = ["vendor", "device", "class", "subsystem_vendor", "subsystem_device", "revision"]

    mutating func pciIdentity(_ top: MappingReader) -> PCIIdentity? {
        let defaults = SpecLimits.defaultPCI
        guard let node = top.value("pci") else { return defaults }
        guard let pci = MappingReader(node, path: .root.child("pci"), what: "PCI ids (vendor, device, class, …)",
                                      allowedKeys: Self.pciKeys, sink: &sink)
        else { return nil }
        let id16 = IntegerRule.from(SpecLimits.pciID16, hex: true)
        var vendor = optionalInteger(pci, "vendor", id16, default: Int(defaults.vendor))
        if vendor == SpecLimits.invalidVendor {
            sink.error(at: pci.value("vendor"), "pci.vendor: 0xffff is not a valid vendor ID",
                       hint: "reads from an absent PCI function return 0xffff; use another ID, e.g. 0x1234")
            vendor = nil
        }
        let device = optionalInteger(pci, "device", id16, default: Int(defaults.device))
        let classCode = optionalInteger(pci, "class", .from(SpecLimits.pciClass, hex: true),
                                        default: Int(defaults.classCode))
        let subsystemVendor = optionalInteger(pci, "subsystem_vendor", id16, default: Int(defaults.subsystemVendor))
        let subsystemDevice = optionalInteger(pci, "subsystem_device", id16, default: Int(defaults.subsystemDevice))
        let revision = optionalInteger(pci, "revision", .from(SpecLimits.pciRevision), default: Int(defaults.revision))
        guard let vendor, let device, let classCode, let subsystemVendor, let subsystemDevice, let revision
        else { return nil }
        return PCIIdentity(
            vendor: UInt16(vendor), device: UInt16(device), classCode: UInt32(classCode),
            subsystemVendor: UInt16(subsystemVendor), subsystemDevice: UInt16(subsystemDevice),
            revision: UInt8(revision))
    }
}
