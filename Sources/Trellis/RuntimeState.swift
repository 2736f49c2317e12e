import DequeModule
import Synchronization
import TrellisCore

/// A dispatched attempt on its way to a worker.
struct Dispatched: Sendable {
    let task: TaskID
    let attempt: Int
    let queue: Int32
    let run: @Sendable (TaskID, Int) async throws -> Void
    /// Cancelled before any worker took it: report cancellation without running.
    var cancelled = false
}

/// What the runtime keeps per unfinished task; released when the task finishes.
struct Job {
    let run: @Sendable (TaskID, Int) async throws -> Void
    let sink: ResultBox
    let queue: Int32
    /// The worker running the current attempt (-1 while none).
    var worker: Int32 = -1
    var cancelRequested = false
}

/// A worker's cancellation handle, guarded apart from the scheduler state so that cancelling a Swift task
/// (which runs cancellation handlers synchronously) never happens under the scheduler's lock.
final class WorkerControl: Sendable {
    private struct State {
        var handle: Task<Void, Never>?
        var current: (task: TaskID, attempt: Int)?
        var pendingCancel: (task: TaskID, attempt: Int)?
        var cancelWhenStarted = false
    }

    private let state = Mutex(State())

    init() {}

    func setHandle(_ handle: Task<Void, Never>) {
        let cancelNow = state.withLock { state in
            state.handle = handle
            return state.cancelWhenStarted
        }
        if cancelNow { handle.cancel() }
    }

    /// Marks the attempt as running on this worker; `false` if it was cancelled before it began.
    func begin(_ task: TaskID, attempt: Int) -> Bool {
        state.withLock { state in
            if let pending = state.pendingCancel, pending.task == task, pending.attempt == attempt {
                state.pendingCancel = nil
                return false
            }
            state.current = (task, attempt)
            return true
        }
    }

    func end() {
        state.withLock { $0.current = nil }
    }

    /// Cancels the attempt if it runs here now, or as soon as it begins here. The handle is cancelled while
    /// this worker's own lock is held, so the worker cannot move on to another attempt meanwhile.
    func cancel(_ task: TaskID, attempt: Int) {
        state.withLock { state in
            if let current = state.current, current.task == task, current.attempt == attempt {
                if let handle = state.handle { handle.cancel() } else { state.cancelWhenStarted = true }
            } else {
                state.pendingCancel = (task, attempt)
            }
        }
    }
}

struct WorkerRecord {
    let queue: Int32
    let control: WorkerControl
    var startedAt: Duration = .zero
}

struct QueueRuntime {
    let name: String
    let id: QueueID
    var width: Int
    var handoff = Deque<Dispatched>()
    var idle: [(worker: Int32, continuation: UnsafeContinuation<Dispatched?, Never>)] = []
    var liveWorkers = 0
    var busyTime: Duration = .zero
    var attempts = 0
    var peak = 0
}

/// Side effects gathered under the lock and performed after leaving it.
struct Effects {
    var cancels: [(WorkerControl, TaskID, Int)] = []
    var timeouts: [(TaskID, Int, Duration)] = []
    var retries: [(TaskID, Duration)] = []
    var cancelledTimers: [Task<Void, Never>] = []
    var spawn: [Int32] = []
    var checkpoint: Checkpoint?

    var isEmpty: Bool {
        cancels.isEmpty && timeouts.isEmpty && retries.isEmpty && cancelledTimers.isEmpty && spawn.isEmpty
            && checkpoint == nil
    }
}

/// What a worker does after reporting an attempt.
enum WorkerStep {
    case run(Dispatched)
    case idle
    case exit
}

