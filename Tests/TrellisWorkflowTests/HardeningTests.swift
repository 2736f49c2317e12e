import Foundation
import Testing
import TrellisCore
import TrellisWorkflow

/// Inputs that once crashed the process or took minutes: each is now a clear error with its position.
@Suite("Workflow files: limits, overflow and bad bytes")
struct HardeningTests {
    static func problems(_ yaml: String, limits: WorkflowLimits = .default) -> [WorkflowError] {
        do {
            _ = try WorkflowLoader.parse(yaml: yaml, file: "flow.yaml", limits: limits).plan()
            return []
        } catch {
            return error.errors
        }
    }

    @Test(arguments: [
        ("timeout", "    timeout: 9999999999999999999s\n", 3),
        ("retry_delay", "    retry_delay: 9999999999999999999s\n", 3),
        ("estimate", "    estimate: 99999999999999999999\n", 3),
        ("wait", "", 0),
    ])
    func anOverflowingDurationIsAnErrorAtItsPosition(key: String, line: String, row: Int) throws {
        let yaml =
            key == "wait"
            ? "tasks:\n  - id: a\n    wait: 99999999999999999999h\n"
            : "tasks:\n  - id: a\n" + line + "    run: echo\n"
        let found = Self.problems(yaml)
        let problem = try #require(found.first)
        #expect(found.count == 1)
        #expect(problem.code == .invalidValue)
        #expect(problem.message.contains("longer than the longest duration allowed, 365d"))
        #expect(problem.location?.line == 3)
        #expect(problem.location?.file == "flow.yaml")
    }

    @Test func aTriggerIntervalThatOverflowsIsAnError() throws {
        let found = Self.problems(
            """
            triggers:
              data: {file: ready, interval: 18446744073709551616s}
            tasks:
              - {id: a, run: echo, needs: ["@data"]}
            """)
        #expect(found.map(\.code) == [.invalidValue])
        #expect(found.first?.location == SourceLocation(file: "flow.yaml", line: 2, column: 33))
    }

    @Test(arguments: ["inf", "nan", "-1s", "0x10", "1e400", "5 parsecs"])
    func textsThatAreNotDurations(text: String) {
        #expect(DurationText.parse(text) == nil)
    }

    @Test func durationsStillParse() {
        #expect(DurationText.parse("1h30m") == .seconds(5400))
        #expect(DurationText.parse("250ms") == .milliseconds(250))
        #expect(DurationText.parse("1.5") == .milliseconds(1500))
        #expect(DurationText.parse("365d") == .seconds(365 * 86400))
        #expect(DurationText.parsing("366d") == .failure(.tooLong))
    }

    @Test func aMatrixOfTenMillionIsRefusedBeforeItIsExpanded() throws {
        let values = "[" + (0..<100).map(String.init).joined(separator: ", ") + "]"
        let yaml = """
            tasks:
              - id: t-${a}-${b}-${c}-${d}
                run: echo
                matrix: {a: \(values), b: \(values), c: \(values), d: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}
            """
        let found = Self.problems(yaml)
        #expect(found.map(\.code) == [.tooLarge])
        #expect(found.first?.message.contains("expands to 10000000 tasks") == true)
        #expect(found.first?.message.contains("--max-tasks") == true)
        #expect(found.first?.location?.line == 4)
    }

    @Test func theTaskLimitCountsEveryTaskAndCanBeRaised() throws {
        let yaml = """
            tasks:
              - {id: a, run: echo}
              - {id: "b-${n}", run: echo, matrix: {n: [1, 2, 3]}}
              - {id: c, run: echo}
            """
        #expect(Self.problems(yaml, limits: WorkflowLimits(maxTasks: 5)) == [])
        let found = Self.problems(yaml, limits: WorkflowLimits(maxTasks: 3))
        #expect(found.map(\.code) == [.tooLarge])
        #expect(found.first?.message.contains("with the 1 before it") == true)
        let last = Self.problems(yaml, limits: WorkflowLimits(maxTasks: 4))
        #expect(last.map(\.code) == [.tooLarge])
        #expect(last.first?.location?.line == 4)
    }

