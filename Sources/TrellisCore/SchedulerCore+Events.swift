extension SchedulerCore {
    /// Attempt `attempt` of `task` finished its work successfully.
    @discardableResult
    public mutating func succeeded(
        _ task: TaskID,
        attempt: Int,
        worker: WorkerID? = nil,
        now: Duration,
        into actions: inout [SchedulerAction]
    ) -> EventDisposition {
        guard let id = releaseSlot(task, attempt: attempt, worker: worker) else { return stale() }
        let record = tasks[Int(id)]
        if record.flags.contains(.cancelRequested) {
            finishCancelled(id, cause: record.cause, into: &actions)
        } else if record.flags.contains(.timedOut) {
            attemptFailed(id, reason: 1, retryable: true, now: now, into: &actions)
        } else if record.emitted < record.partialCount {
            attemptFailed(id, reason: 2, retryable: true, now: now, into: &actions)
        } else {
            finish(id, phase: .succeeded, cause: -1, into: &actions)
            var edge = tasks[Int(id)].firstSuccessor
            while edge >= 0 {
                satisfyEdge(to: successorTarget[Int(edge)])
                edge = successorNext[Int(edge)]
            }
        }
        flush(now: now, into: &actions)
        return .accepted
    }

    /// Attempt `attempt` of `task` failed. A `retryable` failure is tried again while attempts remain.
    @discardableResult
    public mutating func failed(
        _ task: TaskID,
        attempt: Int,
        retryable: Bool = true,
        worker: WorkerID? = nil,
        now: Duration,
        into actions: inout [SchedulerAction]
    ) -> EventDisposition {
        guard let id = releaseSlot(task, attempt: attempt, worker: worker) else { return stale() }
        let record = tasks[Int(id)]
        if record.flags.contains(.cancelRequested) {
            finishCancelled(id, cause: record.cause, into: &actions)
        } else {
            let timedOut = record.flags.contains(.timedOut)
            attemptFailed(id, reason: timedOut ? 1 : 0, retryable: retryable || timedOut, now: now, into: &actions)
        }
        flush(now: now, into: &actions)
        return .accepted
    }

    /// The running producer `task` yielded partial result `index`; its dependants may start.
    /// Items may come in any order; an item already yielded (say by an earlier attempt), or yielded after the
    /// task was asked to stop, is `.stale`.
    @discardableResult
    public mutating func partialResult(
        _ task: TaskID,
        index: Int,
        attempt: Int,
        worker: WorkerID? = nil,
        now: Duration,
        into actions: inout [SchedulerAction]
    ) -> EventDisposition {
        let id = Int32(task.rawValue)
        guard isCurrent(id, attempt: attempt, worker: worker), index >= 0, index < Int(tasks[Int(id)].partialCount),
            !isEmitted(id, item: Int32(index)), !tasks[Int(id)].flags.contains(.cancelRequested)
        else { return stale() }
        if index == Int(tasks[Int(id)].emitted) {
            tasks[Int(id)].emitted += 1
            while !itemsAhead.isEmpty, itemsAhead.remove(ItemKey(task: id, item: tasks[Int(id)].emitted)) != nil {
                tasks[Int(id)].emitted += 1
            }
        } else {
            itemsAhead.insert(ItemKey(task: id, item: Int32(index)))
        }
        if let head = itemSuccessors.removeValue(forKey: ItemKey(task: id, item: Int32(index))) {
            var edge = head
            while edge >= 0 {
                satisfyEdge(to: successorTarget[Int(edge)])
                edge = successorNext[Int(edge)]
            }
        }
        flush(now: now, into: &actions)
        return .accepted
    }

    /// The deadline of attempt `attempt` passed. The attempt is cancelled and, when it reports, counts as a
    /// timed-out failure; its slot stays taken until then, so a queue's width is never exceeded.
    @discardableResult
    public mutating func timedOut(
        _ task: TaskID,
        attempt: Int,
        now: Duration,
        into actions: inout [SchedulerAction]
    ) -> EventDisposition {
        let id = Int32(task.rawValue)
        guard isCurrent(id, attempt: attempt),
            tasks[Int(id)].flags.isDisjoint(with: [.timedOut, .cancelRequested])
        else { return stale() }
        tasks[Int(id)].flags.insert(.timedOut)
        actions.append(.cancelRunning(task, attempt: attempt))
        return .accepted
    }

    /// The back-off after a failed attempt has passed; the task becomes ready again.
    @discardableResult
    public mutating func retryDue(
        _ task: TaskID,
        now: Duration,
        into actions: inout [SchedulerAction]
    ) -> EventDisposition {
        let id = Int32(task.rawValue)
        guard task.rawValue >= 0, task.rawValue < tasks.count, tasks[Int(id)].phase == .backoff else {
            return stale()
        }
        makeReady(id)
        flush(now: now, into: &actions)
        return .accepted
    }

    /// Cancels `task` and every unfinished task that still waits for it. A running attempt is asked to stop
    /// and ends as cancelled whatever it reports.
    @discardableResult
    public mutating func cancel(
        _ task: TaskID,
        now: Duration,
        into actions: inout [SchedulerAction]
    ) -> EventDisposition {
        guard task.rawValue >= 0, task.rawValue < tasks.count else { return stale() }
        let id = Int32(task.rawValue)
        guard requestCancel(id, cause: -1, into: &actions) else { return stale() }
        flush(now: now, into: &actions)
        return .accepted
    }

    /// Cancels every unfinished task.
    public mutating func cancelAll(now: Duration, into actions: inout [SchedulerAction]) {
        cancelEverything(cause: -1, into: &actions)
        flush(now: now, into: &actions)
    }

    // MARK: - Transitions

    mutating func stale() -> EventDisposition {
        staleReports += 1
        return .stale
    }

    /// Whether a report is about the running attempt; with `worker`, only from the worker that holds it.
    @inline(__always)
    func isCurrent(_ id: Int32, attempt: Int, worker: WorkerID? = nil) -> Bool {
        guard id >= 0, Int(id) < tasks.count else { return false }
        let record = tasks[Int(id)]
        guard record.phase == .running, Int(record.attempt) == attempt else { return false }
        guard let worker else { return true }
        return pool.holders[id] == Int32(worker.rawValue)
    }

    /// Ends the current attempt of a running task and frees its slot (and worker); `nil` when the report is
    /// stale.
    mutating func releaseSlot(_ task: TaskID, attempt: Int, worker: WorkerID?) -> Int32? {
        let id = Int32(task.rawValue)
        guard isCurrent(id, attempt: attempt, worker: worker) else { return nil }
        let queue = tasks[Int(id)].queue
        queues[Int(queue)].running -= 1
        markDirty(queue)
        if usesWorkers { pool.release(id, of: placementClass(of: id)) }
        return id
    }

    mutating func satisfyEdge(to target: Int32) {
        guard tasks[Int(target)].phase == .waiting else { return }
        tasks[Int(target)].remaining -= 1
        if tasks[Int(target)].remaining == 0 { makeReady(target) }
    }

    mutating func makeReady(_ id: Int32) {
        tasks[Int(id)].phase = .ready
        newlyReady.append(id)
    }

    /// A failed attempt: retry while attempts remain, otherwise fail for good and apply the failure policy.
    mutating func attemptFailed(
        _ id: Int32,
        reason: UInt8,
        retryable: Bool,
        now: Duration,
        into actions: inout [SchedulerAction]
    ) {
        tasks[Int(id)].flags.remove(.timedOut)
        let lost = tasks[Int(id)].flags.contains(.hasExtras) ? Int(extras[id]?.lostAttempts ?? 0) : 0
        let attempt = Int(tasks[Int(id)].attempt) - lost
        if retryable, tasks[Int(id)].flags.contains(.hasExtras), let retry = extras[id]?.retry,
            attempt < retry.maxAttempts
        {
            let delay = retry.backoff(afterAttempt: attempt)
            if delay <= .zero {
                makeReady(id)
            } else {
                tasks[Int(id)].phase = .backoff
                actions.append(.scheduleRetry(TaskID(Int(id)), deadline: now + delay))
            }
            return
        }
        tasks[Int(id)].reason = reason
        finish(id, phase: .failed, cause: -1, into: &actions)
        doomDependants(of: id, phase: .upstreamFailed, cause: id, into: &actions)
        let job = jobIndex(of: id)
        if jobs[Int(job)].failurePolicy == .failFast { cancelJobTasks(job, cause: id, into: &actions) }
    }

    /// Records a final state. Does not touch dependants.
    mutating func finish(_ id: Int32, phase: TaskRecord.Phase, cause: Int32, into actions: inout [SchedulerAction]) {
        precondition(phase.isTerminal, "Internal inconsistency: finish(task#\(id)) with phase \(phase)")
        precondition(!tasks[Int(id)].phase.isTerminal, "Internal inconsistency: task#\(id) finished twice")
        tasks[Int(id)].phase = phase
        tasks[Int(id)].cause = cause
        tasks[Int(id)].flags.remove([.queued, .gated, .held])
        if tasks[Int(id)].flags.contains(.admitted) {
            tasks[Int(id)].flags.remove(.admitted)
            queues[Int(tasks[Int(id)].queue)].admitted -= 1
            markDirty(tasks[Int(id)].queue)
        }
        let job = Int(jobIndex(of: id))
        let wasInBatch = tasks[Int(id)].flags.contains(.inBatch)
        tasks[Int(id)].flags.remove(.inBatch)
        unfinishedCount -= 1
        let outcome = outcome(of: id)
        counts.record(outcome)
        // One access to the job's state for everything it counts.
        let decide = jobs[job].taskEnded(
            outcome, isMain: role(of: id) == .main, wasInBatch: wasInBatch)
        if decide { jobsToDecide.append(Int32(job)) }
        actions.append(.completed(TaskID(Int(id)), outcome))
    }

    mutating func finishCancelled(_ id: Int32, cause: Int32, into actions: inout [SchedulerAction]) {
        finish(id, phase: .cancelled, cause: cause, into: &actions)
        doomDependants(of: id, phase: .cancelled, cause: id, into: &actions)
    }

    /// Cancels one unfinished task (and what waits for it); `false` if it had already finished.
    mutating func requestCancel(_ id: Int32, cause: Int32, into actions: inout [SchedulerAction]) -> Bool {
        let record = tasks[Int(id)]
        switch record.phase {
        case .succeeded, .failed, .cancelled, .upstreamFailed, .skipped:
            return false
        case .running:
            guard !record.flags.contains(.cancelRequested) else { return false }
            tasks[Int(id)].flags.insert(.cancelRequested)
            tasks[Int(id)].cause = cause
            actions.append(.cancelRunning(TaskID(Int(id)), attempt: Int(record.attempt)))
            doomDependants(of: id, phase: .cancelled, cause: id, into: &actions)
        case .waiting, .ready, .backoff:
            finishCancelled(id, cause: cause, into: &actions)
        }
        return true
    }

    mutating func cancelEverything(cause: Int32, into actions: inout [SchedulerAction]) {
        while firstUnfinished < tasks.count, tasks[firstUnfinished].phase.isTerminal { firstUnfinished += 1 }
        var id = firstUnfinished
        while id < tasks.count {
            _ = requestCancel(Int32(id), cause: cause, into: &actions)
            id += 1
        }
    }

    /// Ends every unfinished task that waits, directly or not, on an unsatisfied edge from `root`.
    mutating func doomDependants(
        of root: Int32,
        phase: TaskRecord.Phase,
        cause: Int32,
        into actions: inout [SchedulerAction]
    ) {
        var stack: [Int32] = [root]
        while let source = stack.popLast() {
            var heads: [Int32] = []
            if tasks[Int(source)].phase != .succeeded { heads.append(tasks[Int(source)].firstSuccessor) }
            var item = tasks[Int(source)].emitted
            while item < tasks[Int(source)].partialCount {
                if let head = itemSuccessors[ItemKey(task: source, item: item)] { heads.append(head) }
                item += 1
            }
            for head in heads {
                var edge = head
                while edge >= 0 {
                    let target = successorTarget[Int(edge)]
                    if tasks[Int(target)].phase == .waiting {
                        finish(target, phase: phase, cause: cause, into: &actions)
                        stack.append(target)
                    }
                    edge = successorNext[Int(edge)]
                }
            }
        }
    }
}
