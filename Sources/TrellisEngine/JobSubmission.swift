internal import HeapModule
public import TrellisCore

/// A job's tasks as a driver hands them to the engine, whatever they came from (a workflow file under
/// `trellis run`, a request on the wire under `trellis server`). Tasks need other tasks of the submission by
/// position, in any order, or tasks the core already has by id; queues are the job's own.
public struct JobSubmission: Hashable, Sendable {
    /// A queue the submission adds to its job.
    public struct Queue: Hashable, Sendable {
        public var name: String
        public var width: Int

        public init(name: String, width: Int) {
            self.name = name
            self.width = width
        }
    }

    /// Which queue a task goes to.
    public enum QueueRef: Hashable, Sendable {
        /// One of the submission's `queues`, by position.
        case new(Int)
        /// A queue the job already has.
        case existing(QueueID)
    }

    /// What a task needs: another task of the submission, by position, or a task the core has.
    public enum Target: Hashable, Sendable {
        case batch(Int)
        case existing(TaskID)
    }

    public struct Need: Hashable, Sendable {
        public var target: Target
        /// Only this named output (partial result) of the target, which may still be running.
        public var item: Int?

        public init(_ target: Target, item: Int? = nil) {
            self.target = target
            self.item = item
        }
    }

    public struct Task: Hashable, Sendable {
        public var name: String
        public var queue: QueueRef
        /// Everything but the queue and the dependencies, which come from `queue` and `needs`.
        public var spec: TaskSpec
        public var needs: [Need]

        public init(name: String, queue: QueueRef, spec: TaskSpec, needs: [Need]) {
            self.name = name
            self.queue = queue
            self.spec = spec
            self.needs = needs
        }
    }

    public var policy: SchedulingPolicy
    public var failurePolicy: FailurePolicy
    public var queues: [Queue]
    public var tasks: [Task]

    public init(
        policy: SchedulingPolicy, failurePolicy: FailurePolicy, queues: [Queue] = [], tasks: [Task] = []
    ) {
        self.policy = policy
        self.failurePolicy = failurePolicy
        self.queues = queues
        self.tasks = tasks
    }
}

/// A submission the engine refused whole: nothing of it was added.
public struct SubmissionError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

extension EngineState {
    /// Adds a submission whole or not at all: to `job`, or to a new job with the submission's policies when
    /// `job` is `nil`. The submission's queues are added to the job first; its tasks go to the core in an
    /// order where each follows what it needs (the submission's own order wherever that allows). Returns the
    /// job and each task's id, in the submission's order. On a refusal nothing is added, not even the job.
    public mutating func submit(
        _ submission: JobSubmission, to job: JobID? = nil, now: Duration, into actions: inout [SchedulerAction]
    ) throws(SubmissionError) -> (job: JobID, ids: [TaskID]) {
        let tasks = submission.tasks
        func named(_ index: Int) -> String { "'\(tasks[index].name)'" }
        if let job, job.rawValue < 0 || job.rawValue >= core.jobCount {
            throw SubmissionError("there is no job \(job.rawValue)")
        }
        for queue in submission.queues where queue.width < 1 {
            throw SubmissionError("queue '\(queue.name)' needs a width of at least 1, got \(queue.width)")
        }
        let order = try Self.dependencyOrder(tasks, named: named)
        let base = core.taskCount
        var position = [Int](repeating: 0, count: tasks.count)
        for (rank, index) in order.enumerated() { position[index] = rank }
        let firstNewQueue = core.queueCount
        var specs: [TaskSpec] = []
        specs.reserveCapacity(tasks.count)
        for index in order {
            let task = tasks[index]
            var spec = task.spec
            switch task.queue {
            case .new(let queue):
                guard queue >= 0, queue < submission.queues.count else {
                    throw SubmissionError("\(named(index)) is in a queue the submission does not add")
                }
                spec.queue = QueueID(firstNewQueue + queue)
            case .existing(let queue):
                guard let job, queue.rawValue >= 0, queue.rawValue < core.queueCount, core.job(ofQueue: queue) == job
                else { throw SubmissionError("\(named(index)) is in \(queue), which is not a queue of its job") }
                spec.queue = queue
            }
            spec.dependencies = task.needs.map { need in
                switch need.target {
                case .batch(let other): Dependency(TaskID(base + position[other]), item: need.item)
                case .existing(let id): Dependency(id, item: need.item)
                }
            }
            specs.append(spec)
        }
        if let (offset, error) = core.firstProblem(in: specs, newQueues: submission.queues.count, of: job) {
            throw SubmissionError("\(named(order[offset])): \(error.message)")
        }
        do {
            // The submission is considered whole before anything of it is dispatched: the policy, not the order
            // of arrival, picks the first task to start.
            let holdsDispatch = core.isStarted && !core.isPaused
            if holdsDispatch { try apply(.paused, now: now, into: &actions) }
            defer {
                if holdsDispatch {
                    do {
                        try apply(.resumed, now: now, into: &actions)
                    } catch {
                        preconditionFailure("Internal inconsistency: the core refused to resume: \(error)")
                    }
                }
            }
            let target: JobID
            if let job {
                target = job
            } else {
                target = JobID(core.jobCount)
                try apply(
                    .jobAdded(policy: submission.policy, failurePolicy: submission.failurePolicy), now: now,
                    into: &actions)
            }
            for queue in submission.queues {
                try apply(.queueAdded(width: queue.width, job: target), now: now, into: &actions)
            }
            for spec in specs { try apply(.submitted(spec), now: now, into: &actions) }
            return (target, position.map { TaskID(base + $0) })
        } catch {
            preconditionFailure("Internal inconsistency: the core refused a submission it had checked: \(error)")
        }
    }

    /// An order of `tasks` in which each follows the tasks of the submission it needs, keeping the given order
    /// wherever that allows. A cycle is refused, naming its members.
    static func dependencyOrder(
        _ tasks: [JobSubmission.Task], named: (Int) -> String
    ) throws(SubmissionError) -> [Int] {
        var dependants = [[Int]](repeating: [], count: tasks.count)
        var waiting = [Int](repeating: 0, count: tasks.count)
        for (index, task) in tasks.enumerated() {
            for need in task.needs {
                guard case .batch(let other) = need.target else { continue }
                guard other >= 0, other < tasks.count else {
                    throw SubmissionError(
                        "\(named(index)) needs task \(other) of the submission, which has no such task")
                }
                guard other != index else { throw SubmissionError("\(named(index)) needs itself") }
                dependants[other].append(index)
                waiting[index] += 1
            }
        }
        var ready = Heap(tasks.indices.filter { waiting[$0] == 0 })
        var order: [Int] = []
        order.reserveCapacity(tasks.count)
        while let next = ready.popMin() {
            order.append(next)
            for dependant in dependants[next] {
                waiting[dependant] -= 1
                if waiting[dependant] == 0 { ready.insert(dependant) }
            }
        }
        guard order.count < tasks.count else { return order }
        // Walk needs among the tasks left over until one repeats: that is a cycle.
        var seen: [Int: Int] = [:]
        var path: [Int] = []
        var current = tasks.indices.first { waiting[$0] > 0 }!
        while seen[current] == nil {
            seen[current] = path.count
            path.append(current)
            current = tasks[current].needs.lazy.compactMap { need -> Int? in
                if case .batch(let other) = need.target, waiting[other] > 0 { return other }
                return nil
            }.first!
        }
        let cycle = path[seen[current]!...].reversed().map(named)
        throw SubmissionError("dependency cycle: " + (cycle + [cycle[0]]).joined(separator: " → "))
    }
}
