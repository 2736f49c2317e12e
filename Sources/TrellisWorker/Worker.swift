internal import DequeModule
internal import Foundation
public import GRPCCore
internal import Synchronization
internal import TrellisExecution
internal import TrellisProtocol

#if canImport(Glibc)
    internal import Glibc
#endif

/// Who a worker is and what it offers.
public struct WorkerOptions: Sendable {
    /// Stable across reconnects; the coordinator recognises the worker by it.
    public var name: String
    /// `blocking` (processes, CPU) or `async` (I/O handlers), or any type an operator chooses.
    public var type: String
    public var tags: [String]
    /// Tasks run at once.
    public var slots: Int
    public var resources: [String: Double]
    /// Between SIGTERM and SIGKILL when a task is cancelled or times out.
    public var gracePeriod: Duration
    /// Longest pause between reconnection attempts (they start at 50 ms and double); keep it well under the
    /// coordinator's lease, so a restarted coordinator sees running attempts reported before it gives up on them.
    public var maxBackoff: Duration
    /// When set, every task process carries `TRELLIS_WORKER=<mark>` in its environment, so that a worker
    /// started again with the same mark can stop what a killed one left running (`trellis worker` uses
    /// `<name>@<server>`).
    public var orphanMark: String?

    public init(
        name: String, type: String = "blocking", tags: [String] = [], slots: Int = 1,
        resources: [String: Double] = [:], gracePeriod: Duration = .seconds(10), maxBackoff: Duration = .seconds(1),
        orphanMark: String? = nil
    ) {
        self.orphanMark = orphanMark
        self.name = name
        self.type = type
        self.tags = tags
        self.slots = slots
        self.resources = resources
        self.gracePeriod = gracePeriod
        self.maxBackoff = maxBackoff
    }
}

/// What happens to a worker's session, for its owner to log or wait on.
public enum WorkerEvent: Sendable, Hashable {
    /// Connected (or reconnected) and introduced.
    case welcomed(workerID: UInt64, epoch: UInt64)
    /// An operator's broadcast (`drain` also starts draining).
    case broadcast(String)
    /// The coordinator no longer wants this attempt; it is stopped.
    case stale(task: UInt64, attempt: Int)
}

/// One call of a registered handler.
public struct HandlerCall: Sendable {
    public var task: UInt64
    public var attempt: Int
    /// The task's payload, as submitted (JSON by convention).
    public var payload: [UInt8]
    /// The values of handler tasks this one needs, by task name.
    public var inputs: [String: [UInt8]]
}

/// A Swift function a worker runs by name; what it returns is the task's value.
public typealias TaskHandler = @Sendable (HandlerCall) async throws -> [UInt8]

/// A worker: connects to a coordinator over one bidirectional stream, runs what it is assigned (shell
/// commands as process groups, registered Swift handlers in-process), streams reports and output back,
/// and reconnects with backoff when the coordinator goes away. Attempts keep running across a reconnect
/// and are reported in the next `hello`, so the coordinator can accept their results.
///
/// ```swift
/// let worker = Worker(options: WorkerOptions(name: "w1", type: "async", slots: 8),
///                     handlers: ["double": { call in Array(String(2 * Int(String(decoding: call.payload, as: UTF8.self))!).utf8) }])
/// try await worker.run(transport: try .http2(host: "127.0.0.1", port: 7070), token: token)
/// ```
public final class Worker: Sendable {
    struct Attempt {
        var ref: Trellis_V1_AttemptRef
        var task: Task<Void, Never>
        var pid: Int32 = 0
    }

    struct State {
        /// The current session's stream, once welcomed.
        var outbox: AsyncStream<Trellis_V1_WorkerMessage>.Continuation?
        /// Reports made while disconnected, sent after the next welcome (output is dropped).
        var pending: [Trellis_V1_WorkerMessage] = []
        var running: [UInt64: Attempt] = [:]
        var draining = false
        /// Results sent within the last lease period. A coordinator killed before committing them never
        /// saw them, so they are sent again after a reconnect; one that did is answered stale, harmlessly.
        var recent = Deque<(sent: ContinuousClock.Instant, message: Trellis_V1_WorkerMessage)>()
        var window: Duration = .seconds(10)

        /// Sends a result now, remembering it for a while; or keeps it for the next session.
        mutating func report(_ message: Trellis_V1_WorkerMessage) {
            guard let outbox else {
                pending.append(message)
                return
            }
            outbox.yield(message)
            let now = ContinuousClock.now
            recent.append((now, message))
            while let first = recent.first, now - first.sent > window { recent.removeFirst() }
        }
    }

