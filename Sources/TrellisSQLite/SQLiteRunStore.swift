internal import Foundation
internal import GRDB
public import TrellisStore

/// The embedded default store: one SQLite database (WAL mode) per run, through GRDB.
///
/// Each `record` call is one transaction, so a run killed at any moment leaves a consistent prefix of its
/// facts. `synchronous = NORMAL` in WAL mode survives a crash of the process (not of the machine's power).
public final class SQLiteRunStore: RunStore {
    private let pool: DatabasePool
    public let path: String

    /// Opens (creating if needed) the database at `path` and migrates it; `readOnly` for status readers.
    ///
    /// A new database is made whole under a temporary name and then renamed into place, so a process killed
    /// while creating it leaves either no database or a complete one.
    public init(path: String, readOnly: Bool = false) throws(RunStoreError) {
        self.path = path
        var configuration = Configuration()
        configuration.readonly = readOnly
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            if !db.configuration.readonly { try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        }
        do {
            if !readOnly && access(path, F_OK) != 0 { try Self.create(at: path) }
            pool = try DatabasePool(path: path, configuration: configuration)
            if !readOnly { try Self.migrator.migrate(pool) }
        } catch {
            throw RunStoreError(.storage, "cannot open the state database '\(path)'", cause: "\(error)")
        }
    }

    /// The recorded run at `path`, or `nil` when none is recorded yet: no database, or one that a process
    /// killed by an earlier version left half made. Never writes.
    public static func recordedRun(at path: String) throws(RunStoreError) -> RunSnapshot? {
        guard access(path, F_OK) == 0 else { return nil }
        let store: SQLiteRunStore
        do {
            store = try SQLiteRunStore(path: path, readOnly: true)
        } catch {
            if Self.isUnfinished(error) { return nil }
            throw error
        }
        do {
            return try store.snapshot()
        } catch {
            if Self.isUnfinished(error) { return nil }
            throw error
        }
    }

    /// A database without its tables, or with a journal only a writer could roll back.
    static func isUnfinished(_ error: RunStoreError) -> Bool {
        let cause = error.cause ?? ""
        return cause.contains("no such table") || cause.contains("readonly database")
            || cause.contains("SQLITE_READONLY") || cause.contains("file is not a database")
    }

