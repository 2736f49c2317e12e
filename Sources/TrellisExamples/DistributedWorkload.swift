internal import Foundation
internal import GRPCCore
internal import GRPCNIOTransportHTTP2
internal import Synchronization
internal import TrellisCoordinator
internal import TrellisCore
internal import TrellisJournal
internal import TrellisProtocol
internal import TrellisSQLite
internal import TrellisWorker

#if canImport(Glibc)
    internal import Glibc
#endif

/// Benchmark workloads for the coordinator: a coordinator on SQLite serving HTTP/2 on loopback, workers
/// with no-op handlers (in the same process, each with its own connection, or as processes of their own),
/// so what is measured is the coordinator, the protocol and the store rather than task start-up. The
/// benchmark speaks to the coordinator as the command line does, through `CoordinatorClient`.
public enum DistributedWorkload {
    typealias Client = CoordinatorClient<HTTP2ClientTransport.Posix>
    static let token = "benchmark"

    /// Where the workers run: tasks of this process, or processes started from an executable that calls
    /// `serveWorker` when given `arguments` followed by the coordinator's address, a name and a slot count.
    public enum Workers: Sendable {
        case inProcess
        case processes(executable: String, arguments: [String])
    }

    /// The handlers a benchmark worker offers: `noop`, and `mark`, which returns when it ran (the monotonic
    /// clock, shared by the processes of one machine) as its value, "start end" in seconds.
    static var handlers: [String: TaskHandler] {
        [
            "noop": { _ in [] },
            "mark": { _ in
                let now = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
                return Array("\(now) \(now)".utf8)
            },
        ]
    }

    /// Works for a benchmark's coordinator until it goes away or the process is killed.
    public static func serveWorker(address: String, name: String, slots: Int) async throws {
        guard let address = CoordinatorAddress(address) else { return }
        let worker = Worker(options: WorkerOptions(name: name, slots: slots), handlers: handlers) {
            // The parent waits for this line before it starts measuring.
            if case .welcomed = $0 { FileHandle.standardOutput.write(Data("welcomed\n".utf8)) }
        }
        try await worker.run(transport: try address.transport(), token: token)
    }

