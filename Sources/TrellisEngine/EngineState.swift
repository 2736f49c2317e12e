public import TrellisCore

/// The deadlines a driver must keep to act on time: the core hands them out as actions (`scheduleTimeout`,
/// `scheduleRetry`, `scheduleLease`) and keeps no copy. After a restart they are rebuilt from the actions the
/// replay emits, keeping only those that still matter.
public struct PendingTimers: Hashable, Sendable {
    /// The timeout of each running attempt.
    public var timeouts: [AttemptRef: Duration] = [:]
    /// When each task waiting out a retry back-off becomes ready.
    public var retries: [TaskID: Duration] = [:]
    /// When each connected worker's lease runs out.
    public var leases: [WorkerID: Duration] = [:]

    public init() {}

    /// Takes the deadlines `actions` hand out (a later one replaces an earlier one for the same thing).
    public mutating func record(_ actions: some Sequence<SchedulerAction>) {
        for action in actions {
            switch action {
            case .scheduleTimeout(let task, let attempt, let deadline):
                timeouts[AttemptRef(task, attempt: attempt)] = deadline
            case .scheduleRetry(let task, let deadline):
                retries[task] = deadline
            case .scheduleLease(let worker, let deadline):
                leases[worker] = deadline
            case .dispatch, .assign, .cancelRunning, .completed:
                break
            }
        }
    }

    /// Follows a forgetting: deadlines of kept tasks take their new ids (a forgotten task, being finished, has
    /// none that matter).
    public mutating func renumber(_ numbering: CoreRenumbering) {
        var timeouts: [AttemptRef: Duration] = [:]
        for (ref, deadline) in self.timeouts {
            if let task = numbering.task(ref.task) { timeouts[AttemptRef(task, attempt: ref.attempt)] = deadline }
        }
        var retries: [TaskID: Duration] = [:]
        for (task, deadline) in self.retries {
            if let kept = numbering.task(task) { retries[kept] = deadline }
        }
        self.timeouts = timeouts
        self.retries = retries
    }

    /// Drops the deadlines that no longer matter to `core`: attempts that ended or already timed out,
    /// tasks no longer backing off, workers gone.
    public mutating func prune(keeping core: SchedulerCore) {
        timeouts = timeouts.filter { ref, _ in
            core.state(of: ref.task) == .running(attempt: ref.attempt) && !core.hasTimedOut(ref.task)
        }
        retries = retries.filter { task, _ in
            if case .retrying = core.state(of: task) { return true }
            return false
        }
        leases = leases.filter { worker, _ in core.isConnected(worker) }
    }
}

/// A scheduling core with what a durable driver keeps around it: the facts accepted since the last commit
/// (written ahead of any effect, one group per loop turn) and the pending deadlines.
///
/// `restore` rebuilds it after a restart from the journal's facts: the replay gives back the same state, the
/// deadlines are rebuilt from the replayed actions, and every live worker's lease is re-armed from `now`
/// (heartbeats are not facts, so the last one before the restart is unknown).
public struct EngineState: Sendable {
    public private(set) var core: SchedulerCore
    public private(set) var timers = PendingTimers()
    /// Facts accepted since the last `takeUnsaved()`, in order.
    public private(set) var unsaved: [TimedFact] = []

    public init(_ core: SchedulerCore) {
        self.core = core
    }

    /// Feeds a fact; when accepted it is kept for the next commit and its deadlines are recorded.
    @discardableResult
    public mutating func apply(
        _ fact: CoreFact, now: Duration, into actions: inout [SchedulerAction]
    ) throws(TrellisCoreError) -> EventDisposition {
        if case .jobsForgotten(let jobs) = fact {
            _ = try forget(jobs, now: now)
            return .accepted
        }
        let start = actions.count
        let disposition = try core.apply(fact, now: now, into: &actions)
        if disposition == .accepted { unsaved.append(TimedFact(at: now, fact)) }
        timers.record(actions[start...])
        return disposition
    }

    /// Forgets finished jobs (`SchedulerCore.forget(_:)`), journals it and renumbers the deadlines; the
    /// renumbering is for the driver's own tables.
    public mutating func forget(_ jobs: [JobID], now: Duration) throws(TrellisCoreError) -> CoreRenumbering {
        let numbering = try core.forget(jobs)
        unsaved.append(TimedFact(at: now, .jobsForgotten(jobs)))
        timers.renumber(numbering)
        return numbering
    }

    /// A heartbeat renews a lease; it is not a fact, so nothing is kept for the journal.
    @discardableResult
    public mutating func heartbeat(
        _ worker: WorkerID, now: Duration, into actions: inout [SchedulerAction]
    ) -> EventDisposition {
        let start = actions.count
        let disposition = core.heartbeat(worker, now: now, into: &actions)
        timers.record(actions[start...])
        return disposition
    }

