import Foundation
import Testing

/// Bad invocations of the built `hdiov`, each a separate process against a mock tree: the
/// exit status (docs/cli-exit-codes.md) and a phrase of standard error that names what was
/// wrong. The table is also docs/bad-input.md, compared here (regenerate it with
/// `HDIOV_UPDATE_GOLDEN=1 swift test --filter BadInputTests`).
@Suite("bad command-line input")
struct BadInputTests {
    struct Row: Sendable {
        /// `$ROOT` is a mock tree, `$TMP` a directory with the fixture files.
        var args: [String]
        var status: Int32
        var phrase: String

        init(_ args: String, _ status: Int32, _ phrase: String) {
            self.args = args.split(separator: " ").map(String.init)
            self.status = status
            self.phrase = phrase
        }
    }

    static let existing = "22222222-2222-4222-8222-222222222222"
    static let defined = "11111111-1111-4111-8111-111111111111"
    static let absent = "12345678-1234-1234-1234-123456789012"

    static let rows: [Row] = [
        // The argument parser (64).
        Row("frobnicate", 64, "Unexpected argument 'frobnicate'"),
        Row("list --bogus --sysfs-root $ROOT", 64, "Unknown option '--bogus'"),
        Row("create --sysfs-root $ROOT --type hdiov-4qp", 64, "Missing expected argument '--parent <parent>'"),
        Row("create --sysfs-root $ROOT --parent hdiov0", 64, "Missing expected argument '--type <type>'"),
        Row("create --sysfs-root $ROOT --parent hdiov0 --type hdiov-4qp --weight abc", 64, "'abc' is invalid for '--weight <weight>'"),
        Row("create --sysfs-root $ROOT --parent hdiov0 --type flex --qps many", 64, "'many' is invalid for '--qps <qps>'"),
        Row("define --sysfs-root $ROOT --type hdiov-4qp", 64, "Missing expected argument '--parent <parent>'"),
        Row("define --sysfs-root $ROOT --parent hdiov0", 64, "give --type (or --from-mdevctl FILE)"),
        Row("define --sysfs-root $ROOT --parent hdiov0 --type hdiov-4qp --start sometimes", 64, "'sometimes' is invalid for '--start <start>'"),
        Row("build --kernel 5.10", 64, "'5.10' is invalid for '--kernel <kernel>'"),
        Row("vm run --kernel 5.10 -- true", 64, "unknown kernel 5.10"),
        Row("mock init", 64, "Missing expected argument '<directory>'"),
        // Requests that cannot work whatever the system's state (2).
        Row("create --sysfs-root $ROOT --parent hdiov0 --type hdiov-4qp --uuid not-a-uuid", 2, "'not-a-uuid' is not a UUID"),
        Row("create --sysfs-root $ROOT --parent hdiov0 --type hdiov-4qp --uuid 12345678-1234-1234-1234-12345678901", 2, "is not a UUID: it takes 8-4-4-4-12 hexadecimal digits"),
        Row("create --sysfs-root $ROOT --parent hdiov0 --type hdiov-4qp --uuid 12345678-1234-1234-1234-12345678901g", 2, "is not a UUID"),
        Row("create --sysfs-root $ROOT --parent hdiov0 --type hdiov-4qp --qps 2", 2, "hdiov-4qp always has 4 queue pairs"),
        Row("create --sysfs-root $ROOT --parent hdiov0 --type flex --qps 0", 2, "takes 1 to 256 queue pairs, not 0"),
        Row("create --sysfs-root $ROOT --parent hdiov0 --type flex --qps 999", 2, "takes 1 to 256 queue pairs, not 999"),
        Row("remove --sysfs-root $ROOT nonsense", 2, "'nonsense' is not a UUID"),
        Row("modify --sysfs-root $ROOT nonsense --weight 5", 2, "'nonsense' is not a UUID"),
        Row("modify --sysfs-root $ROOT \(existing)", 2, "nothing to change"),
        Row("modify --sysfs-root $ROOT \(existing) --qps 2", 2, "hdiov-4qp always has 4 queue pairs"),
        Row("define --sysfs-root $ROOT --parent hdiov0 --type hdiov-4qp --uuid zzz", 2, "'zzz' is not a UUID"),
        Row("define --sysfs-root $ROOT --parent hdiov0 --type hdiov-4qp --weight 500", 2, "weight takes a whole number from 1 to 100"),
        Row("define --sysfs-root $ROOT --parent hdiov0 --type hdiov-4qp --qps 3", 2, "hdiov-4qp always has 4 queue pairs"),
        Row("define --sysfs-root $ROOT --parent hdiov1 --type flex --qps 300", 2, "takes 1 to 256 queue pairs, not 300"),
        Row("define --sysfs-root $ROOT --parent hdiov0 --from-mdevctl $TMP/unknown-attr.json", 2, "is not one hdiov sets"),
        Row("define --sysfs-root $ROOT --parent hdiov0 --from-mdevctl $TMP/bad-start.json", 2, "start is 'sometimes'"),
        Row("define --sysfs-root $ROOT --parent hdiov0 --from-mdevctl $TMP/weight-0.json", 2, "weight takes a whole number from 1 to 100"),
        // The operation failed, or what it names is not there (1).
        Row("create --sysfs-root $ROOT --parent nope0 --type hdiov-4qp", 1, "there is no parent nope0"),
        Row("create --sysfs-root $ROOT --parent hdiov0 --type nope", 1, "hdiov0 has no type 'nope'"),
        Row("create --sysfs-root $ROOT --parent hdiov0 --type hdiov-4qp --weight 0", 1, "weight takes a whole number from 1 to 100"),
        Row("create --sysfs-root $ROOT --parent hdiov0 --type hdiov-4qp --weight 101", 1, "weight takes a whole number from 1 to 100"),
        Row("create --sysfs-root $ROOT --parent hdiov0 --type hdiov-4qp --uuid \(existing)", 1, "EEXIST"),
        Row("list --sysfs-root $TMP/a-file", 1, "is not a sysfs tree"),
        Row("parents --sysfs-root $TMP/missing", 1, "is not a sysfs tree"),
        Row("remove --sysfs-root $ROOT \(absent)", 1, "there is no device \(absent)"),
        Row("modify --sysfs-root $ROOT \(absent) --weight 5", 1, "there is no device \(absent)"),
        Row("modify --sysfs-root $ROOT \(existing) --weight 1000", 1, "weight takes a whole number from 1 to 100"),
        Row("qemu-args --sysfs-root $ROOT \(absent)", 1, "there is no device \(absent)"),
        Row("types --sysfs-root $ROOT --parent nope", 1, "there is no parent nope"),
        Row("define --sysfs-root $ROOT --parent hdiov0 --type nope", 1, "hdiov0 has no type 'nope'"),
        Row("define --sysfs-root $ROOT --parent hdiov0 --type hdiov-4qp --uuid \(defined)", 1, "it is already defined"),
        Row("define --sysfs-root $ROOT --parent hdiov0 --from-mdevctl $TMP/missing.json", 1, "cannot read $TMP/missing.json"),
        Row("undefine --sysfs-root $ROOT \(absent)", 1, "no definition \(absent)"),
        Row("start --sysfs-root $ROOT \(absent)", 1, "no definition \(absent)"),
        Row("export --sysfs-root $ROOT \(absent)", 1, "no definition \(absent)"),
        // Bad spec or data (65).
        Row("create --sysfs-root $ROOT --parent hdiov0 --type hdiov-4qp --spec $TMP/missing.yaml", 65, "cannot read the spec"),
        Row("create --sysfs-root $ROOT --parent hdiov0 --type hdiov-4qp --spec $TMP/bad.yaml", 65, "invalid YAML"),
        Row("generate --spec $TMP/bad.yaml --out $TMP/out", 65, "invalid YAML"),
        Row("define --sysfs-root $ROOT --parent hdiov0 --from-mdevctl $TMP/no-type.json", 65, "it has no \"mdev_type\""),
        Row("define --sysfs-root $ROOT --parent hdiov0 --from-mdevctl $TMP/bad.yaml", 65, "it does not parse as JSON"),
    ]

