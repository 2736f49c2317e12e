internal import TrellisCore
internal import TrellisEngine
internal import TrellisProtocol

/// Worker sessions and deadlines: hello, reports, drains, leases, retries and timeouts.
extension CoordinatorEngine {
    // MARK: - Workers

    /// A worker says hello: a new session, or one that replaces the live session of the same name, keeping the
    /// attempts that session held and the worker still runs. Returns the session and the attempts the worker
    /// must abandon.
    mutating func hello(
        name: String, spec: WorkerSpec, running: [WireAttempt], now: Duration
    ) throws(TrellisCoreError) -> (worker: WorkerID, abandon: [WireAttempt]) {
        let worker: WorkerID
        let old = sessions[name].flatMap { state.core.isConnected($0) ? $0 : nil }
        // Only what the earlier session holds, once each.
        var keeping: [AttemptRef] = []
        var seen = Set<AttemptRef>()
        for ref in running {
            guard let old, let id = task(wire: ref.task), state.core.holder(of: id) == old,
                state.core.state(of: id) == .running(attempt: ref.attempt),
                seen.insert(AttemptRef(id, attempt: ref.attempt)).inserted
            else { continue }
            keeping.append(AttemptRef(id, attempt: ref.attempt))
        }
        worker = WorkerID(state.core.workerCount)
        let joined: CoreFact = old.map { .workerRejoined($0, spec, keeping: keeping) } ?? .workerJoined(spec)
        try state.apply(joined, now: now, into: &actions)
        save()
        sessions[name] = worker
        workerNames[worker] = name
        unsaved.append(.workerNamed(worker, name))
        // What it still runs has started, whether or not that was journalled.
        for kept in keeping
        where state.core.holder(of: kept.task) == worker && tasks[kept.task.rawValue].startedAttempt != kept.attempt {
            tasks[kept.task.rawValue].startedAttempt = Int32(clamping: kept.attempt)
            unsaved.append(.attemptStarted(kept.task, attempt: kept.attempt))
        }
        let abandon = running.filter { ref in
            guard let id = task(wire: ref.task) else { return true }
            return state.core.holder(of: id) != worker || state.core.state(of: id) != .running(attempt: ref.attempt)
        }
        // A kept attempt asked to stop before the worker left may never have heard it: ask again.
        for kept in Set(keeping) where state.core.holder(of: kept.task) == worker && state.core.isStopping(kept.task) {
            effects.append(
                .cancel(
                    worker, WireAttempt(task: wire(kept.task), epoch: epoch, attempt: kept.attempt),
                    grace: tasks[kept.task.rawValue].killed || state.core.hasTimedOut(kept.task) ? .zero : cancelGrace))
        }
        perform(now: now)
        return (worker, abandon)
    }

    /// After a restart, the workers of the earlier session take no new work until they say hello again (their
    /// stream is gone); what they run goes on until their lease runs out.
    mutating func holdBackEarlierSessions(now: Duration) {
        for index in 0..<state.core.workerCount where state.core.isAccepting(WorkerID(index)) {
            apply(.workerDrained(WorkerID(index)), now: now)
        }
        perform(now: now)
    }

    /// Every message from a worker renews its lease; heartbeats are not facts.
    mutating func heard(from worker: WorkerID, now: Duration) {
        state.heartbeat(worker, now: now, into: &actions)
    }

    /// The worker stops taking work (it drains, or its stream closed): its running attempts go on.
    mutating func drained(_ worker: WorkerID, now: Duration) {
        apply(.workerDrained(worker), now: now)
        perform(now: now)
    }

    /// Whether `worker` holds the current attempt `ref`.
    func holds(_ worker: WorkerID, _ ref: WireAttempt) -> TaskID? {
        // An attempt keeps its number across coordinator sessions; a session that has not begun assigned nothing.
        guard ref.epoch <= epoch, let id = task(wire: ref.task), state.core.holder(of: id) == worker,
            state.core.state(of: id) == .running(attempt: ref.attempt)
        else { return nil }
        return id
    }

