import Testing
@testable import HDIOVSpec

/// The specs shipped in specs/ parse, and give the contract's values.
struct ExampleSpecTests {
    @Test func defaultSpecGivesTheContractDefaults() throws {
        let spec = try SpecParser.load(path: Fixtures.spec("default.yaml"))
        #expect(spec.module == "hdiov")
        #expect(spec.description == "HD-IOV software-defined mediated device")
        #expect(spec.pfs == 2)
        #expect(spec.parentNames == ["hdiov0", "hdiov1"])
        #expect(spec.queuePairs == 2048)
        #expect(spec.maxVdevs == 2048)
        #expect(spec.maxQpsPerVdev == 256)
        #expect(spec.maxRing == 4096)
        #expect(spec.maxXfer == 1 << 20)
        #expect(spec.engineThreads == 1)
        #expect(spec.idlePolls == 64)
        #expect(spec.pci == SpecLimits.defaultPCI)
        #expect(spec.pci.classCode == 0x0b4000)
        #expect(spec.ops == [.copy, .fill, .crc32c, .compare])
        #expect(spec.types.map(\.id) == ["1qp", "4qp", "16qp", "flex"])
        #expect(spec.types.map(\.queuePairs) == [.fixed(1), .fixed(4), .fixed(16), .flex(default: 1)])
        #expect(spec.types.allSatisfy { $0.ops == Operation.allCases })
        #expect(spec.typeDescription(spec.types[1]) == "queue_pairs=4, max_ring=4096, ops=copy,fill,crc32c,compare")
    }

    /// The contract defaults are also what a spec with only the required keys gives.
    @Test func omittedKeysTakeTheDefaults() throws {
        let full = try SpecParser.load(path: Fixtures.spec("default.yaml"))
        let minimal = try SpecParser.parse(yaml: """
            module: hdiov
            types:
              - {id: 1qp, name: HD-IOV 1 queue pair, queue_pairs: 1}
              - {id: 4qp, name: HD-IOV 4 queue pairs, queue_pairs: 4}
              - {id: 16qp, name: HD-IOV 16 queue pairs, queue_pairs: 16}
              - {id: flex, name: HD-IOV flexible, queue_pairs: flex}
            """, file: "minimal.yaml")
        #expect(minimal == full)
    }

    @Test func qatSpec() throws {
        let spec = try SpecParser.load(path: Fixtures.spec("qat-4xxx.yaml"))
        #expect(spec.module == "hdiov_qat")
        #expect(spec.pfs == 4)
        #expect(spec.queuePairs == 64)
        #expect(spec.maxVdevs == 60)
        #expect(spec.maxQpsPerVdev == 64)
        #expect(spec.pci.vendor == 0x8086)
        #expect(spec.pci.device == 0x0da5)
        #expect(spec.pci.classCode == 0x0b4000)
        #expect(spec.ops == [.copy, .crc32c, .compare])
        #expect(spec.types == [
            MdevTypeSpec(id: "sym", name: "QAT symmetric crypto", queuePairs: .fixed(1), ops: [.copy, .crc32c]),
            MdevTypeSpec(id: "asym", name: "QAT asymmetric crypto", queuePairs: .fixed(1), ops: [.copy, .compare]),
            MdevTypeSpec(id: "dc", name: "QAT compression", queuePairs: .fixed(2), ops: [.copy, .crc32c, .compare]),
        ])
    }

    @Test func e810Spec() throws {
        let spec = try SpecParser.load(path: Fixtures.spec("e810.yaml"))
        #expect(spec.module == "hdiov_e810")
        #expect((1...2).contains(spec.pfs))
        #expect(spec.queuePairs == 2048)
        #expect(spec.pci.classCode == 0x020000)
        #expect(spec.types.map(\.id) == ["4qp", "1qp", "16qp", "flex"])
        #expect(spec.types.first?.queuePairs == .fixed(4))
        #expect(spec.types.last?.isFlex == true)
    }

    @Test func exampleSpecsHaveNoWarnings() {
        for name in ["default.yaml", "qat-4xxx.yaml", "e810.yaml"] {
            let result = SpecParser.checkFile(path: Fixtures.spec(name))
            #expect(result.spec != nil)
            #expect(result.diagnostics.isEmpty, "\(name): \(result.diagnostics)")
        }
    }
}
