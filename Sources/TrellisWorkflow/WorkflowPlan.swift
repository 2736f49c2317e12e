public import TrellisCore

/// A validated workflow as the scheduling core sees it: tasks and the triggers they need, in an order where
/// each comes after its dependencies (main graph and triggers, then `on_success`, then `on_failure`).
/// Node `i` is submitted to the core as `TaskID(i)`.
public struct WorkflowPlan: Sendable {
    /// The queue that runs trigger checks; every trigger has its own slot.
    public static let triggerQueue = "@triggers"

    public struct Node: Sendable {
        public enum Kind: Sendable {
            case task(WorkflowTask)
            case trigger(WorkflowTrigger)
        }

        /// The task id, or `@name` for a trigger.
        public var id: String
        public var kind: Kind
        public var queue: String
        public var dependencies: [Dependency]
        public var role: WorkflowTask.Role

        public var task: WorkflowTask? {
            if case .task(let task) = kind { return task }
            return nil
        }

        public var outputs: [String] { task?.outputs ?? [] }

        /// What the scheduling core needs, with queue names resolved by `queueID`.
        /// The node's role as the scheduling core knows it: main work, or one of the job's finales.
        public var coreRole: TaskRole {
            switch role {
            case .main: .main
            case .onSuccess: .onSuccess
            case .onFailure: .onFailure
            }
        }

        public func spec(queue queueID: QueueID) -> TaskSpec {
            switch kind {
            case .task(let task):
                return TaskSpec(
                    queue: queueID, priority: task.priority, dependencies: dependencies,
                    partialCount: task.outputs.count, estimate: task.expectedSeconds,
                    retry: task.retryPolicy, timeout: task.timeout, role: coreRole)
            case .trigger:
                // A trigger's own timeout ends its check loop; the core needs no deadline of its own.
                return TaskSpec(queue: queueID, dependencies: dependencies, estimate: 0)
            }
        }
    }

    public var workflow: Workflow
    public var nodes: [Node]
    public var index: [String: Int]
    /// The workflow's queues, plus `triggerQueue` when a trigger is used.
    public var queues: [WorkflowQueue]

    public var mainCount: Int { nodes.count(where: { $0.role == .main }) }
}

extension WorkflowTask {
    /// Expected duration in seconds: `estimate`, or for a replayed wait its length.
    public var expectedSeconds: Double? {
        if let estimate { return estimate }
        if case .wait(let seconds) = action { return seconds }
        return nil
    }
}

