/// A task graph described as data, validated as a whole before anything runs.
///
/// Drivers that read graphs from files or build them from data (workflow files, operator networks) describe
/// them here; `validated()` reports every problem at once, then yields the nodes in a dependency order that
/// can be submitted to a `SchedulerCore` one by one.
///
/// ```swift
/// var graph = Graph<String>(queues: ["default"])
/// graph.add(.init(id: "fetch"))
/// graph.add(.init(id: "parse", dependencies: [.init("fetch")]))
/// let order = try graph.validated()   // [fetch, parse]
/// ```
public struct Graph<ID: Hashable & Sendable & CustomStringConvertible>: Sendable {
    /// One input of a node: the whole node `id`, or partial result `item` of it.
    public struct Edge: Hashable, Sendable {
        public var id: ID
        public var item: Int?
        public var location: SourceLocation?

        public init(_ id: ID, item: Int? = nil, location: SourceLocation? = nil) {
            self.id = id
            self.item = item
            self.location = location
        }
    }

    public struct Node: Sendable {
        public var id: ID
        public var queue: String
        public var dependencies: [Edge]
        public var partialCount: Int
        public var priority: Int
        public var estimate: Double?
        public var location: SourceLocation?

        public init(
            id: ID,
            queue: String = "default",
            dependencies: [Edge] = [],
            partialCount: Int = 0,
            priority: Int = 0,
            estimate: Double? = nil,
            location: SourceLocation? = nil
        ) {
            self.id = id
            self.queue = queue
            self.dependencies = dependencies
            self.partialCount = partialCount
            self.priority = priority
            self.estimate = estimate
            self.location = location
        }
    }

    public var queues: Set<String>
    public private(set) var nodes: [Node] = []

    public init(queues: Set<String> = ["default"]) {
        self.queues = queues
    }

    public mutating func add(_ node: Node) {
        nodes.append(node)
    }

    /// Ids resolved to positions once, for every check that follows.
    struct Resolution {
        /// Each id's first position.
        var index: [ID: Int]
        /// For each node, the positions of the nodes it depends on (known ones, not itself).
        var targets: [[Int]]
        /// Problems other than cycles, in node order.
        var problems: [GraphProblem<ID>]
    }

    func resolve() -> Resolution {
        var problems: [GraphProblem<ID>] = []
        var index: [ID: Int] = [:]
        index.reserveCapacity(nodes.count)
        for (position, node) in nodes.enumerated() {
            if let first = index[node.id] {
                problems.append(.duplicateID(node.id, first: nodes[first].location, again: node.location))
            } else {
                index[node.id] = position
            }
        }
        var targets: [[Int]] = []
        targets.reserveCapacity(nodes.count)
        // Nodes and edges are read in place, not copied: this runs once per node of graphs of millions.
        var lastQueue: String?
        for position in nodes.indices {
            if nodes[position].queue != lastQueue {
                if !queues.contains(nodes[position].queue) {
                    let node = nodes[position]
                    problems.append(.unknownQueue(node.queue, node: node.id, location: node.location))
                } else {
                    lastQueue = nodes[position].queue
                }
            }
            var resolved: [Int] = []
            resolved.reserveCapacity(nodes[position].dependencies.count)
            for edgeIndex in nodes[position].dependencies.indices {
                let id = nodes[position].dependencies[edgeIndex].id
                if id == nodes[position].id {
                    let edge = nodes[position].dependencies[edgeIndex]
                    problems.append(.selfDependency(id, location: edge.location ?? nodes[position].location))
                    continue
                }
                guard let target = index[id] else {
                    let edge = nodes[position].dependencies[edgeIndex]
                    problems.append(
                        .unknownDependency(
                            id, requiredBy: nodes[position].id, location: edge.location ?? nodes[position].location))
                    continue
                }
                if let item = nodes[position].dependencies[edgeIndex].item,
                    item < 0 || item >= nodes[target].partialCount
                {
                    let edge = nodes[position].dependencies[edgeIndex]
                    problems.append(
                        .itemOutOfRange(
                            id, item: item, count: nodes[target].partialCount, requiredBy: nodes[position].id,
                            location: edge.location ?? nodes[position].location)
                    )
                }
                resolved.append(target)
            }
            targets.append(resolved)
        }
        return Resolution(index: index, targets: targets, problems: problems)
    }

    /// Every problem of the graph, in node order, then cycles.
    public func problems() -> [GraphProblem<ID>] {
        let resolution = resolve()
        return resolution.problems + cycles(resolution).map { .cycle($0) }
    }

