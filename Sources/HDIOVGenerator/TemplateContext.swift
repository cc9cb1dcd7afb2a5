import HDIOVSpec

/// The values a template may use, derived from a validated spec.
///
/// This is the only place where the spec is turned into text for C: numbers in the
/// form C expects, strings escaped for C literals. Templates only place these values.
public struct TemplateContext {
    public let values: [String: Any]

    public init(spec: DeviceSpec, specName: String) {
        var values: [String: Any] = [
            "specName": specName,
            "generatorVersion": Generator.version,
            "module": spec.module,
            "moduleVersion": Generator.moduleVersion,
            "description": Self.cString(spec.description),
            "pfs": spec.pfs,
            "queuePairs": spec.queuePairs,
            "maxVdevs": spec.maxVdevs,
            "maxQpsPerVdev": spec.maxQpsPerVdev,
            "maxRing": spec.maxRing,
            "maxXfer": spec.maxXfer,
            "engineThreads": spec.engineThreads,
            "idlePolls": spec.idlePolls,
            "pciVendor": Self.hex(spec.pci.vendor, digits: 4),
            "pciDevice": Self.hex(spec.pci.device, digits: 4),
            "pciClass": Self.hex(spec.pci.classCode, digits: 6),
            "pciSubsystemVendor": Self.hex(spec.pci.subsystemVendor, digits: 4),
            "pciSubsystemDevice": Self.hex(spec.pci.subsystemDevice, digits: 4),
            "pciRevision": Self.hex(spec.pci.revision, digits: 2),
            "typeCount": spec.types.count,
        ]
        values["types"] = spec.types.map { type -> [String: Any] in
            [
                "id": Self.cString(type.id),
                "name": Self.cString(type.name),
                "description": Self.cString(spec.typeDescription(type)),
                "queuePairs": type.initialQueuePairs,
                "flex": type.isFlex ? "true" : "false",
                "caps": Self.hex(spec.caps(of: type), digits: 3),
            ]
        }
        self.values = values
    }

    /// `0x1234`-style literal, zero-padded to `digits`.
    static func hex<T: BinaryInteger>(_ value: T, digits: Int) -> String {
        let s = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, digits - s.count)) + s
    }

    /// Escape for the inside of a C string literal.
    static func cString(_ s: String) -> String {
        var out = ""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case _ where scalar.value < 0x20 || scalar.value >= 0x7f:
                out += String(format: "\\%03o", Int(scalar.value & 0xff))
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Names a template refers to that this context does not define (checked before
    /// rendering, since a template engine renders a missing name as empty).
    public func missingNames(in template: TemplateSource) -> [String] {
        var missing: [String] = []
        for tag in template.variableTags() {
            if let section = tag.section {
                let items = values[section] as? [[String: Any]] ?? []
                if values[section] == nil || items.contains(where: { $0[tag.name] == nil }) {
                    missing.append("\(section).\(tag.name)")
                }
            } else if values[tag.name] == nil {
                missing.append(tag.name)
            }
        }
        return missing
    }
}
