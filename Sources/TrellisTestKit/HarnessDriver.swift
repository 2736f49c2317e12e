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
    /// A snapshot of the state as a restart would have rebuilt it, and how many facts it stands for: half
    /// the restarts read it and only the facts after it. Its own generator leaves the run's events unchanged.
    var saved: (bytes: [UInt8], facts: Int)?
    var snapshotRNG: SplitMix64

    init(harness: CoreHarness, seed: UInt64) {
        options = harness.options
        jobCount = max(1, harness.options.jobs)
        specs = harness.graph.tasks
        rng = SplitMix64(seed: seed)
        snapshotRNG = SplitMix64(seed: seed ^ 0x5EED_5AA5)
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
        if let limit = options.workers?.crashLimit {
            var ignored: [SchedulerAction] = []
            feed(.crashLimitSet(limit), into: &ignored)
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
        if snapshotRNG.chance(0.05) { saveSnapshot() }
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
}
