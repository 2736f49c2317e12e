internal import Foundation
internal import GRPCCore
public import Logging
public import ServiceLifecycle
internal import Synchronization
internal import TrellisCore
internal import TrellisExecution
public import TrellisJournal
internal import TrellisProtocol

/// Settings of a coordinator.
public struct CoordinatorConfiguration: Sendable {
    /// How often workers send a heartbeat.
    public var heartbeatInterval: Duration
    /// A worker silent this long is lost; its attempts run again elsewhere.
    public var leaseTimeout: Duration
    /// Between SIGTERM and SIGKILL when an operator cancels a running task.
    public var cancelGrace: Duration
    /// Most inputs (requests, worker reports) waiting for the loop; a service that finds it full waits, so
    /// a flood of submissions or a chatty worker slows down instead of growing the coordinator's memory.
    public var inboxCapacity: Int
    /// Whether triggers may run shell commands on the coordinator's host (`trellis server --command-triggers`);
    /// without it, a job with a command trigger is refused. Files and times are always checked.
    public var commandTriggers: Bool
    /// Fewest journal entries between two snapshots (at least twice the tasks known, too): a restart reads the
    /// latest snapshot and the entries after it, and the entries a snapshot stands for are dropped.
    public var snapshotInterval: Int
    /// How long a job that has ended is kept before it is forgotten (`nil`: until `trellis job forget`).
    /// Counted from the job's end; for jobs that had ended before a restart, from the journal's last entry.
    public var forgetAfter: Duration?
    /// Attempts of one task that may lose their worker before the task fails for good (`nil`: no limit); a
    /// task that kills its worker (out of memory, a crash) does not go on to kill them all.
    public var crashLimit: Int?
    /// Where what attempts print is kept (`AttemptLogs`); `nil` keeps nothing.
    public var logDirectory: String?
    /// Most bytes kept of one attempt's stdout, and of its stderr.
    public var logLimit: Int

    public init(
        heartbeatInterval: Duration = .seconds(2), leaseTimeout: Duration = .seconds(10),
        cancelGrace: Duration = .seconds(10), inboxCapacity: Int = 10_000, commandTriggers: Bool = false,
        snapshotInterval: Int = 10_000, forgetAfter: Duration? = nil, crashLimit: Int? = 5,
        logDirectory: String? = nil, logLimit: Int = 64 << 20
    ) {
        self.logDirectory = logDirectory
        self.logLimit = max(0, logLimit)
        self.crashLimit = crashLimit.map { min(max(1, $0), Int(Int32.max)) }
        self.commandTriggers = commandTriggers
        self.forgetAfter = forgetAfter.map { max(.zero, $0) }
        self.snapshotInterval = max(1, snapshotInterval)
        // Durations are never negative: they become milliseconds on the wire.
        self.heartbeatInterval = max(.milliseconds(1), heartbeatInterval)
        self.leaseTimeout = max(.milliseconds(1), leaseTimeout)
        self.cancelGrace = max(.zero, cancelGrace)
        self.inboxCapacity = max(1, inboxCapacity)
    }
}

/// The coordinator: one loop that owns the engine (the scheduling core and what the coordinator keeps around
/// it), fed by the gRPC services through an inbox. Each turn takes everything that arrived since the last
/// one, lets the engine act on it, appends the turn's records to the journal in one transaction (group commit)
/// and only then sends assignments and answers. A restart replays the journal. It waits on its inbox and on
/// the engine's earliest deadline (a lease, a retry back-off, a timeout), never polls.
///
/// ```swift
/// let journal = try SQLiteJournal<CoordinatorRecord>(path: "trellis.db")
/// let coordinator = Coordinator(journal: journal, clock: ContinuousClock())
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { try await coordinator.run() }
///     // serve `coordinator.services` over gRPC
/// }
/// ```
public final class Coordinator<C: Clock>: Service, Sendable where C.Duration == Duration {
    let journal: any Journal<CoordinatorRecord>
    let clock: C
    let configuration: CoordinatorConfiguration
    let logger: Logger
    /// What the coordinator counts and measures (`metrics()` reads it).
    let metrics = CoordinatorMetrics()
    struct Inbox {
        var inputs: [CoordinatorInput] = []
        /// Services waiting for room.
        var waiting: [CheckedContinuation<Void, Never>] = []
        /// The loop has stopped: inputs are refused with a clear error.
        var stopped = false
    }

