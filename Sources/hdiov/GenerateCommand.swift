import ArgumentParser
import Foundation
import HDIOVGenerator
import HDIOVSpec

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Render the kernel module's sources from a device spec.",
        discussion: """
            Reads the spec (YAML), validates it and renders Templates/kmod into the output \
            directory. On any error nothing is written. With --check, writes nothing and \
            fails when the output directory differs from what the spec produces.
            """
    )

    @Option(help: "Device spec (default: specs/default.yaml of this checkout).")
    var spec: String?

    @Option(help: "Output directory (default: kmod/ of this checkout).")
    var out: String?

    @Option(help: "Template directory (default: Templates/kmod of this checkout).")
    var templates: String?

    @Flag(help: "Compare instead of writing; exit 1 when the output directory has drifted.")
    var check = false

    func run() throws {
        let paths = ProjectPaths()
        let specPath = spec ?? paths.defaultSpec
        let outDir = out ?? paths.kmod
        let files = try renderModule(specPath: specPath, templates: templates ?? paths.templates)
        if check {
            let drift = OutputDirectory.drift(of: files, in: outDir)
            if drift.isEmpty {
                print("\(outDir): up to date with \(specPath)")
                return
            }
            for d in drift {
                printError("\(outDir)/\(d.path): \(d.kind.rawValue) (differs from what \(specPath) generates)")
            }
            printError("run `hdiov generate --spec \(specPath) --out \(outDir)` to regenerate")
            throw ExitCode(1)
        }
        try OutputDirectory.write(files, to: outDir)
        print("generated \(files.count) files in \(outDir) from \(specPath)")
    }
}

/// Parse, validate and render; a spec error prints its diagnostics and exits 65 (EX_DATAERR).
func renderModule(specPath: String, templates: String) throws -> [GeneratedFile] {
    let spec: DeviceSpec
    do {
        spec = try SpecParser.load(path: specPath)
    } catch {
        printError(error.description)
        throw ExitCode(65)
    }
    let sources = try TemplateDirectory.load(templates)
    return try Generator.render(spec: spec, specName: (specPath as NSString).lastPathComponent, templates: sources)
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
