import Yams

/// Reading a node as an integer or a string, and saying what it is when it is not.
///
/// Integers are read from the scalar's text, not from Yams' typing, so that decimal
/// (`4096`) and hexadecimal (`0x1000`) mean the same whatever the YAML resolver thinks.
enum NodeValue {
    enum IntegerReading: Equatable {
        /// A decimal or `0x` number (possibly negative), and its text as written.
        case value(Int, written: String)
        /// Not an integer: what it is (`"abc"`, `1.5`, `true (a boolean)`, `a mapping`),
        /// with a hint when there is something to say.
        case invalid(got: String, hint: String?)
        /// No value (an empty value, `~` or `null`).
        case nothing
    }

    enum StringReading: Equatable {
        case value(String)
        case invalid(got: String)
        case nothing
    }

    static let integerFormsHint = "write integers in decimal (4096) or hexadecimal (0x1000)"

    static func integer(_ node: Node) -> IntegerReading {
        guard case .scalar(let scalar) = node else { return .invalid(got: kind(of: node), hint: nil) }
        let text = scalar.string
        if isString(scalar) {
            if parseInteger(text) != nil {
                return .invalid(got: "the string \(quoted(text))", hint: "remove the quotes")
            }
            return .invalid(got: quoted(text), hint: nil)
        }
        if let value = parseInteger(text) { return .value(value, written: text) }
        switch resolvedTag(node) {
        case .null:
            return .nothing
        case .bool:
            return .invalid(got: "\(text) (a boolean)", hint: nil)
        case .float:
            return .invalid(got: text, hint: nil)
        case .int:
            // YAML 1.1 spellings this project does not take: 017, 0o17, 0b101, 1_000, +5.
            return .invalid(got: text, hint: integerFormsHint)
        default:
            if isIntegerShaped(text) { return .invalid(got: text, hint: nil) }  // too large
            return .invalid(got: quoted(text), hint: nil)
        }
    }

    /// Any scalar's text: `name: 42` is the name "42". Null is `.nothing`.
    static func string(_ node: Node) -> StringReading {
        guard case .scalar(let scalar) = node else { return .invalid(got: kind(of: node)) }
        if !isString(scalar), resolvedTag(node) == .null { return .nothing }
        return .value(scalar.string)
    }

    /// `0`, `[1-9][0-9]*` or `0x[0-9a-fA-F]+`, optionally after `-`; nil when it is none
    /// of these or does not fit an Int.
    static func parseInteger(_ text: String) -> Int? {
        let negative = text.hasPrefix("-")
        let body = negative ? text.dropFirst() : Substring(text)
        let magnitude: Int?
        if body.hasPrefix("0x") || body.hasPrefix("0X") {
            let digits = body.dropFirst(2)
            guard !digits.isEmpty, digits.allSatisfy(\.isHexDigit) else { return nil }
            magnitude = Int(digits, radix: 16)
        } else {
            guard !body.isEmpty, body.allSatisfy(\.isASCIIDigit), body == "0" || !body.hasPrefix("0") else {
                return nil
            }
            magnitude = Int(body, radix: 10)
        }
        guard let magnitude else { return nil }
        return negative ? -magnitude : magnitude
    }

    /// What a node is, for "got …": `a mapping`, `a list`, `4`, `"text"`.
    static func kind(of node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            let typed = [Tag.Name.int, .float, .bool].contains(resolvedTag(node))
            return !isString(scalar) && typed ? scalar.string : quoted(scalar.string)
        }
    }

    /// The node's YAML type (`Node.tag` would do, but it caches the answer inside the
    /// node's shared `Tag`, which then reads as an explicit tag).
    static func resolvedTag(_ node: Node) -> Tag.Name {
        Resolver.default.resolveTag(of: node)
    }

    /// A scalar the author meant as a string: quoted, or tagged `!!str`.
    static func isString(_ scalar: Node.Scalar) -> Bool {
        switch scalar.style {
        case .singleQuoted, .doubleQuoted, .literal, .folded: return true
        default: return scalar.tag.rawValue == Tag.Name.str.rawValue
        }
    }

    /// `"text"`, shortened to 40 characters, with `"` and `\` escaped.
    static func quoted(_ text: String) -> String {
        var shown = String(text.prefix(40))
        if shown.count < text.count { shown += "…" }
        let escaped = shown.unicodeScalars.map { s -> String in
            switch s {
            case "\"": "\\\""
            case "\\": "\\\\"
            default: visible(s)
            }
        }.joined()
        return "\"\(escaped)\""
    }

    /// A word as it is, but with invisible characters (controls, format and private-use
    /// characters, odd spaces) spelt `\u{…}`, so `copy\u{200b}` does not read as `copy`.
    static func visible(_ text: String) -> String {
        text.unicodeScalars.map(visible).joined()
    }

    private static func visible(_ s: Unicode.Scalar) -> String {
        switch s {
        case "\n": return "\\n"
        case "\t": return "\\t"
        case " ": return " "
        default:
            switch s.properties.generalCategory {
            case .control, .format, .privateUse, .surrogate, .unassigned,
                 .lineSeparator, .paragraphSeparator, .spaceSeparator:
                return "\\u{\(String(s.value, radix: 16))}"
            default:
                return String(s)
            }
        }
    }

    private static func isIntegerShaped(_ text: String) -> Bool {
        let body = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        return !body.isEmpty && (body.allSatisfy(\.isASCIIDigit)
            || ((body.hasPrefix("0x") || body.hasPrefix("0X")) && body.dropFirst(2).allSatisfy(\.isHexDigit)))
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
