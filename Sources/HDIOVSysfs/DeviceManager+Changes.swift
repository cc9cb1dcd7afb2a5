import Foundation

extension DeviceManager {
    /// Create a VDEV: write its UUID (a fresh one when nil) to the type's `create`, then set
    /// a flex device's `queue_pairs` and the `weight` when asked. When one of those is
    /// refused the device is removed again, so a failed create leaves nothing behind.
    @discardableResult
    public func create(
        parent: String, type: String, uuid: String? = nil, queuePairs: Int? = nil, weight: Int? = nil
    ) throws(ManagerError) -> Vdev {
        let summary = "cannot create a \(type) device on \(parent)"
        var u = MdevUUID.generate()
        if let uuid { u = try normalize(uuid, doing: summary) }
        try requireParent(parent, doing: summary)
        let p = try readParent(parent)
        guard let t = findType(type, in: p) else {
            throw ManagerError(
                .notFound, summary,
                reasons: ["\(parent) has no type '\(type)'; its types: " + p.types.map(\.id).joined(separator: ", ")],
                next: ["`hdiov types --parent \(parent)` shows them with how many more of each fit"])
        }
        let summaryT = "cannot create a \(t.id) device on \(parent)"
        if let q = queuePairs { try checkQueuePairs(q, for: t, summary: summaryT) }

        do {
            try backend.write(env.typeAttribute(parent, t.id, "create"), u)
        } catch {
            throw createRefused(error, parent: parent, type: t, uuid: u, summary: summaryT)
        }

        do throws(ManagerError) {
            if let q = queuePairs, t.queuePairs?.isFlex ?? true {
                let current = try readInt(env.deviceAttribute(u, module: module, "queue_pairs"))
                if q != current { try writeQueuePairs(q, from: current, uuid: u, parent: parent, type: t, summary: summaryT) }
            }
            if let w = weight { try writeWeight(w, uuid: u, summary: summaryT) }
        } catch {
            var e = error
            do {
                try backend.write(env.deviceEntry(u, "remove"), "1")
                if e.sysfs?.errno == ENOSPC, let q = queuePairs, let p = try? readParent(parent) {
                    // Say it as of now, without the device that was just removed.
                    e.reasons = ["\(parent) has \(p.qpFree) of \(p.qpTotal) queue pairs free; \(q) were asked for"]
                    e.next = [p.qpFree > 0 ? "ask for at most \(p.qpFree), or " + spaceAdvice(parent: parent, type: t)
                                           : spaceAdvice(parent: parent, type: t)]
                }
                e.reasons.append("the new device \(u) was removed again: nothing was left half-made")
            } catch let removeError {
                e.reasons.append("removing the half-made device \(u) failed too: \(Errno.name(removeError.errno)) (\(Errno.meaning(removeError.errno)))")
                e.next.append("remove it by hand: `hdiov remove \(u)`")
            }
            throw e
        }
        return try readDevice(u, parent: parent, type: t.id)
    }

    /// Remove a VDEV (write 1 to its `remove`); its queue pairs and PASID go back to the parent.
    public func remove(uuid: String) throws(ManagerError) {
        let summary = "cannot remove \(uuid)"
        let found = try locate(uuid, doing: summary)
        do {
            try backend.write(env.deviceEntry(found.uuid, "remove"), "1")
        } catch {
            throw writeRefused(error, uuid: found.uuid, summary: summary)
        }
    }