    static func withCluster<R: Sendable>(
        database: String, workers: Int, slots: Int, placement: Workers = .inProcess,
        configuration: CoordinatorConfiguration = .init(), memoryJournal: Bool = false,
        _ body: @Sendable (Client) async throws -> R
    ) async throws -> R {
        let journal: any Journal<CoordinatorRecord> =
            memoryJournal ? InMemoryJournal<CoordinatorRecord>() : try SQLiteJournal<CoordinatorRecord>(path: database)
        let coordinator = Coordinator(journal: journal, clock: ContinuousClock(), configuration: configuration)
        let transport = Coordinator<ContinuousClock>.transport(host: "127.0.0.1", port: 0)
        let server = GRPCServer(
            transport: transport, services: coordinator.services,
            interceptors: [Coordinator<ContinuousClock>.tokenInterceptor(token)])
        return try await withThrowingTaskGroup { group in
            group.addTask { try await coordinator.run() }
            group.addTask { try await server.serve() }
            let port = try await transport.listeningAddress.ipv4!.port
            let address = CoordinatorAddress(host: "127.0.0.1", port: port)
            let (welcomes, welcomed) = AsyncStream.makeStream(of: Void.self)
            var processes: [Process] = []
            defer {
                for process in processes where process.isRunning {
                    kill(process.processIdentifier, SIGKILL)
                    process.waitUntilExit()
                }
            }
            for index in 0..<workers {
                switch placement {
                case .inProcess:
                    let worker = Worker(
                        options: WorkerOptions(name: "bench-\(index)", slots: slots), handlers: handlers
                    ) {
                        if case .welcomed = $0 { welcomed.yield() }
                    }
                    let workerTransport = try address.transport()
                    group.addTask { try await worker.run(transport: workerTransport, token: token) }
                case .processes(let executable, let arguments):
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: executable)
                    process.arguments = arguments + ["\(address)", "bench-\(index)", "\(slots)"]
                    let pipe = Pipe()
                    process.standardOutput = pipe
                    try process.run()
                    processes.append(process)
                    let reader = pipe.fileHandleForReading
                    Thread.detachNewThread {
                        // The worker prints one line once the coordinator welcomed it.
                        while true {
                            let chunk = reader.availableData
                            if chunk.isEmpty { break }
                            if String(decoding: chunk, as: UTF8.self).contains("welcomed") {
                                welcomed.yield()
                                break
                            }
                        }
                    }
                }
            }
            let result = try await withGRPCClient(transport: try address.transport()) { client in
                let ops = Client(client, token: token)
                var connected = 0
                if workers > 0 {
                    for await _ in welcomes {
                        connected += 1
                        if connected == workers { break }
                    }
                }
                return try await body(ops)
            }
            server.beginGracefulShutdown()
            coordinator.stop()
            group.cancelAll()
            return result
        }
    }

    static func spec(_ name: String, handler: String, payload: String = "", needs: [String] = []) -> RemoteTaskSpec {
        var spec = RemoteTaskSpec(name: name, work: .handler(name: handler, payload: Array(payload.utf8)))
        spec.needs = needs.map { RemoteNeed(.name($0)) }
        return spec
    }

    /// Adds `tasks` as one job, played at once.
    static func submit(_ ops: Client, _ name: String, _ tasks: [RemoteTaskSpec]) async throws -> UInt64 {
        var job = RemoteJob(name: name, play: true)
        job.tasks = tasks
        return try await ops.submit(job).job
    }

    /// Adds `tasks` as one job and waits for its end.
    @discardableResult
    static func runJob(_ ops: Client, _ tasks: [RemoteTaskSpec]) async throws -> UInt64 {
        let job = try await submit(ops, "benchmark", tasks)
        try await ops.watch(job: job) { _ in }
        return job
    }

    static func scratch() -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trellis-bench-\(UUID())")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent("coordinator.db").path
    }

    /// Independent no-op tasks through 2 workers: tasks per second from submission to the job's end.
    public static func independent(
        _ count: Int, workers: Int = 2, slots: Int = 64, placement: Workers = .inProcess
    ) async throws -> Double {
        let database = scratch()
        defer { try? FileManager.default.removeItem(atPath: (database as NSString).deletingLastPathComponent) }
        return try await withCluster(database: database, workers: workers, slots: slots, placement: placement) { ops in
            let tasks = (0..<count).map { spec("t\($0)", handler: "noop") }
            let start = ContinuousClock.now
            try await runJob(ops, tasks)
            return Double(count) / (ContinuousClock.now - start).seconds
        }
    }

    /// A chain: each task needs the one before. Returns the gaps from one task's end to the next one's start,
    /// in seconds, sorted.
    /// `memoryJournal`: the coordinator journals in memory instead of SQLite, to tell the journal's share.
    public static func chainGaps(
        _ count: Int, placement: Workers = .inProcess, memoryJournal: Bool = false
    ) async throws -> [Double] {
        let database = scratch()
        defer { try? FileManager.default.removeItem(atPath: (database as NSString).deletingLastPathComponent) }
        return try await withCluster(
            database: database, workers: 2, slots: 4, placement: placement, memoryJournal: memoryJournal
        ) { ops in
            let tasks = (0..<count).map { index in
                spec("c\(index)", handler: "mark", needs: index == 0 ? [] : ["c\(index - 1)"])
            }
            let job = try await runJob(ops, tasks)
            var times: [String: (start: Double, end: Double)] = [:]
            var after: UInt64 = 0
            while true {
                let page = try await ops.tasks(RemoteTaskQuery(job: job, afterID: after, limit: 10_000))
                guard let last = page.last else { break }
                for task in page {
                    let fields = String(decoding: task.value ?? [], as: UTF8.self).split(separator: " ").compactMap {
                        Double($0)
                    }
                    if fields.count == 2 { times[task.name] = (fields[0], fields[1]) }
                }
                after = last.id
            }
            return (1..<count).compactMap { index in
                guard let start = times["c\(index)"]?.start, let end = times["c\(index - 1)"]?.end else { return nil }
                return start - end
            }.sorted()
        }
    }

    /// Queues `count` tasks, stops, and times a restart to serving again: from the snapshot the coordinator
    /// saved and the entries after it, or (`snapshots: false`) from every entry.
    public static func restart(_ count: Int, snapshots: Bool = true) async throws -> Double {
        let database = scratch()
        defer { try? FileManager.default.removeItem(atPath: (database as NSString).deletingLastPathComponent) }
        let configuration = CoordinatorConfiguration(snapshotInterval: snapshots ? 10_000 : Int.max)
        try await withCluster(database: database, workers: 0, slots: 1, configuration: configuration) { ops in
            for batch in stride(from: 0, to: count, by: 100_000) {
                let tasks = (batch..<min(count, batch + 100_000)).map { spec("q\($0)", handler: "noop") }
                _ = try await submit(ops, "queued", tasks)
            }
        }
        let start = ContinuousClock.now
        return try await withCluster(database: database, workers: 0, slots: 1, configuration: configuration) { ops in
            _ = try await ops.workers()
            return (ContinuousClock.now - start).seconds
        }
    }

    /// A coordinator whose journal saw `history` tasks, all but the last `live` of them in jobs that ended
    /// (cancelled) and were forgotten, restarted to serving again: a restart follows the live tasks.
    public static func restartAfterForgetting(history: Int, live: Int) async throws -> (seconds: Double, tasks: Int) {
        let database = scratch()
        defer { try? FileManager.default.removeItem(atPath: (database as NSString).deletingLastPathComponent) }
        let configuration = CoordinatorConfiguration(snapshotInterval: 10_000)
        try await withCluster(database: database, workers: 0, slots: 1, configuration: configuration) { ops in
            var ended: [UInt64] = []
            for batch in stride(from: 0, to: history - live, by: 1_000) {
                let tasks = (batch..<min(history - live, batch + 1_000)).map { spec("old\($0)", handler: "noop") }
                let job = try await submit(ops, "ended", tasks)
                _ = try await ops.change(.cancel, RemoteSelection(job: job))
                ended.append(job)
            }
            _ = try await submit(ops, "live", (0..<live).map { spec("q\($0)", handler: "noop") })
            _ = try await ops.forget(jobs: ended)
            // Entries enough after the forgetting for the next snapshot.
            for round in 0..<6 {
                _ = try await submit(ops, "more", (0..<1_000).map { spec("m\(round)-\($0)", handler: "noop") })
            }
        }
        let start = ContinuousClock.now
        return try await withCluster(database: database, workers: 0, slots: 1, configuration: configuration) { ops in
            let tasks = try await ops.tasks(RemoteTaskQuery(limit: 100_000)).count
            return ((ContinuousClock.now - start).seconds, tasks)
        }
    }

    /// Queues `count` ready tasks with no worker to take them; returns the growth of resident memory per task,
    /// as the process holds it and once the allocator has given back what it keeps of freed memory.
    public static func memoryPerQueuedTask(_ count: Int) async throws -> (resident: Double, live: Double) {
        let database = scratch()
        defer { try? FileManager.default.removeItem(atPath: (database as NSString).deletingLastPathComponent) }
        return try await withCluster(database: database, workers: 0, slots: 1) { ops in
            let before = residentBytes()
            for batch in stride(from: 0, to: count, by: 100_000) {
                let tasks = (batch..<min(count, batch + 100_000)).map { spec("q\($0)", handler: "noop") }
                _ = try await submit(ops, "queued", tasks)
            }
            // Measured once the coordinator has finished the turn that took the last request (a request it
            // answers in a later turn), not while that turn is still ending.
            _ = try await ops.workers()
            let grown = residentBytes() - before
            // What the heap holds for freed memory is given back, to tell live memory from the allocator's.
            trimHeap()
            let live = residentBytes() - before
            return (Double(grown) / Double(count), Double(live) / Double(count))
        }
    }

    /// glibc's `malloc_trim(0)`, looked up at run time (its header is not part of the Glibc module).
    static func trimHeap() {
        #if canImport(Glibc)
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
            typealias Trim = @convention(c) (Int) -> Int32
            _ = unsafeBitCast(symbol, to: Trim.self)(0)
        #endif
    }

    static func residentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
        }
        return 0
    }
}
