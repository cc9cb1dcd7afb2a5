import Yams

/// Reporting repeated mapping keys at each repeat.
///
/// Yams stops at the first mapping with a repeated key and gives only the first
/// occurrence's mark. `Masks.mask` overwrites that occurrence in the text with a
/// placeholder of the same length (so no other mark moves); once the text composes,
/// `restore` puts the real key back, reports every later occurrence and keeps the first.
enum DuplicateKeys {
    struct Masks {
        /// Placeholder key → the key it hides.
        private var originals: [String: String] = [:]

        var count: Int { originals.count }

        func original(of key: String) -> String? { originals[key] }

        /// The text with the key at `mark` masked, or nil when the key is not found there
        /// as written (say, a quoted key with escapes).
        mutating func mask(key: String, at mark: Mark, in text: String) -> String? {
            var scalars = Array(text.unicodeScalars)
            let keyScalars = Array(key.unicodeScalars)
            guard !keyScalars.isEmpty,
                  var start = TextPosition.scalarIndex(line: mark.line, column: mark.column, in: scalars)
            else { return nil }
            if start < scalars.count, scalars[start] == "\"" || scalars[start] == "'" { start += 1 }
            let range = start..<(start + keyScalars.count)
            guard range.upperBound <= scalars.count, Array(scalars[range]) == keyScalars,
                  // A private-use character, different for each mask: a valid plain scalar
                  // character that no real key contains.
                  let fill = Unicode.Scalar(0xE000 + originals.count)
            else { return nil }
            scalars.replaceSubrange(range, with: repeatElement(fill, count: keyScalars.count))
            originals[String(repeating: Character(fill), count: keyScalars.count)] = key
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars)
            return String(view)
        }
    }

    /// `node` with masked keys restored and repeated keys dropped (the first one stays);
    /// each repeat becomes an error at its key.
    static func restore(_ node: Node, masks: Masks, sink: inout DiagnosticSink, path: KeyPath = .root) -> Node {
        switch node {
        case .mapping(let mapping):
            var firstLine: [String: Int] = [:]
            var pairs: [(Node, Node)] = []
            for (key, value) in mapping {
                let key = unmasked(key, masks: masks)
                let name = key.scalar?.string
                if let name, let line = firstLine[name] {
                    sink.error(at: key, "duplicate key `\(path.child(name))`: it is already given at line \(line)",
                               hint: "give each key once")
                    continue
                }
                if let name { firstLine[name] = key.mark?.line ?? 1 }
                pairs.append((key, restore(value, masks: masks, sink: &sink, path: path.child(name ?? "?"))))
            }
            return .mapping(Node.Mapping(pairs, mapping.tag, mapping.style, mapping.mark))
        case .sequence(let sequence):
            let nodes = sequence.enumerated().map { i, element in
                restore(element, masks: masks, sink: &sink, path: path.index(i))
            }
            return .sequence(Node.Sequence(nodes, sequence.tag, sequence.style, sequence.mark))
        case .scalar, .alias:
            return node
        }
    }

    private static func unmasked(_ key: Node, masks: Masks) -> Node {
        guard case .scalar(let scalar) = key, let original = masks.original(of: scalar.string) else { return key }
        let quoted = scalar.style == .singleQuoted || scalar.style == .doubleQuoted
        return .scalar(Node.Scalar(original, Tag(quoted ? .str : .implicit), scalar.style, scalar.mark))
    }
}