    /// A mock tree with one device and one definition, and the fixture files.
    static func fixture() throws -> TemporaryDirectory {
        let dir = TemporaryDirectory()
        let tmp = dir.path
        let fm = FileManager.default
        try fm.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        let files = [
            "a-file": "",
            "bad.yaml": "{bad\n",
            "no-type.json": "{\"start\": \"auto\", \"attrs\": []}\n",
            "bad-start.json": "{\"mdev_type\": \"hdiov-4qp\", \"start\": \"sometimes\", \"attrs\": []}\n",
            "unknown-attr.json": "{\"mdev_type\": \"hdiov-4qp\", \"start\": \"auto\", \"attrs\": [{\"hdiov/colour\": \"3\"}]}\n",
            "weight-0.json": "{\"mdev_type\": \"hdiov-4qp\", \"start\": \"auto\", \"attrs\": [{\"hdiov/weight\": \"0\"}]}\n",
        ]
        for (name, text) in files { try text.write(toFile: tmp + "/" + name, atomically: false, encoding: .utf8) }
        let root = tmp + "/root"
        for setup in [["mock", "init", root],
                      ["create", "--sysfs-root", root, "--parent", "hdiov0", "--type", "hdiov-4qp", "--uuid", existing],
                      ["define", "--sysfs-root", root, "--parent", "hdiov0", "--type", "hdiov-4qp", "--uuid", defined]] {
            let r = try hdiov(setup)
            try #require(r.status == 0, "\(setup.joined(separator: " ")): \(r.stderr)")
        }
        return dir
    }

