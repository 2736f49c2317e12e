import Synchronization
internal import TrellisStore

/// Writes facts to the store in order, off the scheduling path: facts gather while a write is in flight and
/// go out together in the next transaction (group commit), so durability costs one commit per batch.
final class FactWriter: Sendable {
    private struct State {
        var pending: [RunFact] = []
        var failure: RunStoreError?
    }

    private let store: any RunStore
    private let state = Mutex(State())
    private let wakeUps: AsyncStream<Void>.Continuation
    private let stream: AsyncStream<Void>
    private let worker = Mutex<Task<Void, Never>?>(nil)

    init(store: any RunStore) {
        self.store = store
        (stream, wakeUps) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let task = Task { [self] in
            for await _ in stream { drain() }
            drain()
        }
        worker.withLock { $0 = task }
    }

    /// Queues facts for the next transaction.
    func append(_ facts: [RunFact]) {
        guard !facts.isEmpty else { return }
        state.withLock { $0.pending += facts }
        wakeUps.yield()
    }

    /// The first write that failed, if any; later facts are not written after a failure.
    var failure: RunStoreError? { state.withLock { $0.failure } }

    /// Writes everything queued and stops.
    func finish() async -> RunStoreError? {
        wakeUps.finish()
        await worker.withLock { $0 }?.value
        return failure
    }

    private func drain() {
        while true {
            let batch: [RunFact] = state.withLock { state in
                guard state.failure == nil else { return [] }
                defer { state.pending.removeAll(keepingCapacity: true) }
                return state.pending
            }
            guard !batch.isEmpty else { return }
            do {
                try store.record(batch)
            } catch {
                state.withLock { $0.failure = error }
                return
            }
        }
    }
}