    /// Change a VDEV's weight and/or (flex only) queue pairs. Queue pairs go first; when the
    /// weight is then refused, the old queue pairs are put back.
    @discardableResult
    public func modify(uuid: String, weight: Int? = nil, queuePairs: Int? = nil) throws(ManagerError) -> Vdev {
        let summary = "cannot modify \(uuid)"
        guard weight != nil || queuePairs != nil else {
            throw ManagerError(.usage, summary, reasons: ["nothing to change"], next: ["give --weight W and/or --qps N"])
        }
        let found = try locate(uuid, doing: summary)
        let u = found.uuid
        let t = try readType(found.parent, found.type)
        var resizedFrom: Int?
        if let q = queuePairs {
            let current = try readInt(env.deviceAttribute(u, module: module, "queue_pairs"))
            if q != current {
                try checkQueuePairs(q, for: t, summary: summary)
                try writeQueuePairs(q, from: current, uuid: u, parent: found.parent, type: t, summary: summary)
                resizedFrom = current
            }
        }
        if let w = weight {
            do throws(ManagerError) {
                try writeWeight(w, uuid: u, summary: summary)
            } catch {
                var e = error
                if let old = resizedFrom {
                    if (try? backend.write(env.deviceAttribute(u, module: module, "queue_pairs"), "\(old)")) != nil {
                        e.reasons.append("queue_pairs was put back to \(old)")
                    } else {
                        e.reasons.append("queue_pairs is now \(queuePairs ?? old) (putting back \(old) failed)")
                    }
                }
                throw e
            }
        }
        return try readDevice(u, parent: found.parent, type: found.type)
    }

    // MARK: Writes and what their errnos mean here

    /// Refuse what no kernel would take for this type, before touching anything; `hint`:
    /// name the flex types to use instead of a fixed one.
    func checkQueuePairs(_ q: Int, for t: MdevType, summary: String, hint: Bool = true) throws(ManagerError) {
        switch t.queuePairs {
        case .fixed(let n)? where q != n:
            throw ManagerError(
                .usage, summary,
                reasons: ["\(t.id) always has \(n) queue pair\(n == 1 ? "" : "s"); only a flex type's queue pairs can be chosen"],
                next: hint ? [flexHint(t.parent)] : [])
        case .flex(let range)? where !range.contains(q):
            throw ManagerError(
                .usage, summary,
                reasons: ["\(t.id) takes \(range.lowerBound) to \(range.upperBound) queue pairs, not \(q)"])
        default:
            return
        }
    }

    func flexHint(_ parent: String) -> String {
        let flex = typeNames(parent).filter { id in
            (try? readType(parent, id))?.isFlex ?? false
        }
        return flex.isEmpty
            ? "create a device of a type with the queue pairs you need (`hdiov types`)"
            : "create a \(flex.joined(separator: " or ")) device instead, or a type with the queue pairs you need (`hdiov types`)"
    }

    func writeQueuePairs(_ q: Int, from current: Int, uuid: String, parent: String, type t: MdevType, summary: String) throws(ManagerError) {
        let path = env.deviceAttribute(uuid, module: module, "queue_pairs")
        do {
            try backend.write(path, "\(q)")
        } catch {
            var e = writeRefused(error, uuid: uuid, summary: summary)
            switch error.errno {
            case ENOSPC:
                let free = (try? readInt(env.parentAttribute(parent, "qp_free"))) ?? 0
                e.reasons.append("growing from \(current) to \(q) queue pairs needs \(q - current) more; \(parent) has \(free) free")
                e.next.append("ask for at most \(current + free), shrink or remove other devices (`hdiov list`), or create the device on another parent")
            case EACCES where !t.isFlex, EPERM where !t.isFlex:
                e.kind = .usage
                e.reasons = ["\(t.id) has a fixed number of queue pairs; only a flex type's can change"]
                e.next = [flexHint(parent)]
            case EINVAL, ERANGE:
                if case .flex(let r)? = t.queuePairs {
                    e.reasons.append("queue_pairs takes a whole number from \(r.lowerBound) to \(r.upperBound)")
                }
            default:
                break
            }
            throw e
        }
    }