    public let options: WorkerOptions
    let handlers: [String: TaskHandler]
    let environment: [String: String]
    private let state = Mutex(State())
    /// Told what happens to the worker's session.
    let observer: @Sendable (WorkerEvent) -> Void

    public init(
        options: WorkerOptions, handlers: [String: TaskHandler] = [:],
        observer: @escaping @Sendable (WorkerEvent) -> Void = { _ in }
    ) {
        self.options = options
        self.handlers = handlers
        self.observer = observer
        environment = Self.taskEnvironment(ProcessInfo.processInfo.environment)
    }

    /// Variables that carry the worker's credentials: a task must not be able to act as an operator.
    public static let credentialVariables: Set<String> = ["TRELLIS_TOKEN", "TRELLIS_WORKER_TOKEN"]

    /// What a task inherits of the worker's environment: everything but its credentials.
    static func taskEnvironment(_ inherited: [String: String]) -> [String: String] {
        inherited.filter { !credentialVariables.contains($0.key) }
    }

    /// Tasks running now.
    public var runningCount: Int { state.withLock { $0.running.count } }

    /// True once `drain` was called.
    public var isDraining: Bool { state.withLock { $0.draining } }

    /// Works until drained (then returns) or cancelled (then stops every attempt).
    public func run<Transport: ClientTransport>(transport: Transport, token: String) async throws {
        try await withGRPCClient(transport: transport) { client in try await run(client: client, token: token) }
    }

    /// Works over a client that others may share (its own stream on it), until drained or cancelled.
    public func run<Transport: ClientTransport>(client: GRPCClient<Transport>, token: String) async throws {
        defer { stopAll() }
        let service = Trellis_V1_WorkerService.Client(wrapping: client)
        var backoff = Duration.milliseconds(50)
        while !Task.isCancelled {
            let welcomed = Flag()
            do {
                try await session(service, token: token, welcomed: welcomed)
            } catch let error as RPCError where error.code == .unauthenticated || error.code == .invalidArgument {
                throw error
            } catch {
                if Task.isCancelled { break }
            }
            if state.withLock({ $0.draining && $0.running.isEmpty }) { return }
            if welcomed.isSet { backoff = .milliseconds(50) }
            try await Task.sleep(for: backoff)
            backoff = min(backoff * 2, options.maxBackoff)
        }
    }

    /// Takes no new tasks, finishes the running ones, then `run` returns.
    public func drain() {
        var message = Trellis_V1_WorkerMessage()
        message.drain = Trellis_V1_Drain()
        state.withLock { state in
            guard !state.draining else { return }
            state.draining = true
            state.outbox?.yield(message)
            if state.running.isEmpty { state.outbox?.finish() }
        }
    }

    private func session(
        _ service: Trellis_V1_WorkerService.Client<some ClientTransport>, token: String, welcomed: Flag
    ) async throws {
        let (messages, continuation) = AsyncStream.makeStream(of: Trellis_V1_WorkerMessage.self)
        var hello = Trellis_V1_Hello()
        hello.name = options.name
        hello.type = options.type
        hello.tags = options.tags
        hello.slots = UInt32(options.slots)
        hello.resources = options.resources
        hello.handlers = handlers.keys.sorted()
        hello.running = state.withLock { $0.running.values.map(\.ref) }
        var first = Trellis_V1_WorkerMessage()
        first.hello = hello
        continuation.yield(first)
        defer {
            continuation.finish()
            state.withLock { state in
                state.outbox = nil
                state.pending = Array(state.recent.map(\.message)) + state.pending
                state.recent.removeAll()
            }
        }
        try await service.connect(
            metadata: ["authorization": "Bearer \(token)"],
            requestProducer: { writer in
                for await message in messages { try await writer.write(message) }
            },
            onResponse: { response in
                // However the response ends, the request side ends too, so the session returns at once.
                defer { continuation.finish() }
                try await withThrowingDiscardingTaskGroup { group in
                    for try await message in response.messages {
                        switch message.kind {
                        case .welcome(let welcome):
                            welcomed.set()
                            self.welcomed(welcome, outbox: continuation)
                            self.observer(.welcomed(workerID: welcome.workerID, epoch: welcome.epoch))
                            let interval = Duration.milliseconds(Int64(clamping: max(50, welcome.heartbeatIntervalMs)))
                            group.addTask { try await self.heartbeat(every: interval, to: continuation) }
                        case .assignments(let batch):
                            for assignment in batch.assignments { self.start(assignment) }
                        case .cancel(let cancel):
                            self.stop(cancel.attempt, grace: .milliseconds(Int64(clamping: cancel.graceMs)))
                        case .broadcast(let broadcast):
                            self.observer(.broadcast(broadcast.message))
                            if broadcast.message == "drain" { self.drain() }
                        case .stale(let stale):
                            if self.stop(stale.attempt, grace: self.options.gracePeriod) {
                                self.observer(.stale(task: stale.attempt.taskID, attempt: Int(stale.attempt.attempt)))
                            }
                        case nil:
                            break
                        }
                    }
                    group.cancelAll()
                }
            })
    }

