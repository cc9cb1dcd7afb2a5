import Foundation
import Testing
@testable import HDIOVGenerator
import HDIOVSpec

/// The checkout's top directory, from this file's path.
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

func render(_ specFile: String) throws -> [GeneratedFile] {
    let spec = try SpecParser.load(path: "\(repoRoot)/specs/\(specFile)")
    let templates = try TemplateDirectory.load(templates: "\(repoRoot)/Templates/kmod", sources: "\(repoRoot)/kmod")
    return try Generator.render(spec: spec, specName: specFile, templates: templates)
}

@Test func committedModuleMatchesTheDefaultSpec() throws {
    let files = try render("default.yaml")
    let drift = OutputDirectory.drift(of: files, in: "\(repoRoot)/kmod")
    #expect(drift.isEmpty, "kmod/ has drifted: \(drift.map { "\($0.path) \($0.kind.rawValue)" }); run `hdiov generate`")
}

@Test func driftIsReportedPerFile() throws {
    let files = try render("default.yaml")
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hdiov-drift-\(UUID())").path
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try OutputDirectory.write(files, to: dir)
    #expect(OutputDirectory.drift(of: files, in: dir).isEmpty)
    try "changed".write(toFile: dir + "/vdev.c", atomically: true, encoding: .utf8)
    try FileManager.default.removeItem(atPath: dir + "/Kbuild")
    try "stray".write(toFile: dir + "/stray.c", atomically: true, encoding: .utf8)
    let drift = OutputDirectory.drift(of: files, in: dir)
    #expect(drift.contains(.init(path: "vdev.c", kind: .changed)))
    #expect(drift.contains(.init(path: "Kbuild", kind: .missing)))
    #expect(drift.contains(.init(path: "stray.c", kind: .extra)))
}

@Test(arguments: ["default.yaml", "qat-4xxx.yaml", "e810.yaml"])
func everySpecRendersItsTypesAndConstants(specFile: String) throws {
    let spec = try SpecParser.load(path: "\(repoRoot)/specs/\(specFile)")
    let files = try render(specFile)
    let byPath = Dictionary(uniqueKeysWithValues: files.map { ($0.path, $0.contents) })
    let header = try #require(byPath["hdiov_spec.h"])
    #expect(header.contains("#define HDIOV_NR_PARENTS\t\(spec.pfs)\n"))
    #expect(header.contains("#define HDIOV_POOL_QPS\t\t\(spec.queuePairs)\n"))
    #expect(header.contains("#define HDIOV_NR_TYPES\t\t\(spec.types.count)\n"))
    let table = try #require(byPath["spec.c"])
    for t in spec.types {
        #expect(table.contains(".id = \"\(t.id)\","))
        #expect(table.contains(".description = \"\(spec.typeDescription(t))\","))
    }
    #expect(table.components(separatedBy: ".flex = ").count - 1 == spec.types.count)
    let kbuild = try #require(byPath["Kbuild"])
    #expect(kbuild.contains("obj-m := \(spec.module).o\n"))
    #expect(!files.contains { $0.path.hasSuffix(".mustache") })
    #expect(!files.contains { $0.contents.contains("{{") })
}