    func writeWeight(_ w: Int, uuid: String, summary: String) throws(ManagerError) {
        do {
            try backend.write(env.deviceAttribute(uuid, module: module, "weight"), "\(w)")
        } catch {
            var e = writeRefused(error, uuid: uuid, summary: summary)
            if error.errno == EINVAL || error.errno == ERANGE {
                e.reasons.append("weight takes a whole number from 1 to 100: the device's share of the engine (default 10)")
            }
            throw e
        }
    }

    /// What a refused write to one of a device's files means; the callers add specifics.
    func writeRefused(_ error: SysfsError, uuid: String, summary: String) -> ManagerError {
        var e = ManagerError(.refused, summary, sysfs: error)
        switch error.errno {
        case EBUSY:
            let group = backend.linkName(env.deviceEntry(uuid, "iommu_group"))
            e.reasons.append("the device is open: a VM or another VFIO user holds \(group.map { env.vfioGroupNode($0) } ?? "its VFIO group")")
            e.next.append("close the device first (shut down the VM or stop the process using it), then retry")
        case ENOENT:
            e.kind = .notFound
            e.reasons.append("the device went away meanwhile")
            e.next.append("`hdiov list` shows the devices there are")
        case EACCES, EPERM:
            e.reasons.append("permission denied")
            e.next.append("changing devices needs root: run it with sudo")
        default:
            break
        }
        return e
    }

    func createRefused(_ error: SysfsError, parent: String, type t: MdevType, uuid: String, summary: String) -> ManagerError {
        var e = ManagerError(.refused, summary, sysfs: error)
        switch error.errno {
        case EEXIST:
            let other = try? locate(uuid, doing: summary)
            e.reasons.append(other.map { "a device with UUID \(uuid) already exists: a \($0.type) on \($0.parent) (\(env.device(uuid)))" }
                             ?? "a device with UUID \(uuid) already exists (\(env.device(uuid)))")
            e.next.append("use another UUID, or leave out --uuid to get a fresh one; `hdiov remove \(uuid)` first to replace it")
        case ENOSPC:
            e.reasons += spaceReasons(parent: parent, type: t)
            e.next.append(spaceAdvice(parent: parent, type: t))
        case EINVAL:
            e.reasons.append("the kernel did not take '\(uuid)' as a UUID")
        case ENOENT:
            e.kind = .notFound
            e.reasons.append("\(t.id) on \(parent) went away meanwhile: was the module unloaded?")
        case EACCES, EPERM:
            e.reasons.append("permission denied")
            e.next.append("creating devices needs root: run it with sudo")
        default:
            break
        }
        return e
    }

    /// Why `type` does not fit on `parent`, from the parent's state after the refusal.
    func spaceReasons(parent: String, type t: MdevType) -> [String] {
        guard let p = try? readParent(parent) else { return [] }
        var reasons: [String] = []
        if p.vdevCount >= p.vdevMax {
            reasons.append("\(parent) holds its maximum of \(p.vdevMax) devices")
        } else {
            let need = t.queuePairs?.perInstance ?? 1
            reasons.append("\(parent) has \(p.qpFree) of \(p.qpTotal) queue pairs free; \(t.id) needs \(need)")
        }
        let fits = p.types.filter { $0.availableInstances > 0 }
        reasons.append(fits.isEmpty
            ? "no type fits on \(parent) any more"
            : "still fits on \(parent): " + fits.map { "\($0.id) (\($0.availableInstances) more)" }.joined(separator: ", "))
        return reasons
    }

    func spaceAdvice(parent: String, type t: MdevType) -> String {
        let others = parentNames().filter { $0 != parent }.compactMap { name -> String? in
            guard let other = try? readParent(name), let ot = other.types.first(where: { $0.id == t.id }),
                  ot.availableInstances > 0 else { return nil }
            return "\(name) (\(other.qpFree) queue pairs free)"
        }
        let elsewhere = others.isEmpty ? "" : ", or create it on " + others.joined(separator: " or ")
        return "remove devices you no longer need (`hdiov list`)\(elsewhere)"
    }
}
