import Synchronization
import TrellisCore

/// Holds the scheduler's state under one lock and performs the core's actions after leaving it.
///
/// Workers and futures reference the storage, never the public `Scheduler`, so dropping the last
/// `Scheduler` reference lets idle workers exit once the submitted work is done.
final class SchedulerStorage: Sendable {
    let state: Mutex<RuntimeState>
    let clock: RuntimeClock

    init(policy: SchedulingPolicy, failurePolicy: FailurePolicy, clock: RuntimeClock) {
        self.state = Mutex(RuntimeState(core: SchedulerCore(policy: policy, failurePolicy: failurePolicy)))
        self.clock = clock
    }

    /// Runs one core transition under the lock, applies its actions, then performs the side effects.
    @discardableResult
    func step<R>(_ body: (inout RuntimeState, Duration) -> R) -> R {
        let (result, effects) = state.withLock { state -> (R, Effects) in
            let entered = ContinuousClock.now
            let now = clock.time(at: entered)
            let result = body(&state, now)
            var effects = Effects()
            _ = state.apply(now: now, me: nil, effects: &effects)
            state.recordCoreStep(entered: entered)
            return (result, effects)
        }
        if !effects.isEmpty { perform(effects) }
        return result
    }

    // MARK: - Queues and life cycle

    func queue(named name: String, width: Int) -> QueueID {
        let (id, spawn) = state.withLock { state -> (QueueID, [Int32]) in
            let now = clock.now()
            if let existing = state.queueIndex[name] {
                do {
                    try state.core.setWidth(width, of: QueueID(Int(existing)), now: now, into: &state.actions)
                } catch {
                    preconditionFailure("queue '\(name)': \(error)")
                }
                state.queues[Int(existing)].width = width
                var effects = Effects()
                _ = state.apply(now: now, me: nil, effects: &effects)
                return (QueueID(Int(existing)), state.isStarted ? state.addWorkers(queue: existing) : [])
            }
            let id: QueueID
            do {
                id = try state.core.addQueue(width: width)
            } catch {
                preconditionFailure("queue '\(name)': \(error)")
            }
            state.queues.append(QueueRuntime(name: name, id: id, width: width))
            state.queueIndex[name] = Int32(id.rawValue)
            return (id, state.isStarted ? state.addWorkers(queue: Int32(id.rawValue)) : [])
        }
        spawnWorkers(spawn)
        return id
    }

    func existingQueue(named name: String) -> QueueID? {
        state.withLock { $0.queueIndex[name].map { QueueID(Int($0)) } }
    }

    func start() {
        let spawn = step { state, now -> [Int32] in
            guard !state.isStarted else { return [] }
            state.isStarted = true
            state.startTime = now
            state.core.start(now: now, into: &state.actions)
            return state.queues.indices.flatMap { state.addWorkers(queue: Int32($0)) }
        }
        spawnWorkers(spawn)
    }

    func pause() {
        step { state, _ in state.core.pause() }
    }

    func resume() {
        step { state, now in state.core.resume(now: now, into: &state.actions) }
    }

    func cancel(_ task: TaskID) {
        step { state, now in _ = state.core.cancel(task, now: now, into: &state.actions) }
    }

    func cancelAll() {
        step { state, now in state.core.cancelAll(now: now, into: &state.actions) }
    }

    /// The public `Scheduler` is gone: workers exit once the submitted work is done. Work that can no longer
    /// start (never started, or paused) is cancelled, so no future waits forever.
    func release() {
        step { state, now in
            state.isReleased = true
            if !state.isStarted || state.core.isPaused { state.core.cancelAll(now: now, into: &state.actions) }
        }
    }

    // MARK: - Submission

    func submit(
        _ spec: TaskSpec,
        name: String?,
        sink: ResultBox,
        items: [ResultBox] = [],
        run: @escaping @Sendable (TaskID, Int) async throws -> Void
    ) -> TaskID {
        step { state, now in
            let id = TaskID(state.jobs.count)
            if let name { state.names[Int32(id.rawValue)] = name }
            if !items.isEmpty { state.producerItems[Int32(id.rawValue)] = items }
            state.jobs.append(Job(run: run, sink: sink, queue: Int32(spec.queue.rawValue)))
            let assigned: TaskID
            do {
                assigned = try state.core.submit(spec, now: now, into: &state.actions)
            } catch {
                preconditionFailure("Internal inconsistency: typed submission refused: \(error)")
            }
            precondition(assigned == id, "Internal inconsistency: core assigned \(assigned), runtime expected \(id)")
            state.emit(id, .submitted, now: now)
            return id
        }
    }

