import Foundation
import HDIOVSpec
import HDIOVSysfs

#if canImport(Glibc)
import Glibc
#endif

/// A stand-in for the HD-IOV kernel module: a real directory tree under `root` laid out
/// like sysfs (same paths, files, links and modes), and the module's answer to every
/// write (`apply(write:value:)`), errnos included.
///
/// A plain directory cannot refuse a write with ENOSPC, so writes go through
/// `apply`, which does what the module does (create, remove, resize, weight) and rewrites
/// every file that shows the change (`qp_free`, `vdev_count`, `available_instances`, …).
/// Reads need nothing special: the files hold what the kernel would show.
///
/// The state lives in `<root>/.hdiov-mock` (JSON; its presence marks a mock tree) and every
/// change happens under an exclusive lock of `<root>/.hdiov-mock.lock`, so separate
/// processes (the CLI, tests) see one consistent kernel. `MockKernel` itself is only the
/// root path: cheap to copy, no state of its own.
///
/// Where the mock cannot do what the kernel does it says so: removing an open device makes
/// the kernel wait (signalling REQ) until the user closes it; the mock, which cannot wait,
/// refuses with EBUSY and leaves the device.
public struct MockKernel: SysfsBackend {
    public let root: String

    public static let markerName = ".hdiov-mock"
    public static let lockName = ".hdiov-mock.lock"
    public static let eventsName = ".hdiov-mock.events"

    public var environment: SysfsEnvironment { SysfsEnvironment(root: root) }
    var markerPath: String { (root as NSString).appendingPathComponent(Self.markerName) }
    var lockPath: String { (root as NSString).appendingPathComponent(Self.lockName) }
    var eventsPath: String { (root as NSString).appendingPathComponent(Self.eventsName) }

    /// Whether `root` holds a mock tree (has the marker).
    public static func isInstalled(at root: String) -> Bool {
        FileManager.default.fileExists(atPath: (root as NSString).appendingPathComponent(markerName))
    }

    /// The mock kernel of an existing mock tree.
    public init(root: String) throws(MockError) {
        guard Self.isInstalled(at: root) else {
            throw MockError("\(root) is not a mock tree (no \(Self.markerName)); create one with `hdiov mock init \(root)`")
        }
        self.root = root
    }

    private init(unchecked root: String) { self.root = root }

    /// The backend for a sysfs root: the mock kernel when `root` holds a mock tree, the
    /// real sysfs otherwise.
    public static func backend(forRoot root: String) -> any SysfsBackend {
        isInstalled(at: root) ? MockKernel(unchecked: root) : RealSysfs()
    }

    /// Build a mock tree for `spec` under `root` (created when missing) and register the
    /// parents, as loading the module would. `root` must be empty or, with `replace`, an
    /// earlier mock tree, which is rebuilt from scratch.
    @discardableResult
    public static func install(at root: String, spec: DeviceSpec, replace: Bool = false) throws(MockError) -> MockKernel {
        let fm = FileManager.default
        let kernel = MockKernel(unchecked: root)
        do {
            try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
        } catch {
            throw MockError("cannot create \(root): \(error.localizedDescription)")
        }
        let entries = (try? fm.contentsOfDirectory(atPath: root)) ?? []
        if isInstalled(at: root) {
            guard replace else {
                throw MockError("\(root) already holds a mock tree; rebuild it with --force (its devices are lost)")
            }
        } else if !entries.isEmpty {
            throw MockError("\(root) is not empty and not a mock tree; give an empty or new directory")
        }
        let lock = try kernel.lock()
        defer { Glibc.close(lock) }
        for name in ["sys", "dev", markerName, eventsName] {
            try? fm.removeItem(atPath: (root as NSString).appendingPathComponent(name))
        }
        var tx = Transaction(kernel: kernel, state: MockState(spec: MockSpec(spec)))
        do {
            try tx.tree.buildStatic(tx.state)
        } catch {
            throw MockError("cannot build the mock tree in \(root): \(error)")
        }
        for name in tx.state.spec.parentNames {
            let devpath = "/devices/virtual/\(spec.module)/\(name)"
            tx.emit("add", devpath: devpath, subsystem: spec.module)
            tx.emit("change", devpath: devpath, subsystem: spec.module, ["MDEV_STATE": "registered"])
        }
        try kernel.save(tx)
        return kernel
    }

    // MARK: State

