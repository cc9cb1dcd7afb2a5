import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A persistent device definition: what `hdiov start` creates and `autostart` brings back
/// when its parent registers. Stored as `<config>/<uuid>.json`.
public struct Definition: Codable, Equatable, Sendable {
    public enum Start: String, Codable, Sendable { case auto, manual }

    public var uuid: String
    public var parent: String
    /// The type's directory name (`hdiov-4qp`) or spec id (`4qp`).
    public var type: String
    public var start: Start
    /// A flex device's queue pairs.
    public var queuePairs: Int?
    public var weight: Int?

    enum CodingKeys: String, CodingKey {
        case uuid, parent, type, start, weight
        case queuePairs = "queue_pairs"
    }

    public init(uuid: String, parent: String, type: String, start: Start = .manual, queuePairs: Int? = nil, weight: Int? = nil) {
        self.uuid = uuid.lowercased()
        self.parent = parent
        self.type = type
        self.start = start
        self.queuePairs = queuePairs
        self.weight = weight
    }
}

/// mdevctl's JSON for one device: `{"mdev_type": "...", "start": "auto", "attrs": [{"hdiov/weight": "40"}]}`
/// (mdevctl keeps it as /etc/mdevctl.d/<parent>/<uuid>; the parent and UUID are not in it).
public struct MdevctlConfig: Codable, Equatable, Sendable {
    public var mdevType: String
    public var start: String
    /// In order; each a one-key object: the attribute's path under the device → its value.
    public var attrs: [[String: String]]

    enum CodingKeys: String, CodingKey {
        case mdevType = "mdev_type"
        case start, attrs
    }

    public init(mdevType: String, start: String, attrs: [[String: String]]) {
        self.mdevType = mdevType
        self.start = start
        self.attrs = attrs
    }

    /// A definition as mdevctl writes it: the flex queue pairs before the weight, as
    /// `create` sets them.
    public init(_ d: Definition, module: String) {
        var attrs: [[String: String]] = []
        if let q = d.queuePairs { attrs.append(["\(module)/queue_pairs": "\(q)"]) }
        if let w = d.weight { attrs.append(["\(module)/weight": "\(w)"]) }
        let type = d.type.hasPrefix(module + "-") ? d.type : "\(module)-\(d.type)"
        self.init(mdevType: type, start: d.start.rawValue, attrs: attrs)
    }

    /// The definition of `uuid` on `parent`; an attribute hdiov does not know is an error.
    public func definition(uuid: String, parent: String, module: String) throws(ManagerError) -> Definition {
        guard let start = Definition.Start(rawValue: start) else {
            throw ManagerError(.usage, "cannot import the mdevctl definition",
                               reasons: ["start is '\(start)'; mdevctl's values are auto and manual"])
        }
        var d = Definition(uuid: uuid, parent: parent, type: mdevType, start: start)
        for attr in attrs {
            for (key, value) in attr {
                let name = key.hasPrefix(module + "/") ? String(key.dropFirst(module.count + 1)) : key
                guard let n = Int(value.trimmingCharacters(in: .whitespaces)) else {
                    throw ManagerError(.usage, "cannot import the mdevctl definition",
                                       reasons: ["attribute \(key) is '\(value)', not a number"])
                }
                switch name {
                case "queue_pairs": d.queuePairs = n
                case "weight": d.weight = n
                default:
                    throw ManagerError(.usage, "cannot import the mdevctl definition",
                                       reasons: ["attribute \(key) is not one hdiov sets; it sets \(module)/queue_pairs and \(module)/weight"])
                }
            }
        }
        return d
    }
}

/// The definitions in the environment's config directory, each written atomically: to a
/// temporary file in the same directory, fsync'd, renamed over the old one, and the
/// directory fsync'd — a crash leaves the old definition or the new one, never half.
public struct DefinitionStore: Sendable {
    public let environment: SysfsEnvironment

    public init(environment: SysfsEnvironment) { self.environment = environment }

    var directory: String { environment.configDirectory }

    public func all() throws(ManagerError) -> [Definition] {
        let names = SysfsFile.list(directory).filter { $0.hasSuffix(".json") && MdevUUID.normalize(String($0.dropLast(5))) != nil }
        var result: [Definition] = []
        for name in names { result.append(try load(String(name.dropLast(5)))) }
        return result.sorted { ($0.parent, $0.uuid) < ($1.parent, $1.uuid) }
    }

    public func exists(_ uuid: String) -> Bool { SysfsFile.exists(environment.definition(uuid)) }

    public func load(_ uuid: String) throws(ManagerError) -> Definition {
        let path = environment.definition(uuid)
        guard let data = FileManager.default.contents(atPath: path) else {
            let known = (try? all())?.map(\.uuid) ?? []
            throw ManagerError(.notFound, "no definition \(uuid)",
                               reasons: ["\(path): \(Errno.name(ENOENT)) (\(Errno.meaning(ENOENT)))",
                                         known.isEmpty ? "there are no definitions in \(directory)" : "the definitions are " + known.joined(separator: ", ")],
                               next: ["`hdiov list --defined` shows them; `hdiov define` makes one"])
        }
        do {
            return try JSONDecoder().decode(Definition.self, from: data)
        } catch {
            throw ManagerError(.unexpected, "cannot read the definition \(uuid)",
                               reasons: ["\(path) is not a definition: \(error)"],
                               next: ["fix or remove the file (`hdiov undefine \(uuid)`)"])
        }
    }

