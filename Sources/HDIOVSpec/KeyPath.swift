/// Where a node sits in the spec, as messages name it: `pfs`, `engine.threads`,
/// `types[1].queue_pairs`.
struct KeyPath: Equatable, CustomStringConvertible {
    let description: String

    static let root = KeyPath(description: "")

    var isRoot: Bool { description.isEmpty }

    func child(_ key: String) -> KeyPath {
        KeyPath(description: isRoot ? key : "\(description).\(key)")
    }

    func index(_ i: Int) -> KeyPath {
        KeyPath(description: "\(description)[\(i)]")
    }
}
