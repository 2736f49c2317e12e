import TrellisCore

/// The mutable state of one harness run.
struct HarnessDriver {
    struct Attempt {
        var task: Int
        var attempt: Int
        /// The next partial result this attempt yields; every attempt yields from 0 again.
        var nextItem = 0
        var cancelRequested = false
        var timedOut = false
        /// The worker it runs on (`.workers` execution), else -1.
        var worker = -1
    }

    struct Timer {
        var task: Int
        var attempt: Int
        var deadline: Duration
    }

    enum Event {
        case report, timeout, retries, cancel, cancelAll, pause, resume, stale, width, submit
        case join, drain, leave, heartbeat, lease, impostor, rescue, cancelJob, hold, release, restart
    }

    let options: CoreHarness.Options
    /// The policy of each queue's job.
    var queuePolicies: [SchedulingPolicy] = []
    /// The job of each queue.
    var queueJobs: [Int] = []
    var jobCount: Int
    var specs: [TaskSpec]
    var core: SchedulerCore
    var rng: SplitMix64
    var report: CoreHarness.Report
    var now = Duration.zero
    var step = 0
    var submitted = 0
    var paused = false
    var started = false
    /// The event being applied, so `.cancelRunning` can be told apart from a timeout.
    var currentEvent = Event.submit
    var widths: [Int]
    var running: [Attempt] = []
    var runningPerQueue: [Int]
    var dispatchedThisStep: Set<Int> = []
    var timers: [Timer] = []
    var retries: [(task: Int, deadline: Duration)] = []
    var lastAttempt: [Int]
    var completions: [Int]
    var succeeded: [Bool]
    var emitted: [Int]
    /// The workers as the driver sees them (`.workers` execution).
    var workers: [HarnessWorker] = []
    /// Attempts of each task lost with their worker.
    var lost: [Int]
    /// Tasks held and not released.
    var held: Set<Int> = []
    /// Every fact the core accepted, and every action it emitted, for the replay check at the end.
    var facts: [TimedFact] = []
    var actionLog: [SchedulerAction] = []

    init(harness: CoreHarness, seed: UInt64) {
        options = harness.options
        jobCount = max(1, harness.options.jobs)
        specs = harness.graph.tasks
        rng = SplitMix64(seed: seed)
        if let workers = harness.options.workers {
            core = SchedulerCore(
                policy: harness.policy, failurePolicy: harness.failurePolicy,
                execution: .workers(leaseTimeout: workers.leaseTimeout))
            for index in specs.indices where rng.chance(workers.placedFraction) {
                specs[index].placement = HarnessWorker.randomPlacement(using: &rng)
            }
        } else {
            core = SchedulerCore(policy: harness.policy, failurePolicy: harness.failurePolicy)
        }
        let finales = Int((Double(specs.count) * harness.options.finaleFraction).rounded(.down))
        for index in (specs.count - finales)..<specs.count {
            let role: TaskRole = rng.chance(0.5) ? .onSuccess : .onFailure
            let roles = specs.map(\.role)
            specs[index].role = role
            specs[index].dependencies.removeAll { dependency in
                let source = roles[dependency.task.rawValue]
                return source != .main && source != role
            }
        }
        for index in specs.indices where rng.chance(harness.options.heldFraction) { specs[index].held = true }
        report = CoreHarness.Report(seed: seed)
        widths = harness.graph.queueWidths
        var jobPolicies = [harness.policy]
        for _ in 1..<jobCount {
            jobPolicies.append(CoreHarness.policies.randomElement(using: &rng)!)
            let failurePolicy: FailurePolicy = rng.chance(0.5) ? .failFast : .continueIndependent
            _ = core.addJob(policy: jobPolicies.last!, failurePolicy: failurePolicy)
            facts.append(TimedFact(at: .zero, .jobAdded(policy: jobPolicies.last!, failurePolicy: failurePolicy)))
        }
        let jobs = widths.indices.map { $0 % max(1, harness.options.jobs) }
        queueJobs = jobs
        queuePolicies = jobs.map { jobPolicies[$0] }
        runningPerQueue = Array(repeating: 0, count: widths.count)
        report.maxRunning = runningPerQueue
        lastAttempt = Array(repeating: 0, count: specs.count)
        completions = lastAttempt
        succeeded = Array(repeating: false, count: specs.count)
        emitted = lastAttempt
        lost = lastAttempt
        report.outcomes = Array(repeating: nil, count: specs.count)
    }

