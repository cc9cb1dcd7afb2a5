import Foundation

/// Paths of the test fixtures and of the repository's specs, found from this file.
enum Fixtures {
    /// Tests/HDIOVSpecTests
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    /// The package root.
    static let packageRoot = testsDirectory.deletingLastPathComponent().deletingLastPathComponent()
    /// Tests/HDIOVSpecTests/Fixtures/bad: NN-short-name.yaml and NN-short-name.expected.
    static let badDirectory = testsDirectory.appendingPathComponent("Fixtures/bad")

    static func spec(_ name: String) -> String {
        packageRoot.appendingPathComponent("specs/\(name)").path
    }

    /// The bad specs' base names (without extension), sorted.
    static func badSpecNames() -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: badDirectory.path)) ?? []
        return files.filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted()
    }

    static func read(_ url: URL) throws -> String {
        try String(contentsOf: url, encoding: .utf8)
    }
}
