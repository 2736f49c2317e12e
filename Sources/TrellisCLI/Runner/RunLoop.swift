internal import Foundation
internal import TrellisCore
internal import TrellisExecution
internal import TrellisStore
internal import TrellisWorkflow

/// The state of one session of a local run, owned by `LocalRunner.run`'s loop: the scheduling core, the
/// mapping between plan nodes and core tasks, running attempts and pending timers.
struct RunLoop<C: Clock> where C.Duration == Duration {
    typealias Runner = LocalRunner<C>

    let runner: Runner
    let plan: WorkflowPlan
    let writer: FactWriter
    let events: @Sendable (RunEvent) -> Void
    let origin: C.Instant

    var core: SchedulerCore
    var queueIDs: [String: QueueID] = [:]
    var coreToNode: [Int] = []
    var nodeToCore: [Int?]
    /// Attempts recorded by earlier sessions, so attempt numbers keep growing across sessions.
    var attemptBase: [Int]
    var done: [Bool]
    var storedOutputs: [Set<String>]
    var outcomes: [TaskOutcome?]
    var executions: [Int: Task<Void, Never>] = [:]
    var pids: [Int: Int32] = [:]
    var startTimes: [Int: C.Instant] = [:]
    var timers: [Task<Void, Never>] = []
    var facts: [RunFact] = []
    var actions: [SchedulerAction] = []
    /// The runner's own environment, which every task inherits.
    let baseEnvironment = ProcessInfo.processInfo.environment
    /// Every task has ended (or the run was interrupted) and no process is left.
    var isFinished = false
    var interrupted = false
    var forced = false
    let alreadyDone: Int

    init(
        runner: Runner, earlier: RunSnapshot, writer: FactWriter, events: @escaping @Sendable (RunEvent) -> Void,
        origin: C.Instant
    ) {
        self.runner = runner
        self.plan = runner.plan
        self.writer = writer
        self.events = events
        self.origin = origin
        let policy = plan.workflow.policy
        core = SchedulerCore(policy: policy, failurePolicy: plan.workflow.failurePolicy)
        nodeToCore = Array(repeating: nil, count: plan.nodes.count)
        attemptBase = Array(repeating: 0, count: plan.nodes.count)
        done = Array(repeating: false, count: plan.nodes.count)
        storedOutputs = Array(repeating: [], count: plan.nodes.count)
        outcomes = Array(repeating: nil, count: plan.nodes.count)
        var stored: [String: StoredTask] = [:]
        for task in earlier.tasks { stored[task.id] = task }
        var doneCount = 0
        for (position, node) in plan.nodes.enumerated() {
            guard let task = stored[node.id] else { continue }
            attemptBase[position] = task.attempts.map(\.number).max() ?? 0
            storedOutputs[position] = Set(task.outputs)
            if task.state.isDone {
                done[position] = true
                outcomes[position] = .succeeded
                doneCount += 1
            }
        }
        alreadyDone = doneCount
        for queue in plan.queues {
            do {
                queueIDs[queue.name] = try core.addQueue(width: queue.width)
            } catch {
                preconditionFailure(
                    "Internal inconsistency: a validated plan has a queue of width \(queue.width): \(error)")
            }
        }
        events(
            .began(
                workflow: plan.workflow.name, total: plan.nodes.count, done: doneCount, session: earlier.sessions + 1))
    }

    var now: Duration { origin.duration(to: runner.clock.now) }

    // MARK: - Phases

    /// Submits every unfinished node, main graph first, then the finales: the core holds the `on_success` and
    /// `on_failure` tasks until the main tasks have ended, runs the group that applies and skips the other.
    mutating func begin() {
        submit()
        core.start(now: now, into: &actions)
        perform(report: nil)
        advanceIfIdle()
        flushFacts()
    }

