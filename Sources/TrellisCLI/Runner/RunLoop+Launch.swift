internal import Foundation
internal import TrellisCore
internal import TrellisEngine
internal import TrellisExecution
internal import TrellisJournal
internal import TrellisWorkflow

/// Carrying out an attempt on this machine (a shell process, a timed wait, a trigger check), its deadlines, and the
/// words a run uses for how a task ended.
extension RunLoop {
    mutating func schedule(at deadline: Duration, _ input: Runner.Input) {
        let clock = runner.clock
        let instant = origin.advanced(by: max(.zero, deadline - timeBase))
        let continuation = runner.continuation
        let key: TimerKey
        switch input {
        case .timeout(let task, let attempt): key = .timeout(task: task, attempt: attempt)
        case .retryDue(let task): key = .retry(task: task)
        default: preconditionFailure("Internal inconsistency: \(input) is not a deadline")
        }
        timers[key]?.cancel()
        timers[key] = Task {
            do {
                try await clock.sleep(until: instant, tolerance: nil)
                continuation.yield(input)
            } catch {}
        }
    }

    mutating func launch(_ task: TaskID, attempt: Int) {
        let planNode = node(of: task)
        let raw = task.rawValue
        let shown = shownAttempt(task, attempt)
        record(.run(.attemptStarted(task: planNode.id, attempt: shown, at: Self.wallClock)))
        events(.started(task: planNode.id, attempt: shown, queue: planNode.queue))
        startTimes[raw] = runner.clock.now
        let continuation = runner.continuation
        let clock = runner.clock
        switch planNode.kind {
        case .task(let definition):
            switch definition.action {
            case .shell(let command):
                let logs = runner.options.logPaths(task: planNode.id, attempt: shown)
                var environment = baseEnvironment
                for variable in definition.environment { environment[variable.name] = variable.value }
                environment["TRELLIS_TASK"] = planNode.id
                environment["TRELLIS_ATTEMPT"] = String(shown)
                environment["TRELLIS_WORKFLOW"] = plan.workflow.name
                environment[OrphanReaper.runKey] = runner.options.stateDirectory
                let process = ShellProcess(
                    command: command, environment: environment,
                    workingDirectory: resolve(definition.workingDirectory),
                    stdout: .file(logs.stdout), stderr: .file(logs.stderr), watchOutputs: !definition.outputs.isEmpty,
                    gracePeriod: runner.options.gracePeriod, sleep: { [clock] in try await clock.sleep(for: $0) })
                executions[raw] = Task {
                    let end = await process.run(
                        started: { continuation.yield(.started(task: raw, attempt: attempt, group: $0)) },
                        signalled: { continuation.yield(.output(task: raw, attempt: attempt, name: $0)) })
                    let result: Runner.AttemptEnd =
                        switch end {
                        case .exited(let code): .exited(code)
                        case .signalled(let signal): .signalled(signal)
                        case .failedToStart(let message): .failed(message, retryable: false)
                        case .stopped: .stopped
                        }
                    continuation.yield(.ended(task: raw, attempt: attempt, result))
                }
            case .wait(let seconds):
                executions[raw] = Task {
                    do {
                        try await clock.sleep(for: .nanoseconds(Int64(seconds * 1e9)), tolerance: nil)
                        continuation.yield(.ended(task: raw, attempt: attempt, .exited(0)))
                    } catch {
                        continuation.yield(.ended(task: raw, attempt: attempt, .stopped))
                    }
                }
            }
        case .trigger(let trigger):
            let watch = TriggerWatch(
                interval: trigger.interval, timeout: trigger.timeout, clock: clock,
                check: TriggerWatch<C>.condition(trigger.condition, directory: runner.options.baseDirectory))
            executions[raw] = Task {
                let end: Runner.AttemptEnd =
                    switch await watch.run() {
                    case .satisfied: .exited(0)
                    case .timedOut(let checks):
                        .failed("trigger not satisfied after \(checks) checks", retryable: false)
                    case .stopped: .stopped
                    }
                continuation.yield(.ended(task: raw, attempt: attempt, end))
            }
        }
    }

    func resolve(_ directory: String?) -> String {
        guard let directory else { return runner.options.baseDirectory }
        return directory.hasPrefix("/") ? directory : runner.options.baseDirectory + "/" + directory
    }

    // MARK: - Wording

    func message(end: Runner.AttemptEnd?, outcome: TaskOutcome?, task: TaskID) -> String? {
        switch outcome {
        case .failed(.timedOut):
            let limit = node(of: task).task?.timeout.map(DurationText.spelled) ?? "its limit"
            return "timed out after \(limit)"
        case .failed(.missingPartialResults):
            return
                "exited 0 without signalling every declared output (\(node(of: task).outputs.joined(separator: ", ")))"
        case .failed(.crashed(let losses)):
            return "lost its worker \(losses) times"
        case .cancelled(let cause?):
            return "cancelled (because of \(history.name(of: cause)))"
        case .cancelled(nil):
            return "cancelled"
        case .upstreamFailed(let root):
            return "upstream task \(history.name(of: root)) failed"
        case .succeeded:
            return nil
        case .skipped:
            return core.finaleDecision(of: core.job(of: task)) == .onSuccess
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
