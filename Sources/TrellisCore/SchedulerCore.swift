import HeapModule

/// The pure scheduling state machine shared by every Trellis driver.
///
/// The core keeps the graph's bookkeeping: dependency counters, per-queue ready heaps, widths, attempts,
/// retries, timeouts and the ordering policy. It performs no I/O, starts nothing and reads no clock. A driver
/// feeds it events together with `now` (time since the driver's origin) and performs the actions it appends:
///
/// ```swift
/// var core = SchedulerCore(policy: .fifo)
/// let q = try core.addQueue(width: 2)
/// var actions: [SchedulerAction] = []
/// let a = try core.submit(TaskSpec(queue: q), now: .zero, into: &actions)
/// let b = try core.submit(TaskSpec(queue: q, dependencies: [Dependency(a)]), now: .zero, into: &actions)
/// core.start(now: .zero, into: &actions)          // actions: [.dispatch(a, queue: q, attempt: 1)]
/// core.succeeded(a, attempt: 1, now: .seconds(1), into: &actions)
///                                                 // + .completed(a, .succeeded), .dispatch(b, …)
/// ```
///
/// Every event costs amortised O(log n) in the number of ready tasks plus the edges it touches; nothing
/// rescans all tasks except `cancelAll` and a fail-fast abort, which end every unfinished task anyway.
public struct SchedulerCore: Sendable {
    /// The policies of the initial job (`JobID.initial`).
    public let policy: SchedulingPolicy
    public let failurePolicy: FailurePolicy
    public let execution: Execution

    var tasks: [TaskRecord] = []
    var queues: [QueueState] = []
    var jobs: [JobState] = []
    /// Whether some job orders by ranks (output-first, critical-path).
    var anyJobUsesRanks = false
    /// Jobs with a barrier policy (wave, threshold).
    var barrierJobs: [Int32] = []
    /// Jobs whose main tasks have all ended and whose finale is to be decided at the next flush.
    var jobsToDecide: [Int32] = []
    var extras: [Int32: TaskExtras] = [:]
    /// Workers and placement classes (`.workers` execution only).
    var pool = WorkerPool()

    // Edge arenas: singly linked lists, so a task costs no allocation of its own.
    var successorTarget: [Int32] = []
    var successorNext: [Int32] = []
    var predecessorSource: [Int32] = []
    var predecessorItem: [Int32] = []
    var predecessorNext: [Int32] = []
    /// Successors waiting for one partial result of a producer, keyed by producer and item.
    var itemSuccessors: [ItemKey: Int32] = [:]
    /// Partial results yielded ahead of a gap (named outputs may be signalled in any order); a task's
    /// `emitted` counts only the unbroken prefix, and absorbs these as the gap closes.
    var itemsAhead: Set<ItemKey> = []

    /// Tasks that became ready since the last flush; enqueued once ranks are current.
    var newlyReady: [Int32] = []
    var dirtyQueues: [Int32] = []
    /// Tasks below this id have ranks computed from all their successors known so far.
    var rankWatermark = 0

    /// Lowest id that may still be unfinished; advanced lazily.
    var firstUnfinished = 0

    public internal(set) var isStarted = false
    public internal(set) var isPaused = false
    /// Tasks submitted and not finished.
    public internal(set) var unfinishedCount = 0
    public internal(set) var counts = OutcomeCounts()
    /// Events answered `.stale` so far.
    public internal(set) var staleReports = 0

    struct QueueState {
        var width: Int
        var job: Int32
        var running = 0
        /// Tasks admitted into their placement class, not yet on a worker (`.workers` execution).
        var admitted = 0
        var ready = Heap<ReadyEntry>()
        var isDirty = false

        /// Slots running or promised to admitted tasks.
        var taken: Int { running + admitted }
    }

    struct ItemKey: Hashable {
        var task: Int32
        var item: Int32
    }

    public init(
        policy: SchedulingPolicy = .outputFirst,
        failurePolicy: FailurePolicy = .continueIndependent,
        execution: Execution = .queueSlots
    ) {
        self.policy = policy
        self.failurePolicy = failurePolicy
        self.execution = execution
        if case .workers(let leaseTimeout) = execution { pool.leaseTimeout = leaseTimeout }
        _ = addJob(policy: policy, failurePolicy: failurePolicy)
    }

    var isDispatching: Bool { isStarted && !isPaused }

