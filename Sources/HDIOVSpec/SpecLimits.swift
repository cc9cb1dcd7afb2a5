/// The allowed ranges and the defaults of every spec key (specs/default.yaml shows the
/// defaults; docs/hdiov-device.md is the contract they come from).
public enum SpecLimits {
    public static let moduleMaxLength = 15
    /// Names the generated module sources use for their own objects, plus the kernel
    /// modules an mdev driver sits on.
    public static let reservedModuleNames: Set<String> = [
        "main", "parent", "vdev", "regs", "cfg", "engine", "spec",
        "vfio", "mdev", "vfio_iommu_type1",
    ]
    /// C keywords: the module name is also used as a bare C identifier.
    public static let cKeywords: Set<String> = [
        "asm", "auto", "bool", "break", "case", "char", "const", "continue", "default", "do",
        "double", "else", "enum", "extern", "false", "float", "for", "goto", "if", "inline",
        "int", "long", "register", "restrict", "return", "short", "signed", "sizeof",
        "static", "struct", "switch", "true", "typedef", "typeof", "union", "unsigned",
        "void", "volatile", "while",
    ]

    public static let defaultDescription = "HD-IOV software-defined mediated device"
    public static let descriptionMaxLength = 200

    public static let pfs = 1...64
    public static let defaultPfs = 2
    public static let queuePairs = 1...65536
    public static let defaultQueuePairs = 2048
    public static let maxVdevs = 1...65536
    public static let defaultMaxVdevs = 2048
    /// Hard cap of `max_qps_per_vdev`: QP blocks sit at BAR0 0x1000 + 0x40·i and must stay
    /// below the MSI-X table at 0x8000 (so at most 448); the device caps at 256.
    public static let maxQpsPerVdevCap = 256
    /// `max_ring`: a power of two in this range.
    public static let maxRing = 2...65536
    public static let defaultMaxRing = 4096
    public static let maxXfer = 1...(16 << 20)
    public static let defaultMaxXfer = 1 << 20
    public static let engineThreads = 1...64
    public static let defaultEngineThreads = 1
    public static let idlePolls = 1...1_000_000
    public static let defaultIdlePolls = 64

    public static let pciID16 = 0...0xffff
    public static let pciClass = 0...0xff_ffff
    public static let pciRevision = 0...0xff
    /// Reads of an absent PCI function return all ones, so it is never a vendor ID.
    public static let invalidVendor = 0xffff
    public static let defaultPCI = PCIIdentity(
        vendor: 0x1234, device: 0x5d10, classCode: 0x0b4000,
        subsystemVendor: 0x1234, subsystemDevice: 0x0001, revision: 1)

    public static let maxTypes = 32
    public static let typeIDMaxLength = 16
    public static let typeNameMaxLength = 64
    /// The word that makes a type's `queue_pairs` chosen per device.
    public static let flexWord = "flex"
    public static let defaultFlexQueuePairs = 1

    /// `max_qps_per_vdev` when the spec does not give it.
    public static func defaultMaxQpsPerVdev(queuePairs: Int) -> Int {
        min(maxQpsPerVdevCap, queuePairs)
    }
}
