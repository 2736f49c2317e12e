import Foundation
import GRPCCore
import GRPCInProcessTransport
import Synchronization
import Testing
import TrellisCoordinator
import TrellisJournal
import TrellisProtocol
import TrellisWorker

/// A coordinator, its gRPC server and any number of workers in one process, over grpc-swift-2's
/// in-process transport. Workers share the one client connection, each with its own stream.
final class Cluster<C: Clock>: Sendable where C.Duration == Duration {
    static var token: String { "s3cret" }
    let coordinator: Coordinator<C>
    let client: GRPCClient<InProcessTransport.Client>
    let ops: Trellis_V1_ClientService.Client<InProcessTransport.Client>
    private let workers = Mutex<[Task<Void, any Error>]>([])

    var metadata: Metadata { ["authorization": "Bearer \(Self.token)"] }

    init(coordinator: Coordinator<C>, client: GRPCClient<InProcessTransport.Client>) {
        self.coordinator = coordinator
        self.client = client
        ops = Trellis_V1_ClientService.Client(wrapping: client)
    }

    static func with<R: Sendable>(
        journal: any Journal<CoordinatorRecord> = InMemoryJournal<CoordinatorRecord>(), clock: C,
        configuration: CoordinatorConfiguration = .init(), _ body: (Cluster) async throws -> R
    ) async throws -> R {
        let transport = InProcessTransport()
        let coordinator = Coordinator(journal: journal, clock: clock, configuration: configuration)
        let server = GRPCServer(
            transport: transport.server, services: coordinator.services,
            interceptors: [Coordinator<C>.tokenInterceptor(token)])
        return try await withThrowingTaskGroup { group in
            group.addTask { try await coordinator.run() }
            group.addTask { try await server.serve() }
            let result = try await withGRPCClient(transport: transport.client) { client in
                let cluster = Cluster(coordinator: coordinator, client: client)
                defer { cluster.stopWorkers() }
                return try await body(cluster)
            }
            server.beginGracefulShutdown()
            coordinator.stop()
            group.cancelAll()
            return result
        }
    }

    /// Starts a worker; returns once the coordinator has welcomed it.
    @discardableResult
    func startWorker<WorkerClock: Clock>(
        _ options: WorkerOptions, handlers: [String: TaskHandler] = [:], token: String = token,
        clock: WorkerClock = ContinuousClock()
    ) async throws -> Worker where WorkerClock.Duration == Duration {
        let (welcomes, continuation) = AsyncStream.makeStream(of: WorkerEvent.self)
        let worker = Worker(options: options, handlers: handlers, clock: clock) { event in continuation.yield(event) }
        let client = client
        let task = Task { try await worker.run(client: client, token: token) }
        workers.withLock { $0.append(task) }
        for await event in welcomes {
            if case .welcomed = event { break }
        }
        return worker
    }

    func stopWorkers() {
        for task in workers.withLock({ $0 }) { task.cancel() }
    }

    /// Two trips through the coordinator's loop: everything sent before has been handled and dispatched.
    func settle() async throws {
        for _ in 0..<2 { _ = try await ops.listWorkers(Trellis_V1_ListWorkersRequest(), metadata: metadata) }
    }

    func add(_ request: Trellis_V1_AddTasksRequest) async throws -> Trellis_V1_AddTasksResponse {
        try await ops.addTasks(request, metadata: metadata)
    }

    /// Every event of a job until it ends.
    func watch(_ job: UInt64) async throws -> [Trellis_V1_JobEvent] {
        var request = Trellis_V1_WatchJobRequest()
        request.jobID = job
        return try await ops.watchJob(request, metadata: metadata) { response in
            var events: [Trellis_V1_JobEvent] = []
            for try await event in response.messages { events.append(event) }
            return events
        }
    }

    func tasks(job: UInt64) async throws -> [Trellis_V1_TaskInfo] {
        var request = Trellis_V1_ListTasksRequest()
        request.jobID = job
        return try await ops.listTasks(request, metadata: metadata).tasks
    }
}

extension Trellis_V1_TaskSpec {
    static func handler(
        _ name: String, _ function: String, payload: String = "", needs: [String] = [],
        type: String = "", tags: [String] = []
    ) -> Self {
        var spec = Trellis_V1_TaskSpec()
        spec.name = name
        var call = Trellis_V1_HandlerCall()
        call.name = function
        call.payload = Data(payload.utf8)
        spec.handler = call
        spec.needs = needs.map {
            var need = Trellis_V1_Need(); need.name = $0; return need
        }
        spec.workerType = type
        spec.tags = tags
        return spec
    }

    static func shell(_ name: String, _ command: String, needs: [String] = []) -> Self {
        var spec = Trellis_V1_TaskSpec()
        spec.name = name
        var shell = Trellis_V1_ShellCommand()
        shell.command = command
        spec.shell = shell
        spec.needs = needs.map {
            var need = Trellis_V1_Need(); need.name = $0; return need
        }
        return spec
    }
}

extension Trellis_V1_AddTasksRequest {
    static func job(
        _ tasks: [Trellis_V1_TaskSpec], onSuccess: [Trellis_V1_TaskSpec] = [],
        onFailure: [Trellis_V1_TaskSpec] = [], play: Bool = true
    ) -> Self {
        var request = Trellis_V1_AddTasksRequest()
        request.jobName = "test"
        request.tasks = tasks
        request.onSuccess = onSuccess
        request.onFailure = onFailure
        request.play = play
        return request
    }
}

/// Records what handlers saw, in order.
final class Recorder: Sendable {
    private let entries = Mutex<[String]>([])
    func record(_ entry: String) { entries.withLock { $0.append(entry) } }
    var all: [String] { entries.withLock { $0 } }
}
