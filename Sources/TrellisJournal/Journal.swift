public import TrellisCore

/// One numbered entry of a journal.
public struct JournalEntry<Record: Sendable>: Sendable {
    /// 1, 2, 3…: dense and increasing, never reused, even across compaction.
    public var sequence: UInt64
    /// The session that wrote it.
    public var epoch: UInt64
    public var record: Record

    public init(sequence: UInt64, epoch: UInt64, record: Record) {
        self.sequence = sequence
        self.epoch = epoch
        self.record = record
    }
}

extension JournalEntry: Equatable where Record: Equatable {}

/// A saved state that stands for every entry up to `sequence`, so a restart reads the snapshot and only the
/// entries after it.
public struct JournalSnapshot: Hashable, Sendable {
    public var sequence: UInt64
    public var epoch: UInt64
    public var state: [UInt8]

    public init(sequence: UInt64, epoch: UInt64, state: [UInt8]) {
        self.sequence = sequence
        self.epoch = epoch
        self.state = state
    }
}

/// The durable record of what a driver's core consumed: append-only, numbered, written by one session at a
/// time.
///
/// A session begins by taking the next epoch; from then on, appends that name an older epoch are refused
/// with `.fenced` and change nothing, so a coordinator that lost its lease cannot write behind its successor.
/// Each `append` is one transaction (group commit): all its records become durable together, or none does.
/// Entries may be read while another task appends. A snapshot stands for the entries up to its sequence;
/// `compact` then drops them.
public protocol Journal<Record>: Sendable {
    associatedtype Record: JournalRecord

    /// Begins a session: returns its epoch, one more than any before.
    func begin() async throws(JournalError) -> UInt64

    /// Appends `records`, numbered after the last entry, in one transaction; returns their sequence numbers.
    /// Refused with `.fenced` unless `epoch` is the latest session's.
    @discardableResult
    func append(_ records: [Record], epoch: UInt64) async throws(JournalError) -> ClosedRange<UInt64>?

    /// Up to `limit` entries with a sequence above `sequence`, oldest first. Refused (`.invalidRequest`)
    /// when entries after `sequence` were compacted away: read from the snapshot instead.
    func entries(after sequence: UInt64, limit: Int) async throws(JournalError) -> [JournalEntry<Record>]

    /// The newest entry's sequence, or 0 when nothing was ever appended.
    func lastSequence() async throws(JournalError) -> UInt64

    /// Saves a snapshot standing for every entry up to `snapshot.sequence` (fenced like `append`); one
    /// older than the saved snapshot is refused.
    func saveSnapshot(_ snapshot: JournalSnapshot) async throws(JournalError)

    /// The newest snapshot, if any.
    func latestSnapshot() async throws(JournalError) -> JournalSnapshot?

    /// Drops entries up to `sequence`, which a saved snapshot must cover (fenced like `append`).
    func compact(through sequence: UInt64, epoch: UInt64) async throws(JournalError)
}

extension Journal {
    /// Every entry after `sequence`, read in pages.
    public func allEntries(
        after sequence: UInt64 = 0, pageSize: Int = 10_000
    ) async throws(JournalError)
        -> [JournalEntry<Record>]
    {
        var result: [JournalEntry<Record>] = []
        var cursor = sequence
        while true {
            let page = try await entries(after: cursor, limit: pageSize)
            result += page
            guard let last = page.last, page.count == pageSize else { return result }
            cursor = last.sequence
        }
    }
}

// The binary form lives with the core, whose snapshots use it too; journals name it as before.
public typealias JournalError = TrellisCore.JournalError
public typealias JournalWriter = TrellisCore.JournalWriter
public typealias JournalReader = TrellisCore.JournalReader
