internal import Foundation
internal import GRDB
internal import GRDBSQLite
public import TrellisJournal

/// The embedded default journal: one SQLite database in WAL mode, through GRDB.
///
/// Every `append` is one transaction. With `.normal` durability (`synchronous = NORMAL`) a committed append
/// survives `kill -9` of any process; `.full` also survives losing power, at the cost of an fsync per append.
/// Records are stored in their compact binary form (`JournalRecord`). Reads run on GRDB's reader connections beside the writer, never on the
/// cooperative thread pool.
public final class SQLiteJournal<Record: JournalRecord>: Journal {
    public enum Durability: Sendable {
        case normal
        case full
    }

    /// The schema this version writes and reads.
    public static var schemaVersion: Int { 1 }

    private let pool: DatabasePool
    public let path: String

    /// Opens (creating if needed) the journal at `path`; `readOnly` opens an existing one for readers, which
    /// never write.
    ///
    /// A new journal is made whole under a temporary name and then renamed into place, so a process killed
    /// while creating it leaves either no journal or a complete one.
    public init(path: String, durability: Durability = .normal, readOnly: Bool = false) throws(JournalError) {
        self.path = path
        var configuration = Configuration()
        configuration.readonly = readOnly
        configuration.busyMode = .timeout(5)
        let synchronous = durability == .full ? "FULL" : "NORMAL"
        configuration.prepareDatabase { db in
            if !db.configuration.readonly { try db.execute(sql: "PRAGMA synchronous = \(synchronous)") }
        }
        do {
            if !readOnly && access(path, F_OK) != 0 { try Self.create(at: path) }
            pool = try DatabasePool(path: path, configuration: configuration)
            if !readOnly { try Self.migrator.migrate(pool) }
        } catch {
            throw JournalError(.storage, "cannot open the journal '\(path)'", cause: "\(error)")
        }
        let version: Int
        do {
            version = try pool.read { db in try Int.fetchOne(db, sql: "SELECT version FROM journal_meta") ?? 0 }
        } catch {
            throw JournalError(.storage, "cannot read the journal '\(path)'", cause: "\(error)")
        }
        guard version == Self.schemaVersion else {
            throw JournalError(
                .unsupportedVersion,
                "the journal '\(path)' has format version \(version); this Trellis reads version \(Self.schemaVersion)")
        }
    }

    /// Opens the journal at `path` for reading, or `nil` when there is none yet: no file, or one a process
    /// killed while creating it left without its tables. Never writes.
    public static func existing(at path: String) throws(JournalError) -> SQLiteJournal? {
        guard access(path, F_OK) == 0 else { return nil }
        do {
            return try SQLiteJournal(path: path, readOnly: true)
        } catch {
            let cause = error.cause ?? ""
            if error.code == .storage,
                cause.contains("no such table") || cause.contains("readonly database")
                    || cause.contains("SQLITE_READONLY") || cause.contains("file is not a database")
            {
                return nil
            }
            throw error
        }
    }