extension Workflow {
    /// Resolves every need and checks the whole graph, reporting every problem at once.
    public func plan() throws(WorkflowValidationError) -> WorkflowPlan {
        var errors: [WorkflowError] = []
        var taskIndex: [String: Int] = [:]
        taskIndex.reserveCapacity(tasks.count)
        for (position, task) in tasks.enumerated() {
            if taskIndex[task.id] == nil { taskIndex[task.id] = position }
        }
        var triggerIndex: [String: Int] = [:]
        for (position, trigger) in triggers.enumerated() {
            if triggerIndex[trigger.name] != nil {
                errors.append(
                    WorkflowError(.duplicateID, "trigger '\(trigger.name)' is defined twice", at: trigger.location))
            } else {
                triggerIndex[trigger.name] = position
            }
        }
        let queueNames = Set(queues.map(\.name))
        var usedTriggers: [Int] = []
        var graph = Graph<String>(queues: queueNames.union([WorkflowPlan.triggerQueue]))
        var edgesByTask: [[Graph<String>.Edge]] = []

        for task in tasks {
            var edges: [Graph<String>.Edge] = []
            for need in task.needs {
                switch need.target {
                case .trigger(let name):
                    guard let position = triggerIndex[name] else {
                        let known = triggers.map(\.name).sorted().joined(separator: ", ")
                        errors.append(
                            WorkflowError(
                                .unknownTrigger,
                                "'\(task.id)' needs unknown trigger '@\(name)'"
                                    + (known.isEmpty ? " (no triggers are defined)" : " (defined: \(known))"),
                                at: need.location))
                        continue
                    }
                    if !usedTriggers.contains(position) { usedTriggers.append(position) }
                    edges.append(Graph.Edge("@" + name, location: need.location))
                case .task(let name), .output(let name, _):
                    let members = taskIndex[name] != nil ? [name] : (arrays[name] ?? [])
                    guard !members.isEmpty else {
                        errors.append(
                            WorkflowError(
                                YAMLWorkflowParser.hasPlaceholder(name) ? .badExpansion : .unknownDependency,
                                YAMLWorkflowParser.hasPlaceholder(name)
                                    ? "'\(task.id)' needs '\(name)', which has an unknown parameter and names no task array"
                                    : "'\(task.id)' needs unknown task '\(name)'",
                                at: need.location))
                        continue
                    }
                    for member in members {
                        guard case .output(_, let output) = need.target else {
                            edges.append(Graph.Edge(member, location: need.location))
                            continue
                        }
                        let source = tasks[taskIndex[member]!]
                        guard let item = source.outputs.firstIndex(of: output) else {
                            let declared =
                                source.outputs.isEmpty
                                ? "declares no outputs" : "declares \(source.outputs.joined(separator: ", "))"
                            errors.append(
                                WorkflowError(
                                    .unknownOutput,
                                    "'\(task.id)' needs output '\(output)' of '\(member)', which \(declared)",
                                    at: need.location))
                            continue
                        }
                        edges.append(Graph.Edge(member, item: item, location: need.location))
                    }
                }
            }
            for edge in edges where !edge.id.hasPrefix("@") {
                guard let source = taskIndex[edge.id], tasks[source].role != task.role else { continue }
                errors.append(
                    WorkflowError(
                        .crossRoleDependency,
                        "'\(task.id)' (\(task.role.rawValue)) needs '\(edge.id)' (\(tasks[source].role.rawValue)); "
                            + "on_success and on_failure tasks run after the main graph and may only need tasks of their own group",
                        at: edge.location))
            }
            edgesByTask.append(edges)
        }
        for (task, edges) in zip(tasks, edgesByTask) {
            var unique = edges
            if edges.count > 1 {
                var seen: Set<Graph<String>.Edge> = []
                unique = edges.filter { seen.insert(Graph.Edge($0.id, item: $0.item)).inserted }
            }
            graph.add(
                Graph.Node(
                    id: task.id, queue: task.queue, dependencies: unique, partialCount: task.outputs.count,
                    priority: task.priority, estimate: task.expectedSeconds, location: task.location))
        }
        for position in usedTriggers {
            let trigger = triggers[position]
            graph.add(Graph.Node(id: "@" + trigger.name, queue: WorkflowPlan.triggerQueue, location: trigger.location))
        }
        for queue in queues where queue.width < 1 {
            errors.append(
                WorkflowError(.invalidValue, "queue '\(queue.name)' needs a width of at least 1", at: queue.location))
        }

        // One pass: the order when the graph is sound, every problem otherwise.
        var ordered: [Graph<String>.Node] = []
        do {
            ordered = try graph.validated()
        } catch {
            for problem in error.problems {
                switch problem {
                case .duplicateID(let id, let first, let again):
                    errors.append(
                        WorkflowError(
                            .duplicateID,
                            "duplicate task id '\(id)'" + (first.map { " (first defined at \($0))" } ?? ""),
                            at: again))
                case .selfDependency(let id, let location):
                    errors.append(WorkflowError(.selfDependency, "'\(id)' needs itself", at: location))
                case .unknownQueue(let queue, let node, let location):
                    let known = queues.map(\.name).joined(separator: ", ")
                    errors.append(
                        WorkflowError(
                            .unknownQueue, "'\(node)' uses unknown queue '\(queue)' (declared: \(known))", at: location)
                    )
                case .cycle(let members):
                    let path = (members + [members[0]]).joined(separator: " → ")
                    let first = taskIndex[members[0]].flatMap { tasks[$0].location }
                    errors.append(WorkflowError(.cycle, "dependency cycle: \(path)", at: first))
                case .unknownDependency, .itemOutOfRange:
                    break  // reported above, with the need's own wording
                }
            }
        }
        guard errors.isEmpty else { throw WorkflowValidationError(Self.sorted(errors)) }

        // Each graph node's task (or trigger), then the roles in order, keeping the topological order within each.
        let kinds: [WorkflowPlan.Node.Kind] = ordered.map { node in
            node.id.hasPrefix("@")
                ? .trigger(triggers[triggerIndex[String(node.id.dropFirst())]!]) : .task(tasks[taskIndex[node.id]!])
        }
        var nodes: [WorkflowPlan.Node] = []
        nodes.reserveCapacity(ordered.count)
        for role in [WorkflowTask.Role.main, .onSuccess, .onFailure] {
            for (node, kind) in zip(ordered, kinds) {
                let nodeRole: WorkflowTask.Role = if case .task(let task) = kind { task.role } else { .main }
                guard nodeRole == role else { continue }
                nodes.append(
                    WorkflowPlan.Node(id: node.id, kind: kind, queue: node.queue, dependencies: [], role: role))
            }
        }
        var index: [String: Int] = [:]
        index.reserveCapacity(nodes.count)
        for (position, node) in nodes.enumerated() { index[node.id] = position }
        for node in ordered {
            nodes[index[node.id]!].dependencies = node.dependencies.map {
                Dependency(TaskID(index[$0.id]!), item: $0.item)
            }
        }
        var planQueues = queues
        if !usedTriggers.isEmpty {
            planQueues.append(WorkflowQueue(name: WorkflowPlan.triggerQueue, width: usedTriggers.count))
        }
        return WorkflowPlan(workflow: self, nodes: nodes, index: index, queues: planQueues)
    }

    static func problemWithID(_ id: String) -> String? {
        if id.isEmpty { return "is empty" }
        // Plain ASCII (the usual case) is checked byte by byte.
        if id.utf8.allSatisfy({
            $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ".") && $0 != UInt8(ascii: "@") && $0 != UInt8(ascii: "/")
        }) {
            return nil
        }
        if let control = YAMLWorkflowParser.firstControlCharacter(id) {
            return "may not contain the control character \(YAMLWorkflowParser.describe(control))"
        }
        if let bad = id.first(where: { $0 == "." || $0 == "@" || $0 == "/" || $0.isWhitespace }) {
            return "may not contain '\(bad)' ('.' separates a task from its output, '@' marks a trigger)"
        }
        return nil
    }

    static func sorted(_ errors: [WorkflowError]) -> [WorkflowError] {
        errors.enumerated().sorted { lhs, rhs in
            let l = lhs.element.location.map { ($0.line, $0.column) } ?? (Int.max, 0)
            let r = rhs.element.location.map { ($0.line, $0.column) } ?? (Int.max, 0)
            return l != r ? l < r : lhs.offset < rhs.offset
        }.map(\.element)
    }
}
