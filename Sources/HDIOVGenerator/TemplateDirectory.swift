import Foundation

/// Reads a module's template set: the `.mustache` templates (what the spec changes) and the
/// hand-written sources they are generated beside (kept once, in the default module's
/// directory `kmod/`, and copied as they are into any other output directory).
public enum TemplateDirectory {
    /// Every file under `directory` (relative paths; hidden files skipped).
    public static func load(_ directory: String) throws -> [TemplateSource] {
        try load(names: names(in: directory, what: "template directory", hint: "pass --templates DIR"), in: directory)
    }

    /// The templates of `templates` plus the hand-written files of `sources`: every file there
    /// that is not a build product and not what a template renders.
    public static func load(templates: String, sources: String) throws -> [TemplateSource] {
        let rendered = try load(templates)
        let outputs = Set(rendered.map(\.outputPath))
        _ = try names(in: sources, what: "module source directory", hint: "pass --sources DIR")
        let handWritten = OutputDirectory.ownedFiles(in: sources).filter { !outputs.contains($0) }.sorted()
        return rendered + (try load(names: handWritten, in: sources))
    }

    private static func names(in directory: String, what: String, hint: String) throws -> [String] {
        do {
            _ = try FileManager.default.contentsOfDirectory(atPath: directory)
            return OutputDirectory.relativeFiles(in: directory)
        } catch {
            throw GeneratorError(description: "\(directory): cannot read the \(what) (\(error.localizedDescription)); \(hint)")
        }
    }

    private static func load(names: [String], in directory: String) throws -> [TemplateSource] {
        try names.map { name in
            let path = (directory as NSString).appendingPathComponent(name)
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw GeneratorError(description: "\(path): cannot read as UTF-8 text")
            }
            return TemplateSource(path: name, text: text)
        }
    }
}
