import Testing
import Trellis
import TrellisCore

struct Constant: Operator {
    let value: Double
    var inputs: [Port] { [] }
    var outputs: [Port] { [Port("value", Double.self)] }
    func execute(_ inputs: [(any Sendable)?]) async throws -> [any Sendable] { [value] }
}

struct Add: Operator {
    var inputs: [Port] { [Port("lhs", Double.self), Port("rhs", Double.self, optional: true)] }
    var outputs: [Port] { [Port("sum", Double.self), Port("label", String.self)] }
    func execute(_ inputs: [(any Sendable)?]) async throws -> [any Sendable] {
        let sum = (inputs[0] as! Double) + ((inputs[1] as? Double) ?? 0)
        return [sum, "sum=\(sum)"]
    }
}

struct Describe: Operator {
    var inputs: [Port] { [.any("anything")] }
    var outputs: [Port] { [Port("text", String.self)] }
    func execute(_ inputs: [(any Sendable)?]) async throws -> [any Sendable] { ["\(inputs[0]!)"] }
}

/// Claims a Double output but returns a String.
struct Liar: Operator {
    var inputs: [Port] { [] }
    var outputs: [Port] { [Port("value", Double.self)] }
    func execute(_ inputs: [(any Sendable)?]) async throws -> [any Sendable] { ["not a number"] }
}

@Suite("Operator networks", .timeLimit(.minutes(1)))
struct NetworkTests {
    //  two ─┐
    //       ├─► add ─► describe
    //  three┘
    @Test func runsOnTheSchedulerAndStreamsOutputs() async throws {
        let scheduler = Scheduler(policy: .outputFirst)
        var network = Network()
        let two = network.add(Constant(value: 2), name: "two")
        let three = network.add(Constant(value: 3), name: "three")
        let add = network.add(Add(), name: "add", queue: "compute")
        let describe = network.add(Describe(), name: "describe")
        network.connect(two, 0, to: add, 0)
        network.connect(three, 0, to: add, 1)
        network.connect(add, 1, to: describe, 0)
        let run = try network.run(on: scheduler)
        scheduler.start()
        var streamed: [Network.NodeID] = []
        for await output in run.outputs { streamed.append(output.node) }
        #expect(Set(streamed) == [two, three, add, describe])
        #expect(streamed.last == describe)
        #expect(try await run.values(of: add)[0] as? Double == 5)
        #expect(try await run.values(of: describe)[0] as? String == "sum=5.0")
        #expect(scheduler.existingQueue("compute") != nil)
    }

    @Test func optionalInputsMayStayUnconnected() async throws {
        let scheduler = Scheduler()
        var network = Network()
        let one = network.add(Constant(value: 1))
        let add = network.add(Add())
        network.connect(one, 0, to: add, 0)
        let run = try network.run(on: scheduler)
        scheduler.start()
        #expect(try await run.values(of: add)[0] as? Double == 1)
    }

    @Test func validationReportsEveryProblem() throws {
        var network = Network()
        let constant = network.add(Constant(value: 1), name: "c")
        let add = network.add(Add(), name: "add")
        let second = network.add(Add(), name: "second")
        network.connect(constant, 3, to: add, 0)  // no output port 3
        network.connect(constant, 0, to: add, 7)  // no input port 7
        network.connect(add, 1, to: second, 0)  // String into Double
        network.connect(add, 0, to: second, 1)
        network.connect(second, 0, to: add, 1)  // cycle add → second → add
        let problems = network.problems()
        #expect(problems.contains { $0.contains("'c' has no output port 3") })
        #expect(problems.contains { $0.contains("'add' has no input port 7") })
        #expect(problems.contains { $0.contains("output 'label' is String") && $0.contains("takes Double") })
        #expect(problems.contains { $0.contains("'add' input 'lhs' is not connected") })
        #expect(problems.contains { $0.hasPrefix("cycle:") && $0.contains("'add'") && $0.contains("'second'") })
        #expect(throws: TrellisError.self) { try network.validate() }
    }

    @Test func anInputConnectedTwiceIsRejected() {
        var network = Network()
        let a = network.add(Constant(value: 1))
        let b = network.add(Constant(value: 2))
        let add = network.add(Add())
        network.connect(a, 0, to: add, 0)
        network.connect(b, 0, to: add, 0)
        #expect(network.problems().contains { $0.contains("input 'lhs' is connected 2 times") })
    }

    @Test func anOutputOfTheWrongTypeFailsTheNode() async throws {
        let scheduler = Scheduler()
        var network = Network()
        let liar = network.add(Liar(), name: "liar")
        let run = try network.run(on: scheduler)
        scheduler.start()
        let error = await #expect(throws: TrellisError.self) { try await run.values(of: liar) }
        let text = String(describing: error?.cause ?? error)
        #expect(text.contains("should be Double"))
    }
}
