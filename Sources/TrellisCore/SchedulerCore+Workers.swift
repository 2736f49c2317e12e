extension SchedulerCore {
    /// How a core hands out work.
    public enum Execution: Hashable, Sendable {
        /// Each queue's width is the only limit: an attempt goes to a free slot of its queue (`.dispatch`).
        /// The in-process runtime and local runs work this way.
        case queueSlots
        /// Attempts go to workers that join and leave (`.assign`), placed by type, tags and resources;
        /// a worker holds a lease of `leaseTimeout` that its heartbeats renew.
        case workers(leaseTimeout: Duration)
    }

    /// Largest slot count a worker may offer.
    public static let maxWorkerSlots = 1 << 20

    // MARK: - Worker events

    /// A worker joins and may get work at once. Its lease runs until `now + leaseTimeout`.
    public mutating func joinWorker(
        _ spec: WorkerSpec,
        now: Duration,
        into actions: inout [SchedulerAction]
    ) throws(TrellisCoreError) -> WorkerID {
        try checkWorkerSpec(spec)
        let id = addWorker(spec, now: now, into: &actions)
        flush(now: now, into: &actions)
        return WorkerID(Int(id))
    }

    /// A worker connects again (after a network break, or to a restarted coordinator): a new session replaces
    /// `old`. The attempts of `old` listed in `keeping` that it still holds, with the same attempt number,
    /// move to the new session when they fit it; every other attempt of `old` runs again elsewhere, as when a
    /// worker leaves. `holder(of:)` tells which attempts were kept; the driver tells the worker to abandon the
    /// rest.
    public mutating func rejoinWorker(
        _ old: WorkerID,
        as spec: WorkerSpec,
        keeping: [AttemptRef],
        now: Duration,
        into actions: inout [SchedulerAction]
    ) throws(TrellisCoreError) -> WorkerID {
        try checkWorkerSpec(spec)
        guard liveWorker(old) != nil else {
            throw TrellisCoreError(code: .invalidWorker, message: "\(old) has left; it cannot connect again")
        }
        let id = addWorker(spec, now: now, into: &actions)
        for kept in keeping where isCurrent(Int32(kept.task.rawValue), attempt: kept.attempt, worker: old) {
            let task = Int32(kept.task.rawValue)
            let placementClass = placementClass(of: task)
            let placement = pool.classes[Int(placementClass)].placement
            guard pool.workers[Int(id)].running < spec.slots, placement.admits(spec),
                pool.workers[Int(id)].hasRoom(for: placement)
            else { continue }
            pool.release(task, of: placementClass)
            pool.hold(task, of: placementClass, on: id)
        }
        workerLeft(old, now: now, into: &actions)
        return WorkerID(Int(id))
    }

    func checkWorkerSpec(_ spec: WorkerSpec) throws(TrellisCoreError) {
        guard case .workers = execution else {
            throw TrellisCoreError(code: .invalidWorker, message: "this core runs tasks in queue slots, not on workers")
        }
        guard spec.slots >= 1, spec.slots <= Self.maxWorkerSlots else {
            throw TrellisCoreError(
                code: .invalidWorker,
                message: "a worker needs between 1 and \(Self.maxWorkerSlots) slots, got \(spec.slots)")
        }
        if let bad = spec.resources.first(where: { !$0.value.isFinite || $0.value < 0 }) {
            throw TrellisCoreError(
                code: .invalidWorker,
                message: "resource '\(bad.key)' needs a finite amount of at least 0, got \(bad.value)")
        }
    }

    /// Adds a checked worker, accepting, with its lease armed; placement waits for the next flush.
    mutating func addWorker(_ spec: WorkerSpec, now: Duration, into actions: inout [SchedulerAction]) -> Int32 {
        let id = Int32(pool.workers.count)
        var worker = WorkerPool.Worker(spec: spec, free: spec.resources, leaseDeadline: now + pool.leaseTimeout)
        for (index, entry) in pool.classes.enumerated() where entry.placement.admits(spec) {
            worker.classes.append(Int32(index))
            pool.classes[index].admitting.append(id)
            pool.classes[index].candidates.insert(id)
            pool.classes[index].accepting += 1
            pool.classes[index].isBlocked = false
            if pool.classes[index].accepting == 1 { unpark(Int32(index)) }
        }
        pool.workers.append(worker)
        pool.isDirty = true
        actions.append(.scheduleLease(WorkerID(Int(id)), deadline: now + pool.leaseTimeout))
        return id
    }

    /// The worker is alive: its lease runs until `now + leaseTimeout`.
    @discardableResult
    public mutating func heartbeat(
        _ worker: WorkerID,
        now: Duration,
        into actions: inout [SchedulerAction]
    ) -> EventDisposition {
        guard let id = liveWorker(worker) else { return stale() }
        pool.workers[Int(id)].leaseDeadline = now + pool.leaseTimeout
        actions.append(.scheduleLease(worker, deadline: now + pool.leaseTimeout))
        return .accepted
    }

    /// The worker takes no new attempts; the ones it runs go on and report as usual. A worker that connects
    /// again joins as a new worker.
    @discardableResult
    public mutating func drainWorker(_ worker: WorkerID) -> EventDisposition {
        guard let id = liveWorker(worker), pool.workers[Int(id)].state == .accepting else { return stale() }
        pool.workers[Int(id)].state = .draining
        pool.updateCandidacy(of: id)
        stopsAccepting(id)
        return .accepted
    }

    /// The worker's lease deadline passed. Unless a heartbeat renewed it, the worker is lost: see
    /// `workerLeft(_:now:into:)`.
    @discardableResult
    public mutating func leaseExpired(
        _ worker: WorkerID,
        now: Duration,
        into actions: inout [SchedulerAction]
    ) -> EventDisposition {
        guard let id = liveWorker(worker), pool.workers[Int(id)].leaseDeadline <= now else { return stale() }
        return workerLeft(worker, now: now, into: &actions)
    }

    /// The worker is gone. Each attempt it ran ends: one asked to stop ends as cancelled, one past its deadline
    /// as a timed-out failure, any other is run again without counting against its retries, unless its task
    /// has now lost `crashLimit` attempts this way: then it fails for good.
    @discardableResult
    public mutating func workerLeft(
        _ worker: WorkerID,
        now: Duration,
        into actions: inout [SchedulerAction]
    ) -> EventDisposition {
        guard let id = liveWorker(worker) else { return stale() }
        if pool.workers[Int(id)].state == .accepting { stopsAccepting(id) }
        pool.workers[Int(id)].state = .gone
        pool.updateCandidacy(of: id)
        for placementClass in pool.workers[Int(id)].classes {
            pool.classes[Int(placementClass)].admitting.removeAll { $0 == id }
        }
        pool.workers[Int(id)].classes = []
        for task in pool.workers[Int(id)].tasks.sorted() {
            let attempt = Int(tasks[Int(task)].attempt)
            guard releaseSlot(TaskID(Int(task)), attempt: attempt, worker: nil) != nil else {
                preconditionFailure("Internal inconsistency: \(worker) held task#\(task), which is not running")
            }
            let flags = tasks[Int(task)].flags
            if flags.contains(.cancelRequested) {
                finishCancelled(task, cause: tasks[Int(task)].cause, into: &actions)
            } else if flags.contains(.timedOut) {
                attemptFailed(task, reason: 1, retryable: true, now: now, into: &actions)
            } else {
                var extra = extras[task] ?? TaskExtras()
                extra.lostAttempts += 1
                extras[task] = extra
                tasks[Int(task)].flags.insert(.hasExtras)
                if let crashLimit, extra.lostAttempts >= crashLimit {
                    attemptFailed(task, reason: 3, retryable: false, now: now, into: &actions)
                } else {
                    makeReady(task)
                }
            }
        }
        flush(now: now, into: &actions)
        return .accepted
    }

    /// Sets the crash limit (`nil`: none) for the losses to come; a task that already lost as many fails at
    /// its next.
    public mutating func setCrashLimit(_ limit: Int?) throws(TrellisCoreError) {
        if let limit, limit < 1 || limit > Int(Int32.max) {
            throw TrellisCoreError(code: .invalidWorker, message: "a crash limit is at least 1, not \(limit)")
        }
        crashLimit = limit
    }

    // MARK: - Worker queries

    /// Workers that joined, including those gone since.
    public var workerCount: Int { pool.workers.count }

    /// Whether the worker has neither left nor been lost.
    public func isConnected(_ worker: WorkerID) -> Bool { liveWorker(worker) != nil }

    /// Whether the worker takes new attempts.
    public func isAccepting(_ worker: WorkerID) -> Bool {
        liveWorker(worker).map { pool.workers[Int($0)].state == .accepting } ?? false
    }

    /// Attempts the worker runs now.
    public func runningCount(of worker: WorkerID) -> Int {
        worker.rawValue >= 0 && worker.rawValue < pool.workers.count ? pool.workers[worker.rawValue].running : 0
    }

    /// When the worker's lease runs out, unless renewed; `nil` once it is gone.
    public func leaseDeadline(of worker: WorkerID) -> Duration? {
        liveWorker(worker).map { pool.workers[Int($0)].leaseDeadline }
    }

    /// The worker running `task`'s current attempt.
    /// The attempts `worker` runs, in task order.
    public func attempts(of worker: WorkerID) -> [AttemptRef] {
        guard worker.rawValue >= 0, worker.rawValue < pool.workers.count else { return [] }
        return pool.workers[worker.rawValue].tasks.sorted().map {
            AttemptRef(TaskID(Int($0)), attempt: Int(tasks[Int($0)].attempt))
        }
    }

    public func holder(of task: TaskID) -> WorkerID? {
        pool.holders[Int32(task.rawValue)].map { WorkerID(Int($0)) }
    }

    /// Whether the running attempt of `task` has passed its deadline and is being stopped.
    public func hasTimedOut(_ task: TaskID) -> Bool {
        tasks[task.rawValue].flags.contains(.timedOut)
    }

    /// Whether the running attempt of `task` was asked to stop (cancelled or timed out) and has not ended yet:
    /// a driver whose stop request may have been lost (a worker that connected again) sends it again.
    public func isStopping(_ task: TaskID) -> Bool {
        let record = tasks[task.rawValue]
        return record.phase == .running && !record.flags.isDisjoint(with: [.cancelRequested, .timedOut])
    }

    /// Attempts of `task` that ended because their worker was lost.
    public func lostAttempts(of task: TaskID) -> Int {
        Int(extras[Int32(task.rawValue)]?.lostAttempts ?? 0)
    }

    /// Why an unfinished task is not running; `nil` when it runs or has finished.
    public func waitReason(of task: TaskID) -> WaitReason? {
        let id = Int32(task.rawValue)
        let record = tasks[task.rawValue]
        switch record.phase {
        case .waiting:
            if record.flags.contains(.gated) {
                return record.remaining == 1 ? .finale : .inputs(remaining: Int(record.remaining) - 1)
            }
            return .inputs(remaining: Int(record.remaining))
        case .backoff: return .retryDelay(afterAttempt: Int(record.attempt))
        case .running, .succeeded, .failed, .cancelled, .upstreamFailed, .skipped: return nil
        case .ready:
            if record.flags.contains(.held) { return .held }
            guard isDispatching else { return .paused }
            if record.flags.contains(.admitted) {
                let placementClass = placementClass(of: id)
                let placement = pool.classes[Int(placementClass)].placement
                return pool.hasAcceptingWorker(for: placementClass) ? .workersBusy(placement) : .noWorker(placement)
            }
            if usesWorkers, !record.flags.contains(.queued) {
                let placementClass = placementClass(of: id)
                if !pool.hasAcceptingWorker(for: placementClass) {
                    return .noWorker(pool.classes[Int(placementClass)].placement)
                }
            }
            let queue = Int(record.queue)
            return .queueFull(QueueID(queue), width: queues[queue].width)
        }
    }

    // MARK: - Placement

    func liveWorker(_ worker: WorkerID) -> Int32? {
        guard worker.rawValue >= 0, worker.rawValue < pool.workers.count,
            pool.workers[worker.rawValue].state != .gone
        else { return nil }
        return Int32(worker.rawValue)
    }

    @inline(__always)
    func placementClass(of id: Int32) -> Int32 {
        tasks[Int(id)].flags.contains(.hasExtras) ? extras[id]?.placementClass ?? 0 : 0
    }

    /// Moves a ready task its queue has room for into its placement class.
    mutating func admit(_ id: Int32) {
        tasks[Int(id)].flags.remove(.queued)
        tasks[Int(id)].flags.insert(.admitted)
        queues[Int(tasks[Int(id)].queue)].admitted += 1
        let placementClass = placementClass(of: id)
        pool.classes[Int(placementClass)].ready.insert(entry(for: id))
        pool.activate(placementClass)
        pool.isDirty = true
    }

    /// A worker no longer accepts work: in each class it was the last to accept, the admitted tasks give
    /// their queue slots back and wait, parked, for a worker that does.
    mutating func stopsAccepting(_ worker: Int32) {
        for placementClass in pool.workers[Int(worker)].classes {
            pool.classes[Int(placementClass)].accepting -= 1
            guard pool.classes[Int(placementClass)].accepting == 0 else { continue }
            while let top = pool.classes[Int(placementClass)].ready.popMax() {
                guard isLiveAdmitted(top) else { continue }
                let queue = tasks[Int(top.task)].queue
                tasks[Int(top.task)].flags.remove(.admitted)
                queues[Int(queue)].admitted -= 1
                markDirty(queue)
                pool.classes[Int(placementClass)].parked.append(top.task)
            }
        }
    }

    /// A worker that accepts work can now run `placementClass`: its parked tasks go back to their queues.
    mutating func unpark(_ placementClass: Int32) {
        let parked = pool.classes[Int(placementClass)].parked
        pool.classes[Int(placementClass)].parked = []
        for id in parked
        where tasks[Int(id)].phase == .ready && tasks[Int(id)].flags.isDisjoint(with: [.queued, .admitted, .held]) {
            let queue = tasks[Int(id)].queue
            tasks[Int(id)].flags.insert(.queued)
            queues[Int(queue)].ready.insert(entry(for: id))
            markDirty(queue)
        }
    }

    /// Puts an admitted task back into its queue's ready heap.
    mutating func unadmit(_ id: Int32) {
        let queue = tasks[Int(id)].queue
        tasks[Int(id)].flags.remove(.admitted)
        tasks[Int(id)].flags.insert(.queued)
        queues[Int(queue)].admitted -= 1
        queues[Int(queue)].ready.insert(entry(for: id))
    }

    func isLiveAdmitted(_ entry: ReadyEntry) -> Bool {
        let record = tasks[Int(entry.task)]
        return record.phase == .ready && record.flags.contains(.admitted) && record.rank == entry.rank
    }

    /// Starts admitted tasks while some worker has room: each time the best admitted task of any class
    /// a worker can take now, on the least-loaded such worker. Costs O(active classes × their free workers)
    /// per start; a class whose workers are all busy costs O(1).
    mutating func placeAdmitted(now: Duration, into actions: inout [SchedulerAction]) {
        pool.isDirty = false
        while true {
            var best: (entry: ReadyEntry, placementClass: Int32, worker: Int32)?
            var index = 0
            while index < pool.active.count {
                let placementClass = pool.active[index]
                while let top = pool.classes[Int(placementClass)].ready.max {
                    if isLiveAdmitted(top) {
                        let queue = Int(tasks[Int(top.task)].queue)
                        guard queues[queue].running >= queues[queue].width else { break }
                        // Admitted before its queue was narrowed: back to the queue until a slot frees.
                        unadmit(top.task)
                    }
                    _ = pool.classes[Int(placementClass)].ready.popMax()
                }
                guard let top = pool.classes[Int(placementClass)].ready.max else {
                    pool.classes[Int(placementClass)].isActive = false
                    pool.active.swapAt(index, pool.active.count - 1)
                    pool.active.removeLast()
                    continue
                }
                index += 1
                if let best, top < best.entry { continue }
                // A class waiting for resources costs nothing until one of its workers frees some.
                guard !pool.classes[Int(placementClass)].isBlocked else { continue }
                guard let worker = pool.bestWorker(for: placementClass) else {
                    if !pool.classes[Int(placementClass)].candidates.isEmpty {
                        pool.classes[Int(placementClass)].isBlocked = true
                    }
                    continue
                }
                best = (top, placementClass, worker)
            }
            guard let best else { return }
            _ = pool.classes[Int(best.placementClass)].ready.popMax()
            let id = best.entry.task
            tasks[Int(id)].flags.remove(.admitted)
            queues[Int(tasks[Int(id)].queue)].admitted -= 1
            pool.hold(id, of: best.placementClass, on: best.worker)
            let attempt = beginAttempt(id)
            actions.append(.assign(TaskID(Int(id)), to: WorkerID(Int(best.worker)), attempt: attempt))
            armTimeout(id, attempt: attempt, now: now, into: &actions)
        }
    }
}
