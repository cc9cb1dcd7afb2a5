import CHDIOVShim
import Foundation
import HDIOVSpec
import HDIOVSysfs
import HDIOVVFIO

/// Interrupt delivery per the PCI spec (contract section 8): MSI-X vector and function
/// masks hold an interrupt back in the PBA and unmasking delivers it; INTx and MSI-X are
/// never armed at once.
struct InterruptChecks {
    let suite: KernelSuite
    let uuid: String
    let type: MdevTypeSpec

    var harness: Harness { suite.harness }
    var qps: Int { type.initialQueuePairs }

    /// Wait (at most 1 s) for `vector`'s PBA bit: it is set once the engine publishes.
    func waitPending(_ dev: VFIODevice, _ vector: Int) throws -> Bool {
        let deadline = Date().addingTimeInterval(1)
        while Date() < deadline {
            if try dev.msixPending(vector) { return true }
            usleep(1000)
        }
        return try dev.msixPending(vector)
    }

    /// `body` must fail with EINVAL.
    func expectEINVAL(_ what: String, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch let e as VFIOError {
            try expectEqual(Errno.name(e.errno), Errno.name(EINVAL), what)
            return
        }
        throw Harness.Failure(description: "\(what) succeeded, expected EINVAL")
    }

    func run() {
        var dev: VFIODevice?
        var q: QueuePair?
        harness.check("interrupts: open, bus master on, program QP 0 with IRQs") {
            let d = try VFIODevice(uuid: uuid)
            dev = d
            try d.setBusMaster(true)
            q = try QueuePair(device: d, index: 0, ringSize: 16, sqIOVA: 0x1000_0000, cqIOVA: 0x2000_0000,
                              doorbells: nil, irq: true)
        }
        guard let dev, let q else { dev?.close(); return }
        defer { dev.close() }
        let vector = 1  // QP 0's completions: MSI-X vector 1 + 0
        let efds = (0..<(1 + qps)).map { _ in hdiov_eventfd() }
        defer { efds.forEach { close($0) } }

        harness.check("interrupts: a masked MSI-X vector sets its PBA bit; unmasking delivers it") {
            try dev.setEventfds(.msix, fds: efds)
            defer { try? dev.disableIRQ(.msix) }
            _ = try q.run([.nop(irq: true)])
            try expectEqual(eventfdCount(efds[vector], expected: 1), 1, "unmasked: one interrupt")
            try expect(!(try dev.msixPending(vector)), "PBA bit set for a delivered interrupt")
            try dev.setMSIXVectorMask(vector, masked: true)
            _ = try q.run([.nop(cookie: 1, irq: true)])
            try expect(try waitPending(dev, vector), "PBA bit of the masked vector \(vector) not set")
            try expectEqual(eventfdCount(efds[vector]), 0, "masked vector: no interrupt")
            for k in 0..<(1 + qps) where k != vector {
                try expect(!(try dev.msixPending(k)), "PBA bit of vector \(k)")
            }
            try dev.write32(try dev.regionInfo(.bar0), at: HDIOVReg.msixPBA, 0)
            try expect(try dev.msixPending(vector), "the PBA is read-only")
            try dev.setMSIXVectorMask(vector, masked: false)
            try expectEqual(eventfdCount(efds[vector], expected: 1), 1, "unmasking delivers the pending interrupt")
            try expect(!(try dev.msixPending(vector)), "PBA bit still set after the unmask")
            try expectEqual(eventfdCount(efds[vector]), 0, "delivered once")
        }
        harness.check("interrupts: the MSI-X function mask holds vectors back; clearing it delivers") {
            try dev.setEventfds(.msix, fds: efds)
            defer {
                try? dev.setMSIXFunctionMask(false)
                try? dev.disableIRQ(.msix)
            }
            try dev.setMSIXFunctionMask(true)
            _ = try q.run([.nop(cookie: 2, irq: true), .nop(cookie: 3, irq: true)])
            try expect(try waitPending(dev, vector), "PBA bit not set under the function mask")
            try expectEqual(eventfdCount(efds[vector]), 0, "function masked: no interrupt")
            // An entry unmask does not override the function mask.
            try dev.setMSIXVectorMask(vector, masked: false)
            try expectEqual(eventfdCount(efds[vector]), 0, "entry unmasked, function still masked: no interrupt")
            try expect(try dev.msixPending(vector), "PBA bit cleared while the function is masked")
            try dev.setMSIXFunctionMask(false)
            try expectEqual(eventfdCount(efds[vector], expected: 1), 1, "clearing the function mask delivers (once)")
            try expect(!(try dev.msixPending(vector)), "PBA bit still set after the function unmask")
            _ = try q.run([.nop(cookie: 4, irq: true)])
            try expectEqual(eventfdCount(efds[vector], expected: 1), 1, "unmasked again: interrupts flow")
        }
        harness.check("interrupts: INTx and MSI-X are never armed at once (EINVAL, nothing changes)") {
            let intx = hdiov_eventfd()
            defer {
                close(intx)
                try? dev.disableIRQ(.intx)
                try? dev.disableIRQ(.msix)
            }
            // INTx armed: arming MSI-X is refused and leaves INTx as it was.
            try dev.setEventfds(.intx, fds: [intx])
            try dev.unmaskINTx()
            try expectEINVAL("MSI-X trigger while INTx is armed") { try dev.setEventfds(.msix, fds: efds) }
            try expectEINVAL("one MSI-X vector while INTx is armed") {
                try dev.setEventfds(.msix, start: UInt32(vector), fds: [efds[vector]])
            }
            _ = try q.run([.nop(cookie: 5, irq: true)])
            try expectEqual(eventfdCount(intx, expected: 1), 1, "INTx still armed after the refusal")
            for (k, fd) in efds.enumerated() { try expectEqual(eventfdCount(fd), 0, "MSI-X vector \(k) not armed") }
            try dev.setEventfds(.msix, fds: Array(repeating: -1, count: 1 + qps))  // clearing: allowed
            try dev.disableIRQ(.msix)
            // MSI-X armed: arming INTx is refused and leaves MSI-X as it was.
            try dev.setEventfds(.intx, fds: [-1])
            try dev.setEventfds(.msix, fds: efds)
            try expectEINVAL("INTx trigger while MSI-X is armed") { try dev.setEventfds(.intx, fds: [intx]) }
            _ = try q.run([.nop(cookie: 6, irq: true)])
            try expectEqual(eventfdCount(efds[vector], expected: 1), 1, "MSI-X still armed after the refusal")
            try expectEqual(eventfdCount(intx), 0, "INTx not armed")
            // Disabling either is always allowed.
            try dev.disableIRQ(.intx)
            try dev.setEventfds(.intx, fds: [-1])
            try dev.disableIRQ(.msix)
            try dev.setEventfds(.intx, fds: [intx])
            try dev.disableIRQ(.msix)
            try dev.disableIRQ(.intx)
            try q.setRegister(HDIOVReg.qpCtrl, HDIOVBits.qpReset)
        }
    }
}
