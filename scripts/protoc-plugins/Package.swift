// swift-tools-version: 6.1
// Builds the protoc plugins that scripts/generate-protos.sh uses, pinned to the versions Trellis depends on.
import PackageDescription

let package = Package(
    name: "ProtocPlugins",
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", exact: "2.4.1"),
    ],
    targets: []
)
