import Yams

/// Integer and string keys.
extension SpecValidator {
    /// The value of an optional integer key, its default when absent, nil (and an error)
    /// when wrong.
    mutating func optionalInteger(_ map: MappingReader, _ key: String, _ rule: IntegerRule, default defaultValue: Int) -> Int? {
        guard let node = map.value(key) else { return defaultValue }
        return integer(node, path: map.path.child(key), rule, defaultValue: defaultValue)
    }

    mutating func integer(_ node: Node, path: KeyPath, _ rule: IntegerRule, defaultValue: Int? = nil) -> Int? {
        let expected = "\(path): must be \(rule.text)"
        switch NodeValue.integer(node) {
        case .value(let value, let written):
            if rule.allows(value) { return value }
            sink.error(at: node, "\(expected), got \(written)", hint: rule.hint(value))
        case .invalid(let got, let hint):
            sink.error(at: node, "\(expected), got \(got)", hint: hint)
        case .nothing:
            sink.error(at: node, "\(expected), got nothing",
                       hint: defaultValue.map { "leave `\(path)` out to get the default, \(rule.format($0))" })
        }
        return nil
    }

    /// A scalar's text, or nil with "must be `expected`, got …".
    mutating func string(_ node: Node, path: KeyPath, expected: String) -> String? {
        switch NodeValue.string(node) {
        case .value(let text):
            return text
        case .invalid(let got):
            sink.error(at: node, "\(path): must be \(expected), got \(got)")
        case .nothing:
            sink.error(at: node, "\(path): must be \(expected), got nothing")
        }
        return nil
    }

    /// An optional string placed in C string literals (`description`).
    mutating func optionalCString(_ map: MappingReader, _ key: String, maxLength: Int, default defaultValue: String) -> String? {
        guard let node = map.value(key) else { return defaultValue }
        return cString(node, path: map.path.child(key), maxLength: maxLength,
                       emptyHint: "leave `\(map.path.child(key))` out to get the default")
    }

    /// A string that goes into C string literals: not empty, no `"`, `\`, line breaks or
    /// control characters, at most `maxLength` characters.
    mutating func cString(_ node: Node, path: KeyPath, maxLength: Int, emptyHint: String? = nil) -> String? {
        guard let text = string(node, path: path, expected: "a string of at most \(maxLength) characters")
        else { return nil }
        if text.isEmpty {
            sink.error(at: node, "\(path): must not be empty", hint: emptyHint)
            return nil
        }
        if let bad = text.unicodeScalars.first(where: Self.isForbiddenInCString) {
            sink.error(at: node, "\(path): must not contain \(Self.name(of: bad)): the text goes into a C string literal")
            return nil
        }
        if text.count > maxLength {
            sink.error(at: node, "\(path): must be at most \(maxLength) characters, got \(text.count)")
            return nil
        }
        return text
    }

    private static func isForbiddenInCString(_ s: Unicode.Scalar) -> Bool {
        s == "\"" || s == "\\" || s.value < 0x20 || s.value == 0x7f || (0x80...0x9f).contains(s.value)
            || s == "\u{2028}" || s == "\u{2029}"
    }

    private static func name(of s: Unicode.Scalar) -> String {
        switch s {
        case "\"": "a double quote (`\"`)"
        case "\\": "a backslash (`\\`)"
        case "\n", "\r", "\u{85}", "\u{2028}", "\u{2029}": "a line break"
        case "\t": "a tab"
        default: "a control character (U+\(hex4(s.value)))"
        }
    }
}

/// `0009`, `007F`: a code point as U+ notation writes it.
private func hex4(_ value: UInt32) -> String {
    let hex = String(value, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, 4 - hex.count)) + hex
}
