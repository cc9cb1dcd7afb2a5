import Foundation
import HDIOVConformance
import HDIOVMock
import HDIOVSpec
import HDIOVSysfs
import Testing

/// The checkout's top directory.
private let top = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
/// The record the real module produced (hdiov-ktest --conformance compares with it too).
private let goldenPath = top.appendingPathComponent("Tests/HDIOVConformanceTests/golden/default.record").path

@Suite struct ConformanceTests {
    /// The scenario against the mock kernel gives the golden record; HDIOV_UPDATE_GOLDEN=1
    /// writes the record instead.
    @Test func mockMatchesGoldenRecord() throws {
        let spec = try SpecParser.load(path: top.appendingPathComponent("specs/default.yaml").path)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("hdiov-conf-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let kernel = try MockKernel.install(at: root, spec: spec)
        let record = ConformanceRecorder(
            scenario: ConformanceScenario(spec: spec), environment: SysfsEnvironment(root: root), backend: kernel
        ).run()
        if ProcessInfo.processInfo.environment["HDIOV_UPDATE_GOLDEN"] == "1" {
            try record.write(toFile: goldenPath, atomically: true, encoding: .utf8)
            return
        }
        let golden = try String(contentsOfFile: goldenPath, encoding: .utf8)
        let diff = RecordDiff.unified(golden, record, labelA: "golden/default.record", labelB: "mock")
        #expect(diff == nil, "the mock differs from the golden record:\n\(diff ?? "")")
    }

    @Test func diffShowsChangedLines() {
        #expect(RecordDiff.unified("a\nb\nc\n", "a\nb\nc\n") == nil)
        let d = RecordDiff.unified("a\nb\nc\n", "a\nx\nc\n", context: 1) ?? ""
        #expect(d.contains("-b") && d.contains("+x") && d.contains("@@ -1,3 +1,3 @@"), "\(d)")
    }
}
