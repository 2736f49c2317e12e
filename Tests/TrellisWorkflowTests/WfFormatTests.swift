import Foundation
import Testing
import TrellisCore
import TrellisTestKit

@testable import TrellisWorkflow

/// WfCommons WfFormat instances replayed as waits of their recorded runtimes.
///
/// The small fixture, in both layouts:
///
///              ┌─► align 2 (20 s) ─┐
///   split (10) ┤                   ├─► merge (15) ─► analyze (5) ─► report (12.5)
///              └─► align 3 (35 s) ─┘
@Suite("WfFormat instances")
struct WfFormatTests {
    static let runtimes = [10, 20, 35, 15, 5, 12.5]
    /// Parent → child, by position in the instance's task list.
    static let edges: Set<[Int]> = [[0, 1], [0, 2], [1, 3], [2, 3], [3, 4], [4, 5]]

    static func fixture(_ name: String) throws -> URL {
        try #require(Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures"))
    }

    static func waits(_ workflow: Workflow) -> [Double?] {
        workflow.tasks.map { task in
            if case .wait(let seconds) = task.action { return seconds }
            return nil
        }
    }

    /// Parent → child pairs by task position.
    static func edges(_ workflow: Workflow) -> Set<[Int]> {
        var position: [String: Int] = [:]
        for (index, task) in workflow.tasks.enumerated() { position[task.id] = index }
        var edges: Set<[Int]> = []
        for (child, task) in workflow.tasks.enumerated() {
            for need in task.needs {
                guard case .task(let parent) = need.target, let source = position[parent] else {
                    edges.insert([-1, child])
                    continue
                }
                edges.insert([source, child])
            }
        }
        return edges
    }

    @Test func schema15LayoutParses() throws {
        let url = try Self.fixture("small-wfformat")
        let workflow = try WorkflowLoader.load(path: url.path)
        #expect(workflow.name == "small-diamond-tail")
        #expect(workflow.tasks.map(\.id) == (1...6).map { "ID000000\($0)" })
        #expect(Self.waits(workflow) == Self.runtimes)
        #expect(Self.edges(workflow) == Self.edges)
        #expect(workflow.tasks.allSatisfy { $0.role == .main && $0.queue == WorkflowQueue.defaultName })
    }

    @Test func schema14LayoutParsesToTheSameGraph() throws {
        let modern = try WorkflowLoader.load(path: Self.fixture("small-wfformat").path)
        let legacy = try WorkflowLoader.load(path: Self.fixture("small-wfformat-1.4").path)
        // 1.4 names tasks (and refers to parents) by `name`.
        #expect(
            legacy.tasks.map(\.id) == [
                "split_ID0000001", "align_ID0000002", "align_ID0000003", "merge_ID0000004", "analyze_ID0000005",
                "report_ID0000006",
            ])
        #expect(Self.waits(legacy) == Self.waits(modern))
        #expect(Self.edges(legacy) == Self.edges(modern))
        #expect(Self.edges(legacy) == Self.edges)

