import Synchronization

/// A journal in memory: for tests and for runs that need no durability. Same rules as every journal.
public final class InMemoryJournal<Record: JournalRecord>: Journal {
    struct State {
        var epoch: UInt64 = 0
        var next: UInt64 = 1
        var entries: [JournalEntry<Record>] = []
        var snapshot: JournalSnapshot?
        /// Entries up to this one were dropped by compaction.
        var compacted: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    public func begin() async throws(JournalError) -> UInt64 {
        state.withLock { state in
            state.epoch += 1
            return state.epoch
        }
    }

    @discardableResult
    public func append(_ records: [Record], epoch: UInt64) async throws(JournalError) -> ClosedRange<UInt64>? {
        try state.withLock { state throws(JournalError) -> ClosedRange<UInt64>? in
            try Self.check(epoch, against: state.epoch)
            guard !records.isEmpty else { return nil }
            let first = state.next
            for record in records {
                state.entries.append(JournalEntry(sequence: state.next, epoch: epoch, record: record))
                state.next += 1
            }
            return first...(state.next - 1)
        }
    }

    public func entries(after sequence: UInt64, limit: Int) async throws(JournalError) -> [JournalEntry<Record>] {
        try state.withLock { state throws(JournalError) -> [JournalEntry<Record>] in
            guard sequence >= state.compacted else {
                throw JournalError(
                    .invalidRequest,
                    "entries through \(state.compacted) were compacted; read on from the snapshot, not from \(sequence)"
                )
            }
            // Entries are dense from the first one kept, so the position is arithmetic.
            guard let first = state.entries.first?.sequence, sequence < state.next - 1, limit > 0 else { return [] }
            let start = sequence < first ? 0 : Int(sequence - first + 1)
            return Array(state.entries[start..<(start + min(limit, state.entries.count - start))])
        }
    }

    public func lastSequence() async throws(JournalError) -> UInt64 {
        state.withLock { $0.next - 1 }
    }

    public func saveSnapshot(_ snapshot: JournalSnapshot) async throws(JournalError) {
        try state.withLock { state throws(JournalError) in
            try Self.check(snapshot.epoch, against: state.epoch)
            guard snapshot.sequence < state.next else {
                throw JournalError(
                    .invalidRequest,
                    "a snapshot through entry \(snapshot.sequence) is ahead of the journal (\(state.next - 1))")
            }
            if let saved = state.snapshot, snapshot.sequence < saved.sequence {
                throw JournalError(
                    .invalidRequest,
                    "a snapshot through entry \(snapshot.sequence) is older than the saved one (\(saved.sequence))")
            }
            state.snapshot = snapshot
        }
    }

    public func latestSnapshot() async throws(JournalError) -> JournalSnapshot? {
        state.withLock { $0.snapshot }
    }

    public func compact(through sequence: UInt64, epoch: UInt64) async throws(JournalError) {
        try state.withLock { state throws(JournalError) in
            try Self.check(epoch, against: state.epoch)
            guard let snapshot = state.snapshot, snapshot.sequence >= sequence else {
                throw JournalError(.invalidRequest, "no snapshot covers the entries through \(sequence)")
            }
            state.entries.removeAll { $0.sequence <= sequence }
            state.compacted = max(state.compacted, sequence)
        }
    }

    static func check(_ epoch: UInt64, against current: UInt64) throws(JournalError) {
        try JournalError.checkEpoch(epoch, current: current)
    }
}
