internal import Foundation
internal import TrellisCore
internal import TrellisEngine
internal import TrellisExecution
internal import TrellisJournal
internal import TrellisWorkflow

/// The state of one session of a local run, owned by `LocalRunner.run`'s loop: the engine state (core,
/// unsaved facts, deadlines), the session's embedded worker, running processes and pending timers.
///
/// Every fact the core accepts goes to the journal with what people see beside it (`RunFact`s), in the order
/// they happened, one transaction per loop turn. Local processes may start before their facts are committed:
/// the journal stays a prefix of what happened, and a crash loses at most the attempts then running, which a
/// resumed run starts again.
struct RunLoop<C: Clock> where C.Duration == Duration {
    typealias Runner = LocalRunner<C>

    /// An embedded executor never misses a heartbeat, so its lease never ends.
    static var leaseTimeout: Duration { .seconds(86_400) }

    let runner: Runner
    let plan: WorkflowPlan
    let pump: JournalPump<SQLiteRunJournal>
    let events: @Sendable (RunEvent) -> Void
    /// The session's start on the runner's clock, and the run time it stands for.
    let origin: C.Instant
    let timeBase: Duration

    var state: EngineState
    /// The run as recorded, kept current with every record written.
    var history: RunHistory
    /// This session's embedded worker.
    var worker = WorkerID(0)
    var pending: [EngineRecord] = []
    var executions: [Int: Task<Void, Never>] = [:]
    var groups: [Int: ProcessGroup] = [:]
    var startTimes: [Int: C.Instant] = [:]
    /// One sleeping task per pending deadline, dropped when it fires (a long run keeps only what is pending).
    var timers: [TimerKey: Task<Void, Never>] = [:]

    enum TimerKey: Hashable {
        case timeout(task: Int, attempt: Int)
        case retry(task: Int)
    }
    var actions: [SchedulerAction] = []
    /// The runner's own environment, which every task inherits.
    let baseEnvironment = ProcessInfo.processInfo.environment
    /// Every task has ended (or the run was interrupted) and no process is left.
    var isFinished = false
    var interrupted = false
    var forced = false
    var alreadyDone = 0

    init(
        runner: Runner, history: RunHistory, pump: JournalPump<SQLiteRunJournal>,
        events: @escaping @Sendable (RunEvent) -> Void, origin: C.Instant
    ) {
        self.runner = runner
        self.plan = runner.plan
        self.history = history
        self.pump = pump
        self.events = events
        self.origin = origin
        let header =
            history.header
            ?? RunHeader(
                identity: runner.identity, policy: runner.plan.workflow.policy,
                failurePolicy: runner.plan.workflow.failurePolicy, origin: Self.wallClock)
        // Run time goes on from the last recorded fact, and from the wall clock when that is later.
        let elapsed = Duration.seconds(max(0, Self.wallClock - header.origin))
        timeBase = max(history.facts.last?.at ?? .zero, elapsed)
        state = EngineState(header.makeCore(leaseTimeout: Self.leaseTimeout))
        if history.header == nil { record(.header(header)) }
    }

    var now: Duration { timeBase + origin.duration(to: runner.clock.now) }
    var core: SchedulerCore { state.core }

    // MARK: - Beginning

    /// Starts the session: a new run submits every task; a resumed one replays the journal, lets the tasks
    /// its last session was running run again, and re-arms its retry delays. A run whose tasks had all ended
    /// runs the ones that did not succeed again, as a new job.
    mutating func begin() throws(RunError) {
        let resumed = !history.facts.isEmpty
        record(.run(.sessionStarted(at: Self.wallClock, pid: getpid())))
        if resumed {
            do {
                var ignored: [SchedulerAction] = []
                state = try EngineState.restore(
                    state.core, from: history.facts, now: now, into: &ignored)
            } catch {
                throw RunError(.corrupt, "the run's journal cannot be replayed", cause: "\(error)")
            }
            for index in 0..<core.workerCount where core.isConnected(WorkerID(index)) {
                apply(.workerLeft(WorkerID(index)))
            }
            if core.unfinishedCount == 0, !allGood { submit(newJob: true) }
        } else {
            submit(newJob: false)
        }
        alreadyDone = plan.nodes.count { node in
            history.latestTask[node.id].map { core.outcome(of: $0) == .succeeded } ?? false
        }
        events(
            .began(
                workflow: plan.workflow.name, total: plan.nodes.count, done: alreadyDone,
                session: history.snapshot?.sessions ?? 1))
        worker = WorkerID(core.workerCount)
        apply(.workerJoined(WorkerSpec(type: "local", slots: SchedulerCore.maxWorkerSlots)))
        for (task, deadline) in state.timers.retries { schedule(at: deadline, .retryDue(task: task.rawValue)) }
        if !core.isStarted { apply(.started) }
        flush()
        advanceIfIdle()
    }