    var usesWorkers: Bool {
        if case .workers = execution { return true }
        return false
    }

    // MARK: - Queries

    public var taskCount: Int { tasks.count }
    public var queueCount: Int { queues.count }

    public func width(of queue: QueueID) -> Int { queues[queue.rawValue].width }
    public func runningCount(of queue: QueueID) -> Int { queues[queue.rawValue].running }

    public func state(of task: TaskID) -> TaskState {
        let record = tasks[task.rawValue]
        switch record.phase {
        case .waiting: return .waiting
        case .ready: return .ready
        case .running: return .running(attempt: Int(record.attempt))
        case .backoff: return .retrying(afterAttempt: Int(record.attempt))
        case .succeeded, .failed, .cancelled, .upstreamFailed, .skipped:
            return .finished(outcome(of: Int32(task.rawValue)))
        }
    }

    /// The final outcome, or `nil` while the task is unfinished.
    public func outcome(of task: TaskID) -> TaskOutcome? {
        let record = tasks[task.rawValue]
        return record.phase.isTerminal ? outcome(of: Int32(task.rawValue)) : nil
    }

    /// Partial results a producer has yielded so far.
    public func emittedCount(of task: TaskID) -> Int {
        let record = tasks[task.rawValue]
        var count = Int(record.emitted)
        for item in Int(record.emitted)..<Int(record.partialCount)
        where itemsAhead.contains(ItemKey(task: Int32(task.rawValue), item: Int32(item))) {
            count += 1
        }
        return count
    }

    /// Whether producer `task` has yielded partial result `item`.
    public func hasEmitted(_ task: TaskID, item: Int) -> Bool {
        isEmitted(Int32(task.rawValue), item: Int32(item))
    }

    func isEmitted(_ task: Int32, item: Int32) -> Bool {
        item < tasks[Int(task)].emitted || itemsAhead.contains(ItemKey(task: task, item: item))
    }

    func outcome(of id: Int32) -> TaskOutcome {
        let record = tasks[Int(id)]
        switch record.phase {
        case .succeeded: return .succeeded
        case .failed:
            switch record.reason {
            case 1: return .failed(.timedOut)
            case 2: return .failed(.missingPartialResults(emitted: emittedCount(of: TaskID(Int(id)))))
            default: return .failed(.error)
            }
        case .cancelled: return .cancelled(cause: record.cause < 0 ? nil : TaskID(Int(record.cause)))
        case .upstreamFailed: return .upstreamFailed(root: TaskID(Int(record.cause)))
        case .skipped: return .skipped
        case .waiting, .ready, .running, .backoff:
            preconditionFailure("Internal inconsistency: outcome of unfinished task in phase \(record.phase)")
        }
    }

    // MARK: - Queues and life cycle

    /// Adds a queue with `width` slots to `job`; its tasks follow the job's policies.
    public mutating func addQueue(width: Int, job: JobID = .initial) throws(TrellisCoreError) -> QueueID {
        guard width >= 1 else {
            throw TrellisCoreError(code: .invalidWidth, message: "a queue needs a width of at least 1, got \(width)")
        }
        guard job.rawValue >= 0, job.rawValue < jobs.count else {
            throw TrellisCoreError(code: .unknownJob, message: "\(job) does not exist (\(jobs.count) jobs)")
        }
        queues.append(QueueState(width: width, job: Int32(job.rawValue)))
        return QueueID(queues.count - 1)
    }

    /// Changes a queue's width; a wider queue dispatches at once, a narrower one lets running work finish.
    public mutating func setWidth(
        _ width: Int,
        of queue: QueueID,
        now: Duration,
        into actions: inout [SchedulerAction]
    ) throws(TrellisCoreError) {
        guard width >= 1 else {
            throw TrellisCoreError(code: .invalidWidth, message: "a queue needs a width of at least 1, got \(width)")
        }
        try checkQueue(queue)
        queues[queue.rawValue].width = width
        markDirty(Int32(queue.rawValue))
        flush(now: now, into: &actions)
    }

    /// Begins dispatching. Submissions before `start` only accumulate.
    public mutating func start(now: Duration, into actions: inout [SchedulerAction]) {
        isStarted = true
        markAllQueuesDirty()
        flush(now: now, into: &actions)
    }

    /// Stops dispatching; running attempts go on and report as usual.
    public mutating func pause() {
        isPaused = true
    }

