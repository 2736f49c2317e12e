import Foundation
import Testing

/// Every file of `Corpus/workflows` is refused by `trellis validate` and `trellis run` with a clear error at
/// its position (as `expected.tsv` lists), exit status 2, and nothing run: no task's `touch RAN`, no state.
@Suite("Malformed workflow corpus", .serialized)
struct MalformedCorpusTests {
    struct Case: CustomStringConvertible, Sendable {
        var file: String
        /// `line:column`, `line:` (a line, any column) or nil when the problem has no position.
        var position: String?
        var fragment: String
        var description: String { file }
    }

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Corpus/workflows")

    static let cases: [Case] = {
        let manifest =
            (try? String(contentsOf: directory.appendingPathComponent("expected.tsv"), encoding: .utf8)) ?? ""
        return manifest.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            return Case(file: fields[0], position: fields[1] == "-" ? nil : fields[1], fragment: fields[2])
        }
    }()

    @Test func theCorpusCoversEveryFile() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.directory.path)
            .filter { $0 != "expected.tsv" }
        #expect(Set(files) == Set(Self.cases.map(\.file)))
        #expect(Self.cases.count >= 40)
    }

    @Test(arguments: cases)
    func refusedWithItsPositionAndNothingRun(_ entry: Case) async throws {
        let scratch = try Scratch()
        let file = scratch.url.appendingPathComponent(entry.file).path
        try FileManager.default.copyItem(atPath: Self.directory.appendingPathComponent(entry.file).path, toPath: file)
        for command in [["validate", entry.file], ["run", entry.file], ["run", entry.file, "--simulate"]] {
            let result = try await EndToEndTests.trellisOffPool(command, in: scratch.url)
            #expect(result.status == 2, "\(command): exit status \(result.status)\n\(result.stderr)")
            let prefix = entry.position.map { "\(entry.file):\($0)" } ?? "error: "
            let lines = result.stderr.split(separator: "\n")
            #expect(
                lines.contains { $0.hasPrefix(prefix) && $0.contains(entry.fragment) },
                "\(command): expected a line starting '\(prefix)' with '\(entry.fragment)', got:\n\(result.stderr)")
            #expect(result.stderr.contains("nothing was run"))
            // What reaches a terminal has no raw control characters.
            #expect(!result.stderr.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
        }
        #expect(scratch.read("RAN") == nil)
        #expect(!FileManager.default.fileExists(atPath: scratch.url.appendingPathComponent(".trellis").path))
    }
}
