// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "hdiov",
    products: [
        .executable(name: "hdiov", targets: ["hdiov"]),
        .library(name: "HDIOVSpec", targets: ["HDIOVSpec"]),
        .library(name: "HDIOVGenerator", targets: ["HDIOVGenerator"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        // The device ABI (kmod/hdiov_abi.h, the one copy of the contract's numbers) for Swift.
        .target(name: "CHDIOVABI"),
        // The device spec: parsed from YAML, validated, with located diagnostics.
        .target(name: "HDIOVSpec", dependencies: ["CHDIOVABI", .product(name: "Yams", package: "Yams")]),
        // Spec -> rendered kernel module sources (pure: returns files, writes nothing).
        .target(name: "HDIOVGenerator", dependencies: [
            "HDIOVSpec", "CHDIOVABI", .product(name: "Mustache", package: "swift-mustache"),
        ]),
        // Running Kbuild against a kernel's headers.
        .target(name: "HDIOVKernelBuild", dependencies: []),
        // The embedded machine: Debian kernels fetched into a cache, booted under QEMU.
        .target(name: "HDIOVMachine", dependencies: []),
        // Where things are in sysfs, and reading/writing the mdev tree.
        .target(name: "HDIOVSysfs", dependencies: []),
        // A mock kernel: the module's sysfs tree as real files, and its answers to writes.
        .target(name: "HDIOVMock", dependencies: ["HDIOVSpec", "HDIOVSysfs", "HDIOVEvents"]),
        // libkmod and libudev, for loading the module and following its uevents.
        .systemLibrary(name: "CKmod", pkgConfig: "libkmod", providers: [.apt(["libkmod-dev"])]),
        // Inserting and removing the module (with its dependencies) through libkmod.
        .target(name: "HDIOVModules", dependencies: ["CKmod"]),
        .systemLibrary(name: "CUdev", pkgConfig: "libudev", providers: [.apt(["libudev-dev"])]),
        // uevents: a udev monitor on a real system, the mock kernel's event log on a mock tree.
        .target(name: "HDIOVEvents", dependencies: ["CUdev", "HDIOVSysfs"]),
        .executableTarget(name: "hdiov", dependencies: [
            "HDIOVSpec", "HDIOVGenerator", "HDIOVKernelBuild", "HDIOVMachine", "HDIOVSysfs", "HDIOVBench", "HDIOVMock",
            "HDIOVModules", "HDIOVEvents", "HDIOVVFIO",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Benchmarks measured in the embedded machine, and their report.
        .target(name: "HDIOVBench", dependencies: ["HDIOVSysfs", "HDIOVVFIO", "HDIOVModules"]),
        // Real-kernel test runner, run inside the embedded machine.
        .executableTarget(name: "hdiov-ktest", dependencies: ["HDIOVModules", "HDIOVSpec", "HDIOVSysfs", "HDIOVVFIO", "CHDIOVShim", "HDIOVConformance"]),
        // One scenario of writes and a record of what the tree shows: the mock vs the module.
        .target(name: "HDIOVConformance", dependencies: ["HDIOVSpec", "HDIOVSysfs"]),
        // VFIO client: open a VDEV, its regions, interrupts and doorbells.
        .target(name: "CHDIOVShim", dependencies: ["CHDIOVABI"]),
        .target(name: "HDIOVVFIO", dependencies: ["CHDIOVShim", "CHDIOVABI"]),
        .testTarget(name: "HDIOVSpecTests", dependencies: ["HDIOVSpec"], exclude: ["Fixtures"]),
        .testTarget(name: "HDIOVGeneratorTests", dependencies: ["HDIOVGenerator", "HDIOVSpec"]),
        .testTarget(name: "HDIOVSysfsTests", dependencies: ["HDIOVSysfs", "HDIOVMock", "HDIOVSpec", "HDIOVEvents"]),
        // Runs the built `hdiov` binary against mock trees.
        .testTarget(name: "HDIOVCLITests", dependencies: []),
        .testTarget(name: "HDIOVMachineTests", dependencies: ["HDIOVMachine", "HDIOVKernelBuild"]),
        .testTarget(name: "HDIOVBenchTests", dependencies: ["HDIOVBench"]),
        .testTarget(name: "HDIOVConformanceTests", dependencies: ["HDIOVConformance", "HDIOVMock", "HDIOVSpec", "HDIOVSysfs"],
                    exclude: ["golden"]),
    ]
)
