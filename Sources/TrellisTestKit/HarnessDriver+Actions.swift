import TrellisCore

extension HarnessDriver {
    // MARK: - Actions

    /// Feeds a fact to the core and records it when accepted; a refusal is a violation.
    @discardableResult
    mutating func feed(_ fact: CoreFact, into actions: inout [SchedulerAction]) -> EventDisposition {
        do {
            let disposition = try core.apply(fact, now: now, into: &actions)
            if disposition == .accepted { facts.append(TimedFact(at: now, fact)) }
            return disposition
        } catch {
            violation("\(fact) was refused: \(error)")
            return .stale
        }
    }

    mutating func apply(_ actions: [SchedulerAction]) {
        actionLog += actions
        defer { checkFifoOrder(actions.dispatched) }
        for action in actions {
            switch action {
            case .dispatch(let task, let queue, let attempt):
                if options.workers != nil { violation("\(task) dispatched to a queue slot, not to a worker") }
                dispatched(task.rawValue, queue: queue, attempt: attempt)
            case .assign(let task, let worker, let attempt):
                if options.workers == nil { violation("\(task) assigned to \(worker) in a queue-slot core") }
                assigned(task.rawValue, to: worker.rawValue, attempt: attempt)
                dispatched(task.rawValue, queue: specs[task.rawValue].queue, attempt: attempt, worker: worker.rawValue)
            case .scheduleLease(let worker, let deadline):
                leaseScheduled(worker.rawValue, deadline: deadline)
            case .cancelRunning(let task, let attempt): cancelRequested(task.rawValue, attempt: attempt)
            case .completed(let task, let outcome): completed(task.rawValue, outcome: outcome)
            case .scheduleTimeout(let task, let attempt, let deadline):
                let running = running.contains { $0.task == task.rawValue && $0.attempt == attempt }
                if !running { violation("timeout scheduled for \(task) attempt \(attempt), which is not running") }
                if let timeout = specs[task.rawValue].timeout, deadline != now + timeout {
                    violation("timeout of \(task) at \(deadline), expected \(now + timeout)")
                } else if specs[task.rawValue].timeout == nil {
                    violation("timeout scheduled for \(task), which has none")
                }
                timers.append(Timer(task: task.rawValue, attempt: attempt, deadline: deadline))
            case .scheduleRetry(let task, let deadline):
                let spec = specs[task.rawValue]
                let failures = lastAttempt[task.rawValue] - lost[task.rawValue]
                let expected = now + spec.retry.backoff(afterAttempt: failures)
                if deadline != expected { violation("retry of \(task) at \(deadline), expected \(expected)") }
                if failures >= spec.retry.maxAttempts {
                    violation("retry of \(task) scheduled after its last attempt \(lastAttempt[task.rawValue])")
                }
                retries.append((task.rawValue, deadline))
            }
        }
    }

    mutating func dispatched(_ task: Int, queue: QueueID, attempt: Int, worker: Int = -1) {
        let spec = specs[task]
        report.dispatches.append(.init(task: TaskID(task), attempt: attempt))
        dispatchedThisStep.insert(queue.rawValue)
        if !started || paused { violation("task#\(task) dispatched while \(started ? "paused" : "not started")") }
        if queue != spec.queue { violation("task#\(task) dispatched to \(queue), its queue is \(spec.queue)") }
        if completions[task] > 0 { violation("task#\(task) dispatched after it completed") }
        if running.contains(where: { $0.task == task }) { violation("task#\(task) dispatched while running") }
        if attempt != lastAttempt[task] + 1 {
            violation("task#\(task) dispatched as attempt \(attempt) after attempt \(lastAttempt[task])")
        }
        if attempt - lost[task] > spec.retry.maxAttempts {
            violation("task#\(task) dispatched as attempt \(attempt) (\(lost[task]) lost) of \(spec.retry.maxAttempts)")
        }
        for dependency in spec.dependencies {
            let source = dependency.task.rawValue
            if let item = dependency.item {
                if emitted[source] <= item { violation("task#\(task) dispatched before \(dependency) exists") }
            } else if !succeeded[source] {
                violation("task#\(task) dispatched before \(dependency) succeeded")
            }
        }
        if spec.role != .main { checkFinaleMayRun(task) }
        if held.contains(task) { violation("held task#\(task) dispatched") }
        lastAttempt[task] = attempt
        running.append(Attempt(task: task, attempt: attempt, worker: worker))
        runningPerQueue[queue.rawValue] += 1
        report.maxRunning[queue.rawValue] = max(report.maxRunning[queue.rawValue], runningPerQueue[queue.rawValue])
    }