    mutating func started(_ ref: WireAttempt, by worker: WorkerID, now: Duration) {
        guard let id = holds(worker, ref) else { return effects.append(.stale(worker, ref)) }
        tasks[id.rawValue].startedAttempt = Int32(clamping: ref.attempt)
        unsaved.append(.attemptStarted(id, attempt: ref.attempt))
        effects.append(.changed(job: tasks[id.rawValue].job, task: ref.task, output: nil))
    }

    mutating func output(_ ref: WireAttempt, name: String, by worker: WorkerID, now: Duration) {
        guard let id = holds(worker, ref), let item = tasks[id.rawValue].outputs.firstIndex(of: name),
            apply(.partialResult(id, index: item, attempt: ref.attempt, worker: worker), now: now) == .accepted
        else { return effects.append(.stale(worker, ref)) }
        effects.append(.changed(job: tasks[id.rawValue].job, task: ref.task, output: name))
        perform(now: now)
    }

    mutating func finished(_ ref: WireAttempt, result: AttemptResult, by worker: WorkerID, now: Duration) {
        guard ref.epoch <= epoch, let id = task(wire: ref.task) else { return effects.append(.stale(worker, ref)) }
        let fact: CoreFact
        var exitCode: Int32?
        var message: String?
        var value: [UInt8]?
        switch result {
        case .exited(0):
            exitCode = 0
            fact = .succeeded(id, attempt: ref.attempt, worker: worker)
        case .value(let bytes):
            value = bytes
            fact = .succeeded(id, attempt: ref.attempt, worker: worker)
        case .exited(let code):
            exitCode = code
            message = "exited with \(code)"
            fact = .failed(id, attempt: ref.attempt, retryable: true, worker: worker)
        case .signalled(let signal):
            message = "killed by signal \(signal)"
            fact = .failed(id, attempt: ref.attempt, retryable: true, worker: worker)
        case .error(let error):
            message = error
            fact = .failed(id, attempt: ref.attempt, retryable: true, worker: worker)
        case .unsatisfied(let checks):
            message = "trigger not satisfied after \(checks) checks"
            fact = .failed(id, attempt: ref.attempt, retryable: false, worker: worker)
        case .missing:
            message = "the worker reported no result"
            fact = .failed(id, attempt: ref.attempt, retryable: true, worker: worker)
        }
        guard apply(fact, now: now) == .accepted else { return effects.append(.stale(worker, ref)) }
        tasks[id.rawValue].exitCode = exitCode
        tasks[id.rawValue].message = message
        tasks[id.rawValue].value = value
        unsaved.append(.attemptEnded(id, attempt: ref.attempt, exitCode: exitCode, message: message, value: value))
        effects.append(.changed(job: tasks[id.rawValue].job, task: ref.task, output: nil))
        perform(now: now)
    }

    // MARK: - Deadlines

    /// The earliest deadline the engine keeps: a lease, a retry back-off or a timeout.
    var nextDeadline: Duration? {
        let timers = state.timers
        return [timers.leases.values.min(), timers.retries.values.min(), timers.timeouts.values.min()]
            .compactMap { $0 }.min()
    }

    /// Acts on every deadline at or before `now`; returns the workers whose lease ran out.
    mutating func expire(now: Duration) -> [WorkerID] {
        let timers = state.timers
        var lost: [WorkerID] = []
        for (worker, deadline) in timers.leases.sorted(by: { $0.key < $1.key }) where deadline <= now {
            if state.leaseExpired(worker, now: now, into: &actions) == .accepted {
                lost.append(worker)
                if let name = workerNames[worker], sessions[name] == worker { sessions[name] = nil }
            }
        }
        for (task, deadline) in timers.retries.sorted(by: { $0.key.rawValue < $1.key.rawValue }) where deadline <= now {
            apply(.retryDue(task), now: now)
        }
        for (ref, deadline) in timers.timeouts.sorted(by: { $0.key.task.rawValue < $1.key.task.rawValue })
        where deadline <= now {
            apply(.timedOut(ref.task, attempt: ref.attempt), now: now)
        }
        state.pruneTimers()
        save()
        perform(now: now)
        return lost
    }
}
