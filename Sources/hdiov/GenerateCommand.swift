import ArgumentParser
import Foundation
import HDIOVGenerator
import HDIOVSpec

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Render the kernel module's sources from a device spec.",
        discussion: """
            Reads the spec (YAML), validates it, renders the templates (Templates/kmod/*.mustache: \
            what the spec changes) and writes them with the hand-written module sources (kmod/) \
            into the output directory: a complete module tree that `hdiov build --source` builds. \
            On any error nothing is written. With --check, writes nothing and fails when the \
            output directory differs from what the spec produces.
            """
    )

    @Option(help: "Device spec (default: specs/default.yaml of this checkout or installation).")
    var spec: String?

    @Option(help: "Output directory (default: kmod/ of this checkout; required for an installed hdiov).")
    var out: String?

    @Option(help: "Template directory (default: Templates/kmod of this checkout or installation).")
    var templates: String?

    @Option(help: "Hand-written module sources (default: kmod/ of this checkout or installation).")
    var sources: String?

    @Flag(help: "Compare instead of writing; exit 1 when the output directory has drifted.")
    var check = false

    func run() throws {
        let paths = ProjectPaths()
        let specPath = spec ?? paths.defaultSpec
        guard let outDir = out ?? (paths.isCheckout ? paths.kmod : nil) else {
            throw ValidationError("an installed hdiov has no default output directory; pass --out DIR")
        }
        let files = try renderModule(specPath: specPath, templates: templates ?? paths.templates,
                                     sources: sources ?? paths.kmod)
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
func renderModule(specPath: String, templates: String, sources: String) throws -> [GeneratedFile] {
    let spec = try loadDeviceSpec(specPath)
    let set = try TemplateDirectory.load(templates: templates, sources: sources)
    return try Generator.render(spec: spec, specName: (specPath as NSString).lastPathComponent, templates: set)
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