    static func substitute(_ s: String, tmp: String) -> String {
        s.replacingOccurrences(of: "$ROOT", with: tmp + "/root").replacingOccurrences(of: "$TMP", with: tmp)
    }

    static func placeholders(_ s: String, tmp: String) -> String {
        s.replacingOccurrences(of: tmp + "/root", with: "$ROOT").replacingOccurrences(of: tmp, with: "$TMP")
    }

    static func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }

    static var goldenPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/bad-input.md").path
    }

    @Test("each bad invocation exits with its status and says what was wrong; docs/bad-input.md is this table")
    func table() throws {
        #expect(Self.rows.count >= 30)
        let dir = try Self.fixture()
        var lines = [
            "# What `hdiov` says to bad input",
            "",
            "Generated by `Tests/HDIOVCLITests/BadInputTests.swift` (`HDIOV_UPDATE_GOLDEN=1 swift test --filter BadInputTests`);",
            "the test fails when this file and the commands disagree. `$ROOT` is a mock tree (`hdiov mock init`) with",
            "one hdiov-4qp device \(Self.existing) on hdiov0 and a definition \(Self.defined);",
            "`$TMP` holds the fixture files. Exit statuses: docs/cli-exit-codes.md.",
            "",
            "| invocation | exit | first line of standard error | it names (checked) |",
            "|---|---|---|---|",
        ]
        for row in Self.rows {
            let args = row.args.map { Self.substitute($0, tmp: dir.path) }
            let r = try hdiov(args)
            let shown = "hdiov " + row.args.joined(separator: " ")
            #expect(r.status == row.status, "\(shown): exit \(r.status), expected \(row.status)\n\(r.stderr)")
            #expect(r.stderr.contains(Self.substitute(row.phrase, tmp: dir.path)),
                    "\(shown): stderr does not say '\(row.phrase)':\n\(r.stderr)")
            #expect(r.stdout.isEmpty, "\(shown): printed to stdout: \(r.stdout)")
            let first = Self.placeholders(r.stderr.split(separator: "\n").first.map(String.init) ?? "", tmp: dir.path)
            lines.append("| `\(Self.cell(shown))` | \(r.status) | \(Self.cell(first)) | \(Self.cell(row.phrase)) |")
        }
        let text = lines.joined(separator: "\n") + "\n"
        if ProcessInfo.processInfo.environment["HDIOV_UPDATE_GOLDEN"] == "1" {
            try text.write(toFile: Self.goldenPath, atomically: true, encoding: .utf8)
        }
        let golden = (try? String(contentsOfFile: Self.goldenPath, encoding: .utf8)) ?? ""
        #expect(golden == text, "docs/bad-input.md differs from the commands' answers; regenerate with HDIOV_UPDATE_GOLDEN=1")
    }
}