    mutating func violation(_ message: String) {
        report.violations.append("step \(step): \(message)")
    }

    // MARK: - Run

    mutating func run() {
        for (queue, width) in widths.enumerated() {
            do {
                _ = try core.addQueue(width: width, job: JobID(queueJobs[queue]))
                facts.append(TimedFact(at: now, .queueAdded(width: width, job: JobID(queueJobs[queue]))))
            } catch {
                violation("addQueue(width: \(width)) threw \(error)")
                return
            }
        }
        let early = specs.count - Int((Double(specs.count) * options.lateSubmissionFraction).rounded(.down))
        while submitted < early { submitNext() }
        for _ in 0..<(options.workers?.initialWorkers ?? 0) { join(HarnessWorker.randomSpec(using: &rng)) }
        var actions: [SchedulerAction] = []
        feed(.started, into: &actions)
        started = true
        apply(actions)
        afterStep()
        while core.unfinishedCount > 0 || submitted < specs.count {
            step += 1
            guard step <= options.maxSteps else {
                violation("no end after \(options.maxSteps) steps")
                break
            }
            now += .milliseconds(Int.random(in: 0...50, using: &rng))
            guard let event = nextEvent() else {
                violation("stuck: \(core.unfinishedCount) unfinished, nothing running, no retry due")
                break
            }
            perform(event)
            afterStep()
            if report.violations.count > 50 { break }
        }
        finalChecks()
    }

    /// Picks the next event among those possible now; `nil` when the run cannot go on.
    mutating func nextEvent() -> Event? {
        if let event = nextWorkerEvent() { return event }
        if paused {
            if rng.chance(options.resumeProbability) || (running.isEmpty && submitted == specs.count) {
                return .resume
            }
        } else if rng.chance(options.pauseProbability) {
            return .pause
        }
        if rng.chance(options.cancelProbability) { return .cancel }
        if rng.chance(options.cancelAllProbability) { return .cancelAll }
        if rng.chance(options.cancelJobProbability) { return .cancelJob }
        if submitted > 0, rng.chance(options.holdProbability) { return .hold }
        if !held.isEmpty, rng.chance(options.releaseProbability) { return .release }
        if rng.chance(options.widthChangeProbability), !widths.isEmpty { return .width }
        if rng.chance(options.staleReportProbability), lastAttempt.contains(where: { $0 > 0 }) { return .stale }
        if !timers.isEmpty, rng.chance(options.timeoutProbability) { return .timeout }
        if submitted < specs.count, running.isEmpty || rng.chance(0.3) { return .submit }
        if !retries.isEmpty, running.isEmpty || rng.chance(0.1) { return .retries }
        if !running.isEmpty { return .report }
        if !retries.isEmpty { return .retries }
        if submitted < specs.count { return .submit }
        if paused { return .resume }
        if !held.isEmpty { return .release }
        if options.workers != nil { return .rescue }
        return nil
    }

    mutating func perform(_ event: Event) {
        currentEvent = event
        dispatchedThisStep.removeAll()
        switch event {
        case .report: reportOne()
        case .timeout: fireTimeout()
        case .retries: fireRetries()
        case .cancel: cancelOne()
        case .cancelAll: cancelAll()
        case .pause:
            var actions: [SchedulerAction] = []
            feed(.paused, into: &actions)
            paused = true
            report.pauses += 1
        case .resume:
            var actions: [SchedulerAction] = []
            paused = false
            feed(.resumed, into: &actions)
            apply(actions)
        case .stale: staleReport()
        case .width: changeWidth()
        case .submit: submitNext()
        case .join: join(HarnessWorker.randomSpec(using: &rng))
        case .drain: drainOne()
        case .leave: leaveOne(byLease: false)
        case .lease: leaveOne(byLease: true)
        case .heartbeat: heartbeatOne()
        case .impostor: impostorReport()
        case .rescue: rescue()
        case .cancelJob: cancelJob()
        case .restart: restart()
        case .hold: holdOne()
        case .release: releaseOne()
        }
    }

    mutating func submitNext() {
        let index = submitted
        var actions: [SchedulerAction] = []
        if specs[index].held { held.insert(index) }
        do {
            _ = try core.apply(.submitted(specs[index]), now: now, into: &actions)
            facts.append(TimedFact(at: now, .submitted(specs[index])))
            if core.taskCount != index + 1 { violation("task \(index) got id \(core.taskCount - 1)") }
        } catch {
            violation("submitting task \(index) threw \(error)")
        }
        submitted += 1
        apply(actions)
    }

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
