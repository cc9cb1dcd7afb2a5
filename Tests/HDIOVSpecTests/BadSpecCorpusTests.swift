import Foundation
import Testing
@testable import HDIOVSpec

/// The malformed-spec corpus: each Fixtures/bad/NN-name.yaml must fail with exactly the
/// diagnostics in NN-name.expected. `HDIOV_UPDATE_GOLDEN=1 swift test` rewrites them.
struct BadSpecCorpusTests {
    static let updating = ProcessInfo.processInfo.environment["HDIOV_UPDATE_GOLDEN"] == "1"

    @Test func corpusIsLargeAndComplete() throws {
        let names = Fixtures.badSpecNames()
        #expect(names.count >= 50)
        let files = try FileManager.default.contentsOfDirectory(atPath: Fixtures.badDirectory.path)
        let expected = files.filter { $0.hasSuffix(".expected") }.map { String($0.dropLast(9)) }
        if !Self.updating {  // (updating writes the missing ones in parallel with this test)
            #expect(Set(expected) == Set(names), "every .yaml needs a .expected and the other way round")
        }
        for name in names {
            #expect(name.range(of: #"^[0-9]{2}-[a-z0-9-]+$"#, options: .regularExpression) != nil,
                    "\(name) is not NN-short-name")
        }
    }

    @Test(arguments: Fixtures.badSpecNames())
    func badSpecGivesExpectedDiagnostics(_ name: String) throws {
        let yaml = try Fixtures.read(Fixtures.badDirectory.appendingPathComponent("\(name).yaml"))
        let file = "\(name).yaml"
        let actual: String
        do {
            let spec = try SpecParser.parse(yaml: yaml, file: file)
            Issue.record("\(file) parsed, giving \(spec)")
            return
        } catch {
            actual = error.description
        }
        let expectedURL = Fixtures.badDirectory.appendingPathComponent("\(name).expected")
        if Self.updating {
            try (actual + "\n").write(to: expectedURL, atomically: true, encoding: .utf8)
            return
        }
        let expected = try Fixtures.read(expectedURL)
        #expect(actual == expected.trimmingCharacters(in: .newlines))
        // The first line is "file:line:column: error: message".
        let first = actual.split(separator: "\n").first.map(String.init) ?? ""
        #expect(first.hasPrefix("\(file):"))
        #expect(first.contains(": error: "))
    }
}