    /// Builds a complete, migrated database beside `path` and renames it into place (atomic on POSIX).
    static func create(at path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let prefix = name + ".creating-"
        // Leftovers of creators that were killed.
        for leftover in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where leftover.hasPrefix(prefix) {
            let pid = leftover.dropFirst(prefix.count).prefix(while: \.isNumber)
            if let pid = Int32(pid), pid != getpid(), kill(pid, 0) == 0 { continue }
            try? FileManager.default.removeItem(atPath: directory + "/" + leftover)
        }
        let temporary = directory + "/" + prefix + "\(getpid())"
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(temporary + suffix) }
        do {
            let queue = try DatabaseQueue(path: temporary)
            try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
            try migrator.migrate(queue)
            try queue.close()
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            for suffix in ["", "-wal", "-shm"] { unlink(temporary + suffix) }
            throw RunStoreError(.storage, "cannot create the state database '\(path)'", cause: reason)
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE run (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        workflow TEXT NOT NULL, file TEXT NOT NULL, content_hash TEXT NOT NULL,
                        sessions INTEGER NOT NULL DEFAULT 0, pid INTEGER, status TEXT NOT NULL DEFAULT 'new',
                        started_at REAL, ended_at REAL);
                    CREATE TABLE task (
                        position INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, state TEXT NOT NULL DEFAULT 'waiting',
                        exit_code INTEGER, message TEXT, finished_at REAL);
                    CREATE TABLE attempt (
                        task TEXT NOT NULL, number INTEGER NOT NULL, started_at REAL NOT NULL, ended_at REAL,
                        state TEXT, exit_code INTEGER, pid INTEGER, PRIMARY KEY (task, number)) WITHOUT ROWID;
                    CREATE TABLE output (
                        task TEXT NOT NULL, name TEXT NOT NULL, signalled_at REAL NOT NULL, seq INTEGER NOT NULL,
                        PRIMARY KEY (task, name)) WITHOUT ROWID;
                    """)
        }
        return migrator
    }

    public func open(_ identity: RunIdentity, tasks: [String], restart: Bool) throws(RunStoreError) -> RunSnapshot {
        try guarded("open the run") {
            try pool.write { db in
                if let row = try Row.fetchOne(db, sql: "SELECT workflow, file, content_hash FROM run") {
                    let stored = RunIdentity(workflow: row[0], file: row[1], contentHash: row[2])
                    if stored.contentHash != identity.contentHash, !restart {
                        throw RunStoreError.changed(stored: stored, now: identity)
                    }
                    if restart || stored.contentHash != identity.contentHash {
                        try db.execute(
                            sql: "DELETE FROM run; DELETE FROM task; DELETE FROM attempt; DELETE FROM output;")
                    }
                }
                try db.execute(
                    sql: """
                        INSERT INTO run (id, workflow, file, content_hash) VALUES (1, ?, ?, ?)
                        ON CONFLICT (id) DO UPDATE SET workflow = excluded.workflow, file = excluded.file
                        """,
                    arguments: [identity.workflow, identity.file, identity.contentHash])
                let insert = try db.cachedStatement(
                    sql:
                        "INSERT INTO task (position, id) VALUES ((SELECT COALESCE(MAX(position), -1) + 1 FROM task), ?) ON CONFLICT (id) DO NOTHING"
                )
                for id in tasks { try insert.execute(arguments: [id]) }
            }
            return try read()!
        }
    }

    public func record(_ facts: [RunFact]) throws(RunStoreError) {
        guard !facts.isEmpty else { return }
        try guarded("record \(facts.count) facts") {
            try pool.write { db in
                guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM run)") == true else {
                    throw RunStoreError(.notOpen, "record before open")
                }
                for fact in facts { try Self.apply(fact, db) }
            }
        }
    }

    public func snapshot() throws(RunStoreError) -> RunSnapshot? {
        try guarded("read the run") { try read() }
    }

    // MARK: - Facts as SQL

    private static func apply(_ fact: RunFact, _ db: Database) throws {
        func ensure(_ task: String) throws {
            try db.cachedStatement(
                sql:
                    "INSERT INTO task (position, id) VALUES ((SELECT COALESCE(MAX(position), -1) + 1 FROM task), ?) ON CONFLICT (id) DO NOTHING"
            ).execute(arguments: [task])
        }
        switch fact {
        case .sessionStarted(let at, let pid):
            try db.execute(
                sql: """
                    UPDATE run SET sessions = sessions + 1, pid = ?, status = 'running',
                        started_at = COALESCE(started_at, ?), ended_at = NULL
                    """, arguments: [pid, at])
            try db.execute(
                sql:
                    "UPDATE attempt SET state = 'interrupted' WHERE state IS NULL AND task IN (SELECT id FROM task WHERE state IN ('running', 'retrying'))"
            )
            try db.execute(sql: "UPDATE task SET state = 'interrupted' WHERE state IN ('running', 'retrying')")
        case .attemptStarted(let task, let attempt, let at):
            try ensure(task)
            try db.cachedStatement(
                sql:
                    "UPDATE task SET state = 'running', message = NULL, exit_code = NULL, finished_at = NULL WHERE id = ?"
            )
            .execute(arguments: [task])
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO attempt (task, number, started_at) VALUES (?, ?, ?)")
                .execute(arguments: [task, attempt, at])
        case .processStarted(let task, let attempt, let pid):
            try ensure(task)
            try db.cachedStatement(sql: "UPDATE attempt SET pid = ? WHERE task = ? AND number = ?")
                .execute(arguments: [pid, task, attempt])
        case .outputSignalled(let task, let name, let at):
            try ensure(task)
            try db.cachedStatement(
                sql:
                    "INSERT INTO output (task, name, signalled_at, seq) VALUES (?, ?, ?, (SELECT COUNT(*) FROM output WHERE task = ?)) ON CONFLICT DO NOTHING"
            ).execute(arguments: [task, name, at, task])
        case .attemptEnded(let task, let attempt, let state, let exitCode, let message, let at):
            try ensure(task)
            try db.cachedStatement(
                sql: "UPDATE attempt SET ended_at = ?, state = ?, exit_code = ? WHERE task = ? AND number = ?"
            )
            .execute(arguments: [at, state.rawValue, exitCode, task, attempt])
            try db.cachedStatement(
                sql: "UPDATE task SET state = ?, exit_code = ?, message = ?, finished_at = ? WHERE id = ?"
            )
            .execute(arguments: [state.rawValue, exitCode, message, state.isFinal ? at : nil, task])
        case .settled(let task, let state, let message, let at):
            try ensure(task)
            try db.cachedStatement(sql: "UPDATE task SET state = ?, message = ?, finished_at = ? WHERE id = ?")
                .execute(arguments: [state.rawValue, message, at, task])
        case .sessionEnded(let status, let at):
            try db.execute(sql: "UPDATE run SET status = ?, ended_at = ?", arguments: [status, at])
        }
    }

    private func read() throws -> RunSnapshot? {
        try pool.read { db -> RunSnapshot? in
            guard let run = try Row.fetchOne(db, sql: "SELECT * FROM run") else { return nil }
            var snapshot = RunSnapshot(
                identity: RunIdentity(workflow: run["workflow"], file: run["file"], contentHash: run["content_hash"]),
                sessions: run["sessions"], pid: run["pid"], status: run["status"], startedAt: run["started_at"],
                endedAt: run["ended_at"])
            var index: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT * FROM task ORDER BY position") {
                let id: String = row["id"]
                index[id] = snapshot.tasks.count
                let state = StoredState(rawValue: row["state"]) ?? .waiting
                snapshot.tasks.append(
                    StoredTask(
                        id: id, state: state, exitCode: row["exit_code"], message: row["message"],
                        finishedAt: row["finished_at"]))
            }
            for row in try Row.fetchAll(db, sql: "SELECT * FROM attempt ORDER BY task, number") {
                guard let i = index[row["task"]] else { continue }
                snapshot.tasks[i].attempts.append(
                    StoredAttempt(
                        number: row["number"], startedAt: row["started_at"], endedAt: row["ended_at"],
                        state: (row["state"] as String?).flatMap(StoredState.init(rawValue:)),
                        exitCode: row["exit_code"],
                        pid: row["pid"]))
            }
            for row in try Row.fetchAll(db, sql: "SELECT task, name FROM output ORDER BY task, seq") {
                guard let i = index[row["task"]] else { continue }
                snapshot.tasks[i].outputs.append(row["name"])
            }
            return snapshot
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
}