    /// Submits the unfinished nodes in plan order, leaving out dependencies that earlier sessions satisfied.
    mutating func submit() {
        for (position, node) in plan.nodes.enumerated() where !done[position] {
            var spec = node.spec(queue: queueIDs[node.queue]!)
            spec.dependencies = node.dependencies.compactMap { dependency in
                let source = dependency.task.rawValue
                if done[source] { return nil }
                if let item = dependency.item, storedOutputs[source].contains(plan.nodes[source].outputs[item]) {
                    return nil
                }
                guard let coreID = nodeToCore[source] else {
                    preconditionFailure(
                        "Internal inconsistency: \(node.id) depends on \(plan.nodes[source].id), not yet submitted")
                }
                return Dependency(TaskID(coreID), item: dependency.item)
            }
            do {
                let id = try core.submit(spec, now: now, into: &actions)
                nodeToCore[position] = id.rawValue
                coreToNode.append(position)
            } catch {
                preconditionFailure("Internal inconsistency: a validated plan was refused by the core: \(error)")
            }
        }
        perform(report: nil)
    }

    /// The run is over once no process is left and either every task has ended or the run was interrupted.
    mutating func advanceIfIdle() {
        guard executions.isEmpty else { return }
        if interrupted || core.unfinishedCount == 0 { isFinished = true }
    }

    /// Ends the session: timers stop; tasks waiting out a retry back-off are recorded as interrupted.
    mutating func finish() -> String {
        for timer in timers { timer.cancel() }
        timers.removeAll()
        for (position, coreID) in nodeToCore.enumerated() {
            guard let coreID, case .retrying = core.state(of: TaskID(coreID)) else { continue }
            facts.append(
                .settled(
                    task: plan.nodes[position].id, state: .interrupted, message: "interrupted while waiting to retry",
                    at: Self.wallClock))
        }
        flushFacts()
        if interrupted { return "interrupted" }
        let allGood = plan.nodes.indices.allSatisfy { position in
            outcomes[position] == .succeeded
                || (plan.nodes[position].role != .main && (outcomes[position] == nil || outcomes[position] == .skipped))
        }
        return allGood ? "succeeded" : "failed"
    }

    mutating func flushFacts() {
        guard !facts.isEmpty else { return }
        writer.append(facts)
        facts.removeAll(keepingCapacity: true)
    }

    static var wallClock: Double { Date().timeIntervalSince1970 }

    // MARK: - Inputs

    mutating func handle(_ input: Runner.Input) {
        switch input {
        case .started(let node, let attempt, let pid):
            guard executions[node] != nil else { return }
            pids[node] = pid
            facts.append(.processStarted(task: plan.nodes[node].id, attempt: attemptBase[node] + attempt, pid: pid))
            if forced { _ = kill(-pid, SIGKILL) }
        case .output(let node, let attempt, let name):
            guard let item = plan.nodes[node].outputs.firstIndex(of: name), let coreID = nodeToCore[node], !interrupted
            else { return }
            let disposition = core.partialResult(
                TaskID(coreID), index: item, attempt: attempt, now: now, into: &actions)
            if disposition == .accepted {
                facts.append(.outputSignalled(task: plan.nodes[node].id, name: name, at: Self.wallClock))
                events(.output(task: plan.nodes[node].id, name: name))
            }
            perform(report: nil)
        case .ended(let node, let attempt, let end):
            executions[node] = nil
            pids[node] = nil
            attemptEnded(node: node, attempt: attempt, end: end)
            advanceIfIdle()
        case .timeout(let node, let attempt):
            guard let coreID = nodeToCore[node], !interrupted else { return }
            core.timedOut(TaskID(coreID), attempt: attempt, now: now, into: &actions)
            perform(report: nil)
        case .retryDue(let node):
            guard let coreID = nodeToCore[node], !interrupted else { return }
            core.retryDue(TaskID(coreID), now: now, into: &actions)
            perform(report: nil)
        case .interrupt:
            if interrupted {
                forced = true
                events(.stopping(force: true))
                for pid in pids.values { _ = kill(-pid, SIGKILL) }
            } else {
                interrupted = true
                core.pause()
                events(.stopping(force: false))
                for execution in executions.values { execution.cancel() }
                for timer in timers { timer.cancel() }
                timers.removeAll()
            }
            advanceIfIdle()
        }
    }

