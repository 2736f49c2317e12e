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
        .library(name: "TrellisWorkflow", targets: ["TrellisWorkflow"]),
        .library(name: "TrellisJournal", targets: ["TrellisJournal"]),
        .library(name: "TrellisSQLite", targets: ["TrellisSQLite"]),
        .library(name: "TrellisProtocol", targets: ["TrellisProtocol"]),
        .library(name: "TrellisCoordinator", targets: ["TrellisCoordinator"]),
        .library(name: "TrellisWorker", targets: ["TrellisWorker"]),
        .executable(name: "trellis", targets: ["trellis"]),
        .executable(name: "trellis-demo", targets: ["trellis-demo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
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
        .target(name: "TrellisTestKit", dependencies: ["TrellisCore", "TrellisEngine"], swiftSettings: strict),
        .target(
            name: "TrellisExamples",
            dependencies: [
                "Trellis", "TrellisCore", "TrellisCoordinator", "TrellisWorker", "TrellisProtocol", "TrellisSQLite",
                "TrellisJournal",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "TrellisWorkflow",
            dependencies: [
                "TrellisCore",
                .product(name: "Yams", package: "Yams"),
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            swiftSettings: strict
        ),
        .target(name: "TrellisJournal", dependencies: ["TrellisCore"], swiftSettings: strict),
        .target(
            name: "TrellisEngine",
            dependencies: [
                "TrellisCore", "TrellisJournal", .product(name: "HeapModule", package: "swift-collections"),
            ],
            swiftSettings: strict),
        .target(
            name: "TrellisSQLite",
            dependencies: [
                "TrellisCore", "TrellisJournal", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "TrellisProtocol",
            dependencies: [
                "TrellisCore", "TrellisEngine",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
            ],
            exclude: ["Generated/README.md"],
            swiftSettings: strict
        ),
        .target(
            name: "TrellisCoordinator",
            dependencies: [
                "TrellisCore", "TrellisProtocol", "TrellisEngine", "TrellisJournal", "TrellisExecution",
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        // The coordinator's HTTP side: Prometheus metrics (and, next, its web pages).
        .target(
            name: "TrellisHTTP",
            dependencies: [
                "TrellisCoordinator",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // posix_spawn with the attributes and file actions glibc keeps behind _GNU_SOURCE, and pidfd_open.
        .target(name: "CTrellisSpawn"),
        // Running things: shell commands as process groups, output markers, log capture.
        .target(
            name: "TrellisExecution",
            dependencies: [
                "TrellisCore", "CTrellisSpawn",
            ],
            swiftSettings: strict
        ),
        .target(
            name: "TrellisWorker",
            dependencies: [
                "TrellisProtocol", "TrellisExecution",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "TrellisCLI",
            dependencies: [
                "TrellisCore", "TrellisWorkflow", "TrellisSQLite", "TrellisProtocol",
                "TrellisCoordinator", "TrellisWorker", "TrellisExecution", "TrellisEngine", "TrellisJournal",
                "TrellisHTTP",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(name: "trellis", dependencies: ["TrellisCLI"], swiftSettings: strict),
        .executableTarget(
            name: "trellis-demo",
            dependencies: ["Trellis", "TrellisCore", "TrellisExamples"],
            swiftSettings: strict
        ),
        // The benchmarks (Benchmarks/README.md): an executable of this package, so they may use the examples'
        // workloads without those becoming a product; no product names it, so no user of Trellis builds it.
        .executableTarget(
            name: "trellis-benchmarks",
            dependencies: [
                "Trellis", "TrellisCore", "TrellisExamples", "TrellisExecution", "TrellisJournal", "TrellisSQLite",
                .product(name: "Yams", package: "Yams"),
            ],
            path: "Benchmarks/Sources/TrellisBenchmarks"
        ),
        .testTarget(name: "TrellisCoreTests", dependencies: ["TrellisCore", "TrellisTestKit"], swiftSettings: strict),
        .testTarget(name: "TrellisTests", dependencies: ["Trellis", "TrellisTestKit"], swiftSettings: strict),
        // Depends on the library product alone, as a user's program does.
        .testTarget(name: "TrellisClientTests", dependencies: ["Trellis"], swiftSettings: strict),
        .testTarget(
            name: "TrellisWorkflowTests",
            dependencies: ["TrellisWorkflow", "TrellisTestKit"],
            resources: [.copy("Fixtures")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TrellisEngineTests",
            dependencies: ["TrellisEngine", "TrellisCore", "TrellisJournal", "TrellisTestKit"],
            swiftSettings: strict),
        .testTarget(
            name: "TrellisJournalTests",
            dependencies: [
                "TrellisJournal", "TrellisSQLite", "TrellisCore", "TrellisTestKit",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TrellisCoordinatorTests",
            dependencies: [
                "TrellisCoordinator", "TrellisWorker", "TrellisProtocol", "TrellisSQLite",
                "TrellisTestKit", "TrellisEngine", "TrellisCore", "TrellisJournal", "TrellisHTTP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCInProcessTransport", package: "grpc-swift-2"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TrellisCLITests",
            dependencies: [
                "TrellisCLI", "TrellisWorkflow", "TrellisSQLite", "TrellisTestKit", "TrellisProtocol",
                "TrellisEngine", "TrellisJournal", "TrellisExecution",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            exclude: ["Corpus"],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
