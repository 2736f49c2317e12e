import Synchronization
public import TrellisCore

/// The eventual result of a task (or of one partial result of a producer). Pass it to `submit` to make a
/// dependency; `await value` anywhere to read it.
public struct Future<Value: Sendable>: Sendable {
    let box: FutureBox<Value>
    let storage: SchedulerStorage
    /// What a task that takes this future as input depends on.
    public let dependency: Dependency

    init(box: FutureBox<Value>, storage: SchedulerStorage, dependency: Dependency) {
        self.box = box
        self.storage = storage
        self.dependency = dependency
    }

    /// The task that produces the value.
    public var task: TaskID { dependency.task }

    /// The value once the task has succeeded (or the partial result exists); throws a `TrellisError` if it
    /// failed, was cancelled or an input failed.
    public var value: Value {
        get async throws { try await box.value() }
    }

    /// The result if it is already known, without waiting.
    public var result: Result<Value, any Error>? { box.currentResult() }

    /// Cancels the task (and every task that still waits for it).
    public func cancel() { storage.cancel(dependency.task) }

    /// The value of a dependency that is known to exist; used by the runtime when starting dependants.
    func resolvedValue() throws -> Value { try box.resolved() }
}

/// Type-erased completion side of a future, used by the runtime.
protocol CompletionSink: AnyObject, Sendable {
    /// Makes the staged value visible to waiters.
    func publish()
    func fail(_ error: any Error)
    /// The staged output, for events.
    var output: (any Sendable)? { get }
}

/// Holds a future's result; waiters are resumed when it is published or failed.
final class FutureBox<Value: Sendable>: CompletionSink, Sendable {
    private struct State {
        var staged: Value?
        var published = false
        var error: (any Error)?
        var waiters: [UnsafeContinuation<Value, any Error>] = []
    }

    private let state = Mutex(State())

    init() {}

    /// Stores the value without waking anybody; `publish` makes it visible.
    func stage(_ value: Value) {
        state.withLock { state in
            guard !state.published, state.error == nil else { return }
            state.staged = value
        }
    }

    /// Stores and publishes in one step (partial results).
    func succeed(_ value: Value) {
        stage(value)
        publish()
    }

    func publish() {
        let (value, waiters) = state.withLock { state -> (Value?, [UnsafeContinuation<Value, any Error>]) in
            guard !state.published, state.error == nil, let value = state.staged else { return (nil, []) }
            state.published = true
            defer { state.waiters = [] }
            return (value, state.waiters)
        }
        guard let value else { return }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    func fail(_ error: any Error) {
        let waiters = state.withLock { state -> [UnsafeContinuation<Value, any Error>] in
            guard !state.published, state.error == nil else { return [] }
            state.error = error
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(throwing: error) }
    }

    var output: (any Sendable)? { state.withLock { $0.staged } }

    func currentResult() -> Result<Value, any Error>? {
        state.withLock { state in
            if let error = state.error { return .failure(error) }
            if state.published, let value = state.staged { return .success(value) }
            return nil
        }
    }

    /// The staged value of an input whose task is known to have succeeded.
    func resolved() throws -> Value {
        try state.withLock { state in
            if let value = state.staged { return value }
            throw state.error
                ?? TrellisError(code: .invalidSubmission, message: "an input was read before it existed")
        }
    }

    func value() async throws -> Value {
        if let result = currentResult() { return try result.get() }
        return try await withUnsafeThrowingContinuation { continuation in
            let ready = state.withLock { state -> Result<Value, any Error>? in
                if let error = state.error { return .failure(error) }
                if state.published, let value = state.staged { return .success(value) }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}