@Test func aTemplateNamingAnUnknownValueIsRefusedBeforeRendering() throws {
    let spec = try SpecParser.load(path: "\(repoRoot)/specs/default.yaml")
    let bad = TemplateSource(path: "x.h.mustache", text: "#define A {{pfs}}\n{{#types}}{{id}} {{colour}}{{/types}} {{nope}}\n")
    let error = try #require(throws: GeneratorError.self) {
        try Generator.render(spec: spec, specName: "default.yaml", templates: [bad])
    }
    #expect(error.description == """
        x.h.mustache: uses `nope`, which the spec model does not provide
        x.h.mustache: uses `types.colour`, which the spec model does not provide
        """)
    // A name of the top level used inside a section is found there.
    let fine = TemplateSource(path: "y.h.mustache", text: "{{#types}}{{module}}-{{id}} {{/types}}")
    let out = try Generator.render(spec: spec, specName: "default.yaml", templates: [fine])
    #expect(out.first?.contents.hasPrefix("hdiov-1qp ") == true)
}

@Test func templatesHoldOnlyWhatTheSpecChangesAndEveryHandWrittenFileIsKeptOnce() throws {
    let templates = OutputDirectory.relativeFiles(in: "\(repoRoot)/Templates/kmod")
    #expect(templates.allSatisfy { $0.hasSuffix(".mustache") }, "\(templates)")
    #expect(templates.contains("guest/Kbuild.mustache"), "\(templates)")
    let set = try TemplateDirectory.load(templates: "\(repoRoot)/Templates/kmod", sources: "\(repoRoot)/kmod")
    let handWritten = set.filter { !$0.isMustache }.map(\.path)
    #expect(handWritten.contains("engine.c") && handWritten.contains("hdiov_abi.h"))
    // The guest driver's sources live apart from the host module's, in guest/.
    #expect(handWritten.contains("guest/dma.c") && handWritten.contains("guest/crc.c"), "\(handWritten)")
    #expect(!handWritten.contains("hdiov_spec.h") && !handWritten.contains("Kbuild")
            && !handWritten.contains("guest/Kbuild"), "\(handWritten)")
}

@Test func aSpecElsewhereYieldsACompleteModuleTree() throws {
    let files = try render("qat-4xxx.yaml")
    let names = Set(files.map(\.path))
    for name in ["Kbuild", "Makefile", "hdiov_spec.h", "spec.c", "hdiov.h", "hdiov_abi.h", "engine.c", "vdev.c", "main.c",
                 "guest/Kbuild", "guest/main.c", "guest/ring.c"] {
        #expect(names.contains(name), "\(name) missing")
    }
    let header = try #require(files.first { $0.path == "hdiov_spec.h" }?.contents)
    let spec = try SpecParser.load(path: "\(repoRoot)/specs/qat-4xxx.yaml")
    #expect(header.contains("#define HDIOV_SPEC_HASH\t\t\"\(spec.fingerprint)\"\n"))
    #expect(header.contains("#define HDIOV_SPEC_NAME\t\t\"qat-4xxx.yaml\"\n"))
    let guestKbuild = try #require(files.first { $0.path == "guest/Kbuild" }?.contents)
    #expect(guestKbuild.contains("obj-m := \(spec.module)_guest.o\n"), "\(guestKbuild)")
}

@Test func theSpecHashFollowsTheModelNotTheText() throws {
    var spec = try SpecParser.load(path: "\(repoRoot)/specs/default.yaml")
    let hash = spec.fingerprint
    #expect(hash.count == 16)
    spec.maxRing /= 2
    #expect(spec.fingerprint != hash)
}

@Test func cStringsAreEscaped() {
    #expect(TemplateContext.cString("a\"b\\c\nd") == "a\\\"b\\\\c\\nd")
    // Non-ASCII text becomes its UTF-8 bytes, octal-escaped (was: the low byte of each scalar).
    #expect(TemplateContext.cString("é€") == "\\303\\251\\342\\202\\254")
    #expect(TemplateContext.hex(UInt16(0x1234), digits: 4) == "0x1234")
    #expect(TemplateContext.hex(UInt32(0x0b4000), digits: 6) == "0x0b4000")
}

@Test func nonTemplateFilesAreCopiedVerbatim() throws {
    let spec = try SpecParser.load(path: "\(repoRoot)/specs/default.yaml")
    let plain = TemplateSource(path: "a.c", text: "int x = {{not_a_tag}};\n")
    let out = try Generator.render(spec: spec, specName: "s", templates: [plain])
    #expect(out == [GeneratedFile(path: "a.c", contents: plain.text)])
}