    mutating func attemptEnded(node: Int, attempt: Int, end: Runner.AttemptEnd) {
        let id = plan.nodes[node].id
        let storedAttempt = attemptBase[node] + attempt
        let seconds = startTimes.removeValue(forKey: node).map { $0.duration(to: runner.clock.now).seconds } ?? 0
        let exitCode: Int32? = if case .exited(let code) = end { code } else { nil }
        if interrupted {
            facts.append(
                .attemptEnded(
                    task: id, attempt: storedAttempt, state: .interrupted, exitCode: exitCode, message: "interrupted",
                    at: Self.wallClock))
            events(
                .finished(
                    task: id, attempt: storedAttempt, state: .interrupted, exitCode: exitCode, message: "interrupted",
                    seconds: seconds))
            return
        }
        guard let coreID = nodeToCore[node] else { return }
        let task = TaskID(coreID)
        let disposition: EventDisposition
        switch end {
        case .exited(0):
            disposition = core.succeeded(task, attempt: attempt, now: now, into: &actions)
        case .exited, .signalled, .stopped:
            disposition = core.failed(task, attempt: attempt, now: now, into: &actions)
        case .failed(_, let retryable):
            disposition = core.failed(task, attempt: attempt, retryable: retryable, now: now, into: &actions)
        }
        guard disposition == .accepted else {
            perform(report: nil)
            return
        }
        let outcome: TaskOutcome? = actions.lazy.compactMap { action -> TaskOutcome? in
            if case .completed(task, let outcome) = action { return outcome }
            return nil
        }.first
        let state = outcome.map(Self.storedState) ?? .retrying
        let message = message(end: end, outcome: outcome, node: plan.nodes[node])
        facts.append(
            .attemptEnded(
                task: id, attempt: storedAttempt, state: state, exitCode: exitCode, message: message, at: Self.wallClock
            ))
        events(
            .finished(
                task: id, attempt: storedAttempt, state: state, exitCode: exitCode, message: message, seconds: seconds))
        perform(report: task)
    }

    // MARK: - Actions

    /// Carries out the core's actions. `report` is the task whose attempt just ended; its completion was
    /// already recorded with the attempt.
    mutating func perform(report: TaskID?) {
        guard !actions.isEmpty else { return }
        let pending = actions
        actions.removeAll(keepingCapacity: true)
        for action in pending {
            switch action {
            case .dispatch(let task, _, let attempt):
                launch(node: coreToNode[task.rawValue], attempt: attempt)
            case .cancelRunning(let task, _):
                executions[coreToNode[task.rawValue]]?.cancel()
            case .completed(let task, let outcome):
                let node = coreToNode[task.rawValue]
                outcomes[node] = outcome
                guard task != report else { continue }
                let message = message(end: nil, outcome: outcome, node: plan.nodes[node])
                facts.append(
                    .settled(
                        task: plan.nodes[node].id, state: Self.storedState(outcome), message: message,
                        at: Self.wallClock))
                events(.settled(task: plan.nodes[node].id, state: Self.storedState(outcome), message: message))
            case .scheduleTimeout(let task, let attempt, let deadline):
                schedule(at: deadline, .timeout(node: coreToNode[task.rawValue], attempt: attempt))
            case .scheduleRetry(let task, let deadline):
                schedule(at: deadline, .retryDue(node: coreToNode[task.rawValue]))
            case .assign, .scheduleLease:
                preconditionFailure("Internal inconsistency: a local run's core has no workers, yet it sent \(action)")
            }
        }
    }

    mutating func schedule(at deadline: Duration, _ input: Runner.Input) {
        let clock = runner.clock
        let instant = origin.advanced(by: deadline)
        let continuation = runner.continuation
        timers.removeAll { $0.isCancelled }
        timers.append(
            Task {
                do {
                    try await clock.sleep(until: instant, tolerance: nil)
                    continuation.yield(input)
                } catch {}
            })
    }