    /// A lease deadline passed: a worker lost this way is journaled as having left.
    @discardableResult
    public mutating func leaseExpired(
        _ worker: WorkerID, now: Duration, into actions: inout [SchedulerAction]
    ) -> EventDisposition {
        let start = actions.count
        let disposition = core.leaseExpired(worker, now: now, into: &actions)
        if disposition == .accepted { unsaved.append(TimedFact(at: now, .workerLeft(worker))) }
        timers.record(actions[start...])
        return disposition
    }

    /// Forgets the deadlines that no longer matter (ended or timed-out attempts, retries that came due,
    /// workers gone), so the earliest one left is one to act on.
    public mutating func pruneTimers() {
        timers.prune(keeping: core)
    }

    /// The facts to commit now; the state keeps no copy.
    public mutating func takeUnsaved() -> [TimedFact] {
        unsaved.takeAll()
    }

    /// Rebuilds the state from the facts a journal kept, as of `now`: replays them into `fresh` (a new core
    /// with the same configuration), keeps the deadlines that still matter, and re-arms every connected
    /// worker's lease from `now`. The re-armed leases are in `actions`.
    public static func restore(
        _ fresh: SchedulerCore, from facts: some Sequence<TimedFact>, now: Duration,
        into actions: inout [SchedulerAction]
    ) throws(TrellisCoreError) -> EngineState {
        var state = EngineState(fresh)
        try state.catchUp(facts, now: now, into: &actions)
        return state
    }

    /// Replays `facts` onto the state, keeps the deadlines that still matter, and re-arms every connected
    /// worker's lease from `now`.
    private mutating func catchUp(
        _ facts: some Sequence<TimedFact>, now: Duration, into actions: inout [SchedulerAction]
    ) throws(TrellisCoreError) {
        var replayed: [SchedulerAction] = []
        for fact in facts {
            if case .jobsForgotten(let jobs) = fact.fact {
                // The deadlines handed out so far name tasks by their ids before the forgetting.
                timers.record(replayed.takeAll())
                timers.renumber(try core.forget(jobs))
            } else {
                try core.apply(fact.fact, now: fact.at, into: &replayed)
            }
        }
        timers.record(replayed)
        timers.prune(keeping: core)
        for index in 0..<core.workerCount where core.isConnected(WorkerID(index)) {
            heartbeat(WorkerID(index), now: now, into: &actions)
        }
    }

    // MARK: - Snapshots

    /// The core and its deadlines in the journal's binary form, as of the last fact applied: saved beside the
    /// journal entry that fact went into, it stands for every entry up to that one.
    public func snapshot() -> [UInt8] {
        var writer = JournalWriter(capacity: 64 + core.taskCount * 24)
        core.writeSnapshot(to: &writer)
        timers.write(to: &writer)
        return writer.sealed()
    }

    /// Rebuilds the state from a snapshot and the facts journaled after it, as of `now`: the same as `restore`
    /// from every fact, in time proportional to the state and the facts after the snapshot.
    /// `leaseTimeout`, when given, replaces the one the snapshot was taken with.
    public static func restore(
        snapshot bytes: [UInt8], from facts: some Sequence<TimedFact>, now: Duration, leaseTimeout: Duration? = nil,
        into actions: inout [SchedulerAction]
    ) throws -> EngineState {
        var reader = try JournalReader(sealed: bytes, what: "an engine snapshot")
        var core = try SchedulerCore(snapshotFrom: &reader)
        if let leaseTimeout { core.setLeaseTimeout(leaseTimeout) }
        var state = EngineState(core)
        state.timers = try PendingTimers.read(from: &reader)
        guard reader.isAtEnd else { throw reader.corrupt("bytes after the engine's snapshot") }
        try state.catchUp(facts, now: now, into: &actions)
        return state
    }
}

extension PendingTimers {
    func write(to w: inout JournalWriter) {
        let timeouts = self.timeouts.sorted {
            ($0.key.task.rawValue, $0.key.attempt) < ($1.key.task.rawValue, $1.key.attempt)
        }
        w.unsigned(UInt64(timeouts.count))
        for (ref, deadline) in timeouts {
            w.int(ref.task.rawValue)
            w.int(ref.attempt)
            w.duration(deadline)
        }
        let retries = self.retries.sorted { $0.key.rawValue < $1.key.rawValue }
        w.unsigned(UInt64(retries.count))
        for (task, deadline) in retries {
            w.int(task.rawValue)
            w.duration(deadline)
        }
        let leases = self.leases.sorted { $0.key < $1.key }
        w.unsigned(UInt64(leases.count))
        for (worker, deadline) in leases {
            w.int(worker.rawValue)
            w.duration(deadline)
        }
    }

    static func read(from r: inout JournalReader) throws(JournalError) -> PendingTimers {
        var timers = PendingTimers()
        for _ in 0..<(try r.count()) {
            timers.timeouts[AttemptRef(TaskID(try r.id()), attempt: try r.id())] = try r.duration()
        }
        for _ in 0..<(try r.count()) { timers.retries[TaskID(try r.id())] = try r.duration() }
        for _ in 0..<(try r.count()) { timers.leases[WorkerID(try r.id())] = try r.duration() }
        return timers
    }
}