    mutating func cancelRequested(_ task: Int, attempt: Int) {
        guard let position = running.firstIndex(where: { $0.task == task && $0.attempt == attempt }) else {
            violation("cancelRunning(task#\(task), attempt: \(attempt)) for an attempt that is not running")
            return
        }
        if currentEvent == .timeout {
            running[position].timedOut = true
        } else {
            if running[position].cancelRequested { violation("task#\(task) asked to stop twice") }
            running[position].cancelRequested = true
        }
    }

    mutating func completed(_ task: Int, outcome: TaskOutcome) {
        completions[task] += 1
        report.completionOrder.append(TaskID(task))
        if completions[task] > 1 { violation("task#\(task) completed \(completions[task]) times") }
        if running.contains(where: { $0.task == task }) { violation("task#\(task) completed while an attempt runs") }
        if core.outcome(of: TaskID(task)) != outcome {
            let actual = core.outcome(of: TaskID(task)).map { "\($0)" } ?? "unfinished"
            violation("task#\(task) completed as \(outcome), core says \(actual)")
        }
        report.outcomes[task] = outcome
        retries.removeAll { $0.task == task }
        held.remove(task)
        switch outcome {
        case .succeeded:
            succeeded[task] = true
            if currentEvent != .report { violation("task#\(task) succeeded without a report") }
            if emitted[task] != specs[task].partialCount {
                violation("task#\(task) succeeded with \(emitted[task]) of \(specs[task].partialCount) items")
            }
        case .failed(.missingPartialResults(let count)):
            if count != emitted[task] || count >= specs[task].partialCount {
                violation("task#\(task) failed with \(count) missing items, emitted \(emitted[task])")
            }
        case .failed(.error):
            if currentEvent != .report { violation("task#\(task) failed without a report") }
        case .failed(.crashed(let losses)):
            // Its last attempt ended with its worker, at the limit.
            if losses != lost[task] || losses != options.workers?.crashLimit {
                violation("task#\(task) crashed after \(losses) losses; the driver saw \(lost[task]) of the limit")
            }
            if ![.leave, .lease, .restart].contains(currentEvent) {
                violation("task#\(task) crashed with no worker lost")
            }
        case .failed(.timedOut):
            // A timed-out attempt also ends when its worker goes.
            if ![.report, .leave, .lease, .restart].contains(currentEvent) {
                violation("task#\(task) timed out unreported")
            }
        case .skipped:
            let job = queueJobs[specs[task].queue.rawValue]
            if specs[task].role == .main { violation("main task#\(task) skipped") }
            if let decision = core.finaleDecision(of: JobID(job)), decision == specs[task].role,
                !specs[task].dependencies.contains(where: { report.outcomes[$0.task.rawValue] == .skipped })
            {
                violation("task#\(task) of the \(decision) finale that runs was skipped")
            }
        case .upstreamFailed(let root):
            if report.outcomes[root.rawValue].map({ if case .failed = $0 { true } else { false } }) != true {
                violation("task#\(task) upstream-failed from \(root), which has not failed")
            }
        case .cancelled(let cause):
            // A fail-fast cancels its own job only; other jobs' dependants end upstream-failed.
            if let cause, case .failed = report.outcomes[cause.rawValue],
                queueJobs[specs[cause.rawValue].queue.rawValue] != queueJobs[specs[task].queue.rawValue]
            {
                violation("task#\(task) cancelled by the failure of \(cause) of another job")
            }
            if let cause, report.outcomes[cause.rawValue] == nil, cause.rawValue != task {
                if !running.contains(where: { $0.task == cause.rawValue && $0.cancelRequested }) {
                    violation("task#\(task) cancelled because of \(cause), which is neither finished nor stopping")
                }
            }
        }
    }
}