    /// Submits the nodes that have not succeeded, leaving out dependencies already satisfied: to the run's
    /// first job, or (`newJob`) as a job of their own after the recorded one ended.
    mutating func submit(newJob: Bool) {
        var submission = JobSubmission(
            policy: plan.workflow.policy, failurePolicy: plan.workflow.failurePolicy,
            queues: plan.queues.map { JobSubmission.Queue(name: $0.name, width: $0.width) })
        var queueIndex: [String: Int] = [:]
        for (index, queue) in plan.queues.enumerated() { queueIndex[queue.name] = index }
        var batchIndex: [Int: Int] = [:]
        for (position, node) in plan.nodes.enumerated() {
            if let earlier = history.latestTask[node.id], core.outcome(of: earlier) == .succeeded { continue }
            let needs = node.dependencies.compactMap { dependency -> JobSubmission.Need? in
                let source = dependency.task.rawValue
                if let index = batchIndex[source] { return JobSubmission.Need(.batch(index), item: dependency.item) }
                guard let earlier = history.latestTask[plan.nodes[source].id] else {
                    preconditionFailure(
                        "Internal inconsistency: \(node.id) depends on \(plan.nodes[source].id), not yet submitted")
                }
                if core.outcome(of: earlier) == .succeeded { return nil }
                if let item = dependency.item, core.hasEmitted(earlier, item: item) { return nil }
                preconditionFailure(
                    "Internal inconsistency: \(plan.nodes[source].id) did not succeed, yet it is not submitted again")
            }
            batchIndex[position] = submission.tasks.count
            submission.tasks.append(
                JobSubmission.Task(
                    name: node.id, queue: .new(queueIndex[node.queue]!), spec: node.spec(queue: QueueID(0)),
                    needs: needs))
        }
        let ids: [TaskID]
        do {
            ids = try state.submit(submission, to: newJob ? nil : .initial, now: now, into: &actions).ids
        } catch {
            preconditionFailure("Internal inconsistency: the engine refused a validated plan: \(error)")
        }
        for saved in state.takeUnsaved() { record(.fact(saved)) }
        for (index, id) in ids.enumerated() { record(.named(id, submission.tasks[index].name)) }
    }

    /// Whether the run's outcome is good: every task succeeded, except finales whose case did not arise.
    var allGood: Bool {
        plan.nodes.allSatisfy { node in
            let outcome = history.latestTask[node.id].flatMap(core.outcome(of:))
            return outcome == .succeeded || (node.role != .main && (outcome == nil || outcome == .skipped))
        }
    }

    /// The run is over once no process is left and either every task has ended or the run was interrupted.
    mutating func advanceIfIdle() {
        guard executions.isEmpty else { return }
        if interrupted || core.unfinishedCount == 0 { isFinished = true }
    }

    /// Ends the session: timers stop; tasks waiting out a retry back-off are recorded as interrupted.
    mutating func finish() -> String {
        for timer in timers.values { timer.cancel() }
        timers.removeAll()
        for task in state.timers.retries.keys.sorted(by: { $0.rawValue < $1.rawValue }) {
            guard case .retrying = core.state(of: task) else { continue }
            record(
                .run(
                    .settled(
                        task: history.name(of: task), state: .interrupted,
                        message: "interrupted while waiting to retry", at: Self.wallClock)))
        }
        let status = interrupted ? "interrupted" : allGood ? "succeeded" : "failed"
        record(.run(.sessionEnded(status: status, at: Self.wallClock)))
        flush()
        return status
    }

    // MARK: - Recording

    /// Feeds a fact to the core; an accepted one is recorded.
    @discardableResult
    mutating func apply(_ fact: CoreFact) -> EventDisposition {
        let disposition: EventDisposition
        do {
            disposition = try state.apply(fact, now: now, into: &actions)
        } catch {
            preconditionFailure("Internal inconsistency: the core refused \(fact) of a validated plan: \(error)")
        }
        for saved in state.takeUnsaved() { record(.fact(saved)) }
        return disposition
    }

    mutating func record(_ record: EngineRecord) {
        pending.append(record)
        history.apply(record)
    }

    /// Hands the turn's records to the journal, in one transaction.
    mutating func flush() {
        perform(report: nil)
        guard !pending.isEmpty else { return }
        pump.append(pending.takeAll())
    }

    static var wallClock: Double { Date().timeIntervalSince1970 }

    func node(of task: TaskID) -> WorkflowPlan.Node { plan.nodes[plan.index[history.name(of: task)]!] }

    func shownAttempt(_ task: TaskID, _ attempt: Int) -> Int { history.attemptBase[task.rawValue] + attempt }

    // MARK: - Inputs

