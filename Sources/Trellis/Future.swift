import Synchronization
public import TrellisCore

/// The eventual result of a task (or of one partial result of a producer). Pass it to `submit` to make a
/// dependency; `await value` anywhere to read it.
public struct Future<Value: Sendable>: Sendable {
    let box: ResultBox
    let storage: SchedulerStorage
    /// What a task that takes this future as input depends on.
    public let dependency: Dependency

    init(box: ResultBox, storage: SchedulerStorage, dependency: Dependency) {
        self.box = box
        self.storage = storage
        self.dependency = dependency
    }

    /// The task that produces the value.
    public var task: TaskID { dependency.task }

    /// The value once the task has succeeded (or the partial result exists); throws a `TrellisError` if it
    /// failed, was cancelled or an input failed.
    public var value: Value {
        get async throws { try await box.value() as! Value }
    }

    /// The result if it is already known, without waiting.
    public var result: Result<Value, any Error>? { box.currentResult().map { $0.map { $0 as! Value } } }

    /// Cancels the task (and every task that still waits for it).
    public func cancel() { storage.cancel(dependency.task) }
}

/// Holds a task's result; waiters are resumed when it is published or failed. Not generic, so the runtime's
/// hot path touches no generic metadata; `Future<Value>` casts once when reading.
final class ResultBox: Sendable {
    private struct State {
        var staged: (any Sendable)?
        var published = false
        var error: (any Error)?
        var waiters: [UnsafeContinuation<any Sendable, any Error>] = []
    }

    private let state = Mutex(State())

    init() {}

    /// Stores the value without waking anybody; `publish` makes it visible. A published value is kept.
    func stage(_ value: any Sendable) {
        state.withLock { state in
            guard !state.published, state.error == nil else { return }
            state.staged = value
        }
    }

    /// Stores and publishes in one step (partial results).
    func succeed(_ value: any Sendable) {
        stage(value)
        publish()
    }

    func publish() {
        let (value, waiters) = state.withLock {
            state -> ((any Sendable)?, [UnsafeContinuation<any Sendable, any Error>]) in
            guard !state.published, state.error == nil, let value = state.staged else { return (nil, []) }
            state.published = true
            defer { state.waiters = [] }
            return (value, state.waiters)
        }
        guard let value else { return }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    func fail(_ error: any Error) {
        let waiters = state.withLock { state -> [UnsafeContinuation<any Sendable, any Error>] in
            guard !state.published, state.error == nil else { return [] }
            state.error = error
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(throwing: error) }
    }

    /// The staged output, for events.
    var output: (any Sendable)? { state.withLock { $0.staged } }

    func currentResult() -> Result<any Sendable, any Error>? {
        state.withLock { state in
            if let error = state.error { return .failure(error) }
            if state.published, let value = state.staged { return .success(value) }
            return nil
        }
    }

    /// The staged value of an input whose task is known to have succeeded (or whose item exists).
    func resolved() throws -> any Sendable {
        try state.withLock { state in
            if let value = state.staged { return value }
            throw state.error
                ?? TrellisError(code: .invalidSubmission, message: "an input was read before it existed")
        }
    }

    func value() async throws -> any Sendable {
        if let result = currentResult() { return try result.get() }
        return try await withUnsafeThrowingContinuation { continuation in
            let ready = state.withLock { state -> Result<any Sendable, any Error>? in
                if let error = state.error { return .failure(error) }
                if state.published, let value = state.staged { return .success(value) }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}
