import TrellisCore

/// The events the harness drives: reports, timers, cancels, holds, stale reports, width changes.
extension HarnessDriver {
    // MARK: - Events

    mutating func reportOne() {
        let position = Int.random(in: running.indices, using: &rng)
        let current = running[position]
        let spec = specs[current.task]
        let task = TaskID(current.task)
        var actions: [SchedulerAction] = []
        if !current.cancelRequested, !current.timedOut, current.nextItem < spec.partialCount,
            !rng.chance(options.missingResultsProbability)
        {
            let index = current.nextItem
            running[position].nextItem += 1
            let expected: EventDisposition = index == emitted[current.task] ? .accepted : .stale
            if expected == .stale { report.expectedStaleReports += 1 }
            let disposition = feed(
                .partialResult(task, index: index, attempt: current.attempt, worker: current.workerID), into: &actions)
            if disposition != expected {
                violation("\(task)[\(index)] attempt \(current.attempt) answered \(disposition), expected \(expected)")
            }
            if disposition == .accepted {
                emitted[current.task] += 1
                report.itemsEmitted += 1
            }
            if core.emittedCount(of: task) != emitted[current.task] {
                violation("\(task) emitted \(core.emittedCount(of: task)), driver saw \(emitted[current.task])")
            }
            apply(actions)
            return
        }
        endAttempt(at: position)
        let disposition: EventDisposition
        if rng.chance(options.failureProbability) {
            let retryable = !rng.chance(options.fatalFailureProbability)
            disposition = feed(
                .failed(task, attempt: current.attempt, retryable: retryable, worker: current.workerID),
                into: &actions)
        } else {
            disposition = feed(.succeeded(task, attempt: current.attempt, worker: current.workerID), into: &actions)
        }
        if disposition != .accepted { violation("report of running \(task) attempt \(current.attempt) was stale") }
        apply(actions)
        if completions[current.task] == 0, !core.state(of: task).isFinished {
            // Not finished: it must be waiting for a retry (ready, running again, or backing off).
            switch core.state(of: task) {
            case .ready, .running, .retrying: break
            case .waiting, .finished: violation("\(task) is \(core.state(of: task)) after its attempt ended")
            }
        }
    }

    mutating func fireTimeout() {
        let timer = timers.remove(at: Int.random(in: timers.indices, using: &rng))
        now = max(now, timer.deadline)
        let attempt = running.firstIndex { $0.task == timer.task && $0.attempt == timer.attempt }
        let expected: EventDisposition =
            attempt.map { running[$0].cancelRequested || running[$0].timedOut ? .stale : .accepted } ?? .stale
        if expected == .stale { report.expectedStaleReports += 1 }
        var actions: [SchedulerAction] = []
        let disposition = feed(.timedOut(TaskID(timer.task), attempt: timer.attempt), into: &actions)
        if disposition != expected {
            violation("timeout of task#\(timer.task)/\(timer.attempt) answered \(disposition), expected \(expected)")
        }
        if disposition == .accepted { report.timeoutsFired += 1 }
        apply(actions)
    }

    mutating func fireRetries() {
        let earliest = retries.map(\.deadline).min()!
        now = max(now, earliest)
        let due = retries.filter { $0.deadline <= now }.sorted { ($0.deadline, $0.task) < ($1.deadline, $1.task) }
        retries.removeAll { $0.deadline <= now }
        for retry in due {
            var actions: [SchedulerAction] = []
            let expected: EventDisposition = completions[retry.task] == 0 ? .accepted : .stale
            if expected == .stale { report.expectedStaleReports += 1 }
            let disposition = feed(.retryDue(TaskID(retry.task)), into: &actions)
            if disposition != expected {
                violation("retry of task#\(retry.task) answered \(disposition), expected \(expected)")
            }
            if disposition == .accepted { report.retriesFired += 1 }
            apply(actions)
        }
    }

    mutating func cancelOne() {
        guard submitted > 0 else { return }
        let task = Int.random(in: 0..<submitted, using: &rng)
        let attempt = running.firstIndex { $0.task == task }
        let expected: EventDisposition =
            completions[task] > 0 || attempt.map({ running[$0].cancelRequested }) == true ? .stale : .accepted
        if expected == .stale { report.expectedStaleReports += 1 }
        var actions: [SchedulerAction] = []
        let disposition = feed(.cancelled(TaskID(task)), into: &actions)
        if disposition != expected { violation("cancel(task#\(task)) answered \(disposition), expected \(expected)") }
        if disposition == .accepted {
            report.cancels += 1
            retries.removeAll { $0.task == task }
        }
        apply(actions)
        if attempt == nil, completions[task] != 1 { violation("cancelled task#\(task) did not complete") }
    }

