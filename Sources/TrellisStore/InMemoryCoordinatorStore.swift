import Synchronization

/// A coordinator store in memory: the reference for the shared rules, and for tests.
public final class InMemoryCoordinatorStore: CoordinatorStore {
    struct Tables: CoordinatorTables {
        var tasks: [UInt64: RemoteTask] = [:]
        var needs: [UInt64: [(child: UInt64, output: String?)]] = [:]
        var lastTask: UInt64 = 0
        var lastJob: UInt64 = 0
        var epoch: UInt64 = 0
        var jobs: [UInt64: JobProgress] = [:]
        var logs: [UInt64: [(attempt: Int, record: LogRecord)]] = [:]
        var workers: [String: RemoteWorker] = [:]

        mutating func task(_ id: UInt64) -> RemoteTask? { tasks[id] }
        mutating func save(_ task: RemoteTask) { tasks[task.id] = task }
        mutating func insert(_ task: RemoteTask) { tasks[task.id] = task }
        mutating func insertNeed(parent: UInt64, child: UInt64, output: String?) {
            needs[parent, default: []].append((child, output))
        }
        mutating func dependants(of parent: UInt64, output: String?) -> [UInt64] {
            (needs[parent] ?? []).filter { $0.output == output }.map(\.child)
        }
        mutating func nextTaskID() -> UInt64 {
            lastTask += 1
            return lastTask
        }
        mutating func nextJobID() -> UInt64 {
            lastJob += 1
            return lastJob
        }
        mutating func job(_ id: UInt64) -> JobProgress? { jobs[id] }
        mutating func saveJob(_ job: JobProgress) { jobs[job.id] = job }
        mutating func finales(ofJob job: UInt64) -> [UInt64] {
            tasks.values.filter { $0.job == job && $0.role != .main }.map(\.id).sorted()
        }
        mutating func appendLog(task: UInt64, attempt: Int, _ record: LogRecord) {
            logs[task, default: []].append((attempt, record))
        }
    }

    private let tables = Mutex(Tables())

    public init() {}

    public func beginSession(at time: Double) throws(RunStoreError) -> CoordinatorSession {
        tables.withLock { tables in
            tables.epoch += 1
            let sorted = tables.tasks.values.sorted { $0.id < $1.id }
            return CoordinatorSession(
                epoch: tables.epoch,
                ready: sorted.filter { $0.state == .ready && $0.unmet == 0 }.map(\.id),
                inFlight: sorted.filter { $0.state == .assigned || $0.state == .running }.map(\.id))
        }
    }

    public func addTasks(_ batch: NewTasks, at time: Double) throws(RunStoreError) -> AddedTasks {
        try transaction { tables throws in try CoordinatorTransitions.add(batch, at: time, to: &tables) }
    }

    public func apply(_ events: [CoordinatorEvent], at time: Double) throws(RunStoreError) -> AppliedEvents {
        try transaction { tables throws in try CoordinatorTransitions.apply(events, at: time, to: &tables) }
    }

    public func task(_ id: UInt64) throws(RunStoreError) -> RemoteTask? {
        tables.withLock { $0.tasks[id] }
    }

    public func tasks(
        states: Set<RemoteTaskState>, job: UInt64?, afterID: UInt64, limit: Int
    ) throws(RunStoreError) -> [RemoteTask] {
        tables.withLock { tables in
            Array(
                tables.tasks.values.filter { task in
                    task.id > afterID && (states.isEmpty || states.contains(task.state))
                        && (job == nil || task.job == job)
                }.sorted { $0.id < $1.id }.prefix(limit))
        }
    }

    public func inputs(of child: UInt64) throws(RunStoreError) -> [String: [UInt8]] {
        tables.withLock { tables in
            var inputs: [String: [UInt8]] = [:]
            for (parent, needs) in tables.needs where needs.contains(where: { $0.child == child }) {
                if let task = tables.tasks[parent], let value = task.value { inputs[task.name] = value }
            }
            return inputs
        }
    }

    public func logs(of task: UInt64, attempt: Int) throws(RunStoreError) -> [LogRecord] {
        tables.withLock { tables in (tables.logs[task] ?? []).filter { $0.attempt == attempt }.map(\.record) }
    }

    public func saveWorker(_ worker: RemoteWorker) throws(RunStoreError) -> RemoteWorker {
        tables.withLock { tables in
            var saved = worker
            saved.id = tables.workers[worker.name]?.id ?? UInt64(tables.workers.count + 1)
            tables.workers[worker.name] = saved
            return saved
        }
    }

    public func workers() throws(RunStoreError) -> [RemoteWorker] {
        tables.withLock { tables in tables.workers.values.sorted { $0.id < $1.id } }
    }

    /// All or nothing: the tables change only if the whole body succeeds.
    private func transaction<R>(_ body: (inout Tables) throws -> R) throws(RunStoreError) -> R {
        do {
            return try tables.withLock { tables in
                var copy = tables
                let result = try body(&copy)
                tables = copy
                return result
            }
        } catch let error as RunStoreError {
            throw error
        } catch {
            throw RunStoreError(.storage, "a coordinator transaction failed", cause: "\(error)")
        }
    }
}