    /// The nodes in an order where each comes after all its dependencies, or every problem found.
    /// One pass over the edges when the graph is sound; cycles are searched only when the order is incomplete.
    public func validated() throws(GraphValidationError<ID>) -> [Node] {
        let resolution = resolve()
        var remaining = [Int](repeating: 0, count: nodes.count)
        var dependants = [[Int]](repeating: [], count: nodes.count)
        for (position, sources) in resolution.targets.enumerated() {
            remaining[position] = sources.count
            for source in sources { dependants[source].append(position) }
        }
        var order: [Node] = []
        order.reserveCapacity(nodes.count)
        var ready = (0..<nodes.count).filter { remaining[$0] == 0 }.reversed() as [Int]
        while let next = ready.popLast() {
            order.append(nodes[next])
            for dependant in dependants[next].reversed() {
                remaining[dependant] -= 1
                if remaining[dependant] == 0 { ready.append(dependant) }
            }
        }
        guard resolution.problems.isEmpty, order.count == nodes.count else {
            let cycles = order.count == nodes.count ? [] : cycles(resolution)
            throw GraphValidationError(problems: resolution.problems + cycles.map { .cycle($0) })
        }
        return order
    }

    /// One cycle per strongly connected group, members in dependency order (each depends on the next, the
    /// last on the first). Iterative, so deep graphs do not exhaust the stack.
    func cycles(_ resolution: Resolution) -> [[ID]] {
        let index = resolution.index
        let targets = resolution.targets
        // 0: not visited, 1: on the current path, 2: done.
        var color = [UInt8](repeating: 0, count: nodes.count)
        var found: [[ID]] = []
        var onCycle = Set<Int>()
        for root in nodes.indices where color[root] == 0 && index[nodes[root].id] == root {
            var path: [Int] = [root]
            var cursor: [Int] = [0]
            color[root] = 1
            while let node = path.last {
                let next = cursor[cursor.count - 1]
                guard next < targets[node].count else {
                    color[node] = 2
                    path.removeLast()
                    cursor.removeLast()
                    continue
                }
                cursor[cursor.count - 1] += 1
                let target = targets[node][next]
                switch color[target] {
                case 0:
                    color[target] = 1
                    path.append(target)
                    cursor.append(0)
                case 1:
                    let start = path.lastIndex(of: target)!
                    let members = Array(path[start...])
                    if onCycle.isDisjoint(with: members) {
                        onCycle.formUnion(members)
                        found.append(members.map { nodes[$0].id })
                    }
                default:
                    break
                }
            }
        }
        return found
    }
}

/// One thing wrong with a graph.
public enum GraphProblem<ID: Hashable & Sendable & CustomStringConvertible>: Hashable, Sendable,
    CustomStringConvertible
{
    case duplicateID(ID, first: SourceLocation?, again: SourceLocation?)
    case unknownDependency(ID, requiredBy: ID, location: SourceLocation?)
    case selfDependency(ID, location: SourceLocation?)
    case itemOutOfRange(ID, item: Int, count: Int, requiredBy: ID, location: SourceLocation?)
    case unknownQueue(String, node: ID, location: SourceLocation?)
    /// Members in dependency order: each depends on the next, the last on the first.
    case cycle([ID])

    public var location: SourceLocation? {
        switch self {
        case .duplicateID(_, _, let again): again
        case .unknownDependency(_, _, let location), .selfDependency(_, let location),
            .itemOutOfRange(_, _, _, _, let location), .unknownQueue(_, _, let location):
            location
        case .cycle: nil
        }
    }

    public var description: String {
        let prefix = location.map { "\($0): " } ?? ""
        switch self {
        case .duplicateID(let id, let first, _):
            return prefix + "duplicate id '\(id)'" + (first.map { " (first defined at \($0))" } ?? "")
        case .unknownDependency(let id, let requiredBy, _):
            return prefix + "'\(requiredBy)' depends on unknown '\(id)'"
        case .selfDependency(let id, _):
            return prefix + "'\(id)' depends on itself"
        case .itemOutOfRange(let id, let item, let count, let requiredBy, _):
            return prefix + "'\(requiredBy)' needs item \(item) of '\(id)', which yields \(count) partial results"
        case .unknownQueue(let queue, let node, _):
            return prefix + "'\(node)' uses unknown queue '\(queue)'"
        case .cycle(let members):
            let path = (members + [members[0]]).map { "'\($0)'" }.joined(separator: " → ")
            return "dependency cycle: \(path)"
        }
    }
}

/// A graph that failed validation, with every problem found.
public struct GraphValidationError<ID: Hashable & Sendable & CustomStringConvertible>: Error, CustomStringConvertible {
    public var problems: [GraphProblem<ID>]

    public var description: String {
        "invalid graph (\(problems.count) problem\(problems.count == 1 ? "" : "s")):\n"
            + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}
