import Yams

/// `module`: the kernel module name, also a C identifier prefix, device-name prefix and
/// class name.
extension SpecValidator {
    static let moduleExpectation =
        "a lowercase C identifier (a letter, then letters, digits or `_`) of at most \(SpecLimits.moduleMaxLength) characters"

    mutating func moduleName(_ top: MappingReader) -> String? {
        guard let node = top.require("module", hint: "`module` names the kernel module, e.g. `module: hdiov`",
                                     sink: &sink),
              let name = string(node, path: .root.child("module"), expected: Self.moduleExpectation)
        else { return nil }

        if !Self.isLowercaseIdentifier(name, firstMayBeDigit: false) || name.count > SpecLimits.moduleMaxLength {
            let length = name.count > SpecLimits.moduleMaxLength ? " (\(name.count) characters)" : ""
            sink.error(at: node, "module: must be \(Self.moduleExpectation), got \(NodeValue.quoted(name))\(length)")
            return nil
        }
        if SpecLimits.reservedModuleNames.contains(name) {
            let why = ["vfio", "mdev", "vfio_iommu_type1"].contains(name)
                ? "it is the kernel module the device is built on"
                : "the generated sources use it for one of their own objects"
            sink.error(at: node, "module: `\(name)` is reserved: \(why)", hint: Self.renameHint(name))
            return nil
        }
        if SpecLimits.cKeywords.contains(name) {
            sink.error(at: node, "module: `\(name)` is a C keyword", hint: Self.renameHint(name))
            return nil
        }
        return name
    }

    /// "choose another name, e.g. `hdiov_int`" (the example only when it is short enough).
    static func renameHint(_ name: String) -> String {
        let example = "hdiov_\(name)"
        return example.count <= SpecLimits.moduleMaxLength
            ? "choose another name, e.g. `\(example)`" : "choose another name"
    }

    /// `[a-z][a-z0-9_]*`, or `[a-z0-9][a-z0-9_]*` when `firstMayBeDigit`.
    static func isLowercaseIdentifier(_ text: String, firstMayBeDigit: Bool) -> Bool {
        guard let first = text.unicodeScalars.first else { return false }
        let isLower = { (s: Unicode.Scalar) in ("a"..."z").contains(s) }
        let isDigit = { (s: Unicode.Scalar) in ("0"..."9").contains(s) }
        guard isLower(first) || (firstMayBeDigit && isDigit(first)) else { return false }
        return text.unicodeScalars.allSatisfy { isLower($0) || isDigit($0) || $0 == "_" }
    }
}
