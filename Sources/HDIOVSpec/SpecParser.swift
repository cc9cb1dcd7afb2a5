import Yams

/// The outcome of checking a spec: the spec when there were no errors, and every
/// diagnostic (errors and warnings) in file order.
public struct SpecCheck: Sendable {
    public var spec: DeviceSpec?
    public var diagnostics: [Diagnostic]

    public init(spec: DeviceSpec?, diagnostics: [Diagnostic]) {
        self.spec = spec
        self.diagnostics = diagnostics
    }

    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }
    public var warnings: [Diagnostic] { diagnostics.filter { $0.severity == .warning } }
}

/// YAML device spec → validated `DeviceSpec` (specs/default.yaml shows every key).
public enum SpecParser {
    /// Parses and validates spec text. `file` names it in diagnostics.
    /// Throws every problem found (and any warnings) when there is at least one error.
    public static func parse(yaml: String, file: String) throws(SpecError) -> DeviceSpec {
        try unwrap(check(yaml: yaml, file: file))
    }

    /// Reads, parses and validates a spec file. A file that cannot be read is a
    /// diagnostic at line 1, column 1 saying why.
    public static func load(path: String) throws(SpecError) -> DeviceSpec {
        try unwrap(checkFile(path: path))
    }

    /// Parses and validates spec text without throwing: the spec (when there were no
    /// errors) and all diagnostics, warnings included.
    public static func check(yaml: String, file: String) -> SpecCheck {
        let composed = YAMLComposer.compose(yaml, file: file)
        guard let root = composed.root else {
            let diagnostics = composed.diagnostics.isEmpty
                ? [Diagnostic(location: SourceLocation(file: file, line: 1, column: 1),
                              message: "the spec is empty", hint: "a spec needs at least `module` and `types`")]
                : composed.diagnostics
            return SpecCheck(spec: nil, diagnostics: diagnostics)
        }
        var validator = SpecValidator(file: file)
        let spec = validator.validate(root)
        validator.sink.append(contentsOf: composed.diagnostics)
        return SpecCheck(spec: spec, diagnostics: validator.sink.sorted)
    }

    /// `check` on a file's contents.
    public static func checkFile(path: String) -> SpecCheck {
        switch SpecFile.read(path: path) {
        case .success(let text): check(yaml: text, file: path)
        case .failure(let diagnostic): SpecCheck(spec: nil, diagnostics: [diagnostic])
        }
    }

    private static func unwrap(_ result: SpecCheck) throws(SpecError) -> DeviceSpec {
        guard let spec = result.spec, result.errors.isEmpty else {
            throw SpecError(diagnostics: result.diagnostics)
        }
        return spec
    }
}
