// swift-tools-version: 6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Trellis",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Trellis", targets: ["Trellis"]),
        .library(name: "TrellisCore", targets: ["TrellisCore"]),
        .library(name: "TrellisTestKit", targets: ["TrellisTestKit"]),
        .library(name: "TrellisExamples", targets: ["TrellisExamples"]),
        .executable(name: "trellis-demo", targets: ["trellis-demo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0")
    ],
    targets: [
        .target(
            name: "TrellisCore",
            dependencies: [.product(name: "HeapModule", package: "swift-collections")],
            swiftSettings: strict
        ),
        .target(
            name: "Trellis",
            dependencies: [
                "TrellisCore",
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strict
        ),
        .target(name: "TrellisTestKit", dependencies: ["TrellisCore"], swiftSettings: strict),
        .target(name: "TrellisExamples", dependencies: ["Trellis"], swiftSettings: strict),
        .executableTarget(
            name: "trellis-demo",
            dependencies: ["Trellis", "TrellisCore", "TrellisExamples"],
            swiftSettings: strict
        ),
        .testTarget(name: "TrellisCoreTests", dependencies: ["TrellisCore", "TrellisTestKit"], swiftSettings: strict),
        .testTarget(name: "TrellisTests", dependencies: ["Trellis", "TrellisTestKit"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
