import Testing
@testable import HDIOVSpec

@Test func typeDescriptionNamesQueuePairsRingAndOps() {
    let t = MdevTypeSpec(id: "4qp", name: "x", queuePairs: .fixed(4), ops: [.copy, .fill])
    let spec = DeviceSpec(
        module: "hdiov", description: "", pfs: 2, queuePairs: 2048, maxVdevs: 2048,
        maxQpsPerVdev: 256, maxRing: 4096, maxXfer: 1 << 20, engineThreads: 1, idlePolls: 64,
        pci: PCIIdentity(vendor: 0x1234, device: 0x5d10, classCode: 0x0b4000,
                         subsystemVendor: 0x1234, subsystemDevice: 1, revision: 1),
        ops: [.copy, .fill], types: [t])
    #expect(spec.typeDescription(t) == "queue_pairs=4, max_ring=4096, ops=copy,fill")
    #expect(spec.caps(of: t) == 0x103)
    #expect(spec.availableInstances(of: t, qpFree: 10, vdevCount: 0) == 2)
    #expect(spec.availableInstances(of: t, qpFree: 10, vdevCount: 2048) == 0)
}
