import Testing
@testable import HDIOVSpec

struct DiagnosticsTests {
    let location = SourceLocation(file: "bad.yaml", line: 3, column: 6)

    @Test func descriptionIsCompilerStyle() {
        let d = Diagnostic(location: location, message: "pfs: must be an integer from 1 to 64, got 0")
        #expect(d.description == "bad.yaml:3:6: error: pfs: must be an integer from 1 to 64, got 0")
    }

    @Test func hintIsASecondLine() {
        let d = Diagnostic(severity: .warning, location: location, message: "m", hint: "do this")
        #expect(d.description == "bad.yaml:3:6: warning: m\n  hint: do this")
    }

    @Test func specErrorPrintsOneDiagnosticPerLine() {
        let e = SpecError(diagnostics: [
            Diagnostic(location: location, message: "a"),
            Diagnostic(location: SourceLocation(file: "bad.yaml", line: 4, column: 1), message: "b"),
        ])
        #expect(e.description == "bad.yaml:3:6: error: a\nbad.yaml:4:1: error: b")
    }

    @Test(arguments: [
        ("queue_pair", "queue_pairs"), ("max_vdev", "max_vdevs"), ("modul", "module"),
        ("tpyes", "types"), ("colour", nil), ("x", nil),
    ] as [(String, String?)])
    func suggestionsWithinTwoEdits(_ word: String, _ suggestion: String?) {
        #expect(Suggestions.closest(to: word, among: SpecValidator.topKeys) == suggestion)
    }

    @Test func integerForms() {
        #expect(NodeValue.parseInteger("0") == 0)
        #expect(NodeValue.parseInteger("4096") == 4096)
        #expect(NodeValue.parseInteger("0x1000") == 4096)
        #expect(NodeValue.parseInteger("-3") == -3)
        #expect(NodeValue.parseInteger("010") == nil)
        #expect(NodeValue.parseInteger("0x") == nil)
        #expect(NodeValue.parseInteger("1_000") == nil)
        #expect(NodeValue.parseInteger("1.0") == nil)
        #expect(NodeValue.parseInteger("99999999999999999999") == nil)
    }
}
