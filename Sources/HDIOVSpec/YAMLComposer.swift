import Yams

/// The YAML layer: spec text to a Yams node tree, or located diagnostics.
///
/// Yams refuses a mapping with a repeated key and stops there. To report every repeated
/// key at its own place and still validate the rest, `compose` masks the first occurrence
/// (see `DuplicateKeys`) and composes again; the repeats then become diagnostics.
enum YAMLComposer {
    struct Result {
        /// The document's root, when the text is well-formed YAML (repeated keys removed).
        var root: Node?
        var diagnostics: [Diagnostic]
    }

    /// More repeated keys than this in one file are not worth reporting one by one.
    static let maxMaskedKeys = 100

    static func compose(_ yaml: String, file: String) -> Result {
        var text = yaml
        var masks = DuplicateKeys.Masks()
        while true {
            do {
                let root = try Yams.compose(yaml: text)
                var sink = DiagnosticSink(file: file)
                let clean = root.map { DuplicateKeys.restore($0, masks: masks, sink: &sink) }
                return Result(root: clean, diagnostics: sink.diagnostics)
            } catch let YamlError.duplicatedKeysInMapping(duplicates, context) {
                if masks.count < maxMaskedKeys, let key = duplicates.first,
                   let masked = masks.mask(key: key, at: context.mark, in: text) {
                    text = masked
                    continue
                }
                // Cannot mask it (say, an escaped quoted key): report the first occurrence.
                let names = duplicates.map { "`\($0)`" }.joined(separator: ", ")
                return failure(file: file, at: context.mark,
                               "duplicate key \(names) in this mapping", hint: "give each key once")
            } catch let error as YamlError {
                return failure(file: file, error)
            } catch {
                return failure(file: file, at: nil, "cannot read the YAML: \(error)")
            }
        }
    }

    private static func failure(file: String, at mark: Mark?, _ message: String, hint: String? = nil) -> Result {
        var sink = DiagnosticSink(file: file)
        sink.add(.error, at: mark, message, hint: hint)
        return Result(root: nil, diagnostics: sink.diagnostics)
    }

    /// A libyaml error as a located diagnostic.
    private static func failure(file: String, _ error: YamlError) -> Result {
        switch error {
        case let .scanner(context, problem, mark, yaml),
             let .parser(context, problem, mark, yaml),
             let .composer(context, problem, mark, yaml):
            return failure(file: file, at: mark, "invalid YAML: " + describe(problem, context),
                           hint: hint(at: mark, in: yaml))
        case let .reader(problem, offset, _, yaml):
            let at = offset.map { TextPosition.position(ofCharacterOffset: $0, in: yaml) } ?? (line: 1, column: 1)
            let diagnostic = Diagnostic(location: SourceLocation(file: file, line: at.line, column: at.column),
                                        message: "invalid YAML text: \(problem)",
                                        hint: "a spec is UTF-8 text without control characters")
            return Result(root: nil, diagnostics: [diagnostic])
        default:
            return failure(file: file, at: nil, "invalid YAML: \(error)")
        }
    }

    /// A hint for the commonest syntax mistake: a tab where YAML wants spaces.
    private static func hint(at mark: Mark, in text: String) -> String? {
        let scalars = Array(text.unicodeScalars)
        guard let i = TextPosition.scalarIndex(line: mark.line, column: mark.column, in: scalars),
              i < scalars.count, scalars[i] == "\t"
        else { return nil }
        return "indent YAML with spaces; tabs are not allowed there"
    }

    /// libyaml's problem with its context: "did not find expected key (while parsing a
    /// block mapping at line 3, column 1)".
    private static func describe(_ problem: String, _ context: YamlError.Context?) -> String {
        guard let context else { return problem }
        if problem.hasPrefix("but ") {
            return "\(context.text), \(problem)"
        }
        return "\(problem) (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
    }
}
