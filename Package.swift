// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "hdiov",
    platforms: [.macOS(.v13)],
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
        // The device spec: parsed from YAML, validated, with located diagnostics.
        .target(name: "HDIOVSpec", dependencies: [.product(name: "Yams", package: "Yams")]),
        // Spec -> rendered kernel module sources (pure: returns files, writes nothing).
        .target(name: "HDIOVGenerator", dependencies: [
            "HDIOVSpec", .product(name: "Mustache", package: "swift-mustache"),
        ]),
        // Running Kbuild against a kernel's headers.
        .target(name: "HDIOVKernelBuild", dependencies: []),
        // The embedded machine: Debian kernels fetched into a cache, booted under QEMU.
        .target(name: "HDIOVMachine", dependencies: []),
        // Where things are in sysfs, and reading/writing the mdev tree.
        .target(name: "HDIOVSysfs", dependencies: ["HDIOVSpec"]),
        .executableTarget(name: "hdiov", dependencies: [
            "HDIOVSpec", "HDIOVGenerator", "HDIOVKernelBuild", "HDIOVMachine", "HDIOVSysfs",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Real-kernel test runner, run inside the embedded machine.
        .executableTarget(name: "hdiov-ktest", dependencies: ["HDIOVSpec", "HDIOVSysfs"]),
        .testTarget(name: "HDIOVSpecTests", dependencies: ["HDIOVSpec"]),
        .testTarget(name: "HDIOVGeneratorTests", dependencies: ["HDIOVGenerator", "HDIOVSpec"]),
        .testTarget(name: "HDIOVMachineTests", dependencies: ["HDIOVMachine"]),
    ]
)
