import CKmod
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A libkmod call that failed: what was tried, on which module or file, the errno (name
/// and meaning) and what to do about it.
public struct ModuleError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    public var summary: String
    public var errno: Int32?
    public var reasons: [String]
    public var next: [String]

    public init(_ summary: String, errno: Int32? = nil, reasons: [String] = [], next: [String] = []) {
        self.summary = summary
        self.errno = errno
        self.reasons = reasons
        self.next = next
    }

    public var description: String {
        var lines = [summary]
        lines += reasons.map { "  " + $0 }
        lines += next.map { "  next: " + $0 }
        return lines.joined(separator: "\n")
    }

    public var errorDescription: String? { description }
}

/// `ENOENT (No such file or directory)`.
func errnoText(_ code: Int32) -> String {
    let name: String
    switch code {
    case EPERM: name = "EPERM"
    case ENOENT: name = "ENOENT"
    case EEXIST: name = "EEXIST"
    case EBUSY: name = "EBUSY"
    case EINVAL: name = "EINVAL"
    case ENOEXEC: name = "ENOEXEC"
    case EACCES: name = "EACCES"
    case ENOKEY: name = "ENOKEY"
    case EKEYREJECTED: name = "EKEYREJECTED"
    case EAGAIN: name = "EAGAIN"
    case ENOMEM: name = "ENOMEM"
    case EFAULT: name = "EFAULT"
    case ENODEV: name = "ENODEV"
    default: name = "errno \(code)"
    }
    return "\(name) (\(String(cString: strerror(code))))"
}

/// The state of a module as /sys/module shows it.
public enum ModuleState: String, Sendable, Codable {
    case live, coming, going, builtin, absent
}

/// Loading and unloading kernel modules through libkmod: dependencies resolved by name
/// from the running kernel's modules.dep (`kmod_module_probe_insert_module`), our module
/// inserted from its .ko (`kmod_module_insert_module`).
public final class KernelModules {
    let ctx: OpaquePointer

    /// A libkmod context for the running kernel (/lib/modules/`uname -r`).
    public init() throws(ModuleError) {
        guard let ctx = kmod_new(nil, nil) else {
            throw ModuleError("cannot start libkmod (kmod_new failed)",
                              reasons: ["/lib/modules/\(Self.runningRelease()) may be missing"],
                              next: ["install the kernel's modules package (linux-image-\(Self.runningRelease()))"])
        }
        self.ctx = ctx
        // Our errors say it all; libkmod's own stderr lines would repeat it.
        kmod_set_log_priority(ctx, 0)
        _ = kmod_load_resources(ctx)
    }

    deinit { kmod_unref(ctx) }

