import Yams

/// Collects the diagnostics of one spec file as validation walks it.
struct DiagnosticSink {
    let file: String
    private(set) var diagnostics: [Diagnostic] = []

    init(file: String) {
        self.file = file
    }

    var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }

    func location(of mark: Mark?) -> SourceLocation {
        SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    mutating func error(at node: Node?, _ message: String, hint: String? = nil) {
        add(.error, at: node?.mark, message, hint: hint)
    }

    mutating func warning(at node: Node?, _ message: String, hint: String? = nil) {
        add(.warning, at: node?.mark, message, hint: hint)
    }

    mutating func add(_ severity: Diagnostic.Severity, at mark: Mark?, _ message: String, hint: String? = nil) {
        diagnostics.append(Diagnostic(severity: severity, location: location(of: mark), message: message, hint: hint))
    }

    mutating func append(contentsOf other: [Diagnostic]) {
        diagnostics.append(contentsOf: other)
    }

    /// The diagnostics in file order (validation visits keys in its own order).
    var sorted: [Diagnostic] {
        diagnostics.enumerated().sorted { a, b in
            let (la, lb) = (a.element.location, b.element.location)
            if la.line != lb.line { return la.line < lb.line }
            if la.column != lb.column { return la.column < lb.column }
            return a.offset < b.offset
        }.map(\.element)
    }
}
