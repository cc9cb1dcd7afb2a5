import Foundation

/// Writes generated files into a directory, and compares a directory with them.
public enum OutputDirectory {
    /// A file that differs between what was generated and what is on disk.
    public struct Drift: Equatable, Sendable {
        public enum Kind: String, Sendable { case missing, changed, extra }
        public var path: String
        public var kind: Kind
    }

    /// Files in `directory` that the generator owns: everything it would write, plus
    /// any other regular file that is not a build product. Paths are relative, and
    /// subdirectories (the guest driver's `guest/`) are included.
    static func ownedFiles(in directory: String) -> [String] {
        let buildProducts = [".o", ".ko", ".mod", ".mod.c", ".cmd", ".order", ".symvers", ".a"]
        return relativeFiles(in: directory).filter { path in
            !buildProducts.contains(where: { path.hasSuffix($0) })
        }
    }

    /// Regular files under `directory`, relative, hidden names (and what is under them) skipped.
    static func relativeFiles(in directory: String, prefix: String = "") -> [String] {
        let fm = FileManager.default
        let names = ((try? fm.contentsOfDirectory(atPath: directory)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        return names.flatMap { name -> [String] in
            let path = (directory as NSString).appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else { return [] }
            return isDirectory.boolValue ? relativeFiles(in: path, prefix: prefix + name + "/") : [prefix + name]
        }
    }

    public static func drift(of files: [GeneratedFile], in directory: String) -> [Drift] {
        var result: [Drift] = []
        let wanted = Set(files.map(\.path))
        for file in files {
            let path = (directory as NSString).appendingPathComponent(file.path)
            guard let onDisk = try? String(contentsOfFile: path, encoding: .utf8) else {
                result.append(Drift(path: file.path, kind: .missing))
                continue
            }
            if onDisk != file.contents { result.append(Drift(path: file.path, kind: .changed)) }
        }
        for name in ownedFiles(in: directory).sorted() where !wanted.contains(name) {
            result.append(Drift(path: name, kind: .extra))
        }
        return result
    }

    /// Write `files` into `directory` (created if needed). Each file is written to a
    /// temporary name and renamed over the old one, so no file is ever half written;
    /// files the generator does not produce are left alone.
    public static func write(_ files: [GeneratedFile], to directory: String) throws {
        let fm = FileManager.default
        let dir = URL(fileURLWithPath: directory)
        do {
            try fm.createDirectory(at: dir, withIntermediateDirectories: true)
            for file in files {
                let target = dir.appendingPathComponent(file.path)
                try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                if (try? String(contentsOf: target, encoding: .utf8)) == file.contents { continue }
                try Data(file.contents.utf8).write(to: target, options: .atomic)
            }
        } catch {
            throw GeneratorError(description: "\(directory): could not write the module sources (\(error.localizedDescription))")
        }
    }
}
