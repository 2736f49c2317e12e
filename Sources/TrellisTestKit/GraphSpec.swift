public import TrellisCore

/// A task graph as plain data for a fresh `SchedulerCore`: queue `i` gets `QueueID(i)` and task `i` gets
/// `TaskID(i)` when loaded in order, so specs may refer to both by index before anything is submitted.
public struct GraphSpec: Hashable, Sendable, CustomStringConvertible {
    /// The width of each queue, in `QueueID` order.
    public var queueWidths: [Int]
    /// The tasks in submission (and so dependency) order.
    public var tasks: [TaskSpec]

    /// A graph with the given queues and tasks.
    public init(queueWidths: [Int], tasks: [TaskSpec] = []) {
        self.queueWidths = queueWidths
        self.tasks = tasks
    }

    /// Appends a task and returns the id it will get when loaded.
    @discardableResult
    public mutating func add(_ spec: TaskSpec) -> TaskID {
        tasks.append(spec)
        return TaskID(tasks.count - 1)
    }

    /// Adds the queues to an empty `core`, then submits every task in order; returns the task ids.
    @discardableResult
    public func load(
        into core: inout SchedulerCore,
        now: Duration = .zero,
        actions: inout [SchedulerAction]
    ) throws(TrellisCoreError) -> [TaskID] {
        precondition(core.queueCount == 0 && core.taskCount == 0, "GraphSpec.load needs an empty core")
        for width in queueWidths { _ = try core.addQueue(width: width) }
        var ids: [TaskID] = []
        ids.reserveCapacity(tasks.count)
        for spec in tasks { ids.append(try core.submit(spec, now: now, into: &actions)) }
        return ids
    }

    /// Tasks that no other task depends on.
    public var sinks: [TaskID] {
        var hasDependant = [Bool](repeating: false, count: tasks.count)
        for spec in tasks {
            for dependency in spec.dependencies { hasDependant[dependency.task.rawValue] = true }
        }
        return tasks.indices.filter { !hasDependant[$0] }.map(TaskID.init)
    }

    public var description: String {
        var lines = ["queues \(queueWidths)"]
        for (index, spec) in tasks.enumerated() {
            var parts = ["t\(index) q\(spec.queue.rawValue)"]
            if spec.priority != 0 { parts.append("prio \(spec.priority)") }
            if !spec.dependencies.isEmpty {
                let dependencies = spec.dependencies.map { dep in
                    "t\(dep.task.rawValue)" + (dep.item.map { "[\($0)]" } ?? "")
                }
                parts.append("deps " + dependencies.joined(separator: ","))
            }
            if spec.partialCount > 0 { parts.append("items \(spec.partialCount)") }
            if let estimate = spec.estimate { parts.append("est \(estimate)") }
            if spec.retry.maxAttempts > 1 { parts.append("attempts \(spec.retry.maxAttempts)") }
            if let timeout = spec.timeout { parts.append("timeout \(timeout)") }
            lines.append(parts.joined(separator: " "))
        }
        return lines.joined(separator: "\n")
    }
}

// MARK: - Shapes

extension GraphSpec {
    /// `0 → 1 → … → length-1` on one queue.
    public static func chain(length: Int, width: Int = 1) -> GraphSpec {
        var graph = GraphSpec(queueWidths: [width])
        for index in 0..<length {
            graph.add(TaskSpec(queue: QueueID(0), dependencies: index == 0 ? [] : [Dependency(TaskID(index - 1))]))
        }
        return graph
    }

    /// One source, `width` middle tasks that each depend on it, one sink that depends on them all.
    public static func fanOutFanIn(width: Int, queueWidth: Int = 2) -> GraphSpec {
        var graph = GraphSpec(queueWidths: [queueWidth])
        let source = graph.add(TaskSpec(queue: QueueID(0)))
        let middle = (0..<width).map { _ in graph.add(TaskSpec(queue: QueueID(0), dependencies: [Dependency(source)])) }
        graph.add(TaskSpec(queue: QueueID(0), dependencies: middle.map { Dependency($0) }))
        return graph
    }

    /// `count` tasks without dependencies.
    public static func independent(count: Int, width: Int = 2) -> GraphSpec {
        GraphSpec(queueWidths: [width], tasks: Array(repeating: TaskSpec(queue: QueueID(0)), count: count))
    }

    /// A full binary tree of `depth` levels growing from one root: node `i` depends on node `(i - 1) / 2`.
    public static func binaryTree(depth: Int, width: Int = 2) -> GraphSpec {
        var graph = GraphSpec(queueWidths: [width])
        let count = depth <= 0 ? 0 : (1 << depth) - 1
        for index in 0..<count {
            let parent = index == 0 ? [] : [Dependency(TaskID((index - 1) / 2))]
            graph.add(TaskSpec(queue: QueueID(0), dependencies: parent))
        }
        return graph
    }

    /// `layers` layers of `width` tasks; each task after the first layer depends on 1–3 tasks of the layer before.
    public static func randomLayered(layers: Int, width: Int, queueWidth: Int = 2, seed: UInt64) -> GraphSpec {
        var rng = SplitMix64(seed: seed)
        var graph = GraphSpec(queueWidths: [queueWidth])
        var previous: [TaskID] = []
        for _ in 0..<layers {
            var layer: [TaskID] = []
            for _ in 0..<width {
                var dependencies: [Dependency] = []
                if !previous.isEmpty {
                    var sources = Set<Int>()
                    for _ in 0..<Int.random(in: 1...min(3, previous.count), using: &rng) {
                        sources.insert(previous.randomElement(using: &rng)!.rawValue)
                    }
                    dependencies = sources.sorted().map { Dependency(TaskID($0)) }
                }
                layer.append(graph.add(TaskSpec(queue: QueueID(0), dependencies: dependencies)))
            }
            previous = layer
        }
        return graph
    }
}