    /// Removes the journal at `path` with its WAL and shared-memory files.
    public static func remove(at path: String) {
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(path + suffix) }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("journal-v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE journal_meta (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        version INTEGER NOT NULL,
                        epoch INTEGER NOT NULL,
                        last INTEGER NOT NULL,
                        compacted INTEGER NOT NULL);
                    INSERT INTO journal_meta (id, version, epoch, last, compacted) VALUES (1, 1, 0, 0, 0);
                    CREATE TABLE journal (
                        sequence INTEGER PRIMARY KEY,
                        epoch INTEGER NOT NULL,
                        record BLOB NOT NULL);
                    CREATE TABLE journal_snapshot (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        sequence INTEGER NOT NULL,
                        epoch INTEGER NOT NULL,
                        state BLOB NOT NULL);
                    """)
        }
        return migrator
    }

    /// Builds a complete, migrated journal beside `path` and renames it into place (atomic on POSIX).
    /// Temporary files of creators that were killed are removed.
    static func create(at path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let prefix = name + ".creating-"
        for leftover in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where leftover.hasPrefix(prefix) {
            let pid = leftover.dropFirst(prefix.count).prefix(while: \.isNumber)
            if let pid = Int32(pid), pid != getpid(), kill(pid, 0) == 0 { continue }
            try? FileManager.default.removeItem(atPath: directory + "/" + leftover)
        }
        let temporary = directory + "/" + prefix + "\(getpid())"
        remove(at: temporary)
        let queue = try DatabaseQueue(path: temporary)
        try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
        try migrator.migrate(queue)
        try queue.close()
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            remove(at: temporary)
            throw JournalError(.storage, "cannot create the journal '\(path)'", cause: reason)
        }
    }

    public func begin() async throws(JournalError) -> UInt64 {
        try await write("begin a session") { db in
            try db.execute(sql: "UPDATE journal_meta SET epoch = epoch + 1")
            return try Self.meta(db).epoch
        }
    }

    @discardableResult
    public func append(_ records: [Record], epoch: UInt64) async throws(JournalError) -> ClosedRange<UInt64>? {
        let encoded = records.map { $0.journalBytes() }
        return try await write("append \(records.count) records") { db throws -> ClosedRange<UInt64>? in
            let (current, last) = try Self.meta(db)
            try JournalError.checkEpoch(epoch, current: current)
            guard !encoded.isEmpty else { return nil }
            let insert = try db.cachedStatement(sql: "INSERT INTO journal (sequence, epoch, record) VALUES (?, ?, ?)")
            var sequence = last
            for bytes in encoded {
                sequence += 1
                try Self.insert(bytes, sequence: sequence, epoch: epoch, with: insert, in: db)
            }
            try db.cachedStatement(sql: "UPDATE journal_meta SET last = ?").execute(arguments: [Int64(sequence)])
            return (last + 1)...sequence
        }
    }

    public func entries(after sequence: UInt64, limit: Int) async throws(JournalError) -> [JournalEntry<Record>] {
        let after = Int64(clamping: sequence)
        let compacted: Int64
        let rows: [(Int64, Int64, Data?)]
        do {
            (compacted, rows) = try await pool.read { db in
                let compacted = try Int64.fetchOne(db, sql: "SELECT compacted FROM journal_meta") ?? 0
                let rows = try Row.fetchAll(
                    db, sql: "SELECT sequence, epoch, record FROM journal WHERE sequence > ? ORDER BY sequence LIMIT ?",
                    arguments: [after, max(0, limit)]
                ).map { row -> (Int64, Int64, Data?) in (row[0], row[1], row[2]) }
                return (compacted, rows)
            }
        } catch {
            throw JournalError(.storage, "cannot read the journal '\(path)'", cause: "\(error)")
        }
        guard after >= compacted else {
            throw JournalError(
                .invalidRequest,
                "entries through \(compacted) of the journal '\(path)' were compacted; read on from the snapshot, "
                    + "not from \(sequence)")
        }
        var entries: [JournalEntry<Record>] = []
        entries.reserveCapacity(rows.count)
        for (sequence, epoch, data) in rows {
            guard let number = UInt64(exactly: sequence), let session = UInt64(exactly: epoch), let data else {
                throw JournalError(.corrupt, "entry \(sequence) of the journal '\(path)' is malformed")
            }
            do {
                let record = try Record(journalBytes: [UInt8](data))
                entries.append(JournalEntry(sequence: number, epoch: session, record: record))
            } catch {
                throw JournalError(
                    .corrupt, "entry \(sequence) of the journal '\(path)' cannot be read", cause: "\(error)")
            }
        }
        return entries
    }

    public func lastSequence() async throws(JournalError) -> UInt64 {
        do {
            return try await pool.read { db in try Self.meta(db).last }
        } catch {
            throw JournalError(.storage, "cannot read the journal '\(path)'", cause: "\(error)")
        }
    }

    public func saveSnapshot(_ snapshot: JournalSnapshot) async throws(JournalError) {
        try await write("save a snapshot") { db in
            let (current, last) = try Self.meta(db)
            try JournalError.checkEpoch(snapshot.epoch, current: current)
            guard snapshot.sequence <= last else {
                throw JournalError(
                    .invalidRequest, "a snapshot through entry \(snapshot.sequence) is ahead of the journal (\(last))")
            }
            let saved = try Int64.fetchOne(db, sql: "SELECT sequence FROM journal_snapshot") ?? 0
            guard Int64(snapshot.sequence) >= saved else {
                throw JournalError(
                    .invalidRequest,
                    "a snapshot through entry \(snapshot.sequence) is older than the saved one (\(saved))")
            }
            try db.execute(
                sql: "INSERT OR REPLACE INTO journal_snapshot (id, sequence, epoch, state) VALUES (1, ?, ?, ?)",
                arguments: [Int64(snapshot.sequence), Int64(snapshot.epoch), Data(snapshot.state)])
        }
    }

    public func latestSnapshot() async throws(JournalError) -> JournalSnapshot? {
        do {
            return try await pool.read { db in
                try Row.fetchOne(db, sql: "SELECT sequence, epoch, state FROM journal_snapshot").map { row in
                    let state: Data? = row[2]
                    guard let sequence = UInt64(exactly: row[0] as Int64), let epoch = UInt64(exactly: row[1] as Int64),
                        let state
                    else { throw JournalError(.corrupt, "the journal's snapshot is malformed") }
                    return JournalSnapshot(sequence: sequence, epoch: epoch, state: [UInt8](state))
                }
            }
        } catch {
            throw JournalError(.storage, "cannot read the journal '\(path)'", cause: "\(error)")
        }
    }

    public func compact(through sequence: UInt64, epoch: UInt64) async throws(JournalError) {
        try await write("compact") { db in
            let (current, _) = try Self.meta(db)
            try JournalError.checkEpoch(epoch, current: current)
            let covered = try Int64.fetchOne(db, sql: "SELECT sequence FROM journal_snapshot") ?? 0
            guard UInt64(covered) >= sequence else {
                throw JournalError(.invalidRequest, "no snapshot covers the entries through \(sequence)")
            }
            try db.execute(sql: "DELETE FROM journal WHERE sequence <= ?", arguments: [Int64(sequence)])
            try db.execute(sql: "UPDATE journal_meta SET compacted = MAX(compacted, ?)", arguments: [Int64(sequence)])
        }
    }

    // MARK: - Helpers

    static func meta(_ db: Database) throws -> (epoch: UInt64, last: UInt64) {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT epoch, last FROM journal_meta")),
            let epoch = UInt64(exactly: row[0] as Int64), let last = UInt64(exactly: row[1] as Int64)
        else { throw JournalError(.corrupt, "the journal's header row is missing or malformed") }
        return (epoch, last)
    }

    /// Inserts one entry with SQLite's own calls on GRDB's prepared statement. `execute(arguments:)` boxes
    /// every value into a `DatabaseValue` array first, which cost a coordinator running 10,000 tasks a second
    /// a twentieth of its time; this binds the record's bytes where they are. The statement is left reset and
    /// unbound, as GRDB expects to find a cached statement. Stepping it directly bypasses GRDB's statement
    /// hooks, so transaction observers would not see these inserts: the journal table must stay unobserved.
    private static func insert(
        _ record: [UInt8], sequence: UInt64, epoch: UInt64, with statement: Statement, in db: Database
    ) throws(JournalError) {
        let raw = statement.sqliteStatement
        defer {
            sqlite3_reset(raw)
            sqlite3_clear_bindings(raw)
        }
        guard let length = Int32(exactly: record.count) else {
            throw JournalError(.invalidRequest, "a record of \(record.count) bytes is too large for the journal")
        }
        sqlite3_bind_int64(raw, 1, Int64(sequence))
        sqlite3_bind_int64(raw, 2, Int64(epoch))
        // SQLITE_STATIC (no destructor): the bytes are read only by the step below, inside this closure.
        let code = record.withUnsafeBytes { bytes -> Int32 in
            let bound =
                length == 0
                ? sqlite3_bind_zeroblob(raw, 3, 0) : sqlite3_bind_blob(raw, 3, bytes.baseAddress, length, nil)
            guard bound == SQLITE_OK else { return bound }
            return sqlite3_step(raw)
        }
        guard code == SQLITE_DONE else {
            let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
            throw JournalError(.storage, "cannot append entry \(sequence)", cause: "\(message) (SQLite code \(code))")
        }
    }

    /// One write transaction; a `JournalError` thrown inside rolls it back and reaches the caller unchanged.
    private func write<T: Sendable>(
        _ what: String, _ body: @escaping @Sendable (Database) throws -> T
    ) async throws(JournalError) -> T {
        do {
            return try await pool.write(body)
        } catch let error as JournalError {
            throw error
        } catch {
            throw JournalError(.storage, "cannot \(what) in the journal '\(path)'", cause: "\(error)")
        }
    }
}