    /// Holds a random task; it is accepted only for an unfinished task that is neither running nor held.
    mutating func holdOne() {
        let task = Int.random(in: 0..<submitted, using: &rng)
        let isRunning = running.contains { $0.task == task }
        let expected: EventDisposition =
            completions[task] > 0 || isRunning || held.contains(task) ? .stale : .accepted
        if expected == .stale { report.expectedStaleReports += 1 }
        var actions: [SchedulerAction] = []
        let disposition = feed(.held(TaskID(task)), into: &actions)
        if disposition != expected { violation("hold(task#\(task)) answered \(disposition), expected \(expected)") }
        if disposition == .accepted { held.insert(task) }
        apply(actions)
        if !core.isHeld(TaskID(task)), disposition == .accepted { violation("task#\(task) is not held after hold") }
    }

    /// Releases a held task (now and then one that is not held: stale).
    mutating func releaseOne() {
        let task =
            held.isEmpty || rng.chance(0.1)
            ? Int.random(in: 0..<submitted, using: &rng) : held.randomElement(using: &rng)!
        let expected: EventDisposition = held.contains(task) ? .accepted : .stale
        if expected == .stale { report.expectedStaleReports += 1 }
        var actions: [SchedulerAction] = []
        held.remove(task)
        let disposition = feed(.released(TaskID(task)), into: &actions)
        if disposition != expected { violation("release(task#\(task)) answered \(disposition), expected \(expected)") }
        apply(actions)
    }

    mutating func cancelJob() {
        let job = Int.random(in: 0..<jobCount, using: &rng)
        let members = (0..<submitted).filter { queueJobs[specs[$0].queue.rawValue] == job }
        let open = members.filter { completions[$0] == 0 }
        // A finale still waiting for the main tasks is spared, so the clean-up runs.
        let decided = core.finaleDecision(of: JobID(job)) != nil
        let cancellable = open.filter { specs[$0].role == .main || decided }
        let expected: EventDisposition = open.isEmpty ? .stale : .accepted
        if expected == .stale { report.expectedStaleReports += 1 }
        var actions: [SchedulerAction] = []
        let disposition = feed(.jobCancelled(JobID(job)), into: &actions)
        if disposition != expected { violation("cancelJob(\(job)) answered \(disposition), expected \(expected)") }
        if disposition == .accepted { report.cancels += 1 }
        apply(actions)
        for task in cancellable where completions[task] == 0 {
            if running.first(where: { $0.task == task })?.cancelRequested != true {
                violation("task#\(task) of job#\(job) survived its job's cancel")
            }
        }
    }

    mutating func cancelAll() {
        var actions: [SchedulerAction] = []
        feed(.cancelledAll, into: &actions)
        report.cancels += 1
        apply(actions)
        if !actions.dispatched.isEmpty { violation("cancelAll dispatched \(actions.dispatched)") }
        for task in 0..<submitted where completions[task] == 0 {
            let attempt = running.first { $0.task == task }
            if attempt?.cancelRequested != true { violation("task#\(task) survived cancelAll") }
        }
    }

    mutating func staleReport() {
        let candidates = lastAttempt.indices.filter { lastAttempt[$0] > 0 }
        let task = candidates.randomElement(using: &rng)!
        let id = TaskID(task)
        let isRunning = running.contains { $0.task == task }
        // The attempt before the current one, or the last attempt when it has ended.
        let attempt = isRunning ? lastAttempt[task] - 1 : lastAttempt[task]
        var actions: [SchedulerAction] = []
        let disposition: EventDisposition
        if attempt < 1 {
            let isBackingOff: Bool
            if case .retrying = core.state(of: id) { isBackingOff = true } else { isBackingOff = false }
            guard !isBackingOff else { return }
            disposition = core.retryDue(id, now: now, into: &actions)
        } else {
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: disposition = core.succeeded(id, attempt: attempt, now: now, into: &actions)
            case 1: disposition = core.failed(id, attempt: attempt, now: now, into: &actions)
            case 2: disposition = core.timedOut(id, attempt: attempt, now: now, into: &actions)
            default: disposition = core.partialResult(id, index: 0, attempt: attempt, now: now, into: &actions)
            }
        }
        report.expectedStaleReports += 1
        if disposition != .stale { violation("stale report for \(id) attempt \(attempt) was \(disposition)") }
        if !actions.isEmpty { violation("stale report for \(id) produced \(actions)") }
    }

    mutating func changeWidth() {
        let queue = Int.random(in: widths.indices, using: &rng)
        let width = Int.random(in: 1...4, using: &rng)
        var actions: [SchedulerAction] = []
        do {
            guard try core.apply(.widthChanged(QueueID(queue), width: width), now: now, into: &actions) == .accepted
            else { return }
            facts.append(TimedFact(at: now, .widthChanged(QueueID(queue), width: width)))
            widths[queue] = width
        } catch {
            violation("setWidth(\(width)) threw \(error)")
        }
        apply(actions)
    }
}
