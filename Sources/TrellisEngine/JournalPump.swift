import Synchronization
public import TrellisCore
public import TrellisJournal

/// Writes records to a journal in order, off the scheduling path: records gather while a write is in flight
/// and go out together in the next `append` (group commit), so durability costs one transaction per batch,
/// not one per record.
///
/// After a write fails, nothing more is written (the journal must stay a prefix of what happened); `failure`
/// tells the driver, which stops starting work.
public final class JournalPump<J: Journal>: Sendable {
    private struct State {
        var pending: [J.Record] = []
        var failure: JournalError?
    }

    private let journal: J
    private let epoch: UInt64
    private let state = Mutex(State())
    private let wakeUps: AsyncStream<Void>.Continuation
    private let writer = Mutex<Task<Void, Never>?>(nil)

    /// Starts writing for the session `epoch` (from `journal.begin()`).
    public init(journal: J, epoch: UInt64) {
        self.journal = journal
        self.epoch = epoch
        let (stream, wakeUps) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        self.wakeUps = wakeUps
        let task = Task { [self] in
            for await _ in stream { await drain() }
            await drain()
        }
        writer.withLock { $0 = task }
    }

    /// Queues records for the next transaction.
    public func append(_ records: [J.Record]) {
        guard !records.isEmpty else { return }
        state.withLock { $0.pending += records }
        wakeUps.yield()
    }

    /// The first write that failed, if any.
    public var failure: JournalError? { state.withLock { $0.failure } }

    /// Writes everything queued and stops; returns the first failure, if any.
    public func finish() async -> JournalError? {
        wakeUps.finish()
        await writer.withLock { $0 }?.value
        return failure
    }

    private func drain() async {
        while true {
            let batch: [J.Record] = state.withLock { state in
                guard state.failure == nil else { return [] }
                return state.pending.takeAll()
            }
            guard !batch.isEmpty else { return }
            do {
                try await journal.append(batch, epoch: epoch)
            } catch {
                state.withLock { $0.failure = error }
                return
            }
        }
    }
}
