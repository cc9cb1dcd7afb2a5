import Foundation

/// The Debian kernels the embedded machine can boot.
public enum KernelChoice: String, CaseIterable, Sendable {
    /// Debian 12's own kernel (`linux-image-amd64`).
    case v6_1 = "6.1"
    /// The bookworm backports/LTS kernel (`linux-image-6.12-amd64`).
    case v6_12 = "6.12"

    /// The apt metapackage that depends on the current concrete image package.
    public var imageMetapackage: String {
        switch self {
        case .v6_1: return "linux-image-amd64"
        case .v6_12: return "linux-image-6.12-amd64"
        }
    }

    /// The matching headers metapackage (informational; we resolve headers from the image release).
    public var headersMetapackage: String {
        switch self {
        case .v6_1: return "linux-headers-amd64"
        case .v6_12: return "linux-headers-6.12-amd64"
        }
    }
}

/// A kernel unpacked into the cache, ready to boot and to build modules against.
public struct PreparedKernel: Sendable, Equatable {
    public let choice: KernelChoice
    /// The kernel release (`uname -r` in the guest), e.g. `6.1.0-56-amd64`.
    public let release: String
    /// The kernel image to pass to QEMU `-kernel`.
    public let vmlinuz: String
    /// The kernel's own module tree, `…/lib/modules/<release>`, with a `modules.dep`.
    public let modulesDir: String
    /// The directory to pass to `make -C` for out-of-tree modules.
    public let headersDir: String

    public init(choice: KernelChoice, release: String, vmlinuz: String, modulesDir: String, headersDir: String) {
        self.choice = choice
        self.release = release
        self.vmlinuz = vmlinuz
        self.modulesDir = modulesDir
        self.headersDir = headersDir
    }
}

/// One Debian package at an exact version.
struct DebPackage: Equatable, Sendable {
    var name: String
    var version: String

    /// The file name prefix `apt-get download` uses (`name_version_`, epoch colon escaped).
    var filePrefix: String { "\(name)_\(version.replacingOccurrences(of: ":", with: "%3a"))_" }
}

/// The concrete packages for one `KernelChoice`.
struct ResolvedKernel: Equatable, Sendable {
    var release: String
    var image: DebPackage
    var headers: [DebPackage]
}

/// Parsing of `apt-cache depends` / `apt-cache show` output (pure).
enum AptParse {
    /// The first dependency of a metapackage whose name starts with `prefix`,
    /// from `apt-cache depends <meta>` output.
    static func firstDependency(inDependsOutput text: String, prefix: String) -> String? {
        for line in text.split(separator: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            // "Depends: name", "|Depends: name" (first of alternatives); skip virtual "<name>".
            guard let colon = t.firstIndex(of: ":") else { continue }
            let key = t[..<colon].trimmingCharacters(in: CharacterSet(charactersIn: "| "))
            guard key == "Depends" else { continue }
            let name = t[t.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name.hasPrefix(prefix), !name.hasPrefix("<"), name.rangeOfCharacter(from: .decimalDigits) != nil {
                return name
            }
        }
        return nil
    }

    /// The fields of the first stanza of `apt-cache show` output (continuation lines joined).
    static func fields(ofShowOutput text: String) -> [String: String] {
        var fields: [String: String] = [:]
        var current: String?
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(raw)
            if line.isEmpty { if !fields.isEmpty { break } else { continue } }
            if line.first == " " || line.first == "\t" {
                if let current { fields[current, default: ""] += " " + line.trimmingCharacters(in: .whitespaces) }
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = String(line[..<colon])
            fields[key] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            current = key
        }
        return fields
    }

    /// Splits a Depends field into (name, pinned version if `(= v)`) for the first alternative of each entry.
    static func dependencies(_ field: String) -> [(name: String, exactVersion: String?)] {
        field.split(separator: ",").compactMap { entry in
            let first = entry.split(separator: "|").first.map(String.init) ?? String(entry)
            let t = first.trimmingCharacters(in: .whitespaces)
            guard !t.isEmpty else { return nil }
            let name = String(t.prefix { !$0.isWhitespace && $0 != "(" && $0 != ":" })
            var version: String?
            if let open = t.firstIndex(of: "("), let close = t.firstIndex(of: ")"), open < close {
                let rel = t[t.index(after: open)..<close].trimmingCharacters(in: .whitespaces)
                if rel.hasPrefix("="), !rel.hasPrefix("=>") {
                    version = rel.dropFirst().trimmingCharacters(in: .whitespaces)
                }
            }
            return (name, version)
        }
    }

    /// From the headers package's Depends, the packages needed to build modules:
    /// `linux-headers-*-common*` and `linux-kbuild-*`.
    static func headerSupportPackages(_ depends: String) -> [(name: String, exactVersion: String?)] {
        dependencies(depends).filter {
            ($0.name.hasPrefix("linux-headers-") && $0.name.contains("-common")) || $0.name.hasPrefix("linux-kbuild-")
        }
    }
}

/// Rewrites the absolute `include /usr/src/linux-headers-…-common/Makefile` of Debian's arch
/// headers package so that it points into `unpackRoot` (the directory the .debs were unpacked into).
func rewriteHeadersMakefile(_ text: String, unpackRoot: String) -> String {
    text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
        let t = line.trimmingCharacters(in: .whitespaces)
        guard t.hasPrefix("include "), let r = line.range(of: " /usr/src/") else { return String(line) }
        return line.replacingCharacters(in: r, with: " " + unpackRoot + "/usr/src/")
    }.joined(separator: "\n")
}