    /// A producer yielded partial result `index` (its value is already published).
    func partialResult(_ task: TaskID, index: Int, attempt: Int, value: any Sendable) {
        step { state, now in
            if state.core.partialResult(task, index: index, attempt: attempt, now: now, into: &state.actions)
                == .accepted
            {
                state.emit(task, .partialResult(index: index, value: value), now: now)
            }
        }
    }

    // MARK: - Waiting, events, statistics

    func waitUntilIdle() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                if state.core.unfinishedCount == 0 { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Failures since the last call.
    func takeFailures() -> [TrellisError] {
        state.withLock { state in
            defer { state.reportedFailures = state.failures.count }
            return Array(state.failures[state.reportedFailures...])
        }
    }

    func subscribe() -> AsyncStream<TaskEvent> {
        let (stream, continuation) = AsyncStream<TaskEvent>.makeStream(bufferingPolicy: .unbounded)
        let key = state.withLock { state in
            defer { state.nextSubscriber += 1 }
            state.subscribers[state.nextSubscriber] = continuation
            return state.nextSubscriber
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: key) }
        }
        return stream
    }

    func finishSubscribers() {
        let subscribers = state.withLock { state in
            defer { state.subscribers.removeAll() }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.finish() }
    }

    func stats() -> PerformanceStats {
        let now = clock.now()
        return state.withLock { state in
            let end = state.core.unfinishedCount == 0 ? state.lastCompletion : now
            let wall = state.startTime.map { max(.zero, end - $0) } ?? .zero
            let seconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) * 1e-18
            return PerformanceStats(
                counts: state.core.counts,
                submitted: state.core.taskCount,
                wallTime: wall,
                coreTime: state.coreTime,
                coreEvents: state.coreEvents,
                timeToFirstResult: state.firstResult,
                peakConcurrency: state.peak,
                queues: state.queues.map { queue in
                    let busy =
                        Double(queue.busyTime.components.seconds) + Double(queue.busyTime.components.attoseconds)
                        * 1e-18
                    return .init(
                        name: queue.name, width: queue.width, busyTime: queue.busyTime,
                        utilisation: seconds > 0 ? busy / (Double(queue.width) * seconds) : 0,
                        peakConcurrency: queue.peak, attempts: queue.attempts)
                },
                staleReports: state.core.staleReports
            )
        }
    }

    // MARK: - Effects

    func perform(_ effects: Effects) {
        for timer in effects.cancelledTimers { timer.cancel() }
        for (control, task, attempt) in effects.cancels { control.cancel(task, attempt: attempt) }
        for (task, attempt, deadline) in effects.timeouts {
            let timer = Task { [clock] in
                do { try await clock.sleep(deadline) } catch { return }
                self.step { state, now in
                    state.timers[Int32(task.rawValue)] = nil
                    _ = state.core.timedOut(task, attempt: attempt, now: now, into: &state.actions)
                }
            }
            state.withLock { state in
                if state.core.state(of: task) == .running(attempt: attempt) {
                    state.timers[Int32(task.rawValue)] = timer
                } else {
                    timer.cancel()
                }
            }
        }
        for (task, deadline) in effects.retries {
            Task { [clock] in
                try? await clock.sleep(deadline)
                self.step { state, now in _ = state.core.retryDue(task, now: now, into: &state.actions) }
            }
        }
        spawnWorkers(effects.spawn)
        if let checkpoint = effects.checkpoint { deliver(checkpoint) }
    }

    private let checkpointDelivery = Mutex(0)

    /// Calls the checkpoint handler outside the scheduler lock; a snapshot older than one already
    /// delivered is dropped, so the handler only ever sees the completed set grow.
    func deliver(_ checkpoint: Checkpoint) {
        guard let handler = state.withLock({ $0.checkpointHandler }) else { return }
        checkpointDelivery.withLock { delivered in
            guard checkpoint.completed.count > delivered else { return }
            delivered = checkpoint.completed.count
            handler(checkpoint)
        }
    }
}

extension RuntimeState {
    /// Registers workers so that `queue` has one per slot; returns the new workers to spawn.
    mutating func addWorkers(queue: Int32) -> [Int32] {
        var spawn: [Int32] = []
        while queues[Int(queue)].liveWorkers < queues[Int(queue)].width {
            workers.append(WorkerRecord(queue: queue, control: WorkerControl()))
            queues[Int(queue)].liveWorkers += 1
            spawn.append(Int32(workers.count - 1))
        }
        return spawn
    }
}