    private let inbox = Mutex(Inbox())
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    /// `logger` hears of sessions, workers coming and going, and failures (by default, nothing is logged).
    public init(
        journal: any Journal<CoordinatorRecord>, clock: C, configuration: CoordinatorConfiguration = .init(),
        logger: Logger = Logger(label: "trellis.coordinator") { _ in SwiftLogNoOpLogHandler() }
    ) {
        self.journal = journal
        self.clock = clock
        self.configuration = configuration
        self.logger = logger
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Begins a session (the epoch goes up) and serves until stopped: by `stop()`, by a graceful shutdown of
    /// the `ServiceGroup` it runs in, or by cancellation. Then every worker stream and watch ends, and what is
    /// waiting or still comes is refused as unavailable.
    public func run() async throws {
        try await withGracefulShutdownHandler {
            do {
                try await serve()
            } catch {
                logger.error("the coordinator stops: \(error)")
                throw error
            }
        } onGracefulShutdown: {
            self.stop()
        }
    }

    private func serve() async throws {
        let start = clock.now
        var loop = try await CoordinatorLoop.open(
            journal: journal, configuration: configuration, logger: logger, metrics: metrics,
            elapsed: { start.duration(to: self.clock.now) }, launch: launcher())
        defer { loop.shutdown() }
        // A first turn makes the session's start durable and resumes what the journal left running.
        wake.yield()
        defer { refuseWaiting() }
        var timer: (deadline: Duration, task: Task<Void, Never>)?
        defer { timer?.task.cancel() }
        for await _ in wakeups {
            let (batch, waiting) = inbox.withLock { inbox in (inbox.inputs.takeAll(), inbox.waiting.takeAll()) }
            // Room again: the services that waited try once more.
            for sender in waiting { sender.resume() }
            if batch.contains(where: { if case .timer = $0 { true } else { false } }) { timer = nil }
            try await loop.handle(batch)
            // After a large submission, the allocator gives back what it keeps of its short-lived buffers.
            if loop.addedInTurn >= HeapTrim.threshold { HeapTrim.now() }
            if let deadline = loop.nextDeadline, timer.map({ deadline < $0.deadline }) ?? true {
                timer?.task.cancel()
                let instant = start.advanced(by: max(.zero, deadline - loop.timeBase))
                timer = (
                    deadline,
                    Task { [clock] in
                        try? await clock.sleep(until: instant, tolerance: nil)
                        if !Task.isCancelled { self.post(.timer) }
                    }
                )
            }
        }
        // Stopped: what waited for an append is made durable before the session ends.
        try await loop.flush()
    }

    /// Starts checking an attempt's trigger on this host, on the coordinator's clock; the check tells the loop
    /// when it starts and how it ends.
    private func launcher() -> TriggerChecks.Launch {
        { [clock] work, ref in
            Task {
                self.post(.checked(ref, .started))
                guard case .trigger(let condition, let interval, let timeout, let directory)? = work else {
                    // Refused when added.
                    return self.post(.checked(ref, .ended(.error("the task is not a trigger check"))))
                }
                let watch = TriggerWatch(
                    interval: interval, timeout: timeout, clock: clock,
                    check: TriggerWatch<C>.condition(
                        condition, directory: directory ?? FileManager.default.currentDirectoryPath))
                let result: AttemptResult =
                    switch await watch.run() {
                    case .satisfied: .exited(0)
                    case .timedOut(let checks): .unsatisfied(checks: checks)
                    case .stopped: .error("stopped")
                    }
                self.post(.checked(ref, .ended(result)))
            }
        }
    }

    /// Stops `run` after the batch in hand; what is still waiting, or comes later, is refused as unavailable.
    public func stop() { wake.finish() }

    /// Every metric in Prometheus' text exposition format (version 0.0.4), its gauges read off the engine now.
    public func metricsText() async throws -> [UInt8] {
        try await request { .metrics(reply: $0) }
    }

    /// Inputs waiting for the loop now.
    public var inboxCount: Int { inbox.withLock { $0.inputs.count } }

    /// Puts an input in the inbox, waiting while it is full (back-pressure on the service that sends it).
    func send(_ input: CoordinatorInput) async {
        while true {
            let outcome: Int = inbox.withLock { inbox in
                if inbox.stopped { return 2 }
                guard inbox.inputs.count < configuration.inboxCapacity else { return 0 }
                inbox.inputs.append(input)
                return 1
            }
            switch outcome {
            case 1:
                wake.yield()
                return
            case 2:
                input.refuse(Self.shuttingDown)
                return
            default:
                await withCheckedContinuation { (sender: CheckedContinuation<Void, Never>) in
                    let parked = inbox.withLock { inbox in
                        guard !inbox.stopped, inbox.inputs.count >= configuration.inboxCapacity else { return false }
                        inbox.waiting.append(sender)
                        return true
                    }
                    if !parked { sender.resume() }
                }
            }
        }
    }

    /// An input of the coordinator's own (a timer, a stream that ended): few, so it never waits.
    func post(_ input: CoordinatorInput) {
        let stopped = inbox.withLock { inbox in
            if !inbox.stopped { inbox.inputs.append(input) }
            return inbox.stopped
        }
        if stopped { input.refuse(Self.shuttingDown) } else { wake.yield() }
    }

    static var shuttingDown: RPCError {
        RPCError(code: .unavailable, message: "the coordinator is shutting down; try again when it is back")
    }

    /// After the loop: what waits in the inbox, and whoever waits for room, is refused.
    private func refuseWaiting() {
        let (left, waiting) = inbox.withLock { inbox in
            inbox.stopped = true
            let taken = (inbox.inputs, inbox.waiting)
            inbox.inputs.removeAll()
            inbox.waiting.removeAll()
            return taken
        }
        for input in left { input.refuse(Self.shuttingDown) }
        for sender in waiting { sender.resume() }
    }

    /// Sends a request into the loop and waits for its answer.
    func request<T: Sendable>(
        _ make: (@escaping @Sendable (Result<T, RPCError>) -> Void) -> CoordinatorInput
    ) async throws -> T {
        let (answer, continuation) = AsyncStream.makeStream(of: Result<T, RPCError>.self, bufferingPolicy: .unbounded)
        await send(
            make { result in
                continuation.yield(result)
                continuation.finish()
            })
        for await result in answer { return try result.get() }
        throw Self.shuttingDown
    }
}

extension CoordinatorInput {
    /// Answers an input the loop will not take.
    func refuse(_ error: RPCError) {
        switch self {
        case .hello(_, let outbox, let reply):
            reply(.failure(error))
            outbox.finish(throwing: error)
        case .add(_, let reply): reply(.failure(error))
        case .change(_, _, let reply): reply(.failure(error))
        case .broadcast(_, _, let reply): reply(.failure(error))
        case .listWorkers(let reply): reply(.failure(error))
        case .listTasks(_, let reply): reply(.failure(error))
        case .showTask(_, let reply): reply(.failure(error))
        case .forget(_, let reply): reply(.failure(error))
        case .listJobs(_, let reply): reply(.failure(error))
        case .taskLogs(_, _, _, _, let follower): follower.finish(throwing: error)
        case .metrics(let reply): reply(.failure(error))
        case .watch(_, let watcher): watcher.finish(throwing: error)
        case .report, .disconnected, .checked, .timer: break
        }
    }
}

/// What the services tell the loop.
enum CoordinatorInput: Sendable {
    typealias Reply<T> = @Sendable (Result<T, RPCError>) -> Void
    case hello(WorkerHello, outbox: WorkerOutbox, reply: Reply<UInt64>)
    case report(connection: UInt64, WorkerReport)
    case disconnected(connection: UInt64)
    /// Tasks to add, checked at the door; the reply is the job and the ids of its main tasks.
    case add(IncomingJob, reply: Reply<(job: UInt64, tasks: [UInt64])>)
    case change(RemoteChange, RemoteSelection, reply: Reply<Int>)
    case watch(job: UInt64, JobWatcher)
    case broadcast(type: String, message: String, reply: Reply<Int>)
    case listWorkers(reply: Reply<[RemoteWorker]>)
    case listTasks(RemoteTaskQuery, reply: Reply<[RemoteTask]>)
    case showTask(UInt64, reply: Reply<RemoteTask>)
    /// Jobs to forget; the reply is how many tasks went with them.
    case forget([UInt64], reply: Reply<Int>)
    /// Every job, or one.
    case listJobs(UInt64?, reply: Reply<[RemoteJobSummary]>)
    /// The metrics, as Prometheus reads them.
    case metrics(reply: Reply<[UInt8]>)
    /// A reader of what an attempt printed (attempt 0: the latest), or of every attempt of a job (job not 0).
    case taskLogs(job: UInt64, task: UInt64, attempt: Int, follow: Bool, LogFollower)
    /// The embedded executor's news of a trigger check.
    case checked(WireAttempt, TriggerChecks.Event)
    case timer
}

/// What the coordinator sends down one worker's stream; finishing it with an error ends the stream with that
/// status, so the worker learns why (lost, replaced, shutting down).
typealias WorkerOutbox = Outbox<SentInstruction>

/// A `WatchJob` stream's events; finished with an error when the job does not exist.
typealias JobWatcher = Outbox<RemoteJobEvent>
