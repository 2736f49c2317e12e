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

    func start(_ assignment: Trellis_V1_Assignment) {
        state.withLock { state in
            let ref = assignment.attempt
            state.running[ref.taskID] = Attempt(ref: ref, task: Task { await self.execute(assignment) })
        }
    }

    /// Stops an attempt: SIGKILL at once when `grace` is zero, else SIGTERM and SIGKILL after the grace.
    /// False when it was not running.
    @discardableResult
    func stop(_ ref: Trellis_V1_AttemptRef, grace: Duration) -> Bool {
        let attempt = state.withLock { state -> Attempt? in
            guard let attempt = state.running[ref.taskID], attempt.ref == ref else { return nil }
            return attempt
        }
        guard let attempt else { return false }
        #if canImport(Glibc)
            if grace == .zero && attempt.pid > 0 { _ = Glibc.kill(-attempt.pid, SIGKILL) }
        #endif
        attempt.task.cancel()
        return true
    }

    func stopAll() {
        let attempts = state.withLock { $0.running.values.map(\.task) }
        for task in attempts { task.cancel() }
    }

    /// Sends a report on the current stream, or keeps it for the next one (output is not kept).
    func send(_ message: Trellis_V1_WorkerMessage) {
        let now = elapsed()
        state.withLock { state in
            switch message.kind {
            case .output: state.report(message, now: now)
            case .log: state.outbox?.yield(message)
            default:
                if let outbox = state.outbox { outbox.yield(message) } else { state.pending.append(message) }
            }
        }
    }

    func execute(_ assignment: Trellis_V1_Assignment) async {
        let ref = assignment.attempt
        let spec = assignment.spec
        var finished = Trellis_V1_Finished()
        finished.attempt = ref
        let timeout: Duration? = spec.timeoutMs > 0 ? .milliseconds(Int64(clamping: spec.timeoutMs)) : nil
        switch spec.work {
        case .shell(let shell):
            var environment = self.environment
            for (name, value) in shell.environment { environment[name] = value }
            environment["TRELLIS_TASK_ID"] = String(ref.taskID)
            environment["TRELLIS_ATTEMPT"] = String(ref.attempt)
            environment["TRELLIS_JOB_ID"] = String(assignment.jobID)
            environment["TRELLIS_TASK_NAME"] = spec.name
            // Marks the task's processes as this worker's, so a restarted worker can stop what a killed one left.
            if let mark = options.orphanMark { environment[OrphanReaper.workerKey] = mark }
            let process = ShellProcess(
                command: shell.command, environment: environment,
                workingDirectory: shell.workingDirectory.isEmpty ? nil : shell.workingDirectory,
                stdout: .forward { self.send(Self.log(ref, .stdout, $0)) },
                stderr: .forward { self.send(Self.log(ref, .stderr, $0)) },
                watchOutputs: !spec.outputs.isEmpty, gracePeriod: options.gracePeriod)
            let end = await self.limited(by: timeout) {
                await process.run(
                    started: { pid in
                        self.state.withLock { $0.running[ref.taskID]?.pid = pid }
                        self.send(self.started(ref, pid: pid))
                    },
                    signalled: { name in
                        var output = Trellis_V1_OutputSignalled()
                        output.attempt = ref
                        output.name = name
                        output.timeMs = self.nowMs
                        var message = Trellis_V1_WorkerMessage()
                        message.output = output
                        self.send(message)
                    })
            }
            switch end {
            case .some(.exited(let code)): finished.exitCode = code
            case .some(.signalled(let signal)): finished.signal = signal
            case .some(.failedToStart(let why)): finished.error = "could not start: \(why)"
            case .some(.stopped): finished.error = "stopped"
            case nil: finished.error = "timed out after \(timeout!)"
            }
        case .handler(let call):
            send(started(ref, pid: 0))
            if let handler = handlers[call.name] {
                let input = HandlerCall(
                    task: ref.taskID, attempt: Int(ref.attempt), payload: [UInt8](call.payload),
                    inputs: assignment.inputs.mapValues { [UInt8]($0) })
                let result = await self.limited(by: timeout) { () -> Result<[UInt8], any Error> in
                    do { return .success(try await handler(input)) } catch { return .failure(error) }
                }
                switch result {
                case .some(.success(let value)): finished.value = Data(value)
                case .some(.failure(let error)): finished.error = "\(error)"
                case nil: finished.error = "timed out after \(timeout!)"
                }
            } else {
                finished.error = "no handler named '\(call.name)' on worker \(options.name)"
            }
        case .trigger:
            finished.error = "the task is a trigger, which only its coordinator checks"
        case nil:
            finished.error = "the task has no work"
        }
        finished.timeMs = nowMs
        var message = Trellis_V1_WorkerMessage()
        message.finished = finished
        let now = elapsed()
        state.withLock { state in
            state.running[ref.taskID] = nil
            state.report(message, now: now)
            if state.draining && state.running.isEmpty { state.outbox?.finish() }
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

    func started(_ ref: Trellis_V1_AttemptRef, pid: Int32) -> Trellis_V1_WorkerMessage {
        var started = Trellis_V1_Started()
        started.attempt = ref
        started.pid = pid
        started.timeMs = nowMs
        var message = Trellis_V1_WorkerMessage()
        message.started = started
        return message
    }

    static func log(
        _ ref: Trellis_V1_AttemptRef, _ stream: Trellis_V1_LogChunk.Stream, _ data: [UInt8]
    )
        -> Trellis_V1_WorkerMessage
    {
        var chunk = Trellis_V1_LogChunk()
        chunk.attempt = ref
        chunk.stream = stream
        chunk.data = Data(data)
        var message = Trellis_V1_WorkerMessage()
        message.log = chunk
        return message
    }
}

/// A flag one task sets and another reads.
final class Flag: Sendable {
    private let value = Atomic(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}
