import Foundation

/// What the device manager needs from sysfs: read and write single attributes, list a
/// directory, test for a path, and name a symlink's target. The real tree goes through
/// `SysfsFile`; the mock kernel (HDIOVMock) implements the same five operations over a
/// directory tree and applies writes the way the module would, so one manager runs on both.
public protocol SysfsBackend: Sendable {
    /// The attribute's contents without the trailing newline.
    func read(_ path: String) throws(SysfsError) -> String
    /// One write of `value` (plus a newline, as `echo` does); the kernel's errno on refusal.
    func write(_ path: String, _ value: String) throws(SysfsError)
    /// Names in a directory, sorted; empty when it does not exist.
    func list(_ path: String) -> [String]
    func exists(_ path: String) -> Bool
    /// The last component of a symlink's target (`iommu_group` → "12"), nil when not a link.
    func linkName(_ path: String) -> String?
    /// Several attributes of one directory, in the order named. On the live tree the
    /// directory is opened once and each file relative to it (`openat`), which spares the
    /// kernel a full path walk (through the device's symlink) per attribute.
    func readAttributes(_ directory: String, _ names: [String]) -> [Result<String, SysfsError>]
}

extension SysfsBackend {
    public func readAttributes(_ directory: String, _ names: [String]) -> [Result<String, SysfsError>] {
        names.map { name in
            do throws(SysfsError) {
                return .success(try read(directory + "/" + name))
            } catch {
                return .failure(error)
            }
        }
    }
}

/// The live tree under `/` (or whatever root the environment names), through `SysfsFile`.
public struct RealSysfs: SysfsBackend {
    public init() {}

    public func read(_ path: String) throws(SysfsError) -> String { try SysfsFile.read(path) }
    public func write(_ path: String, _ value: String) throws(SysfsError) { try SysfsFile.write(path, value) }
    public func list(_ path: String) -> [String] { SysfsFile.list(path) }
    public func exists(_ path: String) -> Bool { SysfsFile.exists(path) }
    public func linkName(_ path: String) -> String? { SysfsFile.linkName(path) }
    public func readAttributes(_ directory: String, _ names: [String]) -> [Result<String, SysfsError>] {
        SysfsFile.readAttributes(directory, names)
    }
}

/// What `lstat` says of one path: enough for a listing of the tree with its modes.
public struct SysfsEntry: Equatable, Sendable {
    public enum Kind: String, Sendable { case file, directory, link, other }
    public var kind: Kind
    /// Permission bits (`0o444`, `0o200`, …).
    public var mode: UInt32

    public init(kind: Kind, mode: UInt32) {
        self.kind = kind
        self.mode = mode
    }
}

extension SysfsBackend {
    /// The entry at `path` (not following a final symlink), nil when there is none. Both
    /// the live tree and the mock tree are real file systems, so `lstat` serves both.
    public func entry(_ path: String) -> SysfsEntry? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        let kind: SysfsEntry.Kind
        switch st.st_mode & S_IFMT {
        case S_IFREG: kind = .file
        case S_IFDIR: kind = .directory
        case S_IFLNK: kind = .link
        default: kind = .other
        }
        return SysfsEntry(kind: kind, mode: UInt32(st.st_mode & 0o7777))
    }
}