    mutating func handle(_ input: Runner.Input) {
        switch input {
        case .started(let raw, let attempt, let group):
            guard executions[raw] != nil else { return }
            groups[raw] = group
            let task = TaskID(raw)
            record(
                .run(
                    .processStarted(
                        task: history.name(of: task), attempt: shownAttempt(task, attempt), pid: group.leader)))
            if forced { group.signal(SIGKILL) }
        case .output(let raw, let attempt, let name):
            let task = TaskID(raw)
            guard !interrupted, let item = node(of: task).outputs.firstIndex(of: name) else { return }
            if apply(.partialResult(task, index: item, attempt: attempt, worker: worker)) == .accepted {
                record(.run(.outputSignalled(task: history.name(of: task), name: name, at: Self.wallClock)))
                events(.output(task: history.name(of: task), name: name))
            }
        case .ended(let raw, let attempt, let end):
            executions[raw] = nil
            groups[raw] = nil
            attemptEnded(TaskID(raw), attempt: attempt, end: end)
        case .timeout(let raw, let attempt):
            timers[.timeout(task: raw, attempt: attempt)] = nil
            guard !interrupted else { return }
            apply(.timedOut(TaskID(raw), attempt: attempt))
        case .retryDue(let raw):
            timers[.retry(task: raw)] = nil
            guard !interrupted else { return }
            apply(.retryDue(TaskID(raw)))
        case .interrupt(let force):
            // A second interrupt, or a forced one, kills what runs at once.
            let escalate = force || interrupted
            if !interrupted {
                // The journal keeps the attempts as running: the next session runs them again.
                interrupted = true
                if !force { events(.stopping(force: false)) }
                for execution in executions.values { execution.cancel() }
                for timer in timers.values { timer.cancel() }
                timers.removeAll()
            }
            if escalate, !forced {
                forced = true
                events(.stopping(force: true))
                for group in groups.values { group.signal(SIGKILL) }
            }
        }
    }

    mutating func attemptEnded(_ task: TaskID, attempt: Int, end: Runner.AttemptEnd) {
        let name = history.name(of: task)
        let shown = shownAttempt(task, attempt)
        let seconds =
            startTimes.removeValue(forKey: task.rawValue).map { $0.duration(to: runner.clock.now).seconds } ?? 0
        let exitCode: Int32? = if case .exited(let code) = end { code } else { nil }
        if interrupted {
            record(
                .run(
                    .attemptEnded(
                        task: name, attempt: shown, state: .interrupted, exitCode: exitCode, message: "interrupted",
                        at: Self.wallClock)))
            events(
                .finished(
                    task: name, attempt: shown, state: .interrupted, exitCode: exitCode, message: "interrupted",
                    seconds: seconds))
            return
        }
        let start = actions.count
        let disposition =
            switch end {
            case .exited(0): apply(.succeeded(task, attempt: attempt, worker: worker))
            case .exited, .signalled, .stopped: apply(.failed(task, attempt: attempt, retryable: true, worker: worker))
            case .failed(_, let retryable):
                apply(.failed(task, attempt: attempt, retryable: retryable, worker: worker))
            }
        guard disposition == .accepted else { return }
        let outcome: TaskOutcome? = actions[start...].lazy.compactMap { action -> TaskOutcome? in
            if case .completed(task, let outcome) = action { return outcome }
            return nil
        }.first
        let state = outcome.map(TaskStatus.init) ?? .retrying
        let message = message(end: end, outcome: outcome, task: task)
        record(
            .run(
                .attemptEnded(
                    task: name, attempt: shown, state: state, exitCode: exitCode, message: message, at: Self.wallClock)
            ))
        events(
            .finished(task: name, attempt: shown, state: state, exitCode: exitCode, message: message, seconds: seconds))
        perform(report: task)
    }

    // MARK: - Actions

    /// Carries out the core's actions. `report` is the task whose attempt just ended; its completion was
    /// already recorded with the attempt.
    mutating func perform(report: TaskID?) {
        while !actions.isEmpty {
            for action in actions.takeAll() { perform(action, report: report) }
        }
    }

    mutating func perform(_ action: SchedulerAction, report: TaskID?) {
        switch action {
        case .assign(let task, _, let attempt):
            launch(task, attempt: attempt)
        case .cancelRunning(let task, _):
            executions[task.rawValue]?.cancel()
        case .completed(let task, let outcome):
            guard task != report else { return }
            let name = history.name(of: task)
            let message = message(end: nil, outcome: outcome, task: task)
            record(.run(.settled(task: name, state: TaskStatus(outcome), message: message, at: Self.wallClock)))
            events(.settled(task: name, state: TaskStatus(outcome), message: message))
        case .scheduleTimeout(let task, let attempt, let deadline):
            schedule(at: deadline, .timeout(task: task.rawValue, attempt: attempt))
        case .scheduleRetry(let task, let deadline):
            schedule(at: deadline, .retryDue(task: task.rawValue))
        case .scheduleLease:
            break
        case .dispatch:
            preconditionFailure("Internal inconsistency: a local run's core hands work to workers, yet sent \(action)")
        }
    }
}
