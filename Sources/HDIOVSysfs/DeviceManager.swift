import Foundation

/// Lists, creates, changes and removes HD-IOV VDEVs through sysfs (contract §1–3).
///
/// A value type with no state of its own: every call reads the tree afresh through the
/// backend, so the same manager works on the live kernel (`RealSysfs`) and on the mock
/// kernel (HDIOVMock), and two managers never disagree about what is there.
public struct DeviceManager: Sendable {
    public let environment: SysfsEnvironment
    /// The module name: parent prefix (`hdiov0`), type prefix (`hdiov-4qp`), attribute group.
    public let module: String
    public let backend: any SysfsBackend

    public init(environment: SysfsEnvironment = SysfsEnvironment(), module: String, backend: any SysfsBackend = RealSysfs()) {
        self.environment = environment
        self.module = module
        self.backend = backend
    }

    var env: SysfsEnvironment { environment }

    // MARK: Parents and types

    /// Names of the registered parents of this module, by index (`hdiov0`, `hdiov1`, … `hdiov10`).
    public func parentNames() -> [String] {
        backend.list(env.parentBase)
            .compactMap { name -> (Int, String)? in
                guard name.hasPrefix(module), let i = Int(name.dropFirst(module.count)), i >= 0 else { return nil }
                return (i, name)
            }
            .sorted { $0.0 < $1.0 }
            .map(\.1)
    }

    /// Every parent with its attributes and types.
    public func parents() throws(ManagerError) -> [Parent] {
        var result: [Parent] = []
        for name in parentNames() { result.append(try readParent(name)) }
        return result
    }

    /// One parent; `notFound` naming the parents there are when it is not registered.
    public func parent(_ name: String) throws(ManagerError) -> Parent {
        try requireParent(name, doing: "no parent \(name)")
        return try readParent(name)
    }

    /// The types of one parent, fixed QP counts ascending, flex last.
    public func types(parent: String) throws(ManagerError) -> [MdevType] {
        try requireParent(parent, doing: "no parent \(parent)")
        return try readTypes(parent)
    }

    func requireParent(_ name: String, doing summary: String) throws(ManagerError) {
        let names = parentNames()
        guard !names.contains(name) else { return }
        throw ManagerError(
            .notFound, summary,
            reasons: names.isEmpty
                ? ["no \(module) parents are registered in \(env.parentBase)"]
                : ["there is no parent \(name); the parents are " + names.joined(separator: ", ")],
            next: names.isEmpty
                ? ["load the \(module) module (is it loaded? `lsmod | grep \(module)`), or point --sysfs-root at a tree that has it"]
                : ["use one of the parents above (`hdiov parents` shows them with their free queue pairs)"])
    }

    func readParent(_ name: String) throws(ManagerError) -> Parent {
        Parent(
            name: name,
            qpTotal: try readInt(env.parentAttribute(name, "qp_total")),
            qpFree: try readInt(env.parentAttribute(name, "qp_free")),
            vdevCount: try readInt(env.parentAttribute(name, "vdev_count")),
            vdevMax: try readInt(env.parentAttribute(name, "vdev_max")),
            version: try readText(env.parentAttribute(name, "version")),
            types: try readTypes(name))
    }

    func typeNames(_ parent: String) -> [String] {
        backend.list(env.parentTypes(parent)).filter { $0.hasPrefix(module + "-") }
    }

    func readTypes(_ parent: String) throws(ManagerError) -> [MdevType] {
        var types: [MdevType] = []
        for id in typeNames(parent) { types.append(try readType(parent, id)) }
        return types.sorted { a, b in
            switch (a.queuePairs, b.queuePairs) {
            case (.fixed(let x)?, .fixed(let y)?) where x != y: x < y
            case (.fixed?, .flex?), (.fixed?, nil), (.flex?, nil): true
            case (.flex?, .fixed?), (nil, .fixed?), (nil, .flex?): false
            default: a.id < b.id
            }
        }
    }

    func readType(_ parent: String, _ id: String) throws(ManagerError) -> MdevType {
        let nameFile = env.typeAttribute(parent, id, "name")
        let description = try readText(env.typeAttribute(parent, id, "description"))
        return MdevType(
            id: id, parent: parent,
            name: backend.exists(nameFile) ? try readText(nameFile) : id,
            description: description,
            deviceAPI: try readText(env.typeAttribute(parent, id, "device_api")),
            availableInstances: try readInt(env.typeAttribute(parent, id, "available_instances")),
            queuePairs: TypeQueuePairs(description: description))
    }

