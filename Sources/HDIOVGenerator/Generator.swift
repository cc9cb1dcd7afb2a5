import HDIOVSpec
import Mustache

/// A generated file: its path inside the module directory and its contents.
public struct GeneratedFile: Equatable, Sendable {
    public var path: String
    public var contents: String

    public init(path: String, contents: String) {
        self.path = path
        self.contents = contents
    }
}

public struct GeneratorError: Error, CustomStringConvertible {
    public var description: String
}

/// spec → files. Pure: reads nothing, writes nothing.
public enum Generator {
    public static let version = "0.2.0"
    /// MODULE_VERSION of the generated module: the device contract's version (hdiov_abi.h).
    public static let moduleVersion = Contract.version

    /// Renders every `.mustache` template with the spec's values and copies every other file
    /// (the hand-written sources) as it is. A template naming a value the model does not
    /// provide is an error, reported for every template before anything is returned.
    public static func render(
        spec: DeviceSpec, specName: String, templates: [TemplateSource]
    ) throws -> [GeneratedFile] {
        let context = TemplateContext(spec: spec, specName: specName)
        var problems: [String] = []
        var files: [GeneratedFile] = []
        for template in templates {
            guard template.isMustache else {
                files.append(GeneratedFile(path: template.outputPath, contents: template.text))
                continue
            }
            let parsed: MustacheTemplate
            do {
                parsed = try MustacheTemplate(string: template.text)
            } catch {
                problems.append("\(template.path): template does not parse: \(error)")
                continue
            }
            let (text, missing) = StrictRendering.render(parsed, context)
            for name in missing {
                problems.append("\(template.path): uses `\(name)`, which the spec model does not provide")
            }
            files.append(GeneratedFile(path: template.outputPath, contents: text))
        }
        guard problems.isEmpty else {
            throw GeneratorError(description: problems.joined(separator: "\n"))
        }
        return files.sorted { $0.path < $1.path }
    }
}