/// The runtime's whole mutable state, kept under one lock in `SchedulerStorage`.
struct RuntimeState {
    var core: SchedulerCore
    var actions: [SchedulerAction] = []
    var jobs: [Job?] = []
    var queues: [QueueRuntime] = []
    var queueIndex: [String: Int32] = [:]
    var workers: [WorkerRecord] = []
    var names: [Int32: String] = [:]
    var errors: [Int32: any Error] = [:]
    var producerItems: [Int32: [ResultBox]] = [:]
    var timers: [Int32: Task<Void, Never>] = [:]

    var isStarted = false
    var isReleased = false
    var waiters: [UnsafeContinuation<Void, Never>] = []
    var failures: [TrellisError] = []
    var reportedFailures = 0

    var subscribers: [Int: AsyncStream<TaskEvent>.Continuation] = [:]
    var nextSubscriber = 0
    var checkpointHandler: (@Sendable (Checkpoint) -> Void)?
    var completed: Set<TaskID> = []

    // Statistics.
    var startTime: Duration?
    var lastCompletion: Duration = .zero
    var firstResult: Duration?
    var coreTime: Duration = .zero
    var coreEvents = 0
    var running = 0
    var peak = 0

    init(core: SchedulerCore) {
        self.core = core
    }

    /// Adds a step's time in the core. One step in `coreTimeSampling` is timed and counts for all of them,
    /// so the hot path reads the clock once per step, not twice.
    mutating func recordCoreStep(entered: ContinuousClock.Instant) {
        coreEvents += 1
        if coreEvents % RuntimeState.coreTimeSampling == 0 {
            coreTime += entered.duration(to: .now) * RuntimeState.coreTimeSampling
        }
    }

    static let coreTimeSampling = 16

    var shouldWorkersExit: Bool { isReleased && core.unfinishedCount == 0 }

    func label(of task: TaskID) -> String? { names[Int32(task.rawValue)] }

    mutating func emit(_ task: TaskID, _ kind: TaskEvent.Kind, now: Duration) {
        guard !subscribers.isEmpty else { return }
        let queue = jobs[task.rawValue].map { queues[Int($0.queue)].name } ?? ""
        let event = TaskEvent(task: task, name: label(of: task), queue: queue, kind: kind, time: now)
        for subscriber in subscribers.values { subscriber.yield(event) }
    }

    /// Performs the core's actions. A dispatch for `me`'s queue goes to `me` first; others go to an idle
    /// worker of their queue or wait in its hand-off deque for the next worker that frees up.
    mutating func apply(now: Duration, me: Int32?, effects: inout Effects) -> Dispatched? {
        var mine: Dispatched?
        let myQueue = me.map { workers[Int($0)].queue }
        for action in actions {
            switch action {
            case .dispatch(let task, let queue, let attempt):
                let index = task.rawValue
                let queueIndex = Int32(queue.rawValue)
                jobs[index]!.cancelRequested = false
                let dispatched = Dispatched(task: task, attempt: attempt, queue: queueIndex, run: jobs[index]!.run)
                running += 1
                peak = max(peak, running)
                queues[queue.rawValue].peak = max(queues[queue.rawValue].peak, core.runningCount(of: queue))
                emit(task, .started(attempt: attempt), now: now)
                if mine == nil, let me, myQueue == queueIndex {
                    mine = dispatched
                    assign(task, to: me, now: now)
                } else if let (worker, continuation) = queues[queue.rawValue].idle.popLast() {
                    assign(task, to: worker, now: now)
                    continuation.resume(returning: dispatched)
                } else {
                    queues[queue.rawValue].handoff.append(dispatched)
                }
            case .completed(let task, let outcome):
                complete(task, outcome, now: now, effects: &effects)
            case .cancelRunning(let task, let attempt):
                jobs[task.rawValue]?.cancelRequested = true
                if let worker = jobs[task.rawValue]?.worker, worker >= 0 {
                    effects.cancels.append((workers[Int(worker)].control, task, attempt))
                }
            case .scheduleTimeout(let task, let attempt, let deadline):
                effects.timeouts.append((task, attempt, deadline))
            case .scheduleRetry(let task, let deadline):
                effects.retries.append((task, deadline))
            case .assign, .scheduleLease:
                preconditionFailure("Internal inconsistency: the runtime's core has no workers, yet it sent \(action)")
            }
        }
        actions.removeAll(keepingCapacity: true)
        if core.unfinishedCount == 0, !waiters.isEmpty {
            for waiter in waiters { waiter.resume() }
            waiters.removeAll()
        }
        if shouldWorkersExit { wakeIdleWorkersToExit() }
        return mine
    }

