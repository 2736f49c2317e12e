internal import Foundation
internal import GRPCCore
internal import Synchronization
internal import TrellisCore
internal import TrellisProtocol
public import TrellisStore

/// Settings of a coordinator.
public struct CoordinatorConfiguration: Sendable {
    /// How often workers send a heartbeat.
    public var heartbeatInterval: Duration
    /// A worker silent this long is lost; its attempts run again elsewhere.
    public var leaseTimeout: Duration
    /// Between SIGTERM and SIGKILL when an operator cancels a running task.
    public var cancelGrace: Duration

    public init(
        heartbeatInterval: Duration = .seconds(2), leaseTimeout: Duration = .seconds(10),
        cancelGrace: Duration = .seconds(10)
    ) {
        self.heartbeatInterval = heartbeatInterval
        self.leaseTimeout = leaseTimeout
        self.cancelGrace = cancelGrace
    }
}

/// The coordinator: one loop that owns the dispatch core and the in-memory view of unfinished tasks, fed
/// by the gRPC services through an inbox. Each turn takes everything that arrived since the last one,
/// applies it to the store in one transaction (group commit), places ready tasks, records the assignments
/// in a second transaction and only then sends them. It waits on its inbox and on the earliest lease or
/// retry deadline, never polls.
///
/// ```swift
/// let coordinator = Coordinator(store: try SQLiteCoordinatorStore(path: "trellis.db"), clock: .continuous)
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { try await coordinator.run() }
///     // serve `coordinator.services` over gRPC
/// }
/// ```
public final class Coordinator<C: Clock>: Sendable where C.Duration == Duration {
    let store: any CoordinatorStore
    let clock: C
    let configuration: CoordinatorConfiguration
    private let inbox = Mutex<[CoordinatorInput]>([])
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    public init(store: any CoordinatorStore, clock: C, configuration: CoordinatorConfiguration = .init()) {
        self.store = store
        self.clock = clock
        self.configuration = configuration
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Begins a session (the epoch goes up) and serves until cancelled.
    public func run() async throws {
        let start = clock.now
        var loop = try CoordinatorLoop(
            store: store, configuration: configuration, now: { start.duration(to: self.clock.now).seconds })
        defer { loop.shutdown() }
        var timer: (deadline: Double, task: Task<Void, Never>)?
        defer { timer?.task.cancel() }
        for await _ in wakeups {
            let batch = inbox.withLock { inbox in
                let batch = inbox
                inbox.removeAll(keepingCapacity: true)
                return batch
            }
            if batch.contains(where: { if case .timer = $0 { true } else { false } }) { timer = nil }
            try loop.handle(batch)
            if let deadline = loop.nextDeadline, deadline < timer?.deadline ?? .infinity {
                timer?.task.cancel()
                let instant = start.advanced(by: .seconds(deadline))
                timer = (
                    deadline,
                    Task { [clock] in
                        try? await clock.sleep(until: instant, tolerance: nil)
                        if !Task.isCancelled { self.send(.timer) }
                    }
                )
            }
        }
    }

    /// Stops `run` after the batch in hand.
    public func stop() { wake.finish() }

    func send(_ input: CoordinatorInput) {
        inbox.withLock { $0.append(input) }
        wake.yield()
    }

    /// Sends a request into the loop and waits for its answer.
    func request<T: Sendable>(
        _ make: (@escaping @Sendable (Result<T, RPCError>) -> Void) -> CoordinatorInput
    ) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            send(make { continuation.resume(with: $0) })
        }
    }
}

/// What the services tell the loop.
enum CoordinatorInput: Sendable {
    typealias Reply<T> = @Sendable (Result<T, RPCError>) -> Void
    case hello(Trellis_V1_Hello, outbox: WorkerOutbox, reply: Reply<UInt64>)
    case report(connection: UInt64, Trellis_V1_WorkerMessage)
    case disconnected(connection: UInt64)
    case add(Trellis_V1_AddTasksRequest, reply: Reply<Trellis_V1_AddTasksResponse>)
    case change(TaskChange, Trellis_V1_TaskSelection, reply: Reply<Int>)
    case watch(job: UInt64, JobWatcher)
    case broadcast(type: String, message: String, reply: Reply<Int>)
    case listWorkers(reply: Reply<[Trellis_V1_WorkerInfo]>)
    case timer
}

/// What the coordinator sends down one worker's stream; finishing it with an error ends the stream with that
/// status, so the worker learns why (lost, replaced, shutting down).
typealias WorkerOutbox = AsyncThrowingStream<Trellis_V1_CoordinatorMessage, any Error>.Continuation

/// A `WatchJob` stream's events; finished with an error when the job does not exist.
typealias JobWatcher = AsyncThrowingStream<Trellis_V1_JobEvent, any Error>.Continuation

enum TaskChange: Sendable {
    case play, cancel, kill, pause, resume
}
