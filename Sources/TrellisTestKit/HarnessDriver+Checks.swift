import Foundation
import TrellisCore

extension HarnessDriver {
    // MARK: - Checks

    /// Under `.fifo`, each queue hands out its ready tasks by priority, then submission order.
    /// With workers, the same holds among the tasks of one queue that have the same placement and have been
    /// admitted by their queue (a task waiting for a worker of another kind does not hold up the others).
    mutating func checkFifoOrder(_ dispatched: [TaskID]) {
        func key(_ task: Int) -> (Int, Int) { (Int(Int32(clamping: specs[task].priority)), -task) }
        let usesWorkers = options.workers != nil
        let placements = usesWorkers ? Set(dispatched.map { specs[$0.rawValue].placement }) : [Placement.anywhere]
        for queue in widths.indices where queuePolicies[queue] == .fifo {
            for placement in placements {
                let picked = dispatched.map(\.rawValue).filter {
                    specs[$0].queue.rawValue == queue && (!usesWorkers || specs[$0].placement == placement)
                }
                for (earlier, later) in zip(picked, picked.dropFirst()) where key(earlier) < key(later) {
                    violation("fifo dispatched task#\(earlier) before task#\(later)")
                }
                guard let last = picked.last else { continue }
                for task in 0..<submitted where specs[task].queue.rawValue == queue {
                    guard core.state(of: TaskID(task)) == .ready, key(task) > key(last), !held.contains(task) else {
                        continue
                    }
                    if usesWorkers {
                        guard specs[task].placement == placement, isAdmitted(task) else { continue }
                    }
                    violation("fifo dispatched task#\(last) while task#\(task) is ready")
                }
            }
        }
    }

    func isAdmitted(_ task: Int) -> Bool {
        switch core.waitReason(of: TaskID(task)) {
        case .noWorker, .workersBusy: true
        default: false
        }
    }

    mutating func afterStep() {
        for problem in core.checkInvariants() { violation("checkInvariants: \(problem)") }
        for queue in widths.indices {
            let count = core.runningCount(of: QueueID(queue))
            if count != runningPerQueue[queue] {
                violation("queue#\(queue) counts \(count) running, driver sees \(runningPerQueue[queue])")
            }
            if core.width(of: QueueID(queue)) != widths[queue] {
                violation("queue#\(queue) has width \(core.width(of: QueueID(queue))), set to \(widths[queue])")
            }
            // A narrowed queue may run over its width until attempts end, but must not dispatch meanwhile.
            if count > widths[queue], dispatchedThisStep.contains(queue) {
                violation("queue#\(queue) runs \(count) with width \(widths[queue])")
            }
        }
        let finished = completions.reduce(0) { $0 + min($1, 1) }
        if core.unfinishedCount != submitted - finished {
            violation("core has \(core.unfinishedCount) unfinished, driver counts \(submitted - finished)")
        }
        for attempt in running where core.state(of: TaskID(attempt.task)) != .running(attempt: attempt.attempt) {
            let state = core.state(of: TaskID(attempt.task))
            violation("task#\(attempt.task) runs attempt \(attempt.attempt), core says \(state)")
        }
        if options.workers != nil { checkWorkers() }
        for task in 0..<submitted where core.isHeld(TaskID(task)) != held.contains(task) {
            violation("task#\(task) held: core \(core.isHeld(TaskID(task))), driver \(held.contains(task))")
        }
    }

    mutating func finalChecks() {
        report.steps = step
        report.counts = core.counts
        report.staleReports = core.staleReports
        if core.unfinishedCount != 0 { violation("finished with \(core.unfinishedCount) unfinished tasks") }
        if !running.isEmpty { violation("finished with \(running.count) attempts running") }
        for task in specs.indices where completions[task] != 1 {
            violation("task#\(task) completed \(completions[task]) times")
        }
        if core.counts.total != specs.count { violation("outcome counts \(core.counts) for \(specs.count) tasks") }
        if core.staleReports != report.expectedStaleReports {
            violation("core counted \(core.staleReports) stale events, driver sent \(report.expectedStaleReports)")
        }
        checkReplay()
        report.facts = facts
    }
}

