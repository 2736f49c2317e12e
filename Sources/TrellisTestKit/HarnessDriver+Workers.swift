import TrellisCore
import TrellisEngine

/// A worker as the harness sees it.
struct HarnessWorker {
    var spec: WorkerSpec
    var connected = true
    var accepting = true
    var running = 0
    var free: [String: Double]
    var leaseDeadline: Duration

    static let types = ["cpu", "gpu"]

    /// A worker of a random type with random tags, slots and resources.
    static func randomSpec(using rng: inout SplitMix64) -> WorkerSpec {
        let type = types.randomElement(using: &rng)!
        var tags: Set<String> = []
        if rng.chance(0.5) { tags.insert("ssd") }
        if rng.chance(0.3) { tags.insert("big") }
        var resources = ["mem": Double(Int.random(in: 1...6, using: &rng))]
        if type == "gpu" { resources["gpus"] = Double(Int.random(in: 0...2, using: &rng)) }
        return WorkerSpec(type: type, tags: tags, slots: Int.random(in: 1...3, using: &rng), resources: resources)
    }

    /// A placement some workers offer and others do not.
    static func randomPlacement(using rng: inout SplitMix64) -> Placement {
        switch Int.random(in: 0..<5, using: &rng) {
        case 0: Placement(type: "cpu")
        case 1: Placement(type: "gpu", resources: ["mem": 2])
        case 2: Placement(tags: ["ssd"])
        case 3: Placement(resources: ["mem": 1.5])
        default: Placement(type: "gpu", tags: ["ssd"], resources: ["mem": 3, "gpus": 1])
        }
    }

    /// A worker that can run `placement`.
    static func spec(fitting placement: Placement, using rng: inout SplitMix64) -> WorkerSpec {
        let factor = Double(Int.random(in: 1...2, using: &rng))
        return WorkerSpec(
            type: placement.type ?? types.randomElement(using: &rng)!, tags: Set(placement.tags),
            slots: Int.random(in: 1...2, using: &rng), resources: placement.resources.mapValues { $0 * factor })
    }
}

extension HarnessDriver.Attempt {
    var workerID: WorkerID? { worker >= 0 ? WorkerID(worker) : nil }
}

extension HarnessDriver {
    /// A worker event, drawn before the others; `nil` for none this step.
    mutating func nextWorkerEvent() -> Event? {
        guard let options = options.workers else { return nil }
        if workers.count < 40, rng.chance(options.joinProbability) { return .join }
        guard !workers.isEmpty else { return nil }
        if rng.chance(options.drainProbability) { return .drain }
        if rng.chance(options.leaveProbability) { return .leave }
        if rng.chance(options.leaseProbability) { return .lease }
        if rng.chance(options.heartbeatProbability) { return .heartbeat }
        if rng.chance(options.impostorProbability), running.contains(where: { $0.worker >= 0 }) { return .impostor }
        if rng.chance(options.restartProbability) { return .restart }
        return nil
    }

    mutating func join(_ spec: WorkerSpec) {
        let lease = options.workers?.leaseTimeout ?? .zero
        workers.append(HarnessWorker(spec: spec, free: spec.resources, leaseDeadline: now + lease))
        report.workersJoined += 1
        var actions: [SchedulerAction] = []
        do {
            _ = try core.apply(.workerJoined(spec), now: now, into: &actions)
            facts.append(TimedFact(at: now, .workerJoined(spec)))
            if core.workerCount != workers.count {
                violation("worker \(workers.count - 1) joined as #\(core.workerCount - 1)")
            }
        } catch {
            violation("joinWorker(\(spec)) threw \(error)")
        }
        apply(actions)
    }

    mutating func drainOne() {
        let worker = Int.random(in: workers.indices, using: &rng)
        let expected: EventDisposition = workers[worker].connected && workers[worker].accepting ? .accepted : .stale
        if expected == .stale { report.expectedStaleReports += 1 }
        var actions: [SchedulerAction] = []
        let disposition = feed(.workerDrained(WorkerID(worker)), into: &actions)
        if disposition != expected { violation("drainWorker(\(worker)) answered \(disposition), expected \(expected)") }
        if disposition == .accepted { workers[worker].accepting = false }
    }

