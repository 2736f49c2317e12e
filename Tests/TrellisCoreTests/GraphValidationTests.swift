import Testing
import TrellisCore

@Suite("Graph validation")
struct GraphValidationTests {
    typealias G = Graph<String>

    static func node(_ id: String, _ deps: String..., queue: String = "default", items: Int = 0) -> G.Node {
        G.Node(id: id, queue: queue, dependencies: deps.map { G.Edge($0) }, partialCount: items)
    }

    @Test func validGraphYieldsDependencyOrder() throws {
        //   fetch ──► parse ──► report
        //     └─────► lint ─────┘
        var graph = G()
        graph.add(Self.node("report", "parse", "lint"))
        graph.add(Self.node("parse", "fetch"))
        graph.add(Self.node("lint", "fetch"))
        graph.add(Self.node("fetch"))
        #expect(graph.problems().isEmpty)
        let order = try graph.validated().map(\.id)
        #expect(order == ["fetch", "parse", "lint", "report"])
    }

    @Test func independentNodesKeepTheirOrder() throws {
        var graph = G()
        for id in ["c", "a", "b"] { graph.add(Self.node(id)) }
        #expect(try graph.validated().map(\.id) == ["c", "a", "b"])
    }

    @Test func everyProblemIsReportedAtOnce() {
        let here = SourceLocation(file: "flow.yaml", line: 3, column: 5)
        var graph = G(queues: ["default", "gpu"])
        graph.add(G.Node(id: "a", location: SourceLocation(file: "flow.yaml", line: 1, column: 1)))
        graph.add(G.Node(id: "a", location: here))
        graph.add(Self.node("b", "ghost"))
        graph.add(Self.node("c", "c"))
        graph.add(Self.node("d", queue: "tpu"))
        graph.add(Self.node("p", items: 2))
        graph.add(G.Node(id: "e", dependencies: [G.Edge("p", item: 2)]))
        graph.add(G.Node(id: "f", dependencies: [G.Edge("p", item: -1)]))
        let problems = graph.problems()
        #expect(
            problems == [
                .duplicateID("a", first: SourceLocation(file: "flow.yaml", line: 1, column: 1), again: here),
                .unknownDependency("ghost", requiredBy: "b", location: nil),
                .selfDependency("c", location: nil),
                .unknownQueue("tpu", node: "d", location: nil),
                .itemOutOfRange("p", item: 2, count: 2, requiredBy: "e", location: nil),
                .itemOutOfRange("p", item: -1, count: 2, requiredBy: "f", location: nil),
            ]
        )
        #expect(throws: GraphValidationError<String>.self) { try graph.validated() }
        do {
            _ = try graph.validated()
        } catch {
            #expect(error.problems.count == 6)
            #expect(error.description.hasPrefix("invalid graph (6 problems):"))
        }
    }

    @Test func problemDescriptionsCarryLocations() {
        let at = SourceLocation(file: "w.yaml", line: 7, column: 2)
        let selfDependency = GraphProblem<String>.selfDependency("x", location: at)
        #expect(selfDependency.description == "w.yaml:7:2: 'x' depends on itself")
        #expect(
            GraphProblem<String>.unknownDependency("y", requiredBy: "x", location: nil).description
                == "'x' depends on unknown 'y'"
        )
        #expect(GraphProblem<String>.cycle(["a", "b"]).description == "dependency cycle: 'a' → 'b' → 'a'")
    }

    @Test func edgeLocationWinsOverNodeLocation() {
        let nodeAt = SourceLocation(file: "w.yaml", line: 1, column: 1)
        let edgeAt = SourceLocation(file: "w.yaml", line: 2, column: 9)
        var graph = G()
        graph.add(G.Node(id: "x", dependencies: [G.Edge("nope", location: edgeAt)], location: nodeAt))
        graph.add(G.Node(id: "y", dependencies: [G.Edge("nope")], location: nodeAt))
        #expect(graph.problems().map(\.location) == [edgeAt, nodeAt])
    }

    @Test func twoNodeCycle() {
        // a ──► b ──► a
        var graph = G()
        graph.add(Self.node("a", "b"))
        graph.add(Self.node("b", "a"))
        #expect(graph.problems() == [.cycle(["a", "b"])])
    }

    @Test func cycleMembersInDependencyOrder() {
        //  root ──► x ──► y ──► z
        //           ▲           │
        //           └───────────┘
        var graph = G()
        graph.add(Self.node("root", "x"))
        graph.add(Self.node("x", "y"))
        graph.add(Self.node("y", "z"))
        graph.add(Self.node("z", "x"))
        #expect(graph.problems() == [.cycle(["x", "y", "z"])])
    }

    @Test func separateCyclesAreEachReportedOnce() {
        // a ⇄ b      c ⇄ d ◄── e
        var graph = G()
        graph.add(Self.node("a", "b"))
        graph.add(Self.node("b", "a"))
        graph.add(Self.node("c", "d"))
        graph.add(Self.node("d", "c"))
        graph.add(Self.node("e", "d"))
        #expect(graph.problems() == [.cycle(["a", "b"]), .cycle(["c", "d"])])
    }

    @Test func acyclicDiamondIsNoCycle() {
        //     a
        //    ╱ ╲
        //   b   c
        //    ╲ ╱
        //     d      (d depends on b and c, both on a)
        var graph = G()
        graph.add(Self.node("d", "b", "c"))
        graph.add(Self.node("b", "a"))
        graph.add(Self.node("c", "a"))
        graph.add(Self.node("a"))
        #expect(graph.problems().isEmpty)
        #expect((try? graph.validated().map(\.id)) == ["a", "b", "c", "d"])
    }

    @Test func deepChainNeedsNoDeepStack() throws {
        var graph = Graph<Int>()
        let length = 50_000
        for id in (0..<length).reversed() {
            graph.add(.init(id: id, dependencies: id == 0 ? [] : [.init(id - 1)]))
        }
        let order = try graph.validated().map(\.id)
        #expect(order == Array(0..<length))
    }

    @Test func longCycleIsFound() {
        var graph = Graph<Int>()
        let length = 20_000
        for id in 0..<length { graph.add(.init(id: id, dependencies: [.init((id + 1) % length)])) }
        #expect(graph.problems() == [.cycle(Array(0..<length))])
    }

    @Test func validatedOrderSubmitsToACore() throws {
        // A validated graph submits in order: every dependency already has an id.
        var graph = G(queues: ["cpu"])
        graph.add(G.Node(id: "sink", queue: "cpu", dependencies: [G.Edge("producer", item: 1)]))
        graph.add(G.Node(id: "producer", queue: "cpu", partialCount: 2))
        var core = SchedulerCore(policy: .fifo)
        let queue = try core.addQueue(width: 1)
        var ids: [String: TaskID] = [:]
        var actions: [SchedulerAction] = []
        for node in try graph.validated() {
            let dependencies = node.dependencies.map { Dependency(ids[$0.id]!, item: $0.item) }
            ids[node.id] = try core.submit(
                TaskSpec(queue: queue, dependencies: dependencies, partialCount: node.partialCount),
                now: .zero, into: &actions)
        }
        #expect(ids == ["producer": TaskID(0), "sink": TaskID(1)])
    }
}
