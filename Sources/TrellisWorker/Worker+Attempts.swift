internal import DequeModule
internal import Foundation
internal import GRPCCore
internal import Synchronization
internal import TrellisExecution
internal import TrellisProtocol

#if canImport(Glibc)
    internal import Glibc
#endif

/// Running assigned attempts: shell commands through `TrellisExecution`, Swift handlers, their reports.
extension Worker {
    // MARK: Attempts

    func start(_ assignment: WorkerAssignment<RemoteTaskSpec?>) {
        state.withLock { state in
            let ref = assignment.attempt
            state.running[ref.task] = Attempt(ref: ref, task: Task { await self.execute(assignment) })
        }
    }

    /// Stops an attempt: SIGKILL at once when `grace` is zero, else SIGTERM and SIGKILL after the grace.
    /// False when it was not running.
    @discardableResult
    func stop(_ ref: WireAttempt, grace: Duration) -> Bool {
        let attempt = state.withLock { state -> Attempt? in
            guard let attempt = state.running[ref.task], attempt.ref == ref else { return nil }
            return attempt
        }
        guard let attempt else { return false }
        if grace == .zero { attempt.group?.signal(SIGKILL) }
        attempt.task.cancel()
        return true
    }

    func stopAll() {
        let attempts = state.withLock { $0.running.values.map(\.task) }
        for task in attempts { task.cancel() }
    }

    /// Sends a report on the current stream, or keeps it for the next one (output is not kept).
    func send(_ report: WorkerReport) {
        let now = elapsed()
        state.withLock { state in
            switch report {
            case .output: state.report(report, now: now)
            case .log(let ref, let stream, let data): state.forward(data, of: ref, on: stream)
            default:
                if let outbox = state.outbox { outbox.yield(report) } else { state.pending.append(report) }
            }
        }
    }

    func execute(_ assignment: WorkerAssignment<RemoteTaskSpec?>) async {
        let ref = assignment.attempt
        let result = await outcome(of: assignment)
        let report = WorkerReport.finished(ref, result, timeMs: nowMs)
        let now = elapsed()
        state.withLock { state in
            state.running[ref.task] = nil
            state.report(report, now: now)
            if state.draining && state.running.isEmpty { state.outbox?.finish() }
        }
    }

    /// Runs an attempt to its end.
    private func outcome(of assignment: WorkerAssignment<RemoteTaskSpec?>) async -> AttemptResult {
        let ref = assignment.attempt
        guard let spec = assignment.spec else { return .error("the task has no work this worker knows") }
        let timeout = spec.timeout
        switch spec.work {
        case .shell(let command, let variables, let directory):
            var environment = self.environment
            for (name, value) in variables { environment[name] = value }
            environment["TRELLIS_TASK_ID"] = String(ref.task)
            environment["TRELLIS_ATTEMPT"] = String(ref.attempt)
            environment["TRELLIS_JOB_ID"] = String(assignment.job)
            environment["TRELLIS_TASK_NAME"] = spec.name
            // Marks the task's processes as this worker's, so a restarted worker can stop what a killed one left.
            if let mark = options.orphanMark { environment[OrphanReaper.workerKey] = mark }
            let process = ShellProcess(
                command: command, environment: environment, workingDirectory: directory,
                stdout: .forward { self.send(.log(ref, .stdout, $0)) },
                stderr: .forward { self.send(.log(ref, .stderr, $0)) },
                watchOutputs: !spec.outputs.isEmpty, gracePeriod: options.gracePeriod, sleep: sleep)
            let end = await self.limited(by: timeout) {
                await process.run(
                    started: { group in
                        self.state.withLock { $0.running[ref.task]?.group = group }
                        self.send(.started(ref, pid: group.leader, timeMs: self.nowMs))
                    },
                    signalled: { name in self.send(.output(ref, name: name, timeMs: self.nowMs)) })
            }
            switch end {
            case .some(.exited(let code)): return .exited(code)
            case .some(.signalled(let signal)): return .signalled(signal)
            case .some(.failedToStart(let why)): return .error("could not run: \(why)")
            case .some(.stopped): return .error("stopped")
            case nil: return .error("timed out after \(timeout!)")
            }
        case .handler(let name, let payload):
            send(.started(ref, pid: 0, timeMs: nowMs))
            guard let handler = handlers[name] else {
                return .error("no handler named '\(name)' on worker \(options.name)")
            }
            let input = HandlerCall(task: ref.task, attempt: ref.attempt, payload: payload, inputs: assignment.inputs)
            let result = await self.limited(by: timeout) { () -> Result<[UInt8], any Error> in
                do { return .success(try await handler(input)) } catch { return .failure(error) }
            }
            switch result {
            case .some(.success(let value)): return .value(value)
            case .some(.failure(let error)): return .error("\(error)")
            case nil: return .error("timed out after \(timeout!)")
            }
        case .trigger:
            return .error("the task is a trigger, which only its coordinator checks")
        }
    }

    /// Runs `body`, or returns nil once `timeout` passes on the worker's clock (the body is cancelled).
    func limited<T: Sendable>(by timeout: Duration?, _ body: @escaping @Sendable () async -> T) async -> T? {
        guard let timeout else { return await body() }
        return await withTaskGroup(of: T?.self) { group in
            group.addTask { await body() }
            group.addTask {
                try? await self.sleep(timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}

/// A flag one task sets and another reads.
final class Flag: Sendable {
    private let value = Atomic(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}
