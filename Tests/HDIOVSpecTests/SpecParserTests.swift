import Foundation
import Testing
@testable import HDIOVSpec

/// Behaviour of the parser beyond single malformed specs (those are the corpus).
struct SpecParserTests {
    static let types = """
        types:
          - id: 1qp
            name: one
            queue_pairs: 1
        """

    /// The diagnostics of text that must not validate.
    func diagnostics(_ yaml: String, file: String = "t.yaml") -> [Diagnostic] {
        do {
            _ = try SpecParser.parse(yaml: yaml, file: file)
            Issue.record("expected errors in:\n\(yaml)")
            return []
        } catch {
            return error.diagnostics
        }
    }

    func lines(_ diagnostics: [Diagnostic]) -> [String] {
        diagnostics.map { "\($0.location.line):\($0.location.column) \($0.message)" }
    }

    @Test func everyErrorIsReportedInFileOrder() {
        let found = diagnostics("""
            module: Bad
            pfs: 0
            queue_pairs: lots
            engine:
              threads: 100
              idle_pols: 3
            pci:
              vendor: 0xffff
            ops: [copy, nop]
            types:
              - id: a
                queue_pairs: 0
              - id: a
                name: "x\\\\y"
                queue_pairs: flex
                default_queue_pairs: 0
            """)
        #expect(lines(found) == [
            "1:9 module: must be \(SpecValidator.moduleExpectation), got \"Bad\"",
            "2:6 pfs: must be an integer from 1 to 64, got 0",
            "3:14 queue_pairs: must be an integer from 1 to 65536, got \"lots\"",
            "5:12 engine.threads: must be an integer from 1 to 64, got 100",
            "6:3 unknown key `idle_pols` in `engine`; did you mean `idle_polls`?",
            "8:11 pci.vendor: 0xffff is not a valid vendor ID",
            "9:13 ops[1]: `nop` is implicit: every device executes NOP, so it is not listed",
            "11:5 types[0]: missing required key `name`",
            "12:18 types[0].queue_pairs: must be an integer from 1 to 256 (max_qps_per_vdev) or `flex`, got 0",
            "13:9 types[1].id: `a` is already the id of types[0]",
            "14:11 types[1].name: must not contain a backslash (`\\`): the text goes into a C string literal",
            "16:26 types[1].default_queue_pairs: must be an integer from 1 to 256 (max_qps_per_vdev), got 0",
        ])
        #expect(found.allSatisfy { $0.severity == .error && $0.location.file == "t.yaml" })
    }

    @Test func syntaxErrorIsLocated() {
        let found = diagnostics("module: hdiov\npfs: [1, 2\n\(Self.types)\n", file: "syntax.yaml")
        #expect(found.count == 1)
        let first = found.first
        #expect(first?.location.file == "syntax.yaml")
        #expect(first?.location.line ?? 0 > 1)
        #expect(first?.message.hasPrefix("invalid YAML: ") == true)
        #expect(first?.description.hasPrefix("syntax.yaml:\(first?.location.line ?? 0):") == true)
    }

    @Test func syntaxErrorPointsAtTheBadLine() {
        let found = diagnostics("module: hdiov\n  pfs: 2\n\(Self.types)\n")
        #expect(lines(found) == ["2:6 invalid YAML: mapping values are not allowed in this context"])
    }

    @Test(arguments: [
        ("pfs: 16", 16), ("pfs: 0x10", 16), ("pfs: 0X10", 16), ("pfs: 0x0010", 16),
        ("queue_pairs: 2048\nmax_vdevs: 0x800", 2048),
    ])
    func hexAndDecimalAreBothIntegers(_ line: String, _ value: Int) throws {
        let spec = try SpecParser.parse(yaml: "module: hdiov\n\(line)\n\(Self.types)\n", file: "t.yaml")
        #expect(spec.pfs == value || spec.maxVdevs == value)
    }

    @Test func typeQueuePairsInHex() throws {
        let spec = try SpecParser.parse(yaml: """
            module: hdiov
            types:
              - {id: a, name: a, queue_pairs: 0X10}
              - {id: b, name: b, queue_pairs: 0x4}
            """, file: "t.yaml")
        #expect(spec.types.map(\.queuePairs) == [.fixed(16), .fixed(4)])
    }

    @Test func explicitStringTagIsNotANumber() {
        let found = diagnostics("module: hdiov\npfs: !!str 2\n\(Self.types)\n")
        #expect(lines(found) == ["2:6 pfs: must be an integer from 1 to 64, got the string \"2\""])
    }

    @Test func hexAndDecimalPCIIdsAreEqual() throws {
        let hex = try SpecParser.parse(yaml: """
            module: hdiov
            pci: {vendor: 0x8086, device: 0x0DA5, class: 0x0b4000, subsystem_vendor: 0x8086,
                  subsystem_device: 0x10, revision: 0x2}
            \(Self.types)
            """, file: "hex.yaml")
        let decimal = try SpecParser.parse(yaml: """
            module: hdiov
            pci: {vendor: 32902, device: 3493, class: 737280, subsystem_vendor: 32902,
                  subsystem_device: 16, revision: 2}
            \(Self.types)
            """, file: "decimal.yaml")
        #expect(hex == decimal)
        #expect(hex.pci == PCIIdentity(vendor: 0x8086, device: 0x0da5, classCode: 0x0b4000,
                                       subsystemVendor: 0x8086, subsystemDevice: 0x10, revision: 2))
    }

    @Test func repeatedKeysAreEachReportedAndTheRestIsStillChecked() {
        let found = diagnostics("""
            module: hdiov
            pfs: 2
            pfs: 3
            max_ring: 3
            pfs: 4
            \(Self.types)
            """)
        #expect(lines(found) == [
            "3:1 duplicate key `pfs`: it is already given at line 2",
            "4:11 max_ring: must be a power of two from 2 to 65536, got 3",
            "5:1 duplicate key `pfs`: it is already given at line 2",
        ])
    }

    @Test func repeatedKeysInDifferentMappings() {
        let found = diagnostics("""
            module: hdiov
            types:
              - {id: a, name: one, queue_pairs: 1, id: b}
              - id: c
                name: two
                name: three
                queue_pairs: 2
            """)
        #expect(lines(found) == [
            "3:40 duplicate key `types[0].id`: it is already given at line 3",
            "6:5 duplicate key `types[1].name`: it is already given at line 5",
        ])
    }

    @Test func missingFileIsAnErrorAtLineOneWithTheOSError() {
        let path = "/nonexistent/hdiov/spec.yaml"
        #expect {
            try SpecParser.load(path: path)
        } throws: { error in
            let error = try #require(error as? SpecError)
            return error.description == "\(path):1:1: error: cannot read the spec: No such file or directory"
        }
    }

    @Test func directoryIsAnErrorWithTheOSError() throws {
        let path = Fixtures.testsDirectory.path
        let result = SpecParser.checkFile(path: path)
        #expect(result.spec == nil)
        #expect(result.diagnostics.map(\.description) == ["\(path):1:1: error: cannot read the spec: Is a directory"])
    }

    @Test func fileThatIsNotUTF8IsLocated() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("hdiov-spec-\(UUID()).yaml")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data("module: hdiov\npfs: 2\ndescription: caf".utf8 + [0xe9, 0x0a]).write(to: url)
        let result = SpecParser.checkFile(path: url.path)
        #expect(result.diagnostics.map(\.description)
                == ["\(url.path):3:17: error: the spec is not UTF-8 text\n  hint: save the file as UTF-8"])
    }

    @Test func controlCharacterIsLocated() {
        let found = diagnostics("module: hdiov\npfs: 2\u{1}\n\(Self.types)\n")
        #expect(found.count == 1)
        #expect(found.first?.location.line == 2)
        #expect(found.first?.message.hasPrefix("invalid YAML text: ") == true)
    }

    @Test func warningsDoNotStopASpec() throws {
        let result = SpecParser.check(yaml: "module: hdiov\nqueue_pairs: 16\nmax_vdevs: 32\n\(Self.types)\n", file: "w.yaml")
        #expect(result.spec?.maxVdevs == 32)
        #expect(result.errors.isEmpty)
        #expect(result.warnings.map(\.description).first?.hasPrefix(
            "w.yaml:3:12: warning: max_vdevs (32) exceeds queue_pairs (16)") == true)
    }

    @Test func maxQpsPerVdevDefaultsToThePoolWhenSmall() throws {
        let spec = try SpecParser.parse(yaml: "module: hdiov\nqueue_pairs: 8\nmax_vdevs: 8\n\(Self.types)\n", file: "t.yaml")
        #expect(spec.maxQpsPerVdev == 8)
    }

    @Test func typeOpsDefaultToTheDeviceOpsInCanonicalOrder() throws {
        let spec = try SpecParser.parse(yaml: """
            module: hdiov
            ops: [compare, copy]
            types:
              - {id: a, name: a, queue_pairs: 1}
              - {id: b, name: b, queue_pairs: flex, default_queue_pairs: 0x10, ops: [compare]}
            """, file: "t.yaml")
        #expect(spec.ops == [.copy, .compare])
        #expect(spec.types[0].ops == [.copy, .compare])
        #expect(spec.types[1].ops == [.compare])
        #expect(spec.types[1].queuePairs == .flex(default: 16))
    }

    @Test func quotedFlexAndUnicodeNamesAreAccepted() throws {
        let spec = try SpecParser.parse(yaml: """
            module: hdiov
            description: Gerät für Tests
            types:
              - {id: f, name: 'flexibel – ein bis viele', queue_pairs: "flex"}
            """, file: "t.yaml")
        #expect(spec.description == "Gerät für Tests")
        #expect(spec.types[0].queuePairs == .flex(default: 1))
    }
}
