/// Where a task stands in the core's life cycle.
public enum TaskState: Hashable, Sendable {
    /// Some dependency is not satisfied yet.
    case waiting
    /// All dependencies are satisfied; waiting for its turn and a free slot.
    case ready
    /// Attempt `attempt` has been dispatched and has not reported yet.
    case running(attempt: Int)
    /// Attempt `attempt` failed; the next attempt becomes ready after a back-off.
    case retrying(afterAttempt: Int)
    case finished(TaskOutcome)

    public var isFinished: Bool {
        if case .finished = self { return true }
        return false
    }
}

/// How many tasks ended in each final state.
public struct OutcomeCounts: Hashable, Sendable {
    public var succeeded = 0
    public var failed = 0
    public var cancelled = 0
    public var upstreamFailed = 0
    public var skipped = 0

    public init() {}

    public var total: Int { succeeded + failed + cancelled + upstreamFailed + skipped }

    mutating func record(_ outcome: TaskOutcome) {
        switch outcome {
        case .succeeded: succeeded += 1
        case .failed: failed += 1
        case .cancelled: cancelled += 1
        case .upstreamFailed: upstreamFailed += 1
        case .skipped: skipped += 1
        }
    }
}
