import Foundation

/// Where the mdev tree is. Every sysfs and config path is built here and nowhere else;
/// tests and `--sysfs-root` replace `root` with a mock tree.
public struct SysfsEnvironment: Sendable, Equatable {
    /// "/" on a real system; a directory holding `sys/…` for a mock tree.
    public let root: String
    /// Where device definitions are kept; nil: `<root>/etc/hdiov/devices`
    /// (/etc/hdiov/devices on a real system, inside the tree for a mock tree).
    public let configOverride: String?

    /// `root` made absolute without its trailing slashes ("" for "/"): every path is
    /// `base + "/" + components`, joined as plain strings. (Foundation's URL path building
    /// stats the file system at each component; at a few paths per attribute and thousands
    /// of devices that was most of `hdiov list`.)
    let base: String

    public init(root: String = "/", configDirectory: String? = nil) {
        self.root = root
        self.configOverride = configDirectory
        self.base = Self.normalizedBase(root)
    }

    static func normalizedBase(_ root: String) -> String {
        var r = root
        if !r.hasPrefix("/") {
            let cwd = FileManager.default.currentDirectoryPath
            r = r.isEmpty || r == "." ? cwd : cwd + "/" + r
        }
        while r.hasSuffix("/") { r.removeLast() }
        return r
    }

    /// `base/c1/c2/…` by string joining: no file-system access.
    func join(_ components: [String]) -> String {
        var p = base
        for c in components {
            p += "/"
            p += c
        }
        return p
    }

    /// The definitions directory: `/etc/hdiov/devices` (under `root`), or the override.
    public var configDirectory: String { configOverride ?? path("etc", "hdiov", "devices") }
    /// One definition: `<config>/<uuid>.json`.
    public func definition(_ uuid: String) -> String {
        (configDirectory as NSString).appendingPathComponent(uuid.lowercased() + ".json")
    }

    private func path(_ components: String...) -> String { join(components) }

    /// /sys/class/mdev_bus: one link per registered parent.
    public var parentBase: String { path("sys", "class", "mdev_bus") }
    /// /sys/bus/mdev/devices: one link per mdev.
    public var deviceBase: String { path("sys", "bus", "mdev", "devices") }
    /// /sys/module: loaded modules.
    public var moduleBase: String { path("sys", "module") }
    /// /dev/vfio: group device nodes.
    public var vfioDevBase: String { path("dev", "vfio") }

    public func parent(_ name: String) -> String { path("sys", "class", "mdev_bus", name) }
    public func parentTypes(_ parent: String) -> String { path("sys", "class", "mdev_bus", parent, "mdev_supported_types") }
    public func type(_ parent: String, _ type: String) -> String {
        path("sys", "class", "mdev_bus", parent, "mdev_supported_types", type)
    }
    public func device(_ uuid: String) -> String { path("sys", "bus", "mdev", "devices", uuid.lowercased()) }
    /// The VDEV's attribute group (`hdiov/` for the default module name).
    public func deviceGroup(_ uuid: String, module: String) -> String {
        path("sys", "bus", "mdev", "devices", uuid.lowercased(), module)
    }
    public func vfioGroupNode(_ group: String) -> String { path("dev", "vfio", group) }
}
