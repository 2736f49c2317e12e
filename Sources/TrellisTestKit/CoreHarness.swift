public import TrellisCore

/// Drives a `SchedulerCore` through a whole graph with seeded random events, checking invariants after each step.
///
/// Every step picks one event: a running attempt yields its next partial result, succeeds, fails or (once asked to
/// stop) reports; a timeout fires; due retries fire; a task is cancelled; dispatching pauses or resumes; a queue
/// changes width; a late task is submitted; or a stale report of an old attempt arrives. After each step the
/// harness runs `checkInvariants()` and its own driver-side checks, and records every violation in the report.
public struct CoreHarness: Sendable {
    /// How often each kind of event happens.
    public struct Options: Hashable, Sendable {
        /// Chance that a finishing attempt fails instead of succeeding.
        public var failureProbability = 0.15
        /// Chance that a failure is reported as not retryable.
        public var fatalFailureProbability = 0.1
        /// Chance that a producer finishes before yielding all its partial results.
        public var missingResultsProbability = 0.03
        /// Per-step chance of firing a pending timeout.
        public var timeoutProbability = 0.05
        /// Per-step chance of cancelling a random task.
        public var cancelProbability = 0.02
        /// Per-step chance of cancelling every unfinished task at once.
        public var cancelAllProbability = 0.002
        /// Per-step chance of pausing; a paused run resumes with `resumeProbability` per step.
        public var pauseProbability = 0.03
        public var resumeProbability = 0.3
        /// Per-step chance of a stale report (an old attempt, or a retry that is not due).
        public var staleReportProbability = 0.03
        /// Per-step chance of changing a queue's width.
        public var widthChangeProbability = 0.01
        /// Share of the tasks submitted only after `start`, one per step, interleaved with other events.
        public var lateSubmissionFraction = 0.3
        /// A run that takes more steps than this is reported as a violation.
        public var maxSteps = 100_000

        /// The default mix: a bit of every event.
        public init() {}

        /// Only successes: no failures, timeouts, cancellations, pauses, width changes or stale reports.
        public static var happyPath: Options {
            var options = Options()
            options.failureProbability = 0
            options.missingResultsProbability = 0
            options.timeoutProbability = 0
            options.cancelProbability = 0
            options.cancelAllProbability = 0
            options.pauseProbability = 0
            options.staleReportProbability = 0
            options.widthChangeProbability = 0
            options.lateSubmissionFraction = 0
            return options
        }
    }

    /// What happened during one run.
    public struct Report: Sendable, CustomStringConvertible {
        /// One dispatched attempt.
        public struct Dispatch: Hashable, Sendable {
            public var task: TaskID
            public var attempt: Int
        }

        public var seed: UInt64
        public var steps = 0
        /// Every invariant violation seen, each prefixed with its step.
        public var violations: [String] = []
        public var dispatches: [Dispatch] = []
        /// Tasks in the order they reached their final state.
        public var completionOrder: [TaskID] = []
        /// The final outcome of each task, by task index.
        public var outcomes: [TaskOutcome?] = []
        public var counts = OutcomeCounts()
        /// The core's count of stale events, and how many the harness sent on purpose.
        public var staleReports = 0
        public var expectedStaleReports = 0
        /// The most attempts running at once on each queue.
        public var maxRunning: [Int] = []
        public var itemsEmitted = 0
        public var timeoutsFired = 0
        public var retriesFired = 0
        public var cancels = 0
        public var pauses = 0

        public var isClean: Bool { violations.isEmpty }

        public var description: String {
            "seed \(seed): \(steps) steps, \(dispatches.count) dispatches, \(counts), "
                + "\(violations.count) violations" + violations.prefix(5).map { "\n  \($0)" }.joined()
        }
    }

    public var graph: GraphSpec
    public var policy: SchedulingPolicy
    public var failurePolicy: FailurePolicy
    public var options: Options

    /// A harness for `graph` under the given policies.
    public init(
        graph: GraphSpec,
        policy: SchedulingPolicy,
        failurePolicy: FailurePolicy = .continueIndependent,
        options: Options = Options()
    ) {
        self.graph = graph
        self.policy = policy
        self.failurePolicy = failurePolicy
        self.options = options
    }