    @Test func aFileOverTheSizeLimitIsRefusedUnread() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("big-\(UUID()).yaml")
        try Data(repeating: UInt8(ascii: "#"), count: 4096).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        do {
            _ = try WorkflowLoader.load(path: url.path, limits: WorkflowLimits(maxFileBytes: 1024))
            Issue.record("a file over the limit was read")
        } catch {
            #expect(error.errors.map(\.code) == [.tooLarge])
            #expect(error.errors.first?.message.contains("4.0 KiB") == true)
            #expect(error.errors.first?.message.contains("--max-file-size") == true)
        }
    }

    @Test(arguments: [
        ("id", "tasks:\n  - id: \"a\\0b\"\n    run: echo\n", 2, "U+0000"),
        ("id", "tasks:\n  - id: \"a\\x1bb\"\n    run: echo\n", 2, "U+001B"),
        ("run", "tasks:\n  - id: a\n    run: \"echo a\\0b\"\n", 3, "NUL"),
        ("output", "tasks:\n  - id: a\n    run: echo\n    outputs: [\"x\\ty\"]\n", 4, "U+0009"),
        ("env", "tasks:\n  - id: a\n    run: echo\n    env: {A: \"x\\0\"}\n", 4, "NUL"),
        ("queue", "queues: {\"q\\x07\": 1}\ntasks:\n  - {id: a, run: echo}\n", 1, "U+0007"),
    ])
    func controlCharactersAreRefusedAtTheirPosition(what: String, yaml: String, line: Int, detail: String) throws {
        let found = Self.problems(yaml)
        let problem = try #require(found.first, "\(what) with a control character was accepted")
        #expect(problem.location?.line == line)
        #expect(problem.message.contains(detail))
    }

    @Test func aFileThatIsNotUTF8IsReportedAtTheBadByte() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("latin1-\(UUID()).yaml")
        var bytes = Array("tasks:\n  - id: caf".utf8)
        bytes.append(0xE9)  // é in Latin-1
        bytes += Array("\n    run: echo\n".utf8)
        try Data(bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        do {
            _ = try WorkflowLoader.load(path: url.path)
            Issue.record("a Latin-1 file was accepted")
        } catch {
            #expect(error.errors.map(\.code) == [.unreadable])
            #expect(error.errors.first?.location == SourceLocation(file: url.path, line: 2, column: 12))
            #expect(error.errors.first?.message.contains("0xE9") == true)
        }
    }

    @Test func aWfFormatSyntaxErrorHasItsLineAndColumn() throws {
        let json = "{\"workflow\": {\"tasks\": [\n  {\"name\": \"a\",, \"runtime\": 1}\n]}}"
        do {
            _ = try WfFormat.parse(Data(json.utf8), file: "broken.json")
            Issue.record("broken JSON was accepted")
        } catch {
            #expect(error.errors.map(\.code) == [.malformed])
            #expect(error.errors.first?.location?.file == "broken.json")
            #expect(error.errors.first?.location?.line == 2)
        }
    }

    @Test func aWfFormatCycleNamesTheFileAndLine() throws {
        let json = """
            {"workflow": {"tasks": [
              {"name": "a", "parents": ["b"], "runtime": 1},
              {"name": "b", "parents": ["a"], "runtime": 1}
            ]}}
            """
        let workflow = try WfFormat.parse(Data(json.utf8), file: "loop.json")
        do {
            _ = try workflow.plan()
            Issue.record("a cycle was accepted")
        } catch {
            #expect(error.errors.map(\.code) == [.cycle])
            #expect(error.errors.first?.location?.file == "loop.json")
            #expect(error.errors.first?.description.hasPrefix("loop.json:2:") == true)
        }
    }

    @Test func aRecordedRuntimeTooLongToWaitIsAnError() throws {
        let json = #"{"workflow": {"tasks": [{"name": "a", "runtime": 1e300}]}}"#
        #expect(throws: WorkflowValidationError.self) { try WfFormat.parse(Data(json.utf8), file: "long.json") }
    }

    @Test func retriesAndWidthsHaveBounds() throws {
        let found = Self.problems(
            """
            queues: {wide: 9999999999}
            tasks:
              - {id: a, run: echo, retries: 9223372036854775807, queue: wide}
            """)
        #expect(found.map(\.code) == [.invalidValue, .invalidValue])
        #expect(found.map { $0.location?.line } == [1, 3])
    }
}

@Suite("Workflow files: where a task may run")
struct PlacementParsingTests {
    @Test func typeTagsAndResourcesAreReadAndArraysKeepThem() throws {
        let workflow = try WorkflowLoader.parse(
            yaml: """
                tasks:
                  - id: train-${n}
                    matrix: {n: [1, 2]}
                    type: gpu
                    tags: [cuda, a100]
                    resources: {gpu: 1, memory_gib: 2.5}
                    run: ./train.sh
                  - {id: plain, run: "true"}
                """, file: "flow.yaml")
        let plan = try workflow.plan()
        let placements = plan.nodes.compactMap { $0.task?.placement }
        let train = Placement(type: "gpu", tags: ["cuda", "a100"], resources: ["gpu": 1, "memory_gib": 2.5])
        #expect(placements == [train, train, .anywhere])
    }

    @Test(arguments: [
        ("type: [gpu]", "type"), ("tags: {a: b}", "tags"), ("resources: 3", "`resources` must map"),
        ("resources: {gpu: -1}", "resource 'gpu' needs a number"), ("resources: {gpu: many}", "resource 'gpu'"),
    ])
    func aBadPlacementIsAClearErrorAtItsPosition(field: String, message: String) {
        let problems = HardeningTests.problems("tasks:\n  - id: a\n    run: \"true\"\n    \(field)\n")
        #expect(problems.contains { $0.message.contains(message) && $0.location?.line == 4 }, "\(problems)")
    }
}
