import Synchronization

/// A journal in memory: for tests and for runs that need no durability. Same rules as every journal.
public final class InMemoryJournal<Record: JournalRecord>: Journal {
    struct State {
        var epoch: UInt64 = 0
        var next: UInt64 = 1
        var entries: [JournalEntry<Record>] = []
        var snapshot: JournalSnapshot?
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
        state.withLock { state in
            // Entries are dense from the first one kept, so the position is arithmetic.
            guard let first = state.entries.first?.sequence else { return [] }
            let start = sequence < first ? 0 : Int(sequence - first + 1)
            guard start < state.entries.count, limit > 0 else { return [] }
            return Array(state.entries[start..<min(state.entries.count, start + limit)])
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
        }
    }

    static func check(_ epoch: UInt64, against current: UInt64) throws(JournalError) {
        try JournalError.checkEpoch(epoch, current: current)
    }
}