    /// Runs the graph to completion with events drawn from `seed`.
    public func run(seed: UInt64) -> Report {
        var driver = HarnessDriver(harness: self, seed: seed)
        driver.run()
        return driver.report
    }
}

/// The mutable state of one harness run.
struct HarnessDriver {
    struct Attempt {
        var task: Int
        var attempt: Int
        /// The next partial result this attempt yields; every attempt yields from 0 again.
        var nextItem = 0
        var cancelRequested = false
        var timedOut = false
    }

    struct Timer {
        var task: Int
        var attempt: Int
        var deadline: Duration
    }

    enum Event {
        case report, timeout, retries, cancel, cancelAll, pause, resume, stale, width, submit
    }

    let options: CoreHarness.Options
    let policy: SchedulingPolicy
    let specs: [TaskSpec]
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

    init(harness: CoreHarness, seed: UInt64) {
        options = harness.options
        policy = harness.policy
        specs = harness.graph.tasks
        core = SchedulerCore(policy: harness.policy, failurePolicy: harness.failurePolicy)
        rng = SplitMix64(seed: seed)
        report = CoreHarness.Report(seed: seed)
        widths = harness.graph.queueWidths
        runningPerQueue = Array(repeating: 0, count: widths.count)
        report.maxRunning = runningPerQueue
        lastAttempt = Array(repeating: 0, count: specs.count)
        completions = lastAttempt
        succeeded = Array(repeating: false, count: specs.count)
        emitted = lastAttempt
        report.outcomes = Array(repeating: nil, count: specs.count)
    }

    mutating func violation(_ message: String) {
        report.violations.append("step \(step): \(message)")
    }

    // MARK: - Run

