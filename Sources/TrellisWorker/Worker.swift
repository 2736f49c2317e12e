internal import DequeModule
internal import Foundation
public import GRPCCore
internal import Synchronization
internal import TrellisExecution
internal import TrellisProtocol

#if canImport(Glibc)
    internal import Glibc
#endif

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
        var ref: WireAttempt
        var task: Task<Void, Never>
        /// A shell attempt's process group, once started.
        var group: ProcessGroup?
        /// Bytes of output dropped since the last that went out.
        var dropped = 0
    }

    /// Most output chunks (each at most 64 KiB) that may wait for the stream: past them, output is dropped
    /// and its size said in the output, so a task printing faster than the coordinator reads cannot grow the
    /// worker's memory.
    static let outputBacklog = 256

    struct State {
        /// The current session's stream, once welcomed.
        var outbox: Outbox<WorkerReport>?
        /// Reports made while disconnected, sent after the next welcome (output is dropped).
        var pending: [WorkerReport] = []
        var running: [UInt64: Attempt] = [:]
        var draining = false
        /// Results sent within the last lease period. A coordinator killed before committing them never
        /// saw them, so they are sent again after a reconnect; one that did is answered stale, harmlessly.
        var recent = Deque<(sent: Duration, report: WorkerReport)>()
        var window: Duration = .seconds(10)

        /// Sends a result now (`now` on the worker's clock), remembering it for a while; or keeps it for the
        /// next session.
        /// Forwards what an attempt printed, or drops it when the stream is too far behind; the next piece that
        /// goes out is preceded by a line saying how much was dropped. Output made while disconnected is lost.
        mutating func forward(_ data: [UInt8], of ref: WireAttempt, on stream: WorkerReport.LogStream) {
            guard let outbox else { return }
            if let dropped = running[ref.task]?.dropped, dropped > 0 {
                let note =
                    "\n[trellis: \(dropped) bytes of output dropped: the stream to the coordinator fell behind]\n"
                guard outbox.offer(.log(ref, stream, Array(note.utf8)), whileFewerThan: Worker.outputBacklog) else {
                    running[ref.task]?.dropped += data.count
                    return
                }
                running[ref.task]?.dropped = 0
            }
            if !outbox.offer(.log(ref, stream, data), whileFewerThan: Worker.outputBacklog) {
                running[ref.task]?.dropped += data.count
            }
        }

        mutating func report(_ report: WorkerReport, now: Duration) {
            guard let outbox else {
                pending.append(report)
                return
            }
            if case .finished(let ref, _, _) = report {
                // A start the stream has not sent yet is left out: the end says more, and a busy coordinator is
                // spared a message, a journal entry and a watch event per short task.
                outbox.yield(report) { if case .started(ref, _, _) = $0 { true } else { false } }
            } else {
                outbox.yield(report)
            }
            recent.append((now, report))
            while let first = recent.first, now - first.sent > window { recent.removeFirst() }
        }
    }

    public let options: WorkerOptions
    let handlers: [String: TaskHandler]
    let environment: [String: String]
    let state = Mutex(State())
    /// Told what happens to the worker's session.
    let observer: @Sendable (WorkerEvent) -> Void
    /// Time on the worker's clock since the worker was made.
    let elapsed: @Sendable () -> Duration
    /// Waits on the worker's clock (heartbeats, reconnection back-off).
    let sleep: @Sendable (Duration) async throws -> Void
    /// Wall-clock milliseconds when the worker was made: report times count on from there on its clock.
    let origin: UInt64

    /// A worker on `clock` (a manual one in tests): heartbeats, reconnection back-off, the window of results
    /// sent again after a reconnect, the times in reports, and the grace before a stopped shell task's SIGKILL
    /// all follow it (on a manual clock, a task that ignores SIGTERM is killed only once the clock moves).
    public init<C: Clock>(
        options: WorkerOptions, handlers: [String: TaskHandler] = [:], clock: C = ContinuousClock(),
        observer: @escaping @Sendable (WorkerEvent) -> Void = { _ in }
    ) where C.Duration == Duration {
        self.options = options
        self.handlers = handlers
        self.observer = observer
        let start = clock.now
        elapsed = { start.duration(to: clock.now) }
        sleep = { try await clock.sleep(for: $0) }
        origin = UInt64(max(0, Date().timeIntervalSince1970 * 1000))
        environment = Self.taskEnvironment(ProcessInfo.processInfo.environment)
    }

    /// Wall-clock milliseconds now, on the worker's clock.
    var nowMs: UInt64 { origin + UInt64(max(0, elapsed() / .milliseconds(1))) }

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
            } catch let error as RPCError
                where error.code == .unauthenticated || error.code == .invalidArgument || error.code == .alreadyExists
            {
                // A wrong token, a refused hello, or another worker took this name: trying again cannot help.
                throw error
            } catch {
                if Task.isCancelled { break }
            }
            if state.withLock({ $0.draining && $0.running.isEmpty }) { return }
            if welcomed.isSet { backoff = .milliseconds(50) }
            try await sleep(backoff)
            backoff = min(backoff * 2, options.maxBackoff)
        }
    }

    /// Takes no new tasks, finishes the running ones, then `run` returns.
    public func drain() {
        state.withLock { state in
            guard !state.draining else { return }
            state.draining = true
            state.outbox?.yield(.drain)
            if state.running.isEmpty { state.outbox?.finish() }
        }
    }

    private func session(
        _ service: Trellis_V1_WorkerService.Client<some ClientTransport>, token: String, welcomed: Flag
    ) async throws {
        let outbox = Outbox<WorkerReport>()
        // In flight, as the coordinator sees it: what runs, and what ended with a result the coordinator may not
        // have committed (sent again after the welcome). It keeps them with this session instead of running them
        // again elsewhere.
        let running = state.withLock { state in
            var refs = state.running.values.map(\.ref)
            for report in state.recent.map(\.report) + state.pending {
                if case .finished(let ref, _, _) = report { refs.append(ref) }
            }
            return refs
        }
        let hello = WorkerHello(
            name: options.name, type: options.type, tags: options.tags, slots: options.slots,
            resources: options.resources, handlers: handlers.keys.sorted(), running: running)
        defer {
            outbox.finish()
            state.withLock { state in
                state.outbox = nil
                state.pending = Array(state.recent.map(\.report)) + state.pending
                state.recent.removeAll()
            }
        }
        try await service.connect(
            metadata: ["authorization": "Bearer \(token)"],
            requestProducer: { writer in
                do {
                    try await writer.write(Trellis_V1_WorkerMessage(hello))
                    try await outbox.drain { try await writer.write(contentsOf: $0.map(Trellis_V1_WorkerMessage.init)) }
                } catch is CancellationError {}
            },
            onResponse: { response in
                // However the response ends, the request side ends too, so the session returns at once.
                defer { outbox.finish() }
                try await withThrowingDiscardingTaskGroup { group in
                    for try await message in response.messages {
                        switch ReceivedInstruction(message) {
                        case .welcome(let worker, let epoch, let heartbeat, let lease, let abandon)?:
                            welcomed.set()
                            self.welcomed(lease: lease, abandon: abandon, outbox: outbox)
                            self.observer(.welcomed(workerID: worker, epoch: epoch))
                            let interval = max(.milliseconds(50), heartbeat)
                            group.addTask { try await self.heartbeat(every: interval, to: outbox) }
                        case .assign(let assignments)?:
                            for assignment in assignments { self.start(assignment) }
                        case .cancel(let ref, let grace)?:
                            self.stop(ref, grace: grace)
                        case .broadcast(let text)?:
                            self.observer(.broadcast(text))
                            if text == "drain" { self.drain() }
                        case .stale(let ref)?:
                            if self.stop(ref, grace: self.options.gracePeriod) {
                                self.observer(.stale(task: ref.task, attempt: ref.attempt))
                            }
                        case nil:
                            break  // a kind this worker does not know
                        }
                    }
                    group.cancelAll()
                }
            })
    }

    private func welcomed(lease: Duration, abandon: [WireAttempt], outbox: Outbox<WorkerReport>) {
        let now = elapsed()
        state.withLock { state in
            state.outbox = outbox
            state.window = lease
            let pending = state.pending
            state.pending.removeAll()
            for report in pending {
                if case .finished = report { state.report(report, now: now) } else { outbox.yield(report) }
            }
            if state.draining {
                outbox.yield(.drain)
                if state.running.isEmpty { outbox.finish() }
            }
        }
        for ref in abandon { stop(ref, grace: .zero) }
    }

    private func heartbeat(every interval: Duration, to outbox: Outbox<WorkerReport>) async throws {
        while true {
            try await sleep(interval)
            outbox.yield(.heartbeat(running: state.withLock { $0.running.values.map(\.ref) }))
        }
    }
}
