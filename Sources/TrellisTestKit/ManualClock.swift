import Synchronization

/// A clock that moves only when a test advances it, so timeouts, leases and retries are tested without sleeping.
public final class ManualClock: Clock, Sendable {
    /// A point in manual time: an offset from the clock's origin.
    public struct Instant: InstantProtocol, Hashable, Sendable, CustomStringConvertible {
        /// Time since the clock's origin.
        public var offset: Duration

        /// An instant `offset` after the origin.
        public init(offset: Duration) {
            self.offset = offset
        }

        /// The clock's origin.
        public static let zero = Instant(offset: .zero)

        public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }

        public func duration(to other: Instant) -> Duration { other.offset - offset }

        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }

        public var description: String { "t+\(offset)" }
    }

    private typealias Continuation = CheckedContinuation<Void, any Error>

    private enum Sleep {
        /// Registered, not yet suspended.
        case starting(deadline: Instant)
        /// Cancelled before it could suspend.
        case cancelled
        case suspended(deadline: Instant, continuation: Continuation)
    }

    private enum Wait {
        case starting(count: Int)
        case cancelled
        case suspended(count: Int, continuation: Continuation)
    }

    private struct State {
        var now: Instant
        var nextID: UInt64 = 0
        var sleeps: [UInt64: Sleep] = [:]
        var suspendedCount = 0
        var waits: [UInt64: Wait] = [:]

        /// Removes and returns every sleep-count waiter whose count is reached.
        mutating func satisfiedWaits() -> [Continuation] {
            var ready: [Continuation] = []
            for (id, wait) in waits {
                guard case .suspended(let count, let continuation) = wait, suspendedCount >= count else { continue }
                waits[id] = nil
                ready.append(continuation)
            }
            return ready
        }
    }

    private let state: Mutex<State>

    /// A clock whose `now` starts at `start`.
    public init(start: Instant = .zero) {
        state = Mutex(State(now: start))
    }

    /// The current manual time.
    public var now: Instant { state.withLock { $0.now } }

    /// Manual time has no granularity.
    public var minimumResolution: Duration { .zero }

    /// How many tasks are suspended in `sleep(until:tolerance:)`.
    public var sleeperCount: Int { state.withLock { $0.suspendedCount } }

    /// The earliest deadline among suspended sleepers, if any.
    public var nextDeadline: Instant? {
        state.withLock { state in
            state.sleeps.values.compactMap { sleep -> Instant? in
                if case .suspended(let deadline, _) = sleep { return deadline }
                return nil
            }.min()
        }
    }

    /// Suspends until the clock is advanced to `deadline`; throws `CancellationError` if the task is cancelled.
    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        let id = state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.sleeps[id] = .starting(deadline: deadline)
            return id
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: Continuation) in
                let (result, waiters) = state.withLock { state -> (Result<Void, any Error>?, [Continuation]) in
                    switch state.sleeps[id] {
                    case .starting(let deadline):
                        guard deadline > state.now else {
                            state.sleeps[id] = nil
                            return (.success(()), [])
                        }
                        state.sleeps[id] = .suspended(deadline: deadline, continuation: continuation)
                        state.suspendedCount += 1
                        return (nil, state.satisfiedWaits())
                    case .cancelled:
                        state.sleeps[id] = nil
                        return (.failure(CancellationError()), [])
                    case .suspended, nil:
                        preconditionFailure("Internal inconsistency: sleep \(id) suspended twice")
                    }
                }
                for waiter in waiters { waiter.resume() }
                if let result { continuation.resume(with: result) }
            }
        } onCancel: {
            let continuation = state.withLock { state -> Continuation? in
                switch state.sleeps[id] {
                case .starting:
                    state.sleeps[id] = .cancelled
                    return nil
                case .suspended(_, let continuation):
                    state.sleeps[id] = nil
                    state.suspendedCount -= 1
                    return continuation
                case .cancelled, nil:
                    return nil
                }
            }
            continuation?.resume(throwing: CancellationError())
        }
    }

    /// Moves the clock forward by `duration` (a negative duration does nothing) and wakes the sleepers now due.
    public func advance(by duration: Duration) {
        advance { $0.advanced(by: max(duration, .zero)) }
    }

    /// Moves the clock to `instant` (an earlier instant does nothing) and wakes the sleepers now due.
    public func advance(to instant: Instant) {
        advance { max($0, instant) }
    }

    private func advance(_ target: (Instant) -> Instant) {
        let due = state.withLock { state -> [(deadline: Instant, id: UInt64, Continuation)] in
            state.now = target(state.now)
            var due: [(deadline: Instant, id: UInt64, Continuation)] = []
            for (id, sleep) in state.sleeps {
                guard case .suspended(let deadline, let continuation) = sleep, deadline <= state.now else { continue }
                due.append((deadline, id, continuation))
            }
            for entry in due { state.sleeps[entry.id] = nil }
            state.suspendedCount -= due.count
            return due
        }
        // Deadline order; sleepers with equal deadlines wake in the order they went to sleep.
        for entry in due.sorted(by: { ($0.deadline, $0.id) < ($1.deadline, $1.id) }) {
            entry.2.resume()
        }
    }

    /// Suspends until at least `count` tasks sleep on this clock; throws `CancellationError` if cancelled.
    public func waitForSleepers(count: Int) async throws {
        let id = state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.waits[id] = .starting(count: count)
            return id
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: Continuation) in
                let result = state.withLock { state -> Result<Void, any Error>? in
                    switch state.waits[id] {
                    case .starting(let count):
                        guard state.suspendedCount < count else {
                            state.waits[id] = nil
                            return .success(())
                        }
                        state.waits[id] = .suspended(count: count, continuation: continuation)
                        return nil
                    case .cancelled:
                        state.waits[id] = nil
                        return .failure(CancellationError())
                    case .suspended, nil:
                        preconditionFailure("Internal inconsistency: wait \(id) suspended twice")
                    }
                }
                if let result { continuation.resume(with: result) }
            }
        } onCancel: {
            let continuation = state.withLock { state -> Continuation? in
                switch state.waits[id] {
                case .starting:
                    state.waits[id] = .cancelled
                    return nil
                case .suspended(_, let continuation):
                    state.waits[id] = nil
                    return continuation
                case .cancelled, nil:
                    return nil
                }
            }
            continuation?.resume(throwing: CancellationError())
        }
    }
}