    /// A worker leaves, or a lease deadline is checked: often the worker's own (it is lost), sometimes one
    /// a heartbeat has moved on (stale).
    mutating func leaveOne(byLease: Bool) {
        let worker = Int.random(in: workers.indices, using: &rng)
        if byLease, workers[worker].connected, rng.chance(0.7) { now = max(now, workers[worker].leaseDeadline) }
        let leaves = workers[worker].connected && (!byLease || workers[worker].leaseDeadline <= now)
        if !leaves { report.expectedStaleReports += 1 }
        if leaves {
            // Its attempts end before the core answers, so completions see them gone.
            loseAttempts { $0.worker == worker }
            workers[worker].connected = false
            workers[worker].accepting = false
        }
        var actions: [SchedulerAction] = []
        let disposition: EventDisposition
        if byLease {
            // A lost lease is journaled as the worker leaving: heartbeats are not facts.
            disposition = core.leaseExpired(WorkerID(worker), now: now, into: &actions)
            if disposition == .accepted { facts.append(TimedFact(at: now, .workerLeft(WorkerID(worker)))) }
        } else {
            disposition = feed(.workerLeft(WorkerID(worker)), into: &actions)
        }
        if disposition != (leaves ? .accepted : .stale) {
            violation("worker#\(worker) \(byLease ? "lease check" : "leaving") answered \(disposition)")
        }
        apply(actions)
    }

    /// The driver restarts. A fresh core replays the facts; the timeouts and retry delays it hands out again
    /// match the ones the driver holds; every lease is re-armed; then each connected worker connects again
    /// (keeping its attempts, now and then all but one it no longer runs) or is lost.
    mutating func restart() {
        var actions: [SchedulerAction] = []
        let fresh = SchedulerCore(policy: core.policy, failurePolicy: core.failurePolicy, execution: core.execution)
        // The live core reads back from its snapshot as the same core.
        let bytes = core.snapshot()
        do {
            if try SchedulerCore(snapshot: bytes).snapshot() != bytes {
                violation("the core read back from its snapshot writes other bytes")
            }
        } catch {
            violation("the core's own snapshot is refused: \(error)")
        }
        let restored: EngineState
        do {
            if let saved, snapshotRNG.chance(0.7) {
                restored = try EngineState.restore(
                    snapshot: saved.bytes, from: facts[saved.facts...], now: now, into: &actions)
                report.snapshotRestarts += 1
            } else {
                restored = try EngineState.restore(fresh, from: facts, now: now, into: &actions)
            }
        } catch {
            violation("restoring at restart failed: \(error)")
            return
        }
        report.restarts += 1
        let timers = restored.timers
        for timer in self.timers where running.contains(where: { $0.task == timer.task && $0.attempt == timer.attempt })
        {
            if timers.timeouts[AttemptRef(TaskID(timer.task), attempt: timer.attempt)] != timer.deadline {
                violation("restart re-arms task#\(timer.task)/\(timer.attempt)'s timeout wrongly")
            }
        }
        for (ref, deadline) in timers.timeouts {
            guard let attempt = running.first(where: { $0.task == ref.task.rawValue && $0.attempt == ref.attempt }),
                !attempt.cancelRequested
            else { continue }
            if !self.timers.contains(where: {
                $0.task == ref.task.rawValue && $0.attempt == ref.attempt && $0.deadline == deadline
            }) {
                violation(
                    "restart re-arms a timeout for task#\(ref.task.rawValue)/\(ref.attempt) the driver does not hold")
            }
        }
        let retries = Dictionary(self.retries.map { ($0.task, $0.deadline) }, uniquingKeysWith: { first, _ in first })
        if timers.retries != Dictionary(uniqueKeysWithValues: retries.map { (TaskID($0.key), $0.value) }) {
            violation("restart re-arms retries \(timers.retries), the driver holds \(retries)")
        }
        // Stale events are not facts, so the new core has counted none.
        report.expectedStaleReports -= core.staleReports - restored.core.staleReports
        core = restored.core
        for (index, worker) in workers.enumerated()
        where worker.connected && timers.leases[WorkerID(index)] != now + (options.workers?.leaseTimeout ?? .zero) {
            violation("restart did not re-arm worker#\(index)'s lease from now")
        }
        apply(actions)
        for old in workers.indices where workers[old].connected {
            if rng.chance(0.7) { reconnect(old) } else { lose(old) }
        }
    }