        let modernPlan = try modern.plan()
        let legacyPlan = try legacy.plan()
        #expect(modernPlan.nodes.map(\.dependencies) == legacyPlan.nodes.map(\.dependencies))
    }

    @Test func timeScaleMultipliesWaitsAndChangesTheHash() throws {
        let url = try Self.fixture("small-wfformat")
        let data = try Data(contentsOf: url)
        let normal = try WfFormat.parse(data, file: "small.json")
        let fast = try WfFormat.parse(data, file: "small.json", timeScale: 0.5)
        let slow = try WorkflowLoader.load(path: url.path, timeScale: 4)
        #expect(Self.waits(fast) == Self.runtimes.map { $0 * 0.5 })
        #expect(Self.waits(slow) == Self.runtimes.map { $0 * 4 })
        #expect(fast.contentHash != normal.contentHash)
        #expect(Set([normal.contentHash, fast.contentHash, slow.contentHash]).count == 3)
        #expect(Simulator.run(try fast.plan()).makespan == 77.5 * 0.5)
    }

    @Test func missingRuntimeIsAnErrorNamingTheTask() throws {
        let json = """
            {"name": "gaps", "workflow": {
              "specification": {"tasks": [
                {"id": "a", "parents": []},
                {"id": "b", "parents": ["a"]},
                {"id": "c", "parents": ["a"]}
              ]},
              "execution": {"tasks": [{"id": "a", "runtimeInSeconds": 1}]}
            }}
            """
        do {
            _ = try WfFormat.parse(Data(json.utf8), file: "gaps.json")
            Issue.record("an instance without runtimes was accepted")
        } catch {
            #expect(error.errors.map(\.code) == [.missingKey, .missingKey])
            #expect(
                error.errors.map(\.message) == [
                    "task 'b' has no runtimeInSeconds in `workflow.execution.tasks`",
                    "task 'c' has no runtimeInSeconds in `workflow.execution.tasks`",
                ])
            #expect(error.errors.allSatisfy { $0.location?.file == "gaps.json" })
        }
    }

    @Test func unknownParentIsReportedByPlan() throws {
        let json = """
            {"workflow": {"tasks": [
              {"name": "a", "parents": [], "runtimeInSeconds": 1},
              {"name": "b", "parents": ["a", "ghost"], "runtimeInSeconds": 2}
            ]}}
            """
        let workflow = try WfFormat.parse(Data(json.utf8), file: "orphan.json")
        #expect(workflow.name == "orphan.json")
        do {
            _ = try workflow.plan()
            Issue.record("a parent that does not exist was accepted")
        } catch {
            #expect(error.errors.map(\.code) == [.unknownDependency])
            #expect(error.errors.map(\.message) == ["'b' needs unknown task 'ghost'"])
            // The file and the line where 'b' is written.
            #expect(error.errors.map(\.location) == [SourceLocation(file: "orphan.json", line: 3, column: 12)])
        }
    }

    @Test func childrenOnlyInstancesDeriveTheirParents() throws {
        let json = """
            {"workflow": {"tasks": [
              {"name": "a", "children": ["b", "c"], "runtime": 1},
              {"name": "b", "children": [], "runtime": 2},
              {"name": "c", "children": [], "runtime": 3}
            ]}}
            """
        let workflow = try WfFormat.parse(Data(json.utf8), file: "children.json")
        #expect(workflow.tasks.map { $0.needs.map(\.target) } == [[], [.task("a")], [.task("a")]])
        #expect(Self.waits(workflow) == [1, 2, 3])
    }

    @Test func notAnInstanceIsMalformed() {
        for (text, hint) in [
            ("[1, 2]", "no `workflow` object"), ("{", "not valid JSON"), ("{\"workflow\": {}}", "no tasks"),
        ] {
            do {
                _ = try WfFormat.parse(Data(text.utf8), file: "bad.json")
                Issue.record("'\(text)' was accepted")
            } catch {
                #expect(error.errors.map(\.code) == [.malformed])
                #expect(error.errors.first?.message.contains(hint) == true, "\(error)")
            }
        }
    }

    @Test func montageExamplePlansAndSimulates() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let path = root.appending(path: "Examples/wfcommons/montage.json").path
        let plan = try WorkflowLoader.plan(path: path)
        #expect(plan.nodes.count == 994)
        #expect(plan.mainCount == 994)
        for (position, node) in plan.nodes.enumerated() {
            #expect(node.dependencies.allSatisfy { $0.task.rawValue < position })
        }
        let result = Simulator.run(plan)
        #expect(result.taskCount == 994)
        #expect(result.withoutEstimate == 0)
        #expect(result.totalWork > 0)
        #expect(result.makespan >= result.criticalPathSeconds - 1e-6)
        #expect(result.makespan >= result.totalWork / 4 - 1e-6)
        #expect(result.makespan <= result.totalWork + 1e-6)
        #expect(
            result.criticalPath.first.flatMap { plan.index[$0] }.map { plan.nodes[$0].dependencies.isEmpty } == true)
    }
}

@Suite("Text positions")
struct TextPositionTests {
    /// Locating many offsets in one pass gives what locating each alone gives, on text with several lines
    /// and multi-byte characters.
    @Test(arguments: 1...20 as ClosedRange<UInt64>)
    func oneSweepAgreesWithOneLookupPerOffset(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let pieces = ["a", "é", "\n", "{\"id\": ", "😀", " ", "\r\n", "ж"]
        var text = ""
        for _ in 0..<Int.random(in: 0...400, using: &rng) { text += pieces.randomElement(using: &rng)! }
        let bytes = Array(text.utf8)
        let offsets = (0..<50).map { _ in Int.random(in: -3...(bytes.count + 3), using: &rng) }
        bytes.withUnsafeBytes { buffer in
            let swept = TextPosition.locations(of: offsets, in: buffer, file: "f.json")
            for offset in offsets {
                let clamped = min(max(0, offset), bytes.count)
                #expect(swept[clamped] == TextPosition.location(of: offset, in: buffer, file: "f.json"), "\(offset)")
            }
        }
    }
}