    /// Dispatches again after `pause`.
    public mutating func resume(now: Duration, into actions: inout [SchedulerAction]) {
        isPaused = false
        markAllQueuesDirty()
        flush(now: now, into: &actions)
    }

    // MARK: - Submission

    /// Adds a task. Its dependencies must already be submitted; a dependency that has already failed or been
    /// cancelled finishes the new task at once (as upstream-failed or cancelled).
    @discardableResult
    public mutating func submit(
        _ spec: TaskSpec,
        now: Duration,
        into actions: inout [SchedulerAction]
    ) throws(TrellisCoreError) -> TaskID {
        try checkQueue(spec.queue)
        try checkSpec(spec)
        let id = Int32(tasks.count)
        let job = queues[spec.queue.rawValue].job
        if spec.role == .main, let decision = jobs[Int(job)].decision {
            throw TrellisCoreError(
                code: .finaleStarted,
                message: "job#\(job) has already started its \(decision == .onSuccess ? "on_success" : "on_failure") "
                    + "finale; it takes no more main tasks")
        }
        var doom: (phase: TaskRecord.Phase, cause: Int32)?
        for dependency in spec.dependencies {
            let source = dependency.task.rawValue
            guard source >= 0, source < tasks.count else {
                throw TrellisCoreError(
                    code: .unknownDependency,
                    message: "task#\(id) depends on \(dependency.task), which has not been submitted"
                )
            }
            if let item = dependency.item, item < 0 || item >= Int(tasks[source].partialCount) {
                throw TrellisCoreError(
                    code: .itemOutOfRange,
                    message: "task#\(id) depends on item \(item) of \(dependency.task), which yields "
                        + "\(tasks[source].partialCount) partial results"
                )
            }
            if spec.role == .main, role(of: Int32(source)) != .main, jobIndex(of: Int32(source)) == job {
                throw TrellisCoreError(
                    code: .invalidTask,
                    message: "task#\(id) is main work of job#\(job), so it cannot need \(dependency.task), which is "
                        + "part of that job's finale (it runs only after the main work)")
            }
            if doom == nil, !isSatisfied(dependency), tasks[source].phase.isTerminal {
                doom = inheritedDoom(from: Int32(source))
            }
        }
        var placementClass: Int32 = 0
        if let placement = spec.placementIfAny { placementClass = try self.placementClass(for: placement) }
        let cost = max(0, spec.estimate ?? 1)
        var record = TaskRecord(
            phase: .waiting,
            queue: Int32(spec.queue.rawValue),
            priority: Int32(clamping: spec.priority),
            partialCount: Int32(clamping: spec.partialCount),
            rank: initialRank(id: id, cost: cost, policy: jobs[Int(job)].policy),
            cost: cost
        )
        if spec.retry.maxAttempts > 1 || spec.timeout != nil || placementClass != 0 || spec.role != .main {
            record.flags.insert(.hasExtras)
            extras[id] = TaskExtras(
                retry: spec.retry, timeout: spec.timeout, placementClass: placementClass, role: spec.role)
        }
        if spec.held { record.flags.insert(.held) }
        tasks.append(record)
        for dependency in spec.dependencies {
            let source = Int32(dependency.task.rawValue)
            let item = Int32(dependency.item ?? -1)
            predecessorSource.append(source)
            predecessorItem.append(item)
            predecessorNext.append(tasks[Int(id)].firstPredecessor)
            tasks[Int(id)].firstPredecessor = Int32(predecessorSource.count - 1)
            guard doom == nil, !isSatisfied(dependency) else { continue }
            tasks[Int(id)].remaining += 1
            successorTarget.append(id)
            if item < 0 {
                successorNext.append(tasks[Int(source)].firstSuccessor)
                tasks[Int(source)].firstSuccessor = Int32(successorTarget.count - 1)
            } else {
                let key = ItemKey(task: source, item: item)
                successorNext.append(itemSuccessors[key] ?? -1)
                itemSuccessors[key] = Int32(successorTarget.count - 1)
            }
        }
        unfinishedCount += 1
        jobs[Int(job)].taskAdded(id, isMain: spec.role == .main, listed: jobs.count > 1)
        if spec.role == .main {
            // Main work: counted above.
        } else if let decision = jobs[Int(job)].decision {
            if decision != spec.role { doom = (.skipped, -1) }
        } else {
            // Gated: one more input, the end of the job's main tasks.
            tasks[Int(id)].flags.insert(.gated)
            tasks[Int(id)].remaining += 1
            jobs[Int(job)].gated.append(id)
            if jobs[Int(job)].mainUnfinished == 0 { jobsToDecide.append(job) }
        }
        if let doom {
            finish(id, phase: doom.phase, cause: doom.cause, into: &actions)
        } else if tasks[Int(id)].remaining == 0 {
            makeReady(id)
        }
        flush(now: now, into: &actions)
        return TaskID(Int(id))
    }

