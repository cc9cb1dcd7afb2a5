import Foundation

/// Reads a template set from a directory (non-recursive; hidden files skipped).
public enum TemplateDirectory {
    public static func load(_ directory: String) throws -> [TemplateSource] {
        let fm = FileManager.default
        let names: [String]
        do {
            names = try fm.contentsOfDirectory(atPath: directory)
        } catch {
            throw GeneratorError(description: "\(directory): cannot read the template directory (\(error.localizedDescription)); pass --templates DIR")
        }
        return try names.filter { !$0.hasPrefix(".") }.sorted().map { name in
            let path = (directory as NSString).appendingPathComponent(name)
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw GeneratorError(description: "\(path): cannot read template as UTF-8 text")
            }
            return TemplateSource(path: name, text: text)
        }
    }
}
