/// One input the scheduling core consumed: the unit of the journal.
///
/// A driver records the facts the core accepted, in order, each with its `now`. Replaying them into a fresh
/// core (`SchedulerCore.replay(_:into:)`) rebuilds the same state and emits the same actions, because every
/// transition is deterministic: ids are dense and handed out in order, and every choice among equals is
/// broken by id. Heartbeats are not facts: a restart re-arms every lease.
public enum CoreFact: Hashable, Sendable, Codable {
    case jobAdded(policy: SchedulingPolicy, failurePolicy: FailurePolicy)
    case queueAdded(width: Int, job: JobID)
    case widthChanged(QueueID, width: Int)
    case submitted(TaskSpec)
    case started
    case paused
    case resumed
    case succeeded(TaskID, attempt: Int, worker: WorkerID?)
    case failed(TaskID, attempt: Int, retryable: Bool, worker: WorkerID?)
    case partialResult(TaskID, index: Int, attempt: Int, worker: WorkerID?)
    case timedOut(TaskID, attempt: Int)
    case retryDue(TaskID)
    case cancelled(TaskID)
    case cancelledAll
    case jobCancelled(JobID)
    case held(TaskID)
    case released(TaskID)
    case workerJoined(WorkerSpec)
    /// A new session of a worker that connected again, keeping the attempts it still runs.
    case workerRejoined(WorkerID, WorkerSpec, keeping: [AttemptRef])
    case workerDrained(WorkerID)
    /// Left, or lost its lease.
    case workerLeft(WorkerID)
    /// Finished jobs forgotten: what is kept is numbered again (`SchedulerCore.forget(_:)`).
    case jobsForgotten([JobID])
    /// The crash limit changed (`SchedulerCore.setCrashLimit(_:)`).
    case crashLimitSet(Int?)
}

/// A fact with the moment the core consumed it (time since the driver's origin, which outlives restarts).
public struct TimedFact: Hashable, Sendable, Codable {
    public var at: Duration
    public var fact: CoreFact

    public init(at: Duration, _ fact: CoreFact) {
        self.at = at
        self.fact = fact
    }
}

extension SchedulerCore {
    /// Feeds one fact to the core, as the event method it names would. A fact the core refuses throws with
    /// nothing changed; one that changes nothing is `.stale`.
    @discardableResult
    public mutating func apply(
        _ fact: CoreFact,
        now: Duration,
        into actions: inout [SchedulerAction]
    ) throws(TrellisCoreError) -> EventDisposition {
        switch fact {
        case .jobAdded(let policy, let failurePolicy):
            _ = addJob(policy: policy, failurePolicy: failurePolicy)
        case .queueAdded(let width, let job):
            _ = try addQueue(width: width, job: job)
        case .widthChanged(let queue, let width):
            try setWidth(width, of: queue, now: now, into: &actions)
        case .submitted(let spec):
            try submit(spec, now: now, into: &actions)
        case .started:
            start(now: now, into: &actions)
        case .paused:
            pause()
        case .resumed:
            resume(now: now, into: &actions)
        case .succeeded(let task, let attempt, let worker):
            return succeeded(task, attempt: attempt, worker: worker, now: now, into: &actions)
        case .failed(let task, let attempt, let retryable, let worker):
            return failed(task, attempt: attempt, retryable: retryable, worker: worker, now: now, into: &actions)
        case .partialResult(let task, let index, let attempt, let worker):
            return partialResult(task, index: index, attempt: attempt, worker: worker, now: now, into: &actions)
        case .timedOut(let task, let attempt):
            return timedOut(task, attempt: attempt, now: now, into: &actions)
        case .retryDue(let task):
            return retryDue(task, now: now, into: &actions)
        case .cancelled(let task):
            return cancel(task, now: now, into: &actions)
        case .cancelledAll:
            cancelAll(now: now, into: &actions)
        case .jobCancelled(let job):
            return cancelJob(job, now: now, into: &actions)
        case .held(let task):
            return hold(task, now: now, into: &actions)
        case .released(let task):
            return release(task, now: now, into: &actions)
        case .workerJoined(let spec):
            _ = try joinWorker(spec, now: now, into: &actions)
        case .workerRejoined(let old, let spec, let keeping):
            _ = try rejoinWorker(old, as: spec, keeping: keeping, now: now, into: &actions)
        case .workerDrained(let worker):
            return drainWorker(worker)
        case .workerLeft(let worker):
            return workerLeft(worker, now: now, into: &actions)
        case .jobsForgotten(let jobs):
            try forget(jobs)
        case .crashLimitSet(let limit):
            try setCrashLimit(limit)
        }
        return .accepted
    }

    /// Replays recorded facts into this core (normally a fresh one), each at its own time.
    public mutating func replay(
        _ facts: some Sequence<TimedFact>,
        into actions: inout [SchedulerAction]
    ) throws(TrellisCoreError) {
        for fact in facts { try apply(fact.fact, now: fact.at, into: &actions) }
    }
}