    func initialRank(id: Int32, cost: Double, policy: SchedulingPolicy) -> Double {
        switch policy {
        case .outputFirst: Double(id)
        case .criticalPath: cost
        case .fifo, .wave, .threshold: 0
        }
    }

    /// Whether a dependency is satisfied now.
    func isSatisfied(_ dependency: Dependency) -> Bool {
        if let item = dependency.item { return isEmitted(Int32(dependency.task.rawValue), item: Int32(item)) }
        return tasks[dependency.task.rawValue].phase == .succeeded
    }

    /// How a task that depends on the finished, unsuccessful `source` ends.
    func inheritedDoom(from source: Int32) -> (phase: TaskRecord.Phase, cause: Int32) {
        let record = tasks[Int(source)]
        switch record.phase {
        case .failed: return (.upstreamFailed, source)
        case .upstreamFailed: return (.upstreamFailed, record.cause)
        case .cancelled: return (.cancelled, source)
        case .skipped: return (.skipped, source)
        case .succeeded, .waiting, .ready, .running, .backoff:
            preconditionFailure("Internal inconsistency: doom inherited from task#\(source) in phase \(record.phase)")
        }
    }

    /// The placement class of a new task; checked before anything changes.
    mutating func placementClass(for placement: Placement) throws(TrellisCoreError) -> Int32 {
        guard !placement.isAnywhere else { return 0 }
        guard usesWorkers else {
            throw TrellisCoreError(
                code: .invalidPlacement, message: "this core runs tasks in queue slots; it cannot place \(placement)")
        }
        if let bad = placement.resources.first(where: { !$0.value.isFinite }) {
            throw TrellisCoreError(
                code: .invalidPlacement, message: "resource '\(bad.key)' needs a finite amount, got \(bad.value)")
        }
        return pool.placementClass(of: placement)
    }

    /// Largest number of partial results a producer may promise.
    public static let maxPartialCount = 1 << 24

    /// Refuses numbers the core could not compute with: a negative or huge partial count, an estimate or a
    /// retry multiplier that is not a finite amount, a negative or absurd delay.
    func checkSpec(_ spec: TaskSpec) throws(TrellisCoreError) {
        guard spec.partialCount >= 0, spec.partialCount <= Self.maxPartialCount else {
            throw TrellisCoreError(
                code: .invalidTask,
                message: "a task yields between 0 and \(Self.maxPartialCount) partial results, not \(spec.partialCount)"
            )
        }
        if let estimate = spec.estimate, !estimate.isFinite {
            throw TrellisCoreError(code: .invalidTask, message: "an estimate must be a finite number, got \(estimate)")
        }
        let retry = spec.retry
        let longest = Duration.seconds(365 * 24 * 3600)
        guard retry.multiplier.isFinite, retry.multiplier >= 0, retry.multiplier <= 1_000,
            retry.initialBackoff >= .zero, retry.initialBackoff <= longest,
            retry.maxBackoff >= .zero, retry.maxBackoff <= longest
        else {
            throw TrellisCoreError(
                code: .invalidTask,
                message: "a retry policy needs delays between 0 and 365 days and a multiplier between 0 and 1000")
        }
        if let timeout = spec.timeout, timeout < .zero || timeout > longest {
            throw TrellisCoreError(code: .invalidTask, message: "a timeout lies between 0 and 365 days, not \(timeout)")
        }
    }

    @inline(__always)
    func checkQueue(_ queue: QueueID) throws(TrellisCoreError) {
        guard queue.rawValue >= 0, queue.rawValue < queues.count else { throw unknownQueue(queue) }
    }

    func unknownQueue(_ queue: QueueID) -> TrellisCoreError {
        TrellisCoreError(code: .unknownQueue, message: "\(queue) does not exist (\(queues.count) queues)")
    }

}