    mutating func run() {
        for width in widths {
            do {
                _ = try core.addQueue(width: width)
            } catch {
                violation("addQueue(width: \(width)) threw \(error)")
                return
            }
        }
        let early = specs.count - Int((Double(specs.count) * options.lateSubmissionFraction).rounded(.down))
        while submitted < early { submitNext() }
        var actions: [SchedulerAction] = []
        core.start(now: now, into: &actions)
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
        if paused {
            if rng.chance(options.resumeProbability) || (running.isEmpty && submitted == specs.count) {
                return .resume
            }
        } else if rng.chance(options.pauseProbability) {
            return .pause
        }
        if rng.chance(options.cancelProbability) { return .cancel }
        if rng.chance(options.cancelAllProbability) { return .cancelAll }
        if rng.chance(options.widthChangeProbability), !widths.isEmpty { return .width }
        if rng.chance(options.staleReportProbability), lastAttempt.contains(where: { $0 > 0 }) { return .stale }
        if !timers.isEmpty, rng.chance(options.timeoutProbability) { return .timeout }
        if submitted < specs.count, running.isEmpty || rng.chance(0.3) { return .submit }
        if !retries.isEmpty, running.isEmpty || rng.chance(0.1) { return .retries }
        if !running.isEmpty { return .report }
        if !retries.isEmpty { return .retries }
        if submitted < specs.count { return .submit }
        if paused { return .resume }
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
            core.pause()
            paused = true
            report.pauses += 1
        case .resume:
            var actions: [SchedulerAction] = []
            paused = false
            core.resume(now: now, into: &actions)
            apply(actions)
        case .stale: staleReport()
        case .width: changeWidth()
        case .submit: submitNext()
        }
    }

    mutating func submitNext() {
        let index = submitted
        var actions: [SchedulerAction] = []
        do {
            let id = try core.submit(specs[index], now: now, into: &actions)
            if id != TaskID(index) { violation("task \(index) got id \(id)") }
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
            let disposition = core.partialResult(task, index: index, attempt: current.attempt, now: now, into: &actions)
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
        running.remove(at: position)
        runningPerQueue[spec.queue.rawValue] -= 1
        timers.removeAll { $0.task == current.task && $0.attempt == current.attempt }
        let disposition: EventDisposition
        if rng.chance(options.failureProbability) {
            let retryable = !rng.chance(options.fatalFailureProbability)
            disposition = core.failed(task, attempt: current.attempt, retryable: retryable, now: now, into: &actions)
        } else {
            disposition = core.succeeded(task, attempt: current.attempt, now: now, into: &actions)
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
        let disposition = core.timedOut(TaskID(timer.task), attempt: timer.attempt, now: now, into: &actions)
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
            let disposition = core.retryDue(TaskID(retry.task), now: now, into: &actions)
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
        let disposition = core.cancel(TaskID(task), now: now, into: &actions)
        if disposition != expected { violation("cancel(task#\(task)) answered \(disposition), expected \(expected)") }
        if disposition == .accepted {
            report.cancels += 1
            retries.removeAll { $0.task == task }
        }
        apply(actions)
        if attempt == nil, completions[task] != 1 { violation("cancelled task#\(task) did not complete") }
    }

    mutating func cancelAll() {
        var actions: [SchedulerAction] = []
        core.cancelAll(now: now, into: &actions)
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
            try core.setWidth(width, of: QueueID(queue), now: now, into: &actions)
            widths[queue] = width
        } catch {
            violation("setWidth(\(width)) threw \(error)")
        }
        apply(actions)
    }

    // MARK: - Actions

    mutating func apply(_ actions: [SchedulerAction]) {
        defer { if policy == .fifo { checkFifoOrder(actions.dispatched) } }
        for action in actions {
            switch action {
            case .dispatch(let task, let queue, let attempt): dispatched(task.rawValue, queue: queue, attempt: attempt)
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
                let expected = now + spec.retry.backoff(afterAttempt: lastAttempt[task.rawValue])
                if deadline != expected { violation("retry of \(task) at \(deadline), expected \(expected)") }
                if lastAttempt[task.rawValue] >= spec.retry.maxAttempts {
                    violation("retry of \(task) scheduled after its last attempt \(lastAttempt[task.rawValue])")
                }
                retries.append((task.rawValue, deadline))
            }
        }
    }

    mutating func dispatched(_ task: Int, queue: QueueID, attempt: Int) {
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
        if attempt > spec.retry.maxAttempts {
            violation("task#\(task) dispatched as attempt \(attempt) of \(spec.retry.maxAttempts)")
        }
        for dependency in spec.dependencies {
            let source = dependency.task.rawValue
            if let item = dependency.item {
                if emitted[source] <= item { violation("task#\(task) dispatched before \(dependency) exists") }
            } else if !succeeded[source] {
                violation("task#\(task) dispatched before \(dependency) succeeded")
            }
        }
        lastAttempt[task] = attempt
        running.append(Attempt(task: task, attempt: attempt))
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
        case .failed(.error), .failed(.timedOut):
            if currentEvent != .report { violation("task#\(task) failed without a report") }
        case .upstreamFailed(let root):
            if report.outcomes[root.rawValue].map({ if case .failed = $0 { true } else { false } }) != true {
                violation("task#\(task) upstream-failed from \(root), which has not failed")
            }
        case .cancelled(let cause):
            if let cause, report.outcomes[cause.rawValue] == nil, cause.rawValue != task {
                if !running.contains(where: { $0.task == cause.rawValue && $0.cancelRequested }) {
                    violation("task#\(task) cancelled because of \(cause), which is neither finished nor stopping")
                }
            }
        }
    }

    // MARK: - Checks

    /// Under `.fifo`, each queue hands out its ready tasks by priority, then submission order.
    mutating func checkFifoOrder(_ dispatched: [TaskID]) {
        func key(_ task: Int) -> (Int, Int) { (Int(Int32(clamping: specs[task].priority)), -task) }
        for queue in widths.indices {
            let picked = dispatched.map(\.rawValue).filter { specs[$0].queue.rawValue == queue }
            for (earlier, later) in zip(picked, picked.dropFirst()) where key(earlier) < key(later) {
                violation("fifo dispatched task#\(earlier) before task#\(later)")
            }
            guard let last = picked.last else { continue }
            for task in 0..<submitted where specs[task].queue.rawValue == queue {
                if core.state(of: TaskID(task)) == .ready, key(task) > key(last) {
                    violation("fifo dispatched task#\(last) while task#\(task) is ready")
                }
            }
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
