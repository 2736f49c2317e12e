import Foundation
internal import GRDB
internal import TrellisCore
public import TrellisStore

/// The coordinator's durable tables in SQLite (WAL), through GRDB. Every `addTasks` and `apply` is one
/// transaction, so a coordinator killed at any moment restarts from a consistent state.
public final class SQLiteCoordinatorStore: CoordinatorStore {
    private let pool: DatabasePool
    public let path: String

    public init(path: String) throws(RunStoreError) {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(pool)
        } catch {
            throw RunStoreError(.storage, "cannot open the coordinator database '\(path)'", cause: "\(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("coordinator-v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
                    INSERT INTO meta (key, value) VALUES ('epoch', 0), ('last_task', 0), ('last_job', 0);
                    CREATE TABLE remote_task (
                        id INTEGER PRIMARY KEY, job INTEGER NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL,
                        spec BLOB NOT NULL, outputs TEXT NOT NULL, max_attempts INTEGER NOT NULL,
                        role TEXT NOT NULL, rank REAL NOT NULL, value BLOB, attempt INTEGER NOT NULL, failures INTEGER NOT NULL, epoch INTEGER NOT NULL, worker TEXT,
                        unmet INTEGER NOT NULL, played INTEGER NOT NULL, signalled TEXT NOT NULL, exit_code INTEGER,
                        message TEXT, created_at REAL NOT NULL, started_at REAL, finished_at REAL);
                    CREATE INDEX remote_task_state ON remote_task (state, id);
                    CREATE TABLE need (parent INTEGER NOT NULL, child INTEGER NOT NULL, output TEXT);
                    CREATE INDEX need_parent ON need (parent);
                    CREATE INDEX need_child ON need (child);
                    CREATE TABLE job (
                        id INTEGER PRIMARY KEY, name TEXT NOT NULL, main INTEGER NOT NULL, ended INTEGER NOT NULL,
                        failed INTEGER NOT NULL, decided INTEGER NOT NULL);
                    CREATE INDEX remote_task_finale ON remote_task (job) WHERE role != 'main';
                    CREATE TABLE log (task INTEGER NOT NULL, attempt INTEGER NOT NULL, stream INTEGER NOT NULL,
                        data BLOB NOT NULL);
                    CREATE INDEX log_task ON log (task, attempt);
                    CREATE TABLE worker (
                        id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, type TEXT NOT NULL, tags TEXT NOT NULL,
                        slots INTEGER NOT NULL, status TEXT NOT NULL, last_seen REAL NOT NULL);
                    """)
        }
        return migrator
    }

    public func beginSession(at time: Double) throws(RunStoreError) -> CoordinatorSession {
        try guarded("begin a session") {
            try pool.write { db in
                try db.execute(sql: "UPDATE meta SET value = value + 1 WHERE key = 'epoch'")
                let epoch = try UInt64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'epoch'") ?? 0
                let ready = try UInt64.fetchAll(
                    db, sql: "SELECT id FROM remote_task WHERE state = 'ready' AND unmet = 0 ORDER BY id")
                let inFlight = try UInt64.fetchAll(
                    db, sql: "SELECT id FROM remote_task WHERE state IN ('assigned', 'running') ORDER BY id")
                return CoordinatorSession(epoch: epoch, ready: ready, inFlight: inFlight)
            }
        }
    }

    public func addTasks(_ batch: NewTasks, at time: Double) throws(RunStoreError) -> AddedTasks {
        try guarded("add \(batch.tasks.count) tasks") {
            try pool.write { db in
                var tables = Tables(db: db)
                return try CoordinatorTransitions.add(batch, at: time, to: &tables)
            }
        }
    }

    public func apply(_ events: [CoordinatorEvent], at time: Double) throws(RunStoreError) -> AppliedEvents {
        try guarded("apply \(events.count) events") {
            try pool.write { db in
                var tables = Tables(db: db)
                return try CoordinatorTransitions.apply(events, at: time, to: &tables)
            }
        }
    }

    public func task(_ id: UInt64) throws(RunStoreError) -> RemoteTask? {
        try guarded("read task \(id)") {
            try pool.read { db in
                try Row.fetchOne(db, sql: "SELECT \(Tables.columns) FROM remote_task WHERE id = ?", arguments: [id])
                    .map(Tables.task)
            }
        }
    }

    public func tasks(
        states: Set<RemoteTaskState>, job: UInt64?, afterID: UInt64, limit: Int
    ) throws(RunStoreError) -> [RemoteTask] {
        try guarded("list tasks") {
            try pool.read { db in
                var sql = "SELECT \(Tables.columns) FROM remote_task WHERE id > ?"
                var arguments: StatementArguments = [afterID]
                if !states.isEmpty {
                    sql += " AND state IN (\(states.map { _ in "?" }.joined(separator: ", ")))"
                    for state in states.sorted(by: { $0.rawValue < $1.rawValue }) {
                        _ = arguments.append(contentsOf: [state.rawValue])
                    }
                }
                if let job {
                    sql += " AND job = ?"
                    _ = arguments.append(contentsOf: [job])
                }
                sql += " ORDER BY id LIMIT ?"
                _ = arguments.append(contentsOf: [limit])
                return try Row.fetchAll(db, sql: sql, arguments: arguments).map(Tables.task)
            }
        }
    }

    public func inputs(of child: UInt64) throws(RunStoreError) -> [String: [UInt8]] {
        try guarded("read the inputs of task \(child)") {
            try pool.read { db in
                var inputs: [String: [UInt8]] = [:]
                let rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT t.name, t.value FROM need n JOIN remote_task t ON t.id = n.parent
                        WHERE n.child = ? AND t.value IS NOT NULL
                        """, arguments: [child])
                for row in rows { inputs[row[0]] = [UInt8](row[1] as Data? ?? Data()) }
                return inputs
            }
        }
    }

    public func logs(of task: UInt64, attempt: Int) throws(RunStoreError) -> [LogRecord] {
        try guarded("read the logs of task \(task)") {
            try pool.read { db in
                try Row.fetchAll(
                    db, sql: "SELECT stream, data FROM log WHERE task = ? AND attempt = ? ORDER BY rowid",
                    arguments: [task, attempt]
                ).map { row in
                    LogRecord(stream: LogRecord.Stream(rawValue: row[0]) ?? .stdout, data: [UInt8](row[1] as Data))
                }
            }
        }
    }

    public func saveWorker(_ worker: RemoteWorker) throws(RunStoreError) -> RemoteWorker {
        try guarded("record worker \(worker.name)") {
            try pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO worker (name, type, tags, slots, status, last_seen) VALUES (?, ?, ?, ?, ?, ?)
                        ON CONFLICT (name) DO UPDATE SET type = excluded.type, tags = excluded.tags,
                            slots = excluded.slots, status = excluded.status, last_seen = excluded.last_seen
                        """,
                    arguments: [
                        worker.name, worker.type, worker.tags.joined(separator: Tables.separator), worker.slots,
                        worker.status.rawValue, worker.lastSeen,
                    ])
                var saved = worker
                saved.id =
                    try UInt64.fetchOne(db, sql: "SELECT id FROM worker WHERE name = ?", arguments: [worker.name]) ?? 0
                return saved
            }
        }
    }

    public func workers() throws(RunStoreError) -> [RemoteWorker] {
        try guarded("list workers") {
            try pool.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM worker ORDER BY id").map { row in
                    let tags: String = row["tags"]
                    return RemoteWorker(
                        id: row["id"], name: row["name"], type: row["type"],
                        tags: tags.isEmpty ? [] : tags.components(separatedBy: Tables.separator), slots: row["slots"],
                        status: RemoteWorker.Status(rawValue: row["status"]) ?? .lost, lastSeen: row["last_seen"])
                }
            }
        }
    }

    private func guarded<T>(_ what: String, _ body: () throws -> T) throws(RunStoreError) -> T {
        do {
            return try body()
        } catch let error as RunStoreError {
            throw error
        } catch {
            throw RunStoreError(.storage, "cannot \(what) in '\(path)'", cause: "\(error)")
        }
    }

    /// The shared rules' view of the tables, inside one write transaction.
    struct Tables: CoordinatorTables {
        let db: Database
        static let separator = "\u{1F}"

        /// The columns `task(_:)` reads, by position (a lookup by name costs more than the rest of the read).
        static let columns = """
            id, job, name, state, spec, outputs, max_attempts, role, rank, attempt, failures, epoch, worker, unmet,
            played, signalled, exit_code, value, message, created_at, started_at, finished_at
            """

        static func task(_ row: Row) -> RemoteTask {
            func list(_ text: String) -> [String] { text.isEmpty ? [] : text.components(separatedBy: separator) }
            return RemoteTask(
                id: row[0], job: row[1], name: row[2], state: RemoteTaskState(rawValue: row[3]) ?? .created,
                spec: [UInt8](row[4] as Data? ?? Data()), outputs: list(row[5]), maxAttempts: row[6],
                role: TaskRole(name: row[7]) ?? .main, rank: row[8], attempt: row[9], failures: row[10],
                epoch: row[11], worker: row[12], unmet: row[13], played: row[14], signalled: list(row[15]),
                exitCode: row[16], value: (row[17] as Data?).map { [UInt8]($0) }, message: row[18],
                createdAt: row[19], startedAt: row[20], finishedAt: row[21])
        }

        mutating func task(_ id: UInt64) throws -> RemoteTask? {
            try Row.fetchOne(
                db.cachedStatement(sql: "SELECT \(Tables.columns) FROM remote_task WHERE id = ?"), arguments: [id]
            ).map(
                Self.task)
        }

        mutating func save(_ task: RemoteTask) throws {
            try db.cachedStatement(
                sql: """
                    UPDATE remote_task SET state = ?, attempt = ?, failures = ?, epoch = ?, worker = ?, unmet = ?,
                        played = ?, signalled = ?, exit_code = ?, value = ?, message = ?, started_at = ?,
                        finished_at = ?
                    WHERE id = ?
                    """
            ).execute(arguments: [
                task.state.rawValue, task.attempt, task.failures, task.epoch, task.worker, task.unmet, task.played,
                task.signalled.joined(separator: Self.separator), task.exitCode, task.value.map { Data($0) },
                task.message, task.startedAt, task.finishedAt, task.id,
            ])
        }

        mutating func insert(_ task: RemoteTask) throws {
            try db.cachedStatement(
                sql: """
                    INSERT INTO remote_task (id, job, name, state, spec, outputs, max_attempts, role, rank, value,
                        attempt, failures, epoch, worker, unmet, played, signalled, exit_code, message, created_at,
                        started_at, finished_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """
            ).execute(arguments: [
                task.id, task.job, task.name, task.state.rawValue, Data(task.spec),
                task.outputs.joined(separator: Self.separator),
                task.maxAttempts, task.role.name, task.rank, task.value.map { Data($0) }, task.attempt,
                task.failures, task.epoch, task.worker, task.unmet, task.played,
                task.signalled.joined(separator: Self.separator), task.exitCode, task.message, task.createdAt,
                task.startedAt, task.finishedAt,
            ])
        }

        mutating func insertNeed(parent: UInt64, child: UInt64, output: String?) throws {
            try db.cachedStatement(sql: "INSERT INTO need (parent, child, output) VALUES (?, ?, ?)")
                .execute(arguments: [parent, child, output])
        }

        mutating func dependants(of parent: UInt64, output: String?) throws -> [UInt64] {
            if let output {
                return try UInt64.fetchAll(
                    db.cachedStatement(sql: "SELECT child FROM need WHERE parent = ? AND output = ? ORDER BY rowid"),
                    arguments: [parent, output])
            }
            return try UInt64.fetchAll(
                db.cachedStatement(sql: "SELECT child FROM need WHERE parent = ? AND output IS NULL ORDER BY rowid"),
                arguments: [parent])
        }

        mutating func job(_ id: UInt64) throws -> JobProgress? {
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM job WHERE id = ?"), arguments: [id]).map { row in
                JobProgress(
                    id: row["id"], name: row["name"], main: row["main"], ended: row["ended"], failed: row["failed"],
                    decided: row["decided"])
            }
        }

        mutating func saveJob(_ job: JobProgress) throws {
            try db.cachedStatement(
                sql: "INSERT OR REPLACE INTO job (id, name, main, ended, failed, decided) VALUES (?, ?, ?, ?, ?, ?)"
            ).execute(arguments: [job.id, job.name, job.main, job.ended, job.failed, job.decided])
        }

        mutating func finales(ofJob job: UInt64) throws -> [UInt64] {
            try UInt64.fetchAll(
                db.cachedStatement(sql: "SELECT id FROM remote_task WHERE job = ? AND role != 'main' ORDER BY id"),
                arguments: [job])
        }

        mutating func appendLog(task: UInt64, attempt: Int, _ record: LogRecord) throws {
            try db.cachedStatement(sql: "INSERT INTO log (task, attempt, stream, data) VALUES (?, ?, ?, ?)")
                .execute(arguments: [task, attempt, record.stream.rawValue, Data(record.data)])
        }

        mutating func nextTaskID() throws -> UInt64 { try next("last_task") }
        mutating func nextJobID() throws -> UInt64 { try next("last_job") }

        func next(_ key: String) throws -> UInt64 {
            try db.cachedStatement(sql: "UPDATE meta SET value = value + 1 WHERE key = ?").execute(arguments: [key])
            return try UInt64.fetchOne(
                db.cachedStatement(sql: "SELECT value FROM meta WHERE key = ?"), arguments: [key]) ?? 0
        }
    }
}
