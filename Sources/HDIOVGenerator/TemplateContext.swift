import CHDIOVABI
import HDIOVSpec
import Mustache

/// The values a template may use, derived from a validated spec.
///
/// This is the only place where the spec is turned into text for C: numbers in the
/// form C expects, strings escaped for C literals. Templates only place these values;
/// a template naming anything else is an error (`Generator.render` reports it).
public struct TemplateContext: Sendable {
    /// One mdev type (`{{#types}}` … `{{/types}}`).
    public struct MdevType: Sendable {
        public var id: String
        public var name: String
        public var description: String
        public var queuePairs: Int
        public var flex: String
        public var caps: String
    }

    public var specName: String
    public var specHash: String
    public var generatorVersion: String
    public var module: String
    public var moduleVersion: String
    public var description: String
    public var pfs: Int
    public var queuePairs: Int
    public var maxVdevs: Int
    public var maxQpsPerVdev: Int
    public var maxRing: Int
    public var maxXfer: Int
    public var engineThreads: Int
    public var idlePolls: Int
    public var pciVendor: String
    public var pciDevice: String
    public var pciClass: String
    public var pciSubsystemVendor: String
    public var pciSubsystemDevice: String
    public var pciRevision: String
    public var typeCount: Int
    public var types: [MdevType]

    public init(spec: DeviceSpec, specName: String) {
        self.specName = Self.cString(specName)
        specHash = spec.fingerprint
        generatorVersion = Generator.version
        module = spec.module
        moduleVersion = Generator.moduleVersion
        description = Self.cString(spec.description)
        pfs = spec.pfs
        queuePairs = spec.queuePairs
        maxVdevs = spec.maxVdevs
        maxQpsPerVdev = spec.maxQpsPerVdev
        maxRing = spec.maxRing
        maxXfer = spec.maxXfer
        engineThreads = spec.engineThreads
        idlePolls = spec.idlePolls
        pciVendor = Self.hex(spec.pci.vendor, digits: 4)
        pciDevice = Self.hex(spec.pci.device, digits: 4)
        pciClass = Self.hex(spec.pci.classCode, digits: 6)
        pciSubsystemVendor = Self.hex(spec.pci.subsystemVendor, digits: 4)
        pciSubsystemDevice = Self.hex(spec.pci.subsystemDevice, digits: 4)
        pciRevision = Self.hex(spec.pci.revision, digits: 2)
        typeCount = spec.types.count
        types = spec.types.map { type in
            MdevType(
                id: Self.cString(type.id), name: Self.cString(type.name),
                description: Self.cString(spec.typeDescription(type)),
                queuePairs: type.initialQueuePairs, flex: type.isFlex ? "true" : "false",
                caps: Self.hex(spec.caps(of: type), digits: 3))
        }
    }

    /// `0x1234`-style literal, zero-padded to `digits`.
    static func hex<T: BinaryInteger>(_ value: T, digits: Int) -> String {
        let s = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, digits - s.count)) + s
    }

    /// Escape for the inside of a C string literal: the string's UTF-8 bytes, with every byte
    /// outside printable ASCII as a three-digit octal escape (so the C string holds exactly the
    /// UTF-8 the mock and sysfs show).
    static func cString(_ s: String) -> String {
        var out = ""
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): out += "\\\\"
            case UInt8(ascii: "\""): out += "\\\""
            case UInt8(ascii: "\n"): out += "\\n"
            case _ where byte < 0x20 || byte >= 0x7f:
                let octal = String(byte, radix: 8)
                out += "\\" + String(repeating: "0", count: 3 - octal.count) + octal
            default: out.unicodeScalars.append(Unicode.Scalar(byte))
            }
        }
        return out
    }
}

/// Renders a context through a template and reports every name the template asked for that
/// no value in scope had (a template engine renders a missing name as empty text).
final class StrictRendering {
    private var asked: Set<String> = []
    private var found: Set<String> = []

    /// An object on the context stack: answers from its own stored properties (by reflection,
    /// as the engine would) and records what was asked and what it had.
    struct Scope: MustacheParent {
        let object: Any
        let path: String
        let log: StrictRendering

        func child(named name: String) -> Any? {
            let key = path.isEmpty ? name : path + "." + name
            log.asked.insert(key)
            guard let value = Mirror(reflecting: object).children.first(where: { $0.label == name })?.value else {
                return nil
            }
            log.found.insert(key)
            if let items = value as? [TemplateContext.MdevType] {
                return items.map { Scope(object: $0, path: key, log: log) }
            }
            return value
        }
    }

    /// The rendered text and the names (`section.name` inside a section) nothing in scope had.
    static func render(_ template: MustacheTemplate, _ context: TemplateContext) -> (text: String, missing: [String]) {
        let log = StrictRendering()
        let text = template.render(Scope(object: context, path: "", log: log))
        // A name asked inside a section is there if the section's item or the top level had it;
        // a top-level miss that stands for a miss inside a section is reported once, as the latter.
        let unanswered = log.asked.subtracting(log.found)
        let insideSections = Set(unanswered.compactMap { $0.split(separator: ".").count > 1 ? String($0.split(separator: ".").last!) : nil })
        let missing = unanswered.filter { key in
            let parts = key.split(separator: ".")
            if parts.count > 1 { return !log.found.contains(String(parts.last!)) }
            return !insideSections.contains(key)
        }
        return (text, missing.sorted())
    }
}
