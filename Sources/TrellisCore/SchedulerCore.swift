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
    public internal(set) var execution: Execution

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
    /// Attempts of one task that may lose their worker before it fails for good (`nil`: no limit). A worker that
    /// dies of its task (out of memory, a crash) would otherwise take down one worker after another.
    public internal(set) var crashLimit: Int?

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

    /// Changes how long a worker's lease lasts from its next heartbeat on (a coordinator started again with
    /// another lease timeout than the one its snapshot was taken with); nothing for a core without workers.
    public mutating func setLeaseTimeout(_ leaseTimeout: Duration) {
        guard case .workers = execution else { return }
        execution = .workers(leaseTimeout: leaseTimeout)
        pool.leaseTimeout = leaseTimeout
    }

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

    /// How many attempts of `task` have started (0 before the first).
    public func attemptCount(of task: TaskID) -> Int { Int(tasks[task.rawValue].attempt) }

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
            case 3: return .failed(.crashed(losses: lostAttempts(of: TaskID(Int(id)))))
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
}
