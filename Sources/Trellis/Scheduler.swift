public import TrellisCore

/// Runs a graph of async tasks in parallel on named queues, each with its own width.
///
/// Pass a task's `Future` to another task to make a dependency; the policy decides the order among ready
/// tasks, after each task's explicit priority.
///
/// ```swift
/// let scheduler = Scheduler(policy: .outputFirst)
/// let acquire = try scheduler.queue("acquire", width: 1)
/// let compute = try scheduler.queue("compute", width: 2)
/// let a = acquire.submit { [Double](repeating: 1, count: 4) }
/// let b = compute.submit(a) { m in m.map { $0 * 2 } }
/// let c = compute.submit(a, b, priority: 5) { x, y in zip(x, y).map(+) }
/// scheduler.start()
/// let first = try await c.value
/// try await scheduler.wait()
/// ```
///
/// Each queue runs its tasks on `width` long-lived workers that suspend while idle: an idle scheduler costs
/// nothing. Submitting while running or paused is fine. When the last reference to the scheduler goes away,
/// its workers exit once the submitted work is done (work that can no longer start is cancelled).
public final class Scheduler: Sendable {
    let storage: SchedulerStorage
    public let policy: SchedulingPolicy
    public let failurePolicy: FailurePolicy

    /// - Parameters:
    ///   - policy: the order among ready tasks of equal priority.
    ///   - failurePolicy: what a task failing for good does to the rest.
    ///   - clock: drives timeouts, retry back-offs and the times in events and statistics.
    public init<C: Clock>(
        policy: SchedulingPolicy = .outputFirst,
        failurePolicy: FailurePolicy = .continueIndependent,
        clock: C = ContinuousClock()
    ) where C.Duration == Duration {
        self.policy = policy
        self.failurePolicy = failurePolicy
        self.storage = SchedulerStorage(policy: policy, failurePolicy: failurePolicy, clock: RuntimeClock(clock))
    }

    deinit {
        storage.release()
    }

    /// The widest a queue may be.
    public static let maxQueueWidth = 1 << 20

    /// The queue called `name`, created with `width` slots on first use; asking again with another width
    /// changes the width (a wider queue starts more work at once; a narrower one lets running work finish).
    /// A width outside `1...maxQueueWidth` throws `invalidQueue`.
    public func queue(_ name: String, width: Int) throws(TrellisError) -> TaskQueue {
        guard (1...Self.maxQueueWidth).contains(width) else {
            throw TrellisError(
                code: .invalidQueue,
                message: "queue '\(name)' needs a width from 1 to \(Self.maxQueueWidth), got \(width)")
        }
        return TaskQueue(scheduler: self, id: storage.queue(named: name, width: width), name: name)
    }

    /// The queue called `name` if it exists.
    public func existingQueue(_ name: String) -> TaskQueue? {
        storage.existingQueue(named: name).map { TaskQueue(scheduler: self, id: $0, name: name) }
    }

    /// Starts dispatching. Work submitted before `start` waits.
    public func start() { storage.start() }

    /// Stops starting tasks; running tasks finish.
    public func pause() { storage.pause() }

    /// Starts tasks again after `pause`; nothing is run twice.
    public func resume() { storage.resume() }

    /// Cancels a task and every task that still waits for it.
    public func cancel(_ task: TaskID) { storage.cancel(task) }

    /// Cancels every unfinished task.
    public func cancelAll() { storage.cancelAll() }

    /// Waits until all submitted work has finished (starting the scheduler if it was never started).
    /// Throws a `TrellisError` with code `.tasksFailed` listing the tasks that failed for good since the
    /// previous `wait()`; under `.failFast` the first of them is what cancelled the rest.
    public func wait() async throws {
        storage.start()
        await storage.waitUntilIdle()
        let failures = storage.takeFailures()
        guard let first = failures.first else { return }
        throw TrellisError(
            code: .tasksFailed,
            message: failures.count == 1
                ? first.message : "\(failures.count) tasks failed, first: \(first.message)",
            cause: first, failures: failures)
    }

    /// Task life-cycle events from now on, in causal order: started, partial results, succeeded (with the
    /// output), failed attempts, cancellations. Each call is a new subscription.
    public var events: AsyncStream<TaskEvent> { storage.subscribe() }

    /// Ends every event subscription (their `for await` loops finish).
    public func finishEvents() { storage.finishSubscribers() }

    /// Calls `handler` with the completed set as it grows (never a smaller set after a larger one).
    public func onCheckpoint(_ handler: @escaping @Sendable (Checkpoint) -> Void) {
        storage.state.withLock { $0.checkpointHandler = handler }
    }

    /// Where a task stands now: waiting, ready, running, retrying or finished with its outcome.
    public func state(of task: TaskID) -> TaskState {
        storage.state.withLock { $0.core.state(of: task) }
    }

    /// Counts, times, utilisation and peak concurrency so far.
    public var stats: PerformanceStats { storage.stats() }
}
