// swift-tools-version: 6.1
import PackageDescription

// Benchmarks live in their own package so their code never reaches Trellis users.
// A path dependency is identified by its folder's name, whatever the checkout is called.
let trellis = String(#filePath.split(separator: "/").dropLast(2).last!)

let package = Package(
    name: "TrellisBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: ".."), .package(url: "https://github.com/jpsim/Yams", from: "6.2.2")],
    targets: [
        .executableTarget(
            name: "trellis-benchmarks",
            dependencies: [
                .product(name: "Trellis", package: trellis),
                .product(name: "TrellisCore", package: trellis),
                .product(name: "TrellisExamples", package: trellis),
                .product(name: "TrellisJournal", package: trellis),
                .product(name: "TrellisSQLite", package: trellis),
                .product(name: "Yams", package: "Yams"),
            ],
            path: "Sources/TrellisBenchmarks"
        )
    ],
    swiftLanguageModes: [.v6]
)
