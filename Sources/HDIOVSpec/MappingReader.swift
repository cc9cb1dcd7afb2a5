import Yams

/// One mapping of the spec with a fixed set of allowed keys.
///
/// Creating it reports a node that is not a mapping, keys that are not plain scalars and
/// unknown keys (with a suggestion); lookups then give the value nodes by key.
struct MappingReader {
    let node: Node
    let path: KeyPath
    private var entries: [String: (key: Node, value: Node)] = [:]

    /// nil, with an error, when `node` is not a mapping. `what` completes "must be a
    /// mapping of …".
    init?(_ node: Node, path: KeyPath, what: String, allowedKeys: [String], sink: inout DiagnosticSink) {
        self.node = node
        self.path = path
        guard case .mapping(let mapping) = node else {
            let got = NodeValue.string(node) == .nothing ? "nothing" : NodeValue.kind(of: node)
            sink.error(at: node, "\(path.isRoot ? "the spec" : "\(path)"): must be a mapping of \(what), got \(got)",
                       hint: path.isRoot ? nil : "write the keys indented under `\(path)`")
            return nil
        }
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else {
                sink.error(at: key, "\(where_)keys must be plain names, got \(NodeValue.kind(of: key))")
                continue
            }
            let name = scalar.string
            guard allowedKeys.contains(name) else {
                let suggestion = Suggestions.closest(to: name, among: allowedKeys)
                let message = "unknown key `\(NodeValue.visible(name))`\(path.isRoot ? "" : " in `\(path)`")"
                    + (suggestion.map { "; did you mean `\($0)`?" } ?? "")
                let hint = suggestion == nil
                    ? "the keys \(path.isRoot ? "of a spec" : "of `\(path)`") are \(allowedKeys.joined(separator: ", "))"
                    : nil
                sink.error(at: key, message, hint: hint)
                continue
            }
            entries[name] = (key, value)
        }
    }

    /// "types[0]: " for nested mappings, "" at the top.
    private var where_: String { path.isRoot ? "" : "\(path): " }

    func value(_ key: String) -> Node? { entries[key]?.value }

    func keyNode(_ key: String) -> Node? { entries[key]?.key }

    /// The value of a required key; a missing key is an error at this mapping.
    func require(_ key: String, hint: String? = nil, sink: inout DiagnosticSink) -> Node? {
        if let value = value(key) { return value }
        sink.error(at: node, "\(where_)missing required key `\(key)`", hint: hint)
        return nil
    }
}
