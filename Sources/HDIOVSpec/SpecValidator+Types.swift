import Yams

/// `types`: the mdev types, in sysfs order.
extension SpecValidator {
    static let typeKeys = ["id", "name", "queue_pairs", "default_queue_pairs", "ops"]
    static let typeIDExpectation =
        "lowercase letters, digits and `_`, starting with a letter or digit, at most \(SpecLimits.typeIDMaxLength) characters"

    /// What a type is checked against.
    struct TypeContext {
        /// `max_qps_per_vdev` (or its fallback when it is wrong itself).
        var maxQps: Int
        /// `queue_pairs` of each parent's pool, when valid.
        var poolQueuePairs: Int?
        var deviceOps: [Operation]
    }

    mutating func mdevTypes(_ top: MappingReader, maxQps: Int, poolQueuePairs: Int?,
                            deviceOps: [Operation]) -> [MdevTypeSpec]? {
        guard let node = top.require("types", hint: "`types` lists the mdev types, each with id, name and queue_pairs",
                                     sink: &sink)
        else { return nil }
        guard case .sequence(let list) = node else {
            let got = NodeValue.string(node) == .nothing ? "nothing" : NodeValue.kind(of: node)
            sink.error(at: node, "types: must be a list of mdev types, got \(got)",
                       hint: "write each type as `- id: …` under `types:`")
            return nil
        }
        if list.isEmpty {
            sink.error(at: node, "types: must list at least one mdev type")
            return nil
        }
        var ok = true
        if list.count > SpecLimits.maxTypes {
            sink.error(at: list[SpecLimits.maxTypes],
                       "types: at most \(SpecLimits.maxTypes) types are allowed, got \(list.count)")
            ok = false
        }
        let context = TypeContext(maxQps: maxQps, poolQueuePairs: poolQueuePairs, deviceOps: deviceOps)
        var types: [MdevTypeSpec] = []
        var firstIndex: [String: Int] = [:]
        for (i, entry) in list.enumerated() {
            guard let type = mdevType(entry, index: i, context: context, firstIndex: &firstIndex) else {
                ok = false
                continue
            }
            types.append(type)
        }
        return ok ? types : nil
    }

    /// One type. `firstIndex` maps the ids seen so far to their entries.
    private mutating func mdevType(_ node: Node, index: Int, context: TypeContext,
                                   firstIndex: inout [String: Int]) -> MdevTypeSpec? {
        let path = KeyPath.root.child("types").index(index)
        guard let map = MappingReader(node, path: path, what: "type keys (id, name, queue_pairs, …)",
                                      allowedKeys: Self.typeKeys, sink: &sink)
        else { return nil }
        let id = typeID(map, index: index, firstIndex: &firstIndex)
        let name = map.require("name", hint: "`name` is the type's pretty name in sysfs", sink: &sink)
            .flatMap { cString($0, path: path.child("name"), maxLength: SpecLimits.typeNameMaxLength) }
        let queuePairs = typeQueuePairs(map, context: context)
        var ops: [Operation]? = context.deviceOps
        if let opsNode = map.value("ops") {
            ops = operations(opsNode, path: path.child("ops"), available: context.deviceOps)
        }
        guard let id, let name, let queuePairs, let ops else { return nil }
        return MdevTypeSpec(id: id, name: name, queuePairs: queuePairs, ops: ops)
    }

    /// `id`: names the sysfs type directory `<module>-<id>`, so unique.
    private mutating func typeID(_ map: MappingReader, index: Int, firstIndex: inout [String: Int]) -> String? {
        let path = map.path.child("id")
        guard let node = map.require("id", hint: "`id` names the sysfs type directory, e.g. `id: 4qp`", sink: &sink),
              let id = string(node, path: path, expected: Self.typeIDExpectation)
        else { return nil }
        guard Self.isLowercaseIdentifier(id, firstMayBeDigit: true), id.count <= SpecLimits.typeIDMaxLength else {
            let length = id.count > SpecLimits.typeIDMaxLength ? " (\(id.count) characters)" : ""
            sink.error(at: node, "\(path): must be \(Self.typeIDExpectation), got \(NodeValue.quoted(id))\(length)")
            return nil
        }
        if let first = firstIndex[id] {
            sink.error(at: node, "\(path): `\(id)` is already the id of types[\(first)]",
                       hint: "type ids name sysfs directories and must be unique")
            return nil
        }
        firstIndex[id] = index
        return id
    }

    /// `queue_pairs` (a number, or `flex`) and `default_queue_pairs` (flex only).
    private mutating func typeQueuePairs(_ map: MappingReader, context: TypeContext) -> MdevTypeSpec.QueuePairs? {
        let flex = SpecLimits.flexWord
        let queuePairs = map.require("queue_pairs", hint: "a number of queue pairs, or `\(flex)` to choose it per device",
                                     sink: &sink)
            .flatMap { queuePairsValue($0, path: map.path.child("queue_pairs"), context: context) }

        guard let defaultNode = map.value("default_queue_pairs") else {
            if case .flex(default: _)? = queuePairs { return .flex(default: SpecLimits.defaultFlexQueuePairs) }
            return queuePairs
        }
        let defaultPath = map.path.child("default_queue_pairs")
        if case .fixed(let n)? = queuePairs {
            sink.error(at: map.keyNode("default_queue_pairs"),
                       "\(defaultPath): only a `\(flex)` type has a default; this type's queue_pairs is fixed at \(n)",
                       hint: "remove default_queue_pairs, or make queue_pairs `\(flex)`")
            return nil
        }
        // Checked even when queue_pairs is wrong, so both mistakes show at once.
        let flexDefault = integer(defaultNode, path: defaultPath, .from(1...context.maxQps, note: "max_qps_per_vdev"),
                                  defaultValue: SpecLimits.defaultFlexQueuePairs)
        guard queuePairs != nil, let flexDefault else { return nil }
        return .flex(default: flexDefault)
    }

    /// A type's `queue_pairs` value: `.fixed(n)`, or `.flex` (its default still to come).
    private mutating func queuePairsValue(_ node: Node, path: KeyPath, context: TypeContext) -> MdevTypeSpec.QueuePairs? {
        let flex = SpecLimits.flexWord
        let word: String? = if case .value(let w) = NodeValue.string(node) { w } else { nil }
        if word == flex { return .flex(default: SpecLimits.defaultFlexQueuePairs) }

        var rule = IntegerRule.from(1...context.maxQps)
        rule.text = "an integer from 1 to \(context.maxQps) (max_qps_per_vdev) or `\(flex)`"
        rule.hint = { value in
            if let pool = context.poolQueuePairs, value > pool {
                return "each parent's pool has only \(pool) queue pairs (queue_pairs)"
            }
            return value > context.maxQps ? "raise max_qps_per_vdev, or use a `\(flex)` type" : nil
        }
        if case .invalid(let got, _) = NodeValue.integer(node), let word,
           Suggestions.closest(to: word, among: [flex]) != nil {
            sink.error(at: node, "\(path): must be \(rule.text), got \(got); did you mean `\(flex)`?")
            return nil
        }
        return integer(node, path: path, rule).map { .fixed($0) }
    }
}