    private func welcomed(_ welcome: Trellis_V1_Welcome, outbox: AsyncStream<Trellis_V1_WorkerMessage>.Continuation) {
        let abandoned = Set(welcome.abandon.map(\.taskID))
        state.withLock { state in
            state.outbox = outbox
            state.window = .milliseconds(Int64(clamping: welcome.leaseTimeoutMs))
            let pending = state.pending
            state.pending.removeAll()
            for message in pending {
                if case .finished = message.kind { state.report(message) } else { outbox.yield(message) }
            }
            if state.draining {
                var drain = Trellis_V1_WorkerMessage()
                drain.drain = Trellis_V1_Drain()
                outbox.yield(drain)
                if state.running.isEmpty { outbox.finish() }
            }
        }
        for ref in welcome.abandon where abandoned.contains(ref.taskID) { stop(ref, grace: .zero) }
    }

    private func heartbeat(
        every interval: Duration, to outbox: AsyncStream<Trellis_V1_WorkerMessage>.Continuation
    ) async throws {
        while true {
            try await Task.sleep(for: interval)
            var message = Trellis_V1_WorkerMessage()
            message.heartbeat.running = state.withLock { $0.running.values.map(\.ref) }
            outbox.yield(message)
        }
    }

    // MARK: Attempts

    private func start(_ assignment: Trellis_V1_Assignment) {
        state.withLock { state in
            let ref = assignment.attempt
            state.running[ref.taskID] = Attempt(ref: ref, task: Task { await self.execute(assignment) })
        }
    }

    /// Stops an attempt: SIGKILL at once when `grace` is zero, else SIGTERM and SIGKILL after the grace.
    /// False when it was not running.
    @discardableResult
    private func stop(_ ref: Trellis_V1_AttemptRef, grace: Duration) -> Bool {
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

    private func stopAll() {
        let attempts = state.withLock { $0.running.values.map(\.task) }
        for task in attempts { task.cancel() }
    }

    /// Sends a report on the current stream, or keeps it for the next one (output is not kept).
    private func send(_ message: Trellis_V1_WorkerMessage) {
        state.withLock { state in
            switch message.kind {
            case .output: state.report(message)
            case .log: state.outbox?.yield(message)
            default:
                if let outbox = state.outbox { outbox.yield(message) } else { state.pending.append(message) }
            }
        }
    }

    private func execute(_ assignment: Trellis_V1_Assignment) async {
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
            let end = await Self.limited(by: timeout) {
                await process.run(
                    started: { pid in
                        self.state.withLock { $0.running[ref.taskID]?.pid = pid }
                        self.send(Self.started(ref, pid: pid))
                    },
                    signalled: { name in
                        var output = Trellis_V1_OutputSignalled()
                        output.attempt = ref
                        output.name = name
                        output.timeMs = Self.nowMs
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
            send(Self.started(ref, pid: 0))
            if let handler = handlers[call.name] {
                let input = HandlerCall(
                    task: ref.taskID, attempt: Int(ref.attempt), payload: [UInt8](call.payload),
                    inputs: assignment.inputs.mapValues { [UInt8]($0) })
                let result = await Self.limited(by: timeout) { () -> Result<[UInt8], any Error> in
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
        case nil:
            finished.error = "the task has no work"
        }
        finished.timeMs = Self.nowMs
        var message = Trellis_V1_WorkerMessage()
        message.finished = finished
        state.withLock { state in
            state.running[ref.taskID] = nil
            state.report(message)
            if state.draining && state.running.isEmpty { state.outbox?.finish() }
        }
    }

    /// Runs `body`, or returns nil once `timeout` passes (the body is cancelled).
    static func limited<T: Sendable>(by timeout: Duration?, _ body: @escaping @Sendable () async -> T) async -> T? {
        guard let timeout else { return await body() }
        return await withTaskGroup(of: T?.self) { group in
            group.addTask { await body() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    static var nowMs: UInt64 { UInt64(Date().timeIntervalSince1970 * 1000) }

    static func started(_ ref: Trellis_V1_AttemptRef, pid: Int32) -> Trellis_V1_WorkerMessage {
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