    /// The type of `parent` called `name`: its directory name (`hdiov-4qp`) or the spec's
    /// id (`4qp`).
    func findType(_ name: String, in parent: Parent) -> MdevType? { findType(name, among: parent.types) }

    /// The type called `name` among `types`: its directory name, else `<module>-<name>`.
    func findType(_ name: String, among types: [MdevType]) -> MdevType? {
        types.first { $0.id == name } ?? types.first { $0.id == "\(module)-\(name)" }
    }

    /// The type benchmarks and quick checks use: of the fixed types, the one with the fewest
    /// queue pairs (on a tie, the first in `types(parent:)` order, i.e. by directory name),
    /// else the first type; nil when the parent has none.
    public func smallestFixedType(parent: String) throws(ManagerError) -> MdevType? {
        let types = try self.types(parent: parent)
        return types.first { if case .fixed? = $0.queuePairs { true } else { false } } ?? types.first
    }

    // MARK: Devices

    /// Every VDEV of this module's parents, by parent then UUID. Devices removed while the
    /// list is being read are left out; no devices is an empty list, not an error.
    public func list() throws(ManagerError) -> [Vdev] {
        var found: [Located] = []
        for parent in parentNames() {
            for type in typeNames(parent) {
                for uuid in backend.list(env.typeDevices(parent, type)) {
                    found.append(Located(uuid: uuid, parent: parent, type: type))
                }
            }
        }
        var devices: [Vdev] = []
        devices.reserveCapacity(found.count)
        for (i, result) in readDevices(found).enumerated() {
            switch result {
            case .success(let v): devices.append(v)
            case .failure(let error): if backend.exists(env.device(found[i].uuid)) { throw error }
            }
        }
        return devices
    }