    /// The current state (devices, their QPs, PASIDs, groups, open flags).
    public func state() throws(MockError) -> MockState {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: markerPath))
        } catch {
            throw MockError("cannot read \(markerPath): \(error.localizedDescription)")
        }
        let state: MockState
        do {
            state = try JSONDecoder().decode(MockState.self, from: data)
        } catch {
            throw MockError("\(markerPath) is not a mock kernel state: \(error)")
        }
        guard state.format == MockState.currentFormat else {
            throw MockError("\(markerPath) has format \(state.format), this hdiov reads \(MockState.currentFormat); rebuild it with `hdiov mock init --force`")
        }
        return state
    }

    /// The module name the tree was built for.
    public func module() throws(MockError) -> String { try state().spec.module }

    /// Every uevent so far, oldest first.
    public func events() -> [MockUevent] {
        guard let text = try? String(contentsOfFile: eventsPath, encoding: .utf8) else { return [] }
        let decoder = JSONDecoder()
        return text.split(separator: "\n").compactMap { try? decoder.decode(MockUevent.self, from: Data($0.utf8)) }
    }

    func lock() throws(MockError) -> Int32 {
        let fd = Glibc.open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw MockError("cannot open \(lockPath): \(String(cString: strerror(errno)))") }
        while flock(fd, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            let e = errno
            Glibc.close(fd)
            throw MockError("cannot lock \(lockPath): \(String(cString: strerror(e)))")
        }
        return fd
    }

    func save(_ tx: Transaction) throws(MockError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            if tx.changed {
                let tmp = markerPath + ".tmp"
                try encoder.encode(tx.state).write(to: URL(fileURLWithPath: tmp))
                guard rename(tmp, markerPath) == 0 else {
                    throw MockError("cannot replace \(markerPath): \(String(cString: strerror(errno)))")
                }
            }
            if !tx.events.isEmpty {
                var lines = Data()
                for e in tx.events {
                    lines.append(try encoder.encode(e))
                    lines.append(UInt8(ascii: "\n"))
                }
                let fd = Glibc.open(eventsPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
                guard fd >= 0 else { throw MockError("cannot open \(eventsPath): \(String(cString: strerror(errno)))") }
                defer { Glibc.close(fd) }
                _ = lines.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            }
        } catch let e as MockError {
            throw e
        } catch {
            throw MockError("cannot save the mock state: \(error)")
        }
    }

    /// Run `body` on the state under the lock, then save the state (when it changed) and
    /// the events (always: a refused create still sent its add and remove).
    func transaction<R>(_ body: (inout Transaction) throws(SysfsError) -> R) throws(SysfsError) -> R {
        let lock: Int32
        let state: MockState
        do {
            lock = try self.lock()
        } catch {
            throw SysfsError(path: lockPath, errno: EIO, operation: "mock lock")
        }
        defer { Glibc.close(lock) }
        do {
            state = try self.state()
        } catch {
            throw SysfsError(path: markerPath, errno: EIO, operation: "mock state")
        }
        var tx = Transaction(kernel: self, state: state)
        let result: Result<R, SysfsError>
        do {
            result = .success(try body(&tx))
        } catch {
            result = .failure(error)
        }
        do {
            try save(tx)
        } catch {
            throw SysfsError(path: markerPath, errno: EIO, operation: "mock state")
        }
        return try result.get()
    }

    // MARK: SysfsBackend

    /// Reads as the kernel does: ENOENT for a missing file, EACCES for a write-only one.
    public func read(_ path: String) throws(SysfsError) -> String {
        var st = stat()
        guard stat(path, &st) == 0 else { throw SysfsError(path: path, errno: errno, operation: "open") }
        if (st.st_mode & S_IFMT) == S_IFREG && (st.st_mode & 0o444) == 0 {
            throw SysfsError(path: path, errno: EACCES, operation: "open")
        }
        return try SysfsFile.read(path)
    }

    /// Writes go to the mock kernel (`apply`).
    public func write(_ path: String, _ value: String) throws(SysfsError) {
        try apply(write: path, value: value)
    }

    public func list(_ path: String) -> [String] { SysfsFile.list(path) }
    public func exists(_ path: String) -> Bool { SysfsFile.exists(path) }
    public func linkName(_ path: String) -> String? { SysfsFile.linkName(path) }

    // MARK: What only a test (or a VFIO user) could do

    /// Open the device as a VFIO user would (`open_device`): from now on resizing it gives
    /// EBUSY, and removing it does too (where the kernel would wait). Opening it twice: EBUSY.
    public func open(uuid: String) throws(SysfsError) {
        try transaction { (tx) throws(SysfsError) in try tx.setOpen(uuid, true) }
    }

    /// Close it again (`close_device`).
    public func close(uuid: String) throws(SysfsError) {
        try transaction { (tx) throws(SysfsError) in try tx.setOpen(uuid, false) }
    }

    /// Set the device's counters, as work through its queue pairs would.
    public func setStats(uuid: String, _ stats: VdevStats) throws(SysfsError) {
        try transaction { (tx) throws(SysfsError) in
            let i = try tx.deviceIndex(uuid)
            tx.state.devices[i].stats = stats
            tx.changed = true
            try tx.render(tx.state.devices[i])
        }
    }
}