    /// Saves the state as a restart would rebuild it from every fact so far.
    mutating func saveSnapshot() {
        var ignored: [SchedulerAction] = []
        let fresh = SchedulerCore(policy: core.policy, failurePolicy: core.failurePolicy, execution: core.execution)
        do {
            let state = try EngineState.restore(fresh, from: facts, now: now, into: &ignored)
            let bytes = state.snapshot()
            let back = try EngineState.restore(snapshot: bytes, from: [], now: now, into: &ignored)
            if back.snapshot() != bytes || back.timers != state.timers {
                violation("the state read back from its snapshot differs")
            }
            saved = (bytes, facts.count)
        } catch {
            violation("replay for a snapshot failed: \(error)")
        }
    }

    /// A new session of `old` keeps its attempts, now and then all but one.
    mutating func reconnect(_ old: Int) {
        let spec = workers[old].spec
        var mine = running.filter { $0.worker == old }
        if !mine.isEmpty, rng.chance(0.3) { mine.remove(at: Int.random(in: mine.indices, using: &rng)) }
        let kept = Set(mine.map(\.task))
        let new = workers.count
        workers.append(HarnessWorker(spec: spec, free: spec.resources, leaseDeadline: now))
        workers[new].accepting = workers[old].accepting
        report.workersJoined += 1
        loseAttempts { $0.worker == old && !kept.contains($0.task) }
        for position in running.indices where running[position].worker == old {
            running[position].worker = new
            workers[old].running -= 1
            workers[new].running += 1
            for (name, amount) in specs[running[position].task].placement.resources {
                workers[old].free[name, default: 0] += amount
                workers[new].free[name, default: 0] -= amount
            }
        }
        workers[old].connected = false
        workers[old].accepting = false
        var actions: [SchedulerAction] = []
        let keeping = mine.map { AttemptRef(TaskID($0.task), attempt: $0.attempt) }
        feed(.workerRejoined(WorkerID(old), spec, keeping: keeping), into: &actions)
        if core.workerCount != workers.count { violation("worker#\(old) connected again as #\(core.workerCount - 1)") }
        // A draining worker that connects again accepts work once more; the driver follows the core.
        workers[new].accepting = core.isAccepting(WorkerID(new))
        apply(actions)
        for task in kept where core.holder(of: TaskID(task)) != WorkerID(new) {
            violation("task#\(task) was not kept by worker#\(old)'s new session")
        }
    }

    /// A worker that does not come back after a restart.
    mutating func lose(_ worker: Int) {
        loseAttempts { $0.worker == worker }
        workers[worker].connected = false
        workers[worker].accepting = false
        var actions: [SchedulerAction] = []
        if feed(.workerLeft(WorkerID(worker)), into: &actions) != .accepted {
            violation("worker#\(worker) could not leave")
        }
        apply(actions)
    }

    mutating func heartbeatOne() {
        let worker = Int.random(in: workers.indices, using: &rng)
        let expected: EventDisposition = workers[worker].connected ? .accepted : .stale
        if expected == .stale { report.expectedStaleReports += 1 }
        var actions: [SchedulerAction] = []
        let disposition = core.heartbeat(WorkerID(worker), now: now, into: &actions)
        if disposition != expected { violation("heartbeat of worker#\(worker) answered \(disposition)") }
        let lease = options.workers?.leaseTimeout ?? .zero
        if disposition == .accepted, actions != [.scheduleLease(WorkerID(worker), deadline: now + lease)] {
            violation("heartbeat of worker#\(worker) produced \(actions)")
        }
        apply(actions)
    }

    /// A report about a running attempt from a worker that does not hold it changes nothing.
    mutating func impostorReport() {
        guard workers.count > 1 else { return }
        let current = running.filter { $0.worker >= 0 }.randomElement(using: &rng)!
        var impostor = Int.random(in: 0..<(workers.count - 1), using: &rng)
        if impostor >= current.worker { impostor += 1 }
        let task = TaskID(current.task)
        let from = WorkerID(impostor)
        var actions: [SchedulerAction] = []
        let disposition: EventDisposition
        switch Int.random(in: 0..<3, using: &rng) {
        case 0: disposition = core.succeeded(task, attempt: current.attempt, worker: from, now: now, into: &actions)
        case 1: disposition = core.failed(task, attempt: current.attempt, worker: from, now: now, into: &actions)
        default:
            disposition = core.partialResult(
                task, index: current.nextItem, attempt: current.attempt, worker: from, now: now, into: &actions)
        }
        report.expectedStaleReports += 1
        if disposition != .stale { violation("report on \(task) from \(from), not its holder, was \(disposition)") }
        if !actions.isEmpty { violation("report on \(task) from \(from) produced \(actions)") }
    }