    /// Read many devices, on a few threads when there are many (each device is half a dozen
    /// small reads, and sysfs serves them in parallel); results in the order given.
    func readDevices(_ found: [Located]) -> [Result<Vdev, ManagerError>] {
        let one = { @Sendable (f: Located) -> Result<Vdev, ManagerError> in
            do throws(ManagerError) {
                return .success(try readDevice(f.uuid, parent: f.parent, type: f.type))
            } catch {
                return .failure(error)
            }
        }
        let workers = found.count >= 64 ? min(4, ProcessInfo.processInfo.activeProcessorCount) : 1
        guard workers > 1 else { return found.map(one) }
        let slots = ResultSlots(count: found.count)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let chunk = (found.count + workers - 1) / workers
            for i in (w * chunk)..<min(found.count, (w + 1) * chunk) { slots.set(i, one(found[i])) }
        }
        return slots.results()
    }

    /// One VDEV by UUID (any case).
    public func device(uuid: String) throws(ManagerError) -> Vdev {
        let found = try locate(uuid, doing: "no device \(uuid)")
        return try readDevice(found.uuid, parent: found.parent, type: found.type)
    }

    /// QEMU's arguments for passing the device to a guest.
    public func qemuArguments(uuid: String) throws(ManagerError) -> [String] {
        let found = try locate(uuid, doing: "no device \(uuid)")
        return ["-device", "vfio-pci,sysfsdev=\(env.qemuSysfsdev(found.uuid))"]
    }

    struct Located {
        var uuid: String
        var parent: String
        var type: String
    }

    func normalize(_ uuid: String, doing summary: String) throws(ManagerError) -> String {
        guard let u = MdevUUID.normalize(uuid) else {
            throw ManagerError(
                .usage, summary,
                reasons: ["'\(uuid)' is not a UUID: it takes 8-4-4-4-12 hexadecimal digits, e.g. \(MdevUUID.generate())"],
                next: ["`hdiov list` shows the devices' UUIDs"])
        }
        return u
    }

    /// The parent and type of a device of this module, or `notFound`.
    func locate(_ uuid: String, doing summary: String) throws(ManagerError) -> Located {
        let u = try normalize(uuid, doing: summary)
        if backend.exists(env.device(u)) {
            for parent in parentNames() {
                for type in typeNames(parent) where backend.exists((env.typeDevices(parent, type) as NSString).appendingPathComponent(u)) {
                    return Located(uuid: u, parent: parent, type: type)
                }
            }
            let type = backend.linkName(env.deviceEntry(u, "mdev_type")) ?? "unknown"
            throw ManagerError(
                .notFound, summary,
                reasons: ["\(u) is an mdev of another driver (type \(type)), not a \(module) device"],
                next: ["manage it with the tools of its driver (e.g. mdevctl)"])
        }
        let known = (try? list())?.map(\.uuid) ?? []
        throw ManagerError(
            .notFound, summary,
            reasons: ["there is no device \(u)", known.isEmpty
                ? "there are no \(module) devices at all"
                : "the devices are " + known.prefix(8).joined(separator: ", ") + (known.count > 8 ? ", … (\(known.count) in all)" : "")],
            next: ["`hdiov list` shows the devices"])
    }

    func readDevice(_ uuid: String, parent: String, type: String) throws(ManagerError) -> Vdev {
        // One directory open and four reads; queue_pairs is the count of qp_ids (the pool
        // indices the VDEV holds), read only when qp_ids cannot be parsed.
        let group = env.deviceGroup(uuid, module: module)
        let names = ["stats", "weight", "pasid", "qp_ids"]
        let results = backend.readAttributes(group, names)
        var texts: [String] = []
        for (i, r) in results.enumerated() {
            switch r {
            case .success(let text): texts.append(text)
            case .failure(let error): throw readFailed(group + "/" + names[i], error)
            }
        }
        let statsPath = group + "/stats"
        guard let stats = VdevStats(text: texts[0]) else {
            throw ManagerError(.unexpected, "cannot read the stats of \(uuid)",
                               reasons: ["\(statsPath): expected six lines `submitted N` … `kicks N`, found '\(texts[0])'"])
        }
        let qpIDsText = texts[3]
        let queuePairs: Int
        if let ids = QPIDList.parse(qpIDsText), !ids.isEmpty {
            queuePairs = ids.count
        } else {
            queuePairs = try readInt(env.deviceAttribute(uuid, module: module, "queue_pairs"))
        }
        let groupNumber = backend.linkName(env.deviceEntry(uuid, "iommu_group"))
        return Vdev(
            uuid: uuid, parent: parent, type: type,
            queuePairs: queuePairs,
            weight: try number(texts[1], group + "/weight"),
            pasid: try number(texts[2], group + "/pasid"),
            qpIDsText: qpIDsText,
            stats: stats,
            iommuGroup: groupNumber,
            sysfsPath: env.device(uuid),
            vfioGroupNode: groupNumber.map { env.vfioGroupNode($0) })
    }

    // MARK: Reading attributes

    func readText(_ path: String) throws(ManagerError) -> String {
        do {
            return try backend.read(path)
        } catch {
            throw readFailed(path, error)
        }
    }

    func readFailed(_ path: String, _ error: SysfsError) -> ManagerError {
        ManagerError(
            error.errno == ENOENT ? .notFound : .unexpected,
            "cannot read \((path as NSString).lastPathComponent)", sysfs: error,
            reasons: error.errno == ENOENT ? ["the file is gone: the device or the module went away meanwhile"] : [],
            next: error.errno == EACCES ? ["reading this attribute needs more privileges (try sudo)"] : [])
    }

    func number(_ text: String, _ path: String) throws(ManagerError) -> Int {
        guard let n = Int(text) ?? Int(text.trimmingCharacters(in: .whitespaces)) else {
            throw ManagerError(.unexpected, "cannot read \((path as NSString).lastPathComponent)",
                               reasons: ["\(path): expected a number, found '\(text)'"])
        }
        return n
    }

    func readInt(_ path: String) throws(ManagerError) -> Int {
        let text = try readText(path)
        guard let n = Int(text) ?? Int(text.trimmingCharacters(in: .whitespaces)) else {
            throw ManagerError(.unexpected, "cannot read \((path as NSString).lastPathComponent)",
                               reasons: ["\(path): expected a number, found '\(text)'"])
        }
        return n
    }
}

/// Slots filled from several threads, each index by exactly one of them.
private final class ResultSlots: @unchecked Sendable {
    private let slots: UnsafeMutableBufferPointer<Result<Vdev, ManagerError>?>

    init(count: Int) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil)
    }

    deinit {
        slots.deinitialize()
        slots.deallocate()
    }

    func set(_ i: Int, _ r: Result<Vdev, ManagerError>) { slots[i] = r }

    func results() -> [Result<Vdev, ManagerError>] { slots.map { $0! } }
}
