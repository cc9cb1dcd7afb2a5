import Foundation

/// One file of the template set: rendered when its name ends in `.mustache`,
/// copied as it is otherwise. `path` is relative to the template directory.
public struct TemplateSource: Equatable, Sendable {
    public var path: String
    public var text: String

    public init(path: String, text: String) {
        self.path = path
        self.text = text
    }

    public var isMustache: Bool { path.hasSuffix(".mustache") }

    /// The output path: the template's path without `.mustache`.
    public var outputPath: String {
        isMustache ? String(path.dropLast(".mustache".count)) : path
    }

    struct VariableTag: Equatable {
        var section: String?
        var name: String
    }

    /// `{{name}}` tags, each with the `{{#section}}` it stands in (one level deep).
    func variableTags() -> [VariableTag] {
        guard isMustache else { return [] }
        var tags: [VariableTag] = []
        var sections: [String] = []
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            guard let close = rest.range(of: "}}", range: open.upperBound..<rest.endIndex) else { break }
            let body = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            rest = rest[close.upperBound...]
            guard let first = body.first else { continue }
            let name = body.dropFirst().trimmingCharacters(in: .whitespaces)
            switch first {
            case "#", "^":
                if sections.isEmpty { tags.append(VariableTag(section: nil, name: name)) }
                sections.append(name)
            case "/": _ = sections.popLast()
            case "%", "!", ">", "=": continue
            default: tags.append(VariableTag(section: sections.last, name: body))
            }
        }
        return tags
    }
}
