import Synchronization

/// Messages waiting to go out on one stream. Producers `yield` from anywhere; the stream's one writer takes
/// everything waiting at once (`next`), so a burst of messages goes out in one write and one flush instead of
/// one per message, which is most of what a stream costs on both ends.
///
/// An outbox may be bounded: a reader that falls further behind than `limit` messages is cut off (the outbox
/// ends with the `overflow` error once what waits has gone out), so a slow reader cannot grow the sender's
/// memory without limit. A reader that goes away `close`s it: what waits is dropped and later messages too.
package final class Outbox<Element: Sendable>: Sendable {
    private struct State {
        var waiting: [Element] = []
        var limit: Int
        /// Room beyond the limit for one known burst, used up once the reader takes it.
        var credit = 0
        var reader: CheckedContinuation<[Element]?, any Error>?
        /// Set once finished: what the reader is told after it has taken what was waiting.
        var end: Result<Void, any Error>?

        var room: Int {
            let (sum, overflowed) = limit.addingReportingOverflow(credit)
            return overflowed ? .max : sum
        }
    }

    private let state: Mutex<State>
    private let overflow: (any Error)?

    /// An unbounded outbox, or one bounded to `limit` waiting messages that ends with `overflow` past it.
    package init(limit: Int = .max, overflow: (any Error)? = nil) {
        state = Mutex(State(limit: limit))
        self.overflow = overflow
    }

    /// Lets `count` more messages wait, once: room for a burst the reader is known to need (a watch's first
    /// picture of its job). Once the reader has taken what waits, the limit is the limit again.
    package func allow(_ count: Int) {
        state.withLock { state in
            let (sum, overflowed) = state.credit.addingReportingOverflow(max(0, count))
            state.credit = overflowed ? .max : sum
        }
    }

    /// Whether the outbox has ended (finished, overflowed or closed): nothing yielded now goes anywhere.
    package var isFinished: Bool { state.withLock { $0.end != nil } }

    /// Adds a message; after the end it is dropped. Past the limit, the outbox ends with its overflow error.
    /// With `supersedes`, the message takes the place of the latest waiting one it matches, if the writer has not
    /// taken that one yet (a report the new one makes pointless: a task's start, once its end is known).
    package func yield(_ element: Element, superseding supersedes: ((Element) -> Bool)? = nil) {
        let reader: CheckedContinuation<[Element]?, any Error>? = state.withLock { state in
            guard state.end == nil else { return nil }
            guard let reader = state.reader else {
                if let supersedes, let index = state.waiting.lastIndex(where: supersedes) {
                    state.waiting.remove(at: index)
                }
                guard state.waiting.count < state.room else {
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

    /// Adds a message only while fewer than `backlog` wait, for what may be dropped rather than wait (a task's
    /// output when the stream falls behind). False when it was dropped, or the outbox has ended.
    package func offer(_ element: Element, whileFewerThan backlog: Int) -> Bool {
        let outcome: (taken: Bool, reader: CheckedContinuation<[Element]?, any Error>?) = state.withLock { state in
            guard state.end == nil else { return (false, nil) }
            guard let reader = state.reader else {
                guard state.waiting.count < min(backlog, state.room) else { return (false, nil) }
                state.waiting.append(element)
                return (true, nil)
            }
            state.reader = nil
            return (true, reader)
        }
        outcome.reader?.resume(returning: [element])
        return outcome.taken
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

    /// The reader is gone: what waits is dropped, and so is everything yielded from now on.
    package func close() {
        finish()
        state.withLock { $0.waiting = [] }
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
                        state.credit = 0
                        return .success(batch)
                    }
                    switch state.end {
                    case .success?: return .success(nil)
                    case .failure(let error)?: return .failure(error)
                    case nil:
                        if Task.isCancelled { return .failure(CancellationError()) }
                        precondition(state.reader == nil, "an Outbox has one reader")
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

    /// Writes every batch to `write` until the outbox is finished; however that ends (the writer failing,
    /// the reading task cancelled), the outbox is closed, so nothing piles up for a reader that is gone.
    package func drain(into write: ([Element]) async throws -> Void) async throws {
        defer { close() }
        while let batch = try await next() { try await write(batch) }
    }
}
