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
    public static let version = "0.1.0"
    /// MODULE_VERSION of the generated module: the device contract's version.
    public static let moduleVersion = "1.0"

    public static func render(
        spec: DeviceSpec, specName: String, templates: [TemplateSource]
    ) throws -> [GeneratedFile] {
        let context = TemplateContext(spec: spec, specName: specName)
        var problems: [String] = []
        for template in templates where template.isMustache {
            for name in context.missingNames(in: template) {
                problems.append("\(template.path): uses `\(name)`, which the spec model does not provide")
            }
        }
        guard problems.isEmpty else {
            throw GeneratorError(description: problems.joined(separator: "\n"))
        }
        return try templates.map { template in
            guard template.isMustache else {
                return GeneratedFile(path: template.outputPath, contents: template.text)
            }
            let parsed: MustacheTemplate
            do {
                parsed = try MustacheTemplate(string: template.text)
            } catch {
                throw GeneratorError(description: "\(template.path): template does not parse: \(error)")
            }
            return GeneratedFile(path: template.outputPath, contents: parsed.render(context.values))
        }
        .sorted { $0.path < $1.path }
    }
}