    /// Nothing can happen: some ready task fits no worker that accepts work, so one that fits it joins.
    mutating func rescue() {
        for task in 0..<submitted {
            switch core.waitReason(of: TaskID(task)) {
            case .noWorker(let placement):
                if placement != specs[task].placement {
                    violation("task#\(task) waits for \(placement), its placement is \(specs[task].placement)")
                }
                join(HarnessWorker.spec(fitting: placement, using: &rng))
                return
            default:
                continue
            }
        }
        let reasons = (0..<submitted).compactMap { task in
            core.waitReason(of: TaskID(task)).map { "task#\(task): \($0)" }
        }
        violation("stuck with \(core.unfinishedCount) unfinished, no worker missing: \(reasons.prefix(5))")
    }

    // MARK: - Bookkeeping

    /// Ends the running attempts `matching` picks because their worker went; an attempt neither cancelled nor
    /// timed out counts as lost (it runs again without using a retry).
    mutating func loseAttempts(matching: (Attempt) -> Bool) {
        while let position = running.firstIndex(where: matching) {
            let attempt = running[position]
            endAttempt(at: position)
            if !attempt.cancelRequested, !attempt.timedOut {
                lost[attempt.task] += 1
                report.attemptsLost += 1
            }
        }
    }

    /// Removes a running attempt, freeing its queue slot and its worker's slot and resources.
    mutating func endAttempt(at position: Int) {
        let attempt = running.remove(at: position)
        runningPerQueue[specs[attempt.task].queue.rawValue] -= 1
        timers.removeAll { $0.task == attempt.task && $0.attempt == attempt.attempt }
        guard attempt.worker >= 0 else { return }
        workers[attempt.worker].running -= 1
        for (name, amount) in specs[attempt.task].placement.resources {
            workers[attempt.worker].free[name, default: 0] += amount
        }
    }

    /// Checks an assignment against what the driver knows of the worker, and takes its slot and resources.
    mutating func assigned(_ task: Int, to worker: Int, attempt: Int) {
        guard workers.indices.contains(worker) else {
            violation("task#\(task) assigned to unknown worker#\(worker)")
            return
        }
        let placement = specs[task].placement
        if !workers[worker].connected || !workers[worker].accepting {
            violation("task#\(task) assigned to worker#\(worker), which does not accept work")
        }
        if !placement.admits(workers[worker].spec) {
            violation("task#\(task) (\(placement)) assigned to worker#\(worker) \(workers[worker].spec)")
        }
        if workers[worker].running >= workers[worker].spec.slots {
            violation("worker#\(worker) gets a task with all \(workers[worker].spec.slots) slots busy")
        }
        workers[worker].running += 1
        for (name, amount) in placement.resources {
            workers[worker].free[name, default: 0] -= amount
            if workers[worker].free[name]! < -1e-9 { violation("worker#\(worker) overdraws \(name)") }
        }
    }

    mutating func leaseScheduled(_ worker: Int, deadline: Duration) {
        let expected = now + (options.workers?.leaseTimeout ?? .zero)
        if deadline != expected { violation("lease of worker#\(worker) until \(deadline), expected \(expected)") }
        if workers.indices.contains(worker) { workers[worker].leaseDeadline = deadline }
    }

    /// The core and the driver agree on every worker and every holder.
    mutating func checkWorkers() {
        for (index, worker) in workers.enumerated() {
            let id = WorkerID(index)
            if core.isConnected(id) != worker.connected || core.isAccepting(id) != worker.accepting {
                violation("worker#\(index) connected/accepting \(core.isConnected(id))/\(core.isAccepting(id))")
            }
            if core.runningCount(of: id) != worker.running {
                violation("worker#\(index) runs \(core.runningCount(of: id)), driver sees \(worker.running)")
            }
            if worker.connected, core.leaseDeadline(of: id) != worker.leaseDeadline {
                violation("worker#\(index) lease \(String(describing: core.leaseDeadline(of: id)))")
            }
        }
        for attempt in running where core.holder(of: TaskID(attempt.task)) != attempt.workerID {
            violation("task#\(attempt.task) held by \(String(describing: core.holder(of: TaskID(attempt.task))))")
        }
        for task in 0..<submitted where core.lostAttempts(of: TaskID(task)) != lost[task] {
            violation("task#\(task) lost \(core.lostAttempts(of: TaskID(task))) attempts, driver saw \(lost[task])")
        }
    }
}
