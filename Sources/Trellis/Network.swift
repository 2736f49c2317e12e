import Synchronization
public import TrellisCore

/// A graph built from data: nodes hold `Operator`s, edges join an output port to an input port.
///
/// ```swift
/// var network = Network()
/// let source = network.add(Constant(2.0))
/// let scale = network.add(Scale(factor: 3))
/// network.connect(source, 0, to: scale, 0)
/// let run = try network.run(on: scheduler)
/// for await output in run.outputs { print(output.node, output.values) }
/// ```
public struct Network: Sendable {
    public struct NodeID: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: Int
        public var description: String { "node#\(rawValue)" }
    }

    public struct Connection: Hashable, Sendable {
        public var from: NodeID
        public var output: Int
        public var to: NodeID
        public var input: Int
    }

    struct Node: Sendable {
        var op: any Operator
        var name: String?
        var queue: String
        var priority: Int
    }

    private(set) var nodes: [Node] = []
    public private(set) var connections: [Connection] = []

    public init() {}

    /// Adds a node running `op` on the queue called `queue`.
    @discardableResult
    public mutating func add(
        _ op: some Operator, name: String? = nil, queue: String = "default", priority: Int = 0
    )
        -> NodeID
    {
        nodes.append(Node(op: op, name: name, queue: queue, priority: priority))
        return NodeID(rawValue: nodes.count - 1)
    }

    /// Feeds output port `output` of `from` into input port `input` of `to`.
    public mutating func connect(_ from: NodeID, _ output: Int, to: NodeID, _ input: Int) {
        connections.append(Connection(from: from, output: output, to: to, input: input))
    }

    func label(_ node: NodeID) -> String {
        guard node.rawValue >= 0, node.rawValue < nodes.count else { return node.description }
        return nodes[node.rawValue].name.map { "\(node) '\($0)'" } ?? node.description
    }

    /// Every problem: unknown nodes, ports out of range, incompatible types, inputs connected twice, required
    /// inputs left unconnected, cycles.
    public func problems() -> [String] {
        var problems: [String] = []
        var fed: [Int: [Int: Int]] = [:]
        var graph = Graph<NodeID>(queues: Set(nodes.map(\.queue)))
        var dependencies = [[Graph<NodeID>.Edge]](repeating: [], count: nodes.count)
        for connection in connections {
            let known = nodes.indices
            guard known.contains(connection.from.rawValue), known.contains(connection.to.rawValue) else {
                problems.append("connection \(connection.from) → \(connection.to) names an unknown node")
                continue
            }
            let source = nodes[connection.from.rawValue].op
            let target = nodes[connection.to.rawValue].op
            guard source.outputs.indices.contains(connection.output) else {
                problems.append(
                    "\(label(connection.from)) has no output port \(connection.output) "
                        + "(it has \(source.outputs.count))")
                continue
            }
            guard target.inputs.indices.contains(connection.input) else {
                problems.append(
                    "\(label(connection.to)) has no input port \(connection.input) (it has \(target.inputs.count))")
                continue
            }
            let out = source.outputs[connection.output]
            let into = target.inputs[connection.input]
            if !into.accepts(out.type) {
                problems.append(
                    "\(label(connection.from)) output '\(out.name)' is \(out.type), but \(label(connection.to)) "
                        + "input '\(into.name)' takes \(into.type)")
            }
            fed[connection.to.rawValue, default: [:]][connection.input, default: 0] += 1
            dependencies[connection.to.rawValue].append(.init(connection.from))
        }
        for (index, node) in nodes.enumerated() {
            for (port, input) in node.op.inputs.enumerated() {
                let count = fed[index]?[port] ?? 0
                if count > 1 {
                    problems.append(
                        "\(label(NodeID(rawValue: index))) input '\(input.name)' is connected \(count) times")
                } else if count == 0, !input.isOptional {
                    problems.append("\(label(NodeID(rawValue: index))) input '\(input.name)' is not connected")
                }
            }
            graph.add(.init(id: NodeID(rawValue: index), queue: node.queue, dependencies: dependencies[index]))
        }
        for problem in graph.problems() {
            if case .cycle(let members) = problem {
                let path = (members + [members[0]]).map { label($0) }.joined(separator: " → ")
                problems.append("cycle: \(path)")
            }
        }
        return problems
    }

    /// Checks the network; throws a `TrellisError` (`.invalidGraph`) listing every problem.
    public func validate() throws {
        let problems = problems()
        guard problems.isEmpty else {
            throw TrellisError(
                code: .invalidGraph,
                message: "invalid network:\n" + problems.map { "  - \($0)" }.joined(separator: "\n"))
        }
    }

    /// Validates, then submits every node to `scheduler` (on queues of its own name, created with width 1
    /// unless the scheduler already has them). Outputs stream as each node finishes.
    public func run(on scheduler: Scheduler) throws -> NetworkRun {
        try validate()
        var order = Graph<NodeID>(queues: Set(nodes.map(\.queue)))
        var incoming = [[Connection]](repeating: [], count: nodes.count)
        for connection in connections { incoming[connection.to.rawValue].append(connection) }
        for (index, node) in nodes.enumerated() {
            order.add(
                .init(
                    id: NodeID(rawValue: index), queue: node.queue,
                    dependencies: incoming[index].map { .init($0.from) }))
        }
        let (stream, continuation) = AsyncStream<NetworkRun.Output>.makeStream(bufferingPolicy: .unbounded)
        var queues: [String: TaskQueue] = [:]
        var futures = [Future<NodeValues>?](repeating: nil, count: nodes.count)
        for entry in try order.validated() {
            let index = entry.id.rawValue
            let node = nodes[index]
            let queue =
                try queues[node.queue] ?? scheduler.existingQueue(node.queue) ?? scheduler.queue(node.queue, width: 1)
            queues[node.queue] = queue
            let sources = Array(Set(incoming[index].map(\.from.rawValue))).sorted()
            let position = Dictionary(uniqueKeysWithValues: sources.enumerated().map { ($1, $0) })
            let wiring = incoming[index]
            let op = node.op
            let id = entry.id
            futures[index] = queue.submit(
                all: sources.map { futures[$0]! }, name: node.name ?? id.description, priority: node.priority
            ) { upstream in
                var inputs = [(any Sendable)?](repeating: nil, count: op.inputs.count)
                for connection in wiring {
                    inputs[connection.input] = upstream[position[connection.from.rawValue]!].values[connection.output]
                }
                let values = try await op.execute(inputs)
                try Network.check(values, of: op, at: id)
                continuation.yield(NetworkRun.Output(node: id, values: values))
                return NodeValues(values: values)
            }
        }
        let all = futures.map { $0! }
        Task {
            for future in all { _ = try? await future.value }
            continuation.finish()
        }
        return NetworkRun(futures: all, outputs: stream)
    }

    static func check(_ values: [any Sendable], of op: any Operator, at node: NodeID) throws {
        guard values.count == op.outputs.count else {
            throw TrellisError(
                code: .taskFailed,
                message: "\(node) returned \(values.count) values for \(op.outputs.count) output ports")
        }
        for (value, port) in zip(values, op.outputs) where !port.accepts(type(of: value)) {
            throw TrellisError(
                code: .taskFailed,
                message: "\(node) output '\(port.name)' should be \(port.type), got \(type(of: value))")
        }
    }
}

/// A node's output values, one per output port.
struct NodeValues: Sendable {
    var values: [any Sendable]
}

/// A running network: per-node results, and outputs streamed as nodes finish.
public struct NetworkRun: Sendable {
    public struct Output: Sendable {
        public var node: Network.NodeID
        public var values: [any Sendable]
    }

    let futures: [Future<NodeValues>]
    /// Each node's outputs as soon as its operator has returned; finishes when every node has ended.
    public let outputs: AsyncStream<Output>

    /// The output values of `node`, once it has finished.
    public func values(of node: Network.NodeID) async throws -> [any Sendable] {
        try await futures[node.rawValue].value.values
    }

    /// The task that runs `node`.
    public func task(of node: Network.NodeID) -> TaskID { futures[node.rawValue].task }
}