    mutating func assign(_ task: TaskID, to worker: Int32, now: Duration) {
        jobs[task.rawValue]!.worker = worker
        workers[Int(worker)].startedAt = now
    }

    mutating func wakeIdleWorkersToExit() {
        for index in queues.indices {
            for (_, continuation) in queues[index].idle { continuation.resume(returning: nil) }
            queues[index].idle.removeAll()
        }
    }

    /// A task's final state: settle its future (and a producer's items) and release its job.
    mutating func complete(_ task: TaskID, _ outcome: TaskOutcome, now: Duration, effects: inout Effects) {
        let index = Int32(task.rawValue)
        guard let job = jobs[task.rawValue] else {
            preconditionFailure("Internal inconsistency: \(task) completed twice (\(outcome))")
        }
        jobs[task.rawValue] = nil
        lastCompletion = now
        if !timers.isEmpty, let timer = timers.removeValue(forKey: index) { effects.cancelledTimers.append(timer) }
        switch outcome {
        case .succeeded:
            if firstResult == nil, let startTime { firstResult = now - startTime }
            if !subscribers.isEmpty { emit(task, .succeeded(output: job.sink.output ?? ()), now: now) }
            job.sink.publish()
            if !errors.isEmpty { errors[index] = nil }
            if checkpointHandler != nil {
                completed.insert(task)
                effects.checkpoint = Checkpoint(completed: completed, time: now)
            }
        case .failed(let reason):
            let error = failureError(task, reason)
            failures.append(error)
            job.sink.fail(error)
        case .cancelled(let cause):
            emit(task, .cancelled(cause: cause), now: now)
            var message = "\(describe(task)) was cancelled"
            if let cause { message += " because of \(describe(cause))" }
            job.sink.fail(TrellisError(code: .cancelled, message: message, task: task))
        case .upstreamFailed(let root):
            emit(task, .upstreamFailed(root: root), now: now)
            job.sink.fail(
                TrellisError(
                    code: .upstreamFailed, message: "\(describe(task)) did not run: \(describe(root)) failed",
                    task: task, cause: errors[Int32(root.rawValue)]))
        case .skipped:
            preconditionFailure("Internal inconsistency: \(task) skipped, but the runtime submits no finale tasks")
        }
        if !producerItems.isEmpty, let items = producerItems.removeValue(forKey: index), outcome != .succeeded {
            let error = TrellisError(code: .cancelled, message: "\(describe(task)) ended (\(outcome))", task: task)
            for item in items { item.fail(error) }
        }
    }

    func describe(_ task: TaskID) -> String {
        label(of: task).map { "\(task) '\($0)'" } ?? task.description
    }

    func failureError(_ task: TaskID, _ reason: FailureReason) -> TrellisError {
        let cause = errors[Int32(task.rawValue)]
        switch reason {
        case .error:
            return TrellisError(code: .taskFailed, message: "\(describe(task)) failed", task: task, cause: cause)
        case .timedOut:
            return TrellisError(code: .timedOut, message: "\(describe(task)) timed out", task: task, cause: cause)
        case .missingPartialResults(let emitted):
            return TrellisError(
                code: .missingPartialResults,
                message: "\(describe(task)) finished after yielding only \(emitted) partial results", task: task)
        case .crashed(let losses):
            return TrellisError(
                code: .taskFailed, message: "\(describe(task)) lost its worker \(losses) times", task: task)
        }
    }
}