    mutating func launch(node: Int, attempt: Int) {
        let planNode = plan.nodes[node]
        let storedAttempt = attemptBase[node] + attempt
        facts.append(.attemptStarted(task: planNode.id, attempt: storedAttempt, at: Self.wallClock))
        events(.started(task: planNode.id, attempt: storedAttempt, queue: planNode.queue))
        startTimes[node] = runner.clock.now
        let continuation = runner.continuation
        let clock = runner.clock
        switch planNode.kind {
        case .task(let task):
            switch task.action {
            case .shell(let command):
                let logs = runner.options.logPaths(task: planNode.id, attempt: storedAttempt)
                var environment = baseEnvironment
                for variable in task.environment { environment[variable.name] = variable.value }
                environment["TRELLIS_TASK"] = planNode.id
                environment["TRELLIS_ATTEMPT"] = String(storedAttempt)
                environment["TRELLIS_WORKFLOW"] = plan.workflow.name
                environment[OrphanReaper.runKey] = runner.options.stateDirectory
                let process = ShellProcess(
                    command: command, environment: environment, workingDirectory: resolve(task.workingDirectory),
                    stdout: .file(logs.stdout), stderr: .file(logs.stderr), watchOutputs: !task.outputs.isEmpty,
                    gracePeriod: runner.options.gracePeriod)
                executions[node] = Task {
                    let end = await process.run(
                        started: { continuation.yield(.started(node: node, attempt: attempt, pid: $0)) },
                        signalled: { continuation.yield(.output(node: node, attempt: attempt, name: $0)) })
                    let result: Runner.AttemptEnd =
                        switch end {
                        case .exited(let code): .exited(code)
                        case .signalled(let signal): .signalled(signal)
                        case .failedToStart(let message): .failed(message, retryable: false)
                        case .stopped: .stopped
                        }
                    continuation.yield(.ended(node: node, attempt: attempt, result))
                }
            case .wait(let seconds):
                executions[node] = Task {
                    do {
                        try await clock.sleep(for: .nanoseconds(Int64(seconds * 1e9)), tolerance: nil)
                        continuation.yield(.ended(node: node, attempt: attempt, .exited(0)))
                    } catch {
                        continuation.yield(.ended(node: node, attempt: attempt, .stopped))
                    }
                }
            }
        case .trigger(let trigger):
            let watch = TriggerWatch(
                trigger: trigger, clock: clock,
                check: TriggerWatch<C>.condition(trigger.condition, directory: runner.options.baseDirectory))
            executions[node] = Task {
                let end: Runner.AttemptEnd =
                    switch await watch.run() {
                    case .satisfied: .exited(0)
                    case .timedOut(let checks):
                        .failed("trigger not satisfied after \(checks) checks", retryable: false)
                    case .stopped: .stopped
                    }
                continuation.yield(.ended(node: node, attempt: attempt, end))
            }
        }
    }

    func resolve(_ directory: String?) -> String {
        guard let directory else { return runner.options.baseDirectory }
        return directory.hasPrefix("/") ? directory : runner.options.baseDirectory + "/" + directory
    }

    // MARK: - Wording

    static func storedState(_ outcome: TaskOutcome) -> StoredState {
        switch outcome {
        case .succeeded: .succeeded
        case .failed: .failed
        case .cancelled: .cancelled
        case .upstreamFailed: .upstreamFailed
        case .skipped: .skipped
        }
    }

    func message(end: Runner.AttemptEnd?, outcome: TaskOutcome?, node: WorkflowPlan.Node) -> String? {
        switch outcome {
        case .failed(.timedOut):
            let limit = node.task?.timeout.map { " of \(DurationText.format($0))" } ?? ""
            return "timed out (limit\(limit))"
        case .failed(.missingPartialResults):
            return "exited 0 without signalling every declared output (\(node.outputs.joined(separator: ", ")))"
        case .cancelled(let cause?):
            return "cancelled (because of \(plan.nodes[coreToNode[cause.rawValue]].id))"
        case .cancelled(nil):
            return "cancelled"
        case .upstreamFailed(let root):
            return "upstream task \(plan.nodes[coreToNode[root.rawValue]].id) failed"
        case .succeeded:
            return nil
        case .skipped:
            return core.finaleDecision(of: .initial) == .onSuccess
                ? "not needed: every task succeeded" : "not needed: a task did not succeed"
        case .failed(.error), nil:
            switch end {
            case .exited(let code): return code == 0 ? nil : "exit status \(code)"
            case .signalled(let signal): return "killed by signal \(signal)"
            case .failed(let message, _): return message
            case .stopped: return "stopped"
            case nil: return nil
            }
        }
    }
}
