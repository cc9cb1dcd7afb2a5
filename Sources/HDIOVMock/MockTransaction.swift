import Foundation
import HDIOVSpec
import HDIOVSysfs

#if canImport(Glibc)
import Glibc
#endif

extension MockKernel {
    /// Write `value` to the sysfs file at `path` as `SysfsFile.write` does (one write of the
    /// value and a newline) and do what the module would: the same changes to every file
    /// that shows them, the same errno when it refuses (and then no change at all).
    ///
    /// - `<type>/create`: EINVAL for a malformed UUID, EEXIST for one in use on any
    ///   parent, ENOSPC when the parent's VDEV limit or queue-pair pool is exhausted.
    /// - `<device>/remove`: a number (0 does nothing), else EINVAL; EBUSY while open
    ///   (the kernel would wait for the close instead).
    /// - `<group>/queue_pairs`: a flex device's QPs, 1…max_qps_per_vdev in decimal, else
    ///   EINVAL (hex, octal, a sign, past UINT_MAX too); EBUSY while open; ENOSPC, keeping what it had, when the
    ///   pool cannot grow it. A fixed type's file is 0444, so opening it for writing gives
    ///   EACCES (even for root: sysfs checks the mode itself) before the store's EPERM.
    /// - `<group>/weight`: 1…100 in decimal, else EINVAL.
    /// - `uevent`: a synthetic uevent (`add`, `change`, …), else EINVAL.
    /// - Any missing file: ENOENT; a directory: EISDIR; a file without a write bit: EACCES.
    public func apply(write path: String, value: String) throws(SysfsError) {
        try transaction { (tx) throws(SysfsError) in try tx.write(path, Array((value + "\n").utf8)) }
    }
}

/// One locked change of the mock kernel: the state, the tree that shows it, and the
/// uevents it sends.
struct Transaction {
    let kernel: MockKernel
    var state: MockState
    var events: [MockUevent] = []
    var changed = false

    init(kernel: MockKernel, state: MockState) {
        self.kernel = kernel
        self.state = state
    }

    var env: SysfsEnvironment { kernel.environment }
    var tree: MockTree { MockTree(env: env, spec: state.spec) }
    var module: String { state.spec.module }

    mutating func emit(_ action: String, devpath: String, subsystem: String, _ properties: [String: String] = [:]) {
        events.append(MockUevent(seqnum: state.nextSeqnum, action: action, devpath: devpath,
                                 subsystem: subsystem, properties: properties))
        state.nextSeqnum += 1
        changed = true
    }

    func devpath(_ d: MockDevice) -> String { "/devices/virtual/\(module)/\(state.spec.parentNames[d.parent])/\(d.uuid)" }

    // MARK: The write path

    mutating func write(_ path: String, _ bytes: [UInt8]) throws(SysfsError) {
        // open(O_WRONLY) on sysfs
        var st = stat()
        guard stat(path, &st) == 0 else { throw SysfsError(path: path, errno: errno, operation: "open") }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw SysfsError(path: path, errno: EISDIR, operation: "open") }
        if (st.st_mode & 0o222) == 0 { throw SysfsError(path: path, errno: EACCES, operation: "open") }

