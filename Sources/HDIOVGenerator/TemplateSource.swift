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
}