    public func save(_ d: Definition) throws(ManagerError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(d)) ?? Data()
        try Self.writeAtomically(data + Data("\n".utf8), to: environment.definition(d.uuid))
    }

    public func remove(_ uuid: String) throws(ManagerError) {
        let path = environment.definition(uuid)
        guard unlink(path) == 0 else {
            let e = errno
            if e == ENOENT { _ = try load(uuid) }  // says which definitions there are
            throw ManagerError(.refused, "cannot remove the definition \(uuid)",
                               reasons: ["unlink \(path): \(Errno.name(e)) (\(Errno.meaning(e)))"],
                               next: e == EACCES || e == EPERM || e == EROFS ? ["\(directory) needs root (sudo), or give --config-dir"] : [])
        }
    }

    /// temp + write + fsync + rename + fsync(dir).
    public static func writeAtomically(_ data: Data, to path: String) throws(ManagerError) {
        let dir = (path as NSString).deletingLastPathComponent
        func failure(_ op: String, _ p: String, _ e: Int32) -> ManagerError {
            ManagerError(.refused, "cannot save \(path)",
                         reasons: ["\(op) \(p): \(Errno.name(e)) (\(Errno.meaning(e)))"],
                         next: e == EACCES || e == EPERM || e == EROFS
                            ? ["\(dir) is not writable here: run with sudo, or keep definitions elsewhere with --config-dir DIR"] : [])
        }
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw failure("mkdir", dir, (error as NSError).userInfo[NSUnderlyingErrorKey].flatMap { ($0 as? NSError)?.code }.map(Int32.init) ?? EACCES)
        }
        // A random part as well as the pid: a writer killed mid-write leaves its temporary
        // file, and in a fresh PID namespace the next writer would get the same pid.
        let name = (path as NSString).lastPathComponent
        let tmp = (dir as NSString).appendingPathComponent(".\(name).\(getpid())-\(UInt32.random(in: 0...UInt32.max)).tmp")
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("open", tmp, errno) }
        let n = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n != data.count || fsync(fd) != 0 {
            let e = n < 0 ? errno : (n != data.count ? EIO : errno)
            close(fd)
            unlink(tmp)
            throw failure("write", tmp, e)
        }
        close(fd)
        guard rename(tmp, path) == 0 else {
            let e = errno
            unlink(tmp)
            throw failure("rename", tmp, e)
        }
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
        Self.removeStaleTemporaries(of: name, in: dir)
    }

    /// Temporary files of `name` left by writers that were killed (older than a minute, so
    /// a concurrent writer's file is left alone).
    static func removeStaleTemporaries(of name: String, in dir: String) {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        let cutoff = Date().addingTimeInterval(-60)
        for entry in entries where entry.hasPrefix(".\(name).") && entry.hasSuffix(".tmp") {
            let p = (dir as NSString).appendingPathComponent(entry)
            let modified = (try? FileManager.default.attributesOfItem(atPath: p)[.modificationDate]) as? Date
            if let modified, modified < cutoff { unlink(p) }
        }
    }
}

extension DeviceManager {
    /// Create the device a definition describes.
    @discardableResult
    public func start(_ d: Definition) throws(ManagerError) -> Vdev {
        try create(parent: d.parent, type: d.type, uuid: d.uuid, queuePairs: d.queuePairs, weight: d.weight)
    }

    /// Whether the device of this UUID exists now.
    public func isActive(_ uuid: String) -> Bool { backend.exists(env.device(uuid)) }

    /// Before keeping a definition: what `start` would refuse whatever the system's state
    /// (`usage`), and, when the parent is registered now, a type it does not have
    /// (`notFound`) or queue pairs that type does not take (`usage`). An absent parent is
    /// fine: the definition may be for a parent that registers later (`autostart`).
    public func check(definition d: Definition) throws(ManagerError) {
        let summary = "cannot define a \(d.type) device on \(d.parent)"
        if let w = d.weight, !(1...100).contains(w) {
            throw ManagerError(.usage, summary,
                               reasons: ["weight takes a whole number from 1 to 100: the device's share of the engine, not \(w)"])
        }
        if let q = d.queuePairs, q < 1 {
            throw ManagerError(.usage, summary, reasons: ["queue pairs must be at least 1, not \(q)"])
        }
        guard parentNames().contains(d.parent), let types = try? types(parent: d.parent) else { return }
        guard let t = findType(d.type, among: types) else {
            throw ManagerError(
                .notFound, summary,
                reasons: ["\(d.parent) has no type '\(d.type)'; its types: \(types.map(\.id).joined(separator: ", "))"],
                next: ["`hdiov types --parent \(d.parent)` shows them"])
        }
        if let q = d.queuePairs { try checkQueuePairs(q, for: t, summary: summary, hint: false) }
    }
}