extension [SchedulerAction] {
    /// The tasks dispatched by these actions.
    var dispatched: [TaskID] {
        compactMap { action in
            if case .dispatch(let task, _, _) = action { return task }
            return nil
        }
    }
}

extension HarnessDriver {
    /// A finale task starts only once every main task of its job has ended, and only in the group that
    /// the main outcomes call for.
    mutating func checkFinaleMayRun(_ task: Int) {
        let job = queueJobs[specs[task].queue.rawValue]
        var allSucceeded = true
        for other in 0..<submitted where specs[other].role == .main && queueJobs[specs[other].queue.rawValue] == job {
            guard let outcome = report.outcomes[other] else {
                violation("finale task#\(task) started while main task#\(other) of job#\(job) is unfinished")
                return
            }
            if outcome != .succeeded { allSucceeded = false }
        }
        let runs: TaskRole = allSucceeded ? .onSuccess : .onFailure
        if specs[task].role != runs {
            violation("task#\(task) of the \(specs[task].role) finale started; \(runs) runs")
        }
        if core.finaleDecision(of: JobID(job)) != runs {
            violation("job#\(job) decided \(String(describing: core.finaleDecision(of: JobID(job)))), expected \(runs)")
        }
    }

    /// The facts, through JSON and into a fresh core, give the same actions (heartbeats' lease renewals aside,
    /// as heartbeats are not facts) and the same final state.
    mutating func checkReplay() {
        var replayed = SchedulerCore(policy: core.policy, failurePolicy: core.failurePolicy, execution: core.execution)
        var actions: [SchedulerAction] = []
        do {
            let data = try JSONEncoder().encode(facts)
            try replayed.replay(try JSONDecoder().decode([TimedFact].self, from: data), into: &actions)
        } catch {
            violation("replaying \(facts.count) facts failed: \(error)")
            return
        }
        func withoutLeases(_ list: [SchedulerAction]) -> [SchedulerAction] {
            list.filter { if case .scheduleLease = $0 { false } else { true } }
        }
        let original = withoutLeases(actionLog)
        let again = withoutLeases(actions)
        if original != again {
            let index =
                zip(original, again).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                ?? min(original.count, again.count)
            violation(
                "replay differs at action \(index) of \(original.count): "
                    + "\(index < original.count ? "\(original[index])" : "nothing") vs "
                    + "\(index < again.count ? "\(again[index])" : "nothing")")
            return
        }
        for index in 0..<core.taskCount {
            let task = TaskID(index)
            if replayed.state(of: task) != core.state(of: task) || replayed.holder(of: task) != core.holder(of: task)
                || replayed.lostAttempts(of: task) != core.lostAttempts(of: task)
                || replayed.isHeld(task) != core.isHeld(task)
            {
                violation("replayed \(task) is \(replayed.state(of: task)), was \(core.state(of: task))")
            }
        }
        for index in 0..<core.workerCount {
            let worker = WorkerID(index)
            if replayed.isConnected(worker) != core.isConnected(worker)
                || replayed.isAccepting(worker) != core.isAccepting(worker)
                || replayed.runningCount(of: worker) != core.runningCount(of: worker)
            {
                violation("replayed \(worker) differs")
            }
        }
        for index in 0..<core.jobCount
        where replayed.finaleDecision(of: JobID(index)) != core.finaleDecision(of: JobID(index)) {
            violation("replayed job#\(index) decided differently")
        }
        if replayed.counts != core.counts { violation("replayed counts \(replayed.counts), were \(core.counts)") }
        for problem in replayed.checkInvariants() { violation("replayed core: \(problem)") }
    }
}