        // which store
        let fail = { (code: Int32) in SysfsError(path: path, errno: code, operation: "write") }
        guard let real = Self.realPath(path), let base = Self.realPath(env.classDevices(module: module)),
              real.hasPrefix(base + "/") else { throw fail(EINVAL) }
        let parts = real.dropFirst(base.count + 1).split(separator: "/").map(String.init)
        guard let first = parts.first, let p = state.spec.parentNames.firstIndex(of: first) else { throw fail(EINVAL) }
        let result: Result<Void, SysfsErrno>
        switch Array(parts.dropFirst()) {
        case ["uevent"]:
            result = synthUevent(bytes, devpath: "/devices/virtual/\(module)/\(parts[0])", subsystem: module)
        case let x where x.count == 3 && x[0] == "mdev_supported_types" && x[2] == "create":
            guard let t = state.spec.types.first(where: { state.spec.typeDirectory($0) == x[1] }) else { throw fail(EINVAL) }
            result = create(bytes, parent: p, type: t)
        case let x where x.count == 2 && x[1] == "remove":
            result = remove(bytes, uuid: x[0])
        case let x where x.count == 2 && x[1] == "uevent":
            guard let d = state.devices.first(where: { $0.uuid == x[0] }) else { throw fail(ENODEV) }
            result = synthUevent(bytes, devpath: devpath(d), subsystem: "mdev")
        case let x where x.count == 3 && x[1] == module && x[2] == "queue_pairs":
            result = storeQueuePairs(bytes, uuid: x[0])
        case let x where x.count == 3 && x[1] == module && x[2] == "weight":
            result = storeWeight(bytes, uuid: x[0])
        default:
            throw fail(EINVAL)
        }
        if case .failure(let e) = result { throw fail(e.code) }
    }

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    func deviceIndex(_ uuid: String) throws(SysfsError) -> Int {
        let u = uuid.lowercased()
        guard let i = state.devices.firstIndex(where: { $0.uuid == u }) else {
            throw SysfsError(path: env.device(u), errno: ENOENT, operation: "open")
        }
        return i
    }

    mutating func render(_ d: MockDevice) throws(SysfsError) {
        guard let t = state.typeSpec(d.type) else { return }
        do {
            try tree.renderDevice(d, type: t)
        } catch {
            throw SysfsError(path: tree.deviceDir(d), errno: EIO, operation: "mock tree")
        }
    }

    mutating func setOpen(_ uuid: String, _ open: Bool) throws(SysfsError) {
        let i = try deviceIndex(uuid)
        if open && state.devices[i].open {
            throw SysfsError(path: env.vfioGroupNode("\(state.devices[i].iommuGroup)"), errno: EBUSY, operation: "open")
        }
        state.devices[i].open = open
        changed = true
    }

    // MARK: Stores

    /// `create_store` → `mdev_device_create` → probe → `hdiov_vdev_init`.
    mutating func create(_ bytes: [UInt8], parent p: Int, type t: MockTypeSpec) -> Result<Void, SysfsErrno> {
        let uuid: String
        switch KernelStrings.createUUID(bytes) {
        case .success(let u): uuid = u
        case .failure(let e): return .failure(e)
        }
        if state.devices.contains(where: { $0.uuid == uuid }) { return .failure(SysfsErrno(EEXIST)) }
        let path = "/devices/virtual/\(module)/\(state.spec.parentNames[p])/\(uuid)"
        emit("add", devpath: path, subsystem: "mdev")
        // hdiov_pasid_alloc: the VDEV limit, then a PASID; hdiov_pool_alloc: the QPs.
        guard state.vdevCount(p) < state.spec.maxVdevs, let pasid = state.lowestFreePASID(p),
              t.queuePairs <= state.qpFree(p) else {
            emit("remove", devpath: path, subsystem: "mdev")  // device_del after the failed probe
            return .failure(SysfsErrno(ENOSPC))
        }
        let d = MockDevice(uuid: uuid, parent: p, type: t.id, qpIDs: state.lowestFreeQPs(p, t.queuePairs),
                           weight: Contract.defaultWeight, pasid: pasid, iommuGroup: state.lowestFreeGroup(), open: false, stats: .zero)
        state.devices.append(d)
        do {
            try tree.addDevice(d, type: t)
            try tree.renderParent(p, state)
        } catch {
            return .failure(SysfsErrno(EIO))
        }
        emit("bind", devpath: path, subsystem: "mdev", ["DRIVER": module])
        return .success(())
    }

    /// `remove_store` → `mdev_device_remove`.
    mutating func remove(_ bytes: [UInt8], uuid: String) -> Result<Void, SysfsErrno> {
        let value: UInt64
        switch KernelStrings.kstrtoull(bytes) {
        case .success(let v): value = v
        case .failure: return .failure(SysfsErrno(EINVAL))  // remove_store maps every kstrtoul error
        }
        guard value != 0 else { return .success(()) }
        guard let i = state.devices.firstIndex(where: { $0.uuid == uuid }) else { return .failure(SysfsErrno(ENODEV)) }
        let d = state.devices[i]
        // The kernel signals REQ and waits for the user to close; the mock cannot wait.
        if d.open { return .failure(SysfsErrno(EBUSY)) }
        emit("unbind", devpath: devpath(d), subsystem: "mdev", ["DRIVER": module])
        emit("remove", devpath: devpath(d), subsystem: "mdev")
        state.devices.remove(at: i)
        do {
            if let t = state.typeSpec(d.type) { try tree.removeDevice(d, type: t) }
            try tree.renderParent(d.parent, state)
        } catch {
            return .failure(SysfsErrno(EIO))
        }
        return .success(())
    }

    /// `queue_pairs_store` → `hdiov_vdev_resize`.
    mutating func storeQueuePairs(_ bytes: [UInt8], uuid: String) -> Result<Void, SysfsErrno> {
        guard let i = state.devices.firstIndex(where: { $0.uuid == uuid }),
              let t = state.typeSpec(state.devices[i].type) else { return .failure(SysfsErrno(ENODEV)) }
        guard t.flex else { return .failure(SysfsErrno(EPERM)) }
        let n: Int
        switch KernelStrings.decimal(bytes) {
        case .success(let v): n = Int(v)
        case .failure(let e): return .failure(e)
        }
        guard n >= 1, n <= state.spec.maxQpsPerVdev else { return .failure(SysfsErrno(EINVAL)) }
        var d = state.devices[i]
        if d.open { return .failure(SysfsErrno(EBUSY)) }
        if n > d.qpIDs.count {
            let more = n - d.qpIDs.count
            guard more <= state.qpFree(d.parent) else { return .failure(SysfsErrno(ENOSPC)) }
            d.qpIDs += state.lowestFreeQPs(d.parent, more)
        } else if n < d.qpIDs.count {
            d.qpIDs.removeLast(d.qpIDs.count - n)
        }
        state.devices[i] = d
        changed = true
        do {
            try tree.renderDevice(d, type: t)
            try tree.renderParent(d.parent, state)
        } catch {
            return .failure(SysfsErrno(EIO))
        }
        return .success(())
    }

    /// `weight_store`.
    mutating func storeWeight(_ bytes: [UInt8], uuid: String) -> Result<Void, SysfsErrno> {
        guard let i = state.devices.firstIndex(where: { $0.uuid == uuid }),
              let t = state.typeSpec(state.devices[i].type) else { return .failure(SysfsErrno(ENODEV)) }
        let w: Int
        switch KernelStrings.decimal(bytes) {
        case .success(let v): w = Int(v)
        case .failure(let e): return .failure(e)
        }
        guard Contract.weights.contains(w) else { return .failure(SysfsErrno(EINVAL)) }
        state.devices[i].weight = w
        changed = true
        do {
            try tree.renderDevice(state.devices[i], type: t)
        } catch {
            return .failure(SysfsErrno(EIO))
        }
        return .success(())
    }

    /// `uevent_store` → `kobject_synth_uevent`: `ACTION [UUID [KEY=VALUE …]]`.
    mutating func synthUevent(_ bytes: [UInt8], devpath: String, subsystem: String) -> Result<Void, SysfsErrno> {
        let words = String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        let actions = ["add", "remove", "change", "move", "online", "offline", "bind", "unbind"]
        guard let action = words.first, actions.contains(action) else { return .failure(SysfsErrno(EINVAL)) }
        var properties = ["SYNTH_UUID": "0"]
        if words.count > 1 {
            guard let u = MdevUUID.normalize(words[1]) else { return .failure(SysfsErrno(EINVAL)) }
            properties["SYNTH_UUID"] = u
            for arg in words.dropFirst(2) {
                let kv = arg.split(separator: "=", maxSplits: 1)
                guard kv.count == 2, !kv[0].isEmpty else { return .failure(SysfsErrno(EINVAL)) }
                properties["SYNTH_ARG_\(kv[0])"] = String(kv[1])
            }
        }
        emit(action, devpath: devpath, subsystem: subsystem, properties)
        return .success(())
    }
}
