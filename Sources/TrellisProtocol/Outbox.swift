import Synchronization

/// Messages waiting to go out on one stream. Producers `yield` from anywhere; the stream's writer takes
/// everything waiting at once (`next`), so a burst of messages goes out in one write and one flush instead of
/// one per message, which is most of what a stream costs on both ends.
///
/// An outbox may be bounded: a reader that falls further behind than `limit` messages is cut off (the outbox
/// ends with the `overflow` error once what waits has gone out), so a slow reader cannot grow the sender's
/// memory without limit.
package final class Outbox<Element: Sendable>: Sendable {
    private struct State {
        var waiting: [Element] = []
        var limit: Int
        var reader: CheckedContinuation<[Element]?, any Error>?
        /// Set once finished: what the reader is told after it has taken what was waiting.
        var end: Result<Void, any Error>?
    }

    private let state: Mutex<State>
    private let overflow: (any Error)?

    /// An unbounded outbox, or one bounded to `limit` waiting messages that ends with `overflow` past it.
    package init(limit: Int = .max, overflow: (any Error)? = nil) {
        state = Mutex(State(limit: limit))
        self.overflow = overflow
    }

    /// Lets `count` more messages wait than the limit says, for a burst the reader is known to need (a
    /// watch's first picture of its job).
    package func allow(_ count: Int) {
        state.withLock { state in
            let (sum, overflowed) = state.limit.addingReportingOverflow(max(0, count))
            state.limit = overflowed ? .max : sum
        }
    }

    /// Adds a message; after `finish` it is dropped. Past the limit, the outbox ends with its overflow error.
    package func yield(_ element: Element) {
        let reader: CheckedContinuation<[Element]?, any Error>? = state.withLock { state in
            guard state.end == nil else { return nil }
            guard let reader = state.reader else {
                guard state.waiting.count < state.limit else {
                    state.end = .failure(overflow ?? CancellationError())
                    return nil
                }
                state.waiting.append(element)
                return nil
            }
            state.reader = nil
            return reader
        }
        reader?.resume(returning: [element])
    }

    /// Ends the stream: the reader gets what is waiting, then the end (the error, if one is given).
    package func finish(throwing error: (any Error)? = nil) {
        let reader: CheckedContinuation<[Element]?, any Error>? = state.withLock { state in
            guard state.end == nil else { return nil }
            state.end = error.map { .failure($0) } ?? .success(())
            let reader = state.reader
            state.reader = nil
            return reader
        }
        guard let reader else { return }
        if let error { reader.resume(throwing: error) } else { reader.resume(returning: nil) }
    }

    /// Every message waiting, in order, once there is one; nil once finished and drained. Throws the error
    /// the outbox was finished with, or `CancellationError` when the reading task is cancelled.
    package func next() async throws -> [Element]? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (reader: CheckedContinuation<[Element]?, any Error>) in
                let ready: Result<[Element]?, any Error>? = state.withLock { state in
                    if !state.waiting.isEmpty {
                        let batch = state.waiting
                        state.waiting = []
                        return .success(batch)
                    }
                    switch state.end {
                    case .success?: return .success(nil)
                    case .failure(let error)?: return .failure(error)
                    case nil:
                        if Task.isCancelled { return .failure(CancellationError()) }
                        state.reader = reader
                        return nil
                    }
                }
                if let ready { reader.resume(with: ready) }
            }
        } onCancel: {
            let reader = state.withLock { state in
                defer { state.reader = nil }
                return state.reader
            }
            reader?.resume(throwing: CancellationError())
        }
    }

    /// Writes every batch to `write` until the outbox is finished.
    package func drain(into write: ([Element]) async throws -> Void) async throws {
        while let batch = try await next() { try await write(batch) }
    }
}