    /// `uname -r`.
    public static func runningRelease() -> String {
        var uts = utsname()
        uname(&uts)
        return withUnsafeBytes(of: &uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// Insert `names` and what they depend on, as `modprobe` would. Already loaded or
    /// built-in modules are fine.
    public func probe(_ names: [String]) throws(ModuleError) {
        for name in names {
            var mod: OpaquePointer?
            let r = kmod_module_new_from_name(ctx, name, &mod)
            guard r == 0, let mod else {
                throw ModuleError("cannot look up module \(name)", errno: -r, reasons: [errnoText(-r)])
            }
            defer { kmod_module_unref(mod) }
            if kmod_module_get_initstate(mod) == Int32(KMOD_MODULE_BUILTIN.rawValue) || Self.isBuiltin(name) { continue }
            let flags = Int32(KMOD_PROBE_IGNORE_COMMAND.rawValue)
            var p = kmod_module_probe_insert_module(mod, UInt32(flags), nil, nil, nil, nil)
            if p < 0 { p = insertWithoutFailingSoftdeps(mod) }
            guard p >= 0 else {
                var e = ModuleError("cannot load \(name), which the module needs", errno: -p,
                                    reasons: ["kmod_module_probe_insert_module(\(name)): \(errnoText(-p))"])
                switch -p {
                case ENOENT:
                    e.reasons.append("\(name) is not in /lib/modules/\(Self.runningRelease())/modules.dep")
                    e.next.append("install the modules of kernel \(Self.runningRelease()), or build a kernel with \(name) (CONFIG_VFIO, CONFIG_VFIO_MDEV)")
                case EPERM, EACCES:
                    e.next.append("loading modules needs root (CAP_SYS_MODULE): run it with sudo")
                default:
                    e.next.append("`dmesg | tail` shows the kernel's reason")
                }
                if p == -Int32(KMOD_PROBE_APPLY_BLACKLIST.rawValue) { e.reasons.append("\(name) is blacklisted") }
                throw e
            }
        }
    }

    /// What modprobe does when a soft dependency fails (libcrc32c's `pre: crc32c` tries
    /// crc32c-intel, which a CPU without SSE4.2 refuses): try the soft dependencies, ignore
    /// their errors, then insert the hard dependencies and the module itself.
    func insertWithoutFailingSoftdeps(_ mod: OpaquePointer) -> Int32 {
        var pre: OpaquePointer?, post: OpaquePointer?
        if kmod_module_get_softdeps(mod, &pre, &post) == 0 {
            var e = pre
            while let entry = e {
                if let m = kmod_module_get_module(entry) {
                    _ = kmod_module_probe_insert_module(m, 0, nil, nil, nil, nil)
                    kmod_module_unref(m)
                }
                e = kmod_list_next(pre, entry)
            }
            kmod_module_unref_list(pre)
            kmod_module_unref_list(post)
        }
        if let deps = kmod_module_get_dependencies(mod) {
            var e: OpaquePointer? = deps
            while let entry = e {
                if let m = kmod_module_get_module(entry) {
                    _ = kmod_module_probe_insert_module(m, 0, nil, nil, nil, nil)
                    kmod_module_unref(m)
                }
                e = kmod_list_next(deps, entry)
            }
            kmod_module_unref_list(deps)
        }
        let r = kmod_module_insert_module(mod, 0, nil)
        return r == -EEXIST ? 0 : r
    }

    /// Whether modules.builtin of the running kernel lists `name` (built-in modules
    /// without parameters have no /sys/module entry, so initstate cannot tell).
    static func isBuiltin(_ name: String) -> Bool {
        guard let text = try? String(contentsOfFile: "/lib/modules/\(runningRelease())/modules.builtin", encoding: .utf8) else { return false }
        let n = name.replacingOccurrences(of: "-", with: "_")
        return text.split(separator: "\n").contains { line in
            var base = String(line.split(separator: "/").last ?? "")
            if base.hasSuffix(".ko") { base.removeLast(3) }
            return base.replacingOccurrences(of: "-", with: "_") == n
        }
    }

    /// The module name a .ko declares (`hdiov`), nil when the file cannot be read.
    public func name(ofFile path: String) -> String? {
        var mod: OpaquePointer?
        guard kmod_module_new_from_path(ctx, path, &mod) == 0, let mod else { return nil }
        defer { kmod_module_unref(mod) }
        return kmod_module_get_name(mod).map { String(cString: $0) }
    }

    /// Fails unless the .ko at `path` is there.
    public static func requireFile(_ path: String) throws(ModuleError) {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ModuleError("cannot load \(path)", errno: ENOENT,
                              reasons: ["\(path): \(errnoText(ENOENT))"],
                              next: ["build it (`hdiov build`), or name the .ko with --module"])
        }
    }

    /// The modules a .ko says it needs (modinfo's `depends`, from the symbols it uses).
    public func dependencies(ofFile path: String) -> [String] {
        var mod: OpaquePointer?
        guard kmod_module_new_from_path(ctx, path, &mod) == 0, let mod else { return [] }
        defer { kmod_module_unref(mod) }
        var list: OpaquePointer?
        guard kmod_module_get_info(mod, &list) >= 0 else { return [] }
        defer { kmod_module_info_free_list(list) }
        var result: [String] = []
        var entry = list
        while let e = entry {
            if let k = kmod_module_info_get_key(e), String(cString: k) == "depends", let v = kmod_module_info_get_value(e) {
                result += String(cString: v).split(separator: ",").map(String.init).filter { !$0.isEmpty }
            }
            entry = kmod_list_next(list, e)
        }
        return result
    }

    /// Insert the .ko at `path` with `parameters` (`name=value` … as insmod takes them).
    public func insert(path: String, parameters: [String]) throws(ModuleError) {
        try Self.requireFile(path)
        var mod: OpaquePointer?
        let r = kmod_module_new_from_path(ctx, path, &mod)
        guard r == 0, let mod else {
            throw ModuleError("cannot load \(path)", errno: -r,
                              reasons: ["kmod_module_new_from_path(\(path)): \(errnoText(-r))"],
                              next: ["is it a kernel module (.ko)? `modinfo \(path)`"])
        }
        defer { kmod_module_unref(mod) }
        let name = kmod_module_get_name(mod).map { String(cString: $0) } ?? path
        let options = parameters.joined(separator: " ")
        let i = kmod_module_insert_module(mod, 0, options)
        guard i >= 0 else {
            var e = ModuleError("cannot load \(name) from \(path)", errno: -i,
                                reasons: ["init_module(\(path)\(options.isEmpty ? "" : ", \"\(options)\"")): \(errnoText(-i))"])
            switch -i {
            case EEXIST:
                e.reasons.append("\(name) is already loaded")
                e.next.append("`hdiov status` shows it; `hdiov unload` first to load another build")
            case ENOEXEC:
                e.reasons.append("the kernel rejected the file's format: built for another kernel or architecture")
                e.next.append("build it for the running kernel \(Self.runningRelease()) (`hdiov build`)")
            case EINVAL:
                e.reasons.append("the kernel refused it: a wrong parameter, a version mismatch, or a missing symbol")
                e.next.append("`dmesg | tail` names the reason; `modinfo -p \(path)` lists the parameters")
            case ENOENT:
                e.reasons.append("an unknown symbol: a dependency (vfio, mdev) is not loaded")
                e.next.append("`dmesg | tail` names the symbol")
            case EPERM, EACCES:
                e.next.append("loading modules needs root (CAP_SYS_MODULE): run it with sudo; with Secure Boot the module must be signed")
            case ENOKEY, EKEYREJECTED:
                e.next.append("the kernel enforces module signatures: sign the module or disable enforcement")
            default:
                e.next.append("`dmesg | tail` shows the kernel's reason")
            }
            throw e
        }
    }

    /// Remove the module `name` (`delete_module`, not waiting).
    public func remove(name: String) throws(ModuleError) {
        var mod: OpaquePointer?
        let r = kmod_module_new_from_name(ctx, name, &mod)
        guard r == 0, let mod else {
            throw ModuleError("cannot look up module \(name)", errno: -r, reasons: [errnoText(-r)])
        }
        defer { kmod_module_unref(mod) }
        let x = kmod_module_remove_module(mod, 0)
        guard x >= 0 else {
            var e = ModuleError("cannot unload \(name)", errno: -x, reasons: ["delete_module(\(name)): \(errnoText(-x))"])
            switch -x {
            case ENOENT:
                e.reasons.append("\(name) is not loaded")
            case EBUSY, EAGAIN:
                let refs = kmod_module_get_refcnt(mod)
                e.reasons.append("\(name) is in use (refcount \(refs)): a VFIO user (a VM, hdiov io) holds one of its devices")
                e.next.append("close the devices' users, then retry")
            case EPERM, EACCES:
                e.next.append("unloading modules needs root (CAP_SYS_MODULE): run it with sudo")
            default:
                break
            }
            throw e
        }
    }
}

extension KernelModules {
    /// What an mdev module (ours, or the kernel's mtty sample) needs, loaded by name first.
    public static let mdevDependencies = ["vfio", "vfio_iommu_type1", "mdev"]

    /// Load the module at `path` as `hdiov load` does: `mdevDependencies` by name, then the
    /// others its .ko names (modinfo's `depends`, e.g. libcrc32c), then the .ko itself with
    /// `parameters` (`name=value` …). Returns the module's name.
    @discardableResult
    public func load(path: String, parameters: [String] = []) throws(ModuleError) -> String {
        try Self.requireFile(path)
        let deps = Self.mdevDependencies + dependencies(ofFile: path).filter { !Self.mdevDependencies.contains($0) }
        try probe(deps)
        try insert(path: path, parameters: parameters)
        return name(ofFile: path) ?? ((path as NSString).lastPathComponent as NSString).deletingPathExtension
    }
}
