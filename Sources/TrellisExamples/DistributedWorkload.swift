internal import Foundation
internal import GRPCCore
internal import GRPCNIOTransportHTTP2
internal import Synchronization
internal import TrellisCoordinator
internal import TrellisCore
internal import TrellisProtocol
internal import TrellisSQLite
internal import TrellisWorker

/// Benchmark workloads for the coordinator: a coordinator on SQLite serving HTTP/2 on loopback, workers in
/// the same process (each with its own connection), and no-op handler tasks, so what is measured is the
/// coordinator, the protocol and the store rather than process start-up.
public enum DistributedWorkload {
    static let token = "benchmark"
    static var metadata: Metadata { ["authorization": "Bearer \(token)"] }

    /// Start times and end times of handler calls, by task name.
    final class Clock: Sendable {
        let marks = Mutex<[String: (start: Double, end: Double)]>([:])
        func start(_ name: String) { marks.withLock { $0[name, default: (0, 0)].start = now() } }
        func end(_ name: String) { marks.withLock { $0[name, default: (0, 0)].end = now() } }
        func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
    }

    static func withCluster<R: Sendable>(
        database: String, workers: Int, slots: Int,
        _ body: @Sendable (Trellis_V1_ClientService.Client<HTTP2ClientTransport.Posix>, Clock) async throws -> R
    ) async throws -> R {
        let journal = try SQLiteJournal<CoordinatorRecord>(path: database)
        let coordinator = Coordinator(journal: journal, clock: ContinuousClock())
        let transport = Coordinator<ContinuousClock>.transport(host: "127.0.0.1", port: 0)
        let server = GRPCServer(
            transport: transport, services: coordinator.services,
            interceptors: [Coordinator<ContinuousClock>.tokenInterceptor(token)])
        let marks = Clock()
        return try await withThrowingTaskGroup { group in
            group.addTask { try await coordinator.run() }
            group.addTask { try await server.serve() }
            let port = try await transport.listeningAddress.ipv4!.port
            let address = CoordinatorAddress(host: "127.0.0.1", port: port)
            let (welcomes, welcomed) = AsyncStream.makeStream(of: Void.self)
            for index in 0..<workers {
                let handlers: [String: TaskHandler] = [
                    "noop": { _ in [] },
                    "mark": { call in
                        let name = String(decoding: call.payload, as: UTF8.self)
                        marks.start(name)
                        marks.end(name)
                        return []
                    },
                ]
                let worker = Worker(options: WorkerOptions(name: "bench-\(index)", slots: slots), handlers: handlers) {
                    if case .welcomed = $0 { welcomed.yield() }
                }
                let workerTransport = try address.transport()
                group.addTask { try await worker.run(transport: workerTransport, token: token) }
            }
            let result = try await withGRPCClient(transport: try address.transport()) { client in
                let ops = Trellis_V1_ClientService.Client(wrapping: client)
                var connected = 0
                if workers > 0 {
                    for await _ in welcomes {
                        connected += 1
                        if connected == workers { break }
                    }
                }
                return try await body(ops, marks)
            }
            server.beginGracefulShutdown()
            coordinator.stop()
            group.cancelAll()
            return result
        }
    }

    static func spec(_ name: String, handler: String, payload: String = "", needs: [String] = []) -> Trellis_V1_TaskSpec
    {
        var spec = Trellis_V1_TaskSpec()
        spec.name = name
        var call = Trellis_V1_HandlerCall()
        call.name = handler
        call.payload = Data(payload.utf8)
        spec.handler = call
        spec.needs = needs.map { name in
            var need = Trellis_V1_Need()
            need.name = name
            return need
        }
        return spec
    }

    static func runJob(
        _ ops: Trellis_V1_ClientService.Client<HTTP2ClientTransport.Posix>, _ tasks: [Trellis_V1_TaskSpec]
    ) async throws {
        var request = Trellis_V1_AddTasksRequest()
        request.jobName = "benchmark"
        request.tasks = tasks
        request.play = true
        let job = try await ops.addTasks(request, metadata: metadata).jobID
        var watch = Trellis_V1_WatchJobRequest()
        watch.jobID = job
        try await ops.watchJob(watch, metadata: metadata) { response in
            for try await event in response.messages where event.jobEnded { break }
        }
    }

    static func scratch() -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trellis-bench-\(UUID())")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent("coordinator.db").path
    }

    /// Independent no-op tasks through 2 workers: tasks per second from submission to the job's end.
    public static func independent(_ count: Int, workers: Int = 2, slots: Int = 64) async throws -> Double {
        let database = scratch()
        defer { try? FileManager.default.removeItem(atPath: (database as NSString).deletingLastPathComponent) }
        return try await withCluster(database: database, workers: workers, slots: slots) { ops, _ in
            let tasks = (0..<count).map { spec("t\($0)", handler: "noop") }
            let start = ContinuousClock.now
            try await runJob(ops, tasks)
            return Double(count) / (ContinuousClock.now - start).seconds
        }
    }

    /// A chain: each task needs the one before. Returns the gaps from one task's end to the next one's start,
    /// in seconds, sorted.
    public static func chainGaps(_ count: Int) async throws -> [Double] {
        let database = scratch()
        defer { try? FileManager.default.removeItem(atPath: (database as NSString).deletingLastPathComponent) }
        return try await withCluster(database: database, workers: 2, slots: 4) { ops, marks in
            let tasks = (0..<count).map { index in
                spec("c\(index)", handler: "mark", payload: "c\(index)", needs: index == 0 ? [] : ["c\(index - 1)"])
            }
            try await runJob(ops, tasks)
            let times = marks.marks.withLock { $0 }
            return (1..<count).map { times["c\($0)"]!.start - times["c\($0 - 1)"]!.end }.sorted()
        }
    }

    /// Fills a database with `count` created tasks, then times a coordinator start on it until it answers.
    public static func restart(_ count: Int) async throws -> Double {
        let database = scratch()
        defer { try? FileManager.default.removeItem(atPath: (database as NSString).deletingLastPathComponent) }
        try await withCluster(database: database, workers: 0, slots: 1) { ops, _ in
            for batch in stride(from: 0, to: count, by: 100_000) {
                var request = Trellis_V1_AddTasksRequest()
                request.jobName = "queued"
                request.tasks = (batch..<min(count, batch + 100_000)).map { spec("q\($0)", handler: "noop") }
                request.play = true
                _ = try await ops.addTasks(request, metadata: metadata)
            }
        }
        let start = ContinuousClock.now
        return try await withCluster(database: database, workers: 0, slots: 1) { ops, _ in
            _ = try await ops.listWorkers(.init(), metadata: metadata)
            return (ContinuousClock.now - start).seconds
        }
    }

    /// Queues `count` ready tasks with no worker to take them; returns the growth of resident memory per task.
    public static func memoryPerQueuedTask(_ count: Int) async throws -> Double {
        let database = scratch()
        defer { try? FileManager.default.removeItem(atPath: (database as NSString).deletingLastPathComponent) }
        return try await withCluster(database: database, workers: 0, slots: 1) { ops, _ in
            let before = residentBytes()
            for batch in stride(from: 0, to: count, by: 100_000) {
                var request = Trellis_V1_AddTasksRequest()
                request.jobName = "queued"
                request.tasks = (batch..<min(count, batch + 100_000)).map { spec("q\($0)", handler: "noop") }
                request.play = true
                _ = try await ops.addTasks(request, metadata: metadata)
            }
            return Double(residentBytes() - before) / Double(count)
        }
    }

    static func residentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
        }
        return 0
    }
}
