import Foundation

/// A position in a spec file. `line` and `column` are 1-based; columns count Unicode
/// scalars, as libyaml (and so Yams) does.
public struct SourceLocation: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `file:line:column`, the form compilers and editors understand.
    public var description: String { "\(file):\(line):\(column)" }
}

/// One problem found in a spec, located at the node that causes it.
///
/// `description` is `file:line:column: error: message`, followed by a second line
/// `  hint: …` when there is a hint.
public struct Diagnostic: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
    public enum Severity: String, Equatable, Hashable, Sendable {
        /// The spec is rejected.
        case error
        /// The spec is accepted, but probably not what was meant.
        case warning
    }

    public var severity: Severity
    public var location: SourceLocation
    /// What is wrong, naming the key and the allowed values.
    public var message: String
    /// What to do about it, when there is something useful to say.
    public var hint: String?

    public init(severity: Severity = .error, location: SourceLocation, message: String, hint: String? = nil) {
        self.severity = severity
        self.location = location
        self.message = message
        self.hint = hint
    }

    public var description: String {
        let first = "\(location): \(severity.rawValue): \(message)"
        guard let hint else { return first }
        return first + "\n  hint: " + hint
    }
}

/// The error a spec that does not validate produces: every problem found, in file order.
public struct SpecError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    public var diagnostics: [Diagnostic]

    public init(diagnostics: [Diagnostic]) {
        self.diagnostics = diagnostics
    }

    /// One diagnostic per line (a diagnostic with a hint takes two).
    public var description: String {
        diagnostics.map(\.description).joined(separator: "\n")
    }

    public var errorDescription: String? { description }
}
