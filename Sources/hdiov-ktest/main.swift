// hdiov-ktest: the real-kernel suite. Runs as root inside the embedded machine
// (`hdiov vm run -- .build/debug/hdiov-ktest --module …`), loads the module and
// checks it against the contract, with every expected value derived from the spec.
import Foundation
import HDIOVModules
import HDIOVSpec

var modulePath: String?
var specPath: String?
var label = ""
var withQemu = true
var withMdevctl = true
var fuzzOperations: Int?
var fuzzSeed: UInt64 = 1
var churnCycles: Int?
var conformanceGolden: String?
var only: String?
var args = CommandLine.arguments.dropFirst()
while let arg = args.popFirst() {
    switch arg {
    case "--module": modulePath = args.popFirst()
    case "--spec": specPath = args.popFirst()
    case "--label": label = args.popFirst() ?? ""
    case "--no-qemu": withQemu = false
    case "--no-mdevctl": withMdevctl = false
    case "--fuzz": fuzzOperations = args.popFirst().flatMap { Int($0) }
    case "--churn": churnCycles = args.popFirst().flatMap { Int($0) }
    case "--conformance": conformanceGolden = args.popFirst()
    case "--only": only = args.popFirst()
    case "--seed": fuzzSeed = args.popFirst().flatMap { UInt64($0) } ?? 1
    default:
        FileHandle.standardError.write(Data("usage: hdiov-ktest --module M.ko --spec S.yaml [--label L] [--no-qemu] [--no-mdevctl] [--fuzz N | --churn N | --conformance GOLDEN | --only migration] [--seed S]\n".utf8))
        exit(2)
    }
}
guard let modulePath, let specPath else {
    FileHandle.standardError.write(Data("hdiov-ktest: --module and --spec are required\n".utf8))
    exit(2)
}
let spec: DeviceSpec
do {
    spec = try SpecParser.load(path: specPath)
} catch {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(65)
}
// Every expected value comes from the spec: refuse a module generated from another one.
do {
    let record = try KernelModules().specRecord(ofFile: modulePath)
    guard let record, record.hash == spec.fingerprint else {
        let found = record.map { "\($0.name) (hash \($0.hash))" } ?? "no hdiov_spec_hash in its modinfo"
        FileHandle.standardError.write(Data("""
            hdiov-ktest: \(modulePath) was not generated from \(specPath) (hash \(spec.fingerprint)): it records \(found); \
            regenerate and rebuild it (hdiov generate --spec …; hdiov build), or pass the spec it came from

            """.utf8))
        exit(65)
    }
} catch {
    FileHandle.standardError.write(Data("hdiov-ktest: cannot read \(modulePath)'s modinfo: \(error)\n".utf8))
    exit(65)
}

let harness = Harness(prefix: label.isEmpty ? "" : "[\(label)] ")
let suite = KernelSuite(spec: spec, module: modulePath, harness: harness, withQemu: withQemu, withMdevctl: withMdevctl)
if let conformanceGolden {
    ConformanceChecks(suite: suite, golden: conformanceGolden, specPath: specPath).run()
} else if let churnCycles {
    ChurnChecks(suite: suite, cycles: churnCycles, workers: 4, seed: fuzzSeed).run()
} else if only == "migration" {
    MigrationChecks.alone(suite)
} else if let fuzzOperations {
    Fuzzer(suite: suite, seed: fuzzSeed, operations: fuzzOperations).run()
} else {
    suite.run()
}
print(harness.summary())
exit(harness.failed == 0 ? 0 : 1)
