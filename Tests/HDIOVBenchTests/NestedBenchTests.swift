import Testing
@testable import HDIOVBench

@Test func dmatestSummaryLinesAreRead() {
    // As 6.1's dmatest prints them (result of a run, then an older run of another channel).
    let dmesg = """
    [  301.5] dmatest: Added 1 threads using dma0chan1
    [  305.1] dmatest: dma0chan1-copy0: summary 10 tests, 1 failures 12.00 iops 96 KB/s (0)
    [  310.2] dmatest: dma0chan0-copy0: summary 500 tests, 0 failures 1234.56 iops 19753 KB/s (0)
    """
    let s = NestedBench.dmatestSummary(dmesg: dmesg, channel: "dma0chan0")
    #expect(s?.tests == 500)
    #expect(s?.failures == 0)
    #expect(s?.iops == 1234.56)
    #expect(s?.kbps == 19753)
    #expect(NestedBench.dmatestSummary(dmesg: dmesg, channel: "dma0chan1")?.failures == 1)
    #expect(NestedBench.dmatestSummary(dmesg: dmesg, channel: "dma1chan0") == nil)
}

@Test func theDriversFirstCompletionLineIsRead() {
    let dmesg = "[ 12.0] hdiov_guest 0000:00:04.0: first completion 8123 us after probe began\n"
    #expect(NestedBench.firstCompletionUs(dmesg: dmesg) == 8123)
    #expect(NestedBench.firstCompletionUs(dmesg: "nothing here") == nil)
}

@Test func theReportComparesWithMemcpy() {
    let r = NestedBenchResult(kernel: "6.1", machine: "m", date: "d", channels: 4, bindMs: 900,
                              probeToFirstCompletionUs: 1500,
                              copy: [NestedCopyRow(bytes: 4096, transfers: 100, dmatestIops: 1000,
                                                   dmatestMiBps: 4, memcpyMiBps: 400)])
    #expect(r.copy[0].ratio == 0.01)
    let md = r.markdown()
    #expect(md.contains("| 4096 | 100 | 1000 | 4.0 | 400.0 | 1.0% |"), "\(md)")
    #expect(md.contains("1.5 ms"))
}
