internal import HeapModule
internal import TrellisCore

/// The predicted course of a run.
public struct SimulationResult: Sendable {
    public struct QueueUse: Sendable {
        public var name: String
        public var width: Int
        /// Task-seconds of work the queue ran.
        public var busy: Double
        /// `busy / (width × makespan)`.
        public var utilisation: Double
    }

    /// From the first start to the last end of the main graph, then the `on_success` tasks.
    public var makespan: Double
    public var queues: [QueueUse]
    /// The longest chain of dependencies by expected duration, first task first.
    public var criticalPath: [String]
    public var criticalPathSeconds: Double
    /// Sum of the expected durations of the main graph and the `on_success` tasks (what a simulated run does).
    public var totalWork: Double
    public var taskCount: Int
    /// Tasks with neither an `estimate` nor a recorded runtime; counted as 0 s.
    public var withoutEstimate: Int
    /// Scheduling events the core handled.
    public var events: Int
}

/// Runs a plan through the same scheduling core on a virtual clock: each task takes its expected duration,
/// every task succeeds, named outputs are signalled when their task ends, triggers hold at once.
public enum Simulator {
    struct Finish: Comparable {
        var time: Double
        var sequence: Int
        var task: Int32
        var attempt: Int32

        static func < (lhs: Finish, rhs: Finish) -> Bool {
            (lhs.time, lhs.sequence) < (rhs.time, rhs.sequence)
        }
    }

    public static func run(_ plan: WorkflowPlan) -> SimulationResult {
        var durations = [Double](repeating: 0, count: plan.nodes.count)
        var withoutEstimate = 0
        for (position, node) in plan.nodes.enumerated() {
            guard let task = node.task else { continue }
            if let seconds = task.expectedSeconds {
                durations[position] = seconds
            } else {
                withoutEstimate += 1
            }
        }
        var busy = [Double](repeating: 0, count: plan.queues.count)
        var queueIndex: [String: Int] = [:]
        for (position, queue) in plan.queues.enumerated() { queueIndex[queue.name] = position }

        var core = SchedulerCore(policy: plan.workflow.policy, failurePolicy: plan.workflow.failurePolicy)
        var queueIDs: [QueueID] = []
        for queue in plan.queues {
            guard let id = try? core.addQueue(width: queue.width) else {
                preconditionFailure("Internal inconsistency: queue '\(queue.name)' has width \(queue.width)")
            }
            queueIDs.append(id)
        }
        var actions: [SchedulerAction] = []
        var coreToNode: [Int] = []
        var nodeToCore = [Int](repeating: -1, count: plan.nodes.count)
        func seconds(_ time: Double) -> Duration { .nanoseconds(Int64((time * 1e9).rounded())) }

        var pending = Heap<Finish>()
        var sequence = 0
        var events = 0
        var now = 0.0
        func submit(_ role: WorkflowTask.Role) {
            for (position, node) in plan.nodes.enumerated() where node.role == role {
                var spec = node.spec(queue: queueIDs[queueIndex[node.queue]!])
                spec.dependencies = spec.dependencies.map {
                    Dependency(TaskID(nodeToCore[$0.task.rawValue]), item: $0.item)
                }
                spec.timeout = nil
                guard let id = try? core.submit(spec, now: seconds(now), into: &actions) else {
                    preconditionFailure(
                        "Internal inconsistency: the core refused node '\(node.id)' of a validated plan")
                }
                nodeToCore[position] = id.rawValue
                coreToNode.append(position)
            }
        }
        func perform() {
            for action in actions {
                guard case .dispatch(let task, _, let attempt) = action else { continue }
                let node = coreToNode[task.rawValue]
                busy[queueIndex[plan.nodes[node].queue]!] += durations[node]
                pending.insert(
                    Finish(
                        time: now + durations[node], sequence: sequence, task: Int32(task.rawValue),
                        attempt: Int32(attempt)))
                sequence += 1
            }
            actions.removeAll(keepingCapacity: true)
        }
        func drain() {
            while let finish = pending.popMin() {
                now = finish.time
                let task = TaskID(Int(finish.task))
                let node = plan.nodes[coreToNode[task.rawValue]]
                for item in node.outputs.indices {
                    core.partialResult(
                        task, index: item, attempt: Int(finish.attempt), now: seconds(now), into: &actions)
                    events += 1
                }
                core.succeeded(task, attempt: Int(finish.attempt), now: seconds(now), into: &actions)
                events += 1
                perform()
            }
        }

        // Every task succeeds in a simulation, so the core runs the on_success finale and skips on_failure.
        submit(.main)
        submit(.onSuccess)
        submit(.onFailure)
        core.start(now: .zero, into: &actions)
        perform()
        drain()
        let makespan = now

        let path = criticalPath(plan, durations: durations)
        return SimulationResult(
            makespan: makespan,
            queues: plan.queues.enumerated().map { position, queue in
                SimulationResult.QueueUse(
                    name: queue.name, width: queue.width, busy: busy[position],
                    utilisation: makespan > 0 ? busy[position] / (Double(queue.width) * makespan) : 0)
            },
            criticalPath: path.nodes, criticalPathSeconds: path.seconds,
            totalWork: plan.nodes.indices.filter { plan.nodes[$0].role != .onFailure }.reduce(0) { $0 + durations[$1] },
            taskCount: plan.nodes.count(where: { $0.task != nil }),
            withoutEstimate: withoutEstimate, events: events)
    }

    /// The longest path by expected duration through the main graph (a need on an output counts as a need on
    /// the whole task, which is the pessimistic reading).
    public static func criticalPath(_ plan: WorkflowPlan, durations: [Double]) -> (nodes: [String], seconds: Double) {
        var finish = [Double](repeating: 0, count: plan.nodes.count)
        var previous = [Int](repeating: -1, count: plan.nodes.count)
        var best = -1
        for (position, node) in plan.nodes.enumerated() where node.role == .main {
            var start = 0.0
            for dependency in node.dependencies {
                let source = dependency.task.rawValue
                if previous[position] < 0 || finish[source] > start {
                    start = finish[source]
                    previous[position] = source
                }
            }
            finish[position] = start + durations[position]
            if best < 0 || finish[position] > finish[best] { best = position }
        }
        guard best >= 0 else { return ([], 0) }
        var path: [String] = []
        var cursor = best
        while cursor >= 0 {
            if plan.nodes[cursor].task != nil { path.append(plan.nodes[cursor].id) }
            cursor = previous[cursor]
        }
        return (path.reversed(), finish[best])
    }
}
