import Foundation
import Testing
@testable import HDIOVMachine

@Test func debugKernelKeyFollowsTheFragmentAndTheSourceVersion() {
    let k = DebugKernel.key(fragment: DebugKernel.fragment, sourceVersion: "6.12.117-1~deb12u1")
    #expect(k.count == 16 && k.allSatisfy(\.isHexDigit))
    #expect(k == DebugKernel.key(fragment: DebugKernel.fragment, sourceVersion: "6.12.117-1~deb12u1"))
    #expect(k != DebugKernel.key(fragment: DebugKernel.fragment, sourceVersion: "6.12.118-1~deb12u1"))
    #expect(k != DebugKernel.key(fragment: DebugKernel.fragment + "CONFIG_X=y\n", sourceVersion: "6.12.117-1~deb12u1"))
}

@Test func debugKernelFragmentBuildsEverythingIn() {
    let lines = DebugKernel.fragment.split(separator: "\n").map(String.init)
    #expect(!lines.contains { $0.hasSuffix("=m") })
    for option in ["KASAN", "PROVE_LOCKING", "DEBUG_KMEMLEAK", "VFIO", "SAMPLE_VFIO_MDEV_MTTY", "LIBCRC32C", "9P_FS"] {
        #expect(lines.contains("CONFIG_\(option)=y"), "\(option)")
    }
    #expect(lines.contains("# CONFIG_DEBUG_KMEMLEAK_DEFAULT_OFF is not set"))
}

@Test func debugKernelNamesTheOptionsKconfigDropped() {
    let full = DebugKernel.required.map { "CONFIG_\($0)=y" }.joined(separator: "\n") + "\n"
    #expect(DebugKernel.missingOptions(inConfig: full).isEmpty)
    let without = full.replacingOccurrences(of: "CONFIG_VFIO_MDEV=y\n", with: "# CONFIG_VFIO_MDEV is not set\n")
    #expect(DebugKernel.missingOptions(inConfig: without) == ["VFIO_MDEV"])
}

@Test func debugKernelPathsAreInsideItsBuildDirectory() {
    let k = DebugKernel.prepared(dir: "/c/debug/0123456789abcdef", release: "6.12.117-hdiov-debug")
    #expect(k.vmlinuz == "/c/debug/0123456789abcdef/linux-source-6.12/arch/x86/boot/bzImage")
    #expect(k.modulesDir == "/c/debug/0123456789abcdef/lib/modules/6.12.117-hdiov-debug")
    #expect(k.headersDir == "/c/debug/0123456789abcdef/linux-source-6.12")
}

@Test func kernelChecksRunAfterTheCommandInsteadOfExec() {
    let plain = VirtualMachine.runScript(command: ["true"], workingDirectory: "/", options: VMOptions())
    #expect(plain.contains("exec true </dev/null"))
    #expect(!plain.contains("kmemleak"))
    let checked = VirtualMachine.runScript(command: ["true"], workingDirectory: "/", options: VMOptions(kernelChecks: true))
    #expect(!checked.contains("exec true"))
    #expect(checked.contains("true </dev/null\nst=$?\n"))
    #expect(checked.contains("echo scan >\"$k\""))
    #expect(checked.hasSuffix("exit \"$st\"\n"))
}
