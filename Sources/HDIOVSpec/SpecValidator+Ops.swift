import Yams

/// `ops` lists, of the device and of a type.
extension SpecValidator {
    static var allOpNames: [String] { Operation.allCases.map(\.rawValue) }

    mutating func deviceOps(_ top: MappingReader) -> [Operation]? {
        guard let node = top.value("ops") else { return Operation.allCases }
        return operations(node, path: .root.child("ops"), available: nil)
    }

    /// A list of unique operation names, in canonical (opcode) order. `available` is the
    /// device's ops when checking a type's list; nil for the device's own list.
    mutating func operations(_ node: Node, path: KeyPath, available: [Operation]?) -> [Operation]? {
        let allNames = Self.allOpNames.joined(separator: ", ")
        guard case .sequence(let list) = node else {
            let single = NodeValue.string(node)
            let got = single == .nothing ? "nothing" : NodeValue.kind(of: node)
            var hint: String?
            if case .value(let word) = single, Operation(rawValue: word) != nil { hint = "write a list: [\(word)]" }
            sink.error(at: node, "\(path): must be a list of operations from \(allNames), got \(got)", hint: hint)
            return nil
        }
        if list.isEmpty {
            sink.error(at: node, "\(path): must list at least one operation",
                       hint: available == nil ? "the operations are \(allNames)"
                                              : "leave `\(path)` out to offer all of the device's ops")
            return nil
        }
        var found: [Operation: Int] = [:]
        var ok = true
        for (i, element) in list.enumerated() {
            let elementPath = path.index(i)
            guard let op = operation(element, path: elementPath, allNames: allNames) else {
                ok = false
                continue
            }
            if let first = found[op] {
                sink.error(at: element, "\(elementPath): `\(op.rawValue)` is already listed as \(path.index(first))")
                ok = false
                continue
            }
            found[op] = i
            if let available, !available.contains(op) {
                let device = available.map(\.rawValue).joined(separator: ", ")
                sink.error(at: element, "\(elementPath): `\(op.rawValue)` is not one of the device's ops (\(device))",
                           hint: "add it to the top-level `ops`, or remove it here")
                ok = false
            }
        }
        return ok ? Operation.allCases.filter { found[$0] != nil } : nil
    }

    private mutating func operation(_ node: Node, path: KeyPath, allNames: String) -> Operation? {
        guard case .value(let word) = NodeValue.string(node) else {
            let got = NodeValue.string(node) == .nothing ? "nothing" : NodeValue.kind(of: node)
            sink.error(at: node, "\(path): must be an operation name from \(allNames), got \(got)")
            return nil
        }
        if let op = Operation(rawValue: word) { return op }
        if word == "nop" {
            sink.error(at: node, "\(path): `nop` is implicit: every device executes NOP, so it is not listed",
                       hint: "remove it")
            return nil
        }
        let suggestion = Suggestions.closest(to: word, among: Self.allOpNames)
        sink.error(at: node, "\(path): unknown operation `\(NodeValue.visible(word))`"
                       + (suggestion.map { "; did you mean `\($0)`?" } ?? ""),
                   hint: suggestion == nil ? "the operations are \(allNames)" : nil)
        return nil
    }
}
