public import TrellisCore

/// One step in a task's life, as streamed by `Scheduler.events` in causal order.
public struct TaskEvent: Sendable, CustomStringConvertible {
    public enum Kind: Sendable {
        case submitted
        case started(attempt: Int)
        /// A producer yielded partial result `index`.
        case partialResult(index: Int, value: any Sendable)
        case succeeded(output: any Sendable)
        /// An attempt failed; `willRetry` tells whether another attempt follows.
        case failed(error: any Error, attempt: Int, willRetry: Bool)
        case cancelled(cause: TaskID?)
        case upstreamFailed(root: TaskID)
    }

    public var task: TaskID
    public var name: String?
    public var queue: String
    public var kind: Kind
    /// Time since the scheduler was created, on its clock.
    public var time: Duration

    public var description: String {
        let label = name.map { "\(task) '\($0)'" } ?? task.description
        switch kind {
        case .submitted: return "\(label) submitted to \(queue)"
        case .started(let attempt): return "\(label) started (attempt \(attempt))"
        case .partialResult(let index, _): return "\(label) yielded item \(index)"
        case .succeeded: return "\(label) succeeded"
        case .failed(let error, let attempt, let willRetry):
            return "\(label) attempt \(attempt) failed: \(error)\(willRetry ? ", will retry" : "")"
        case .cancelled: return "\(label) cancelled"
        case .upstreamFailed(let root): return "\(label) upstream failed (\(root))"
        }
    }
}

/// The completed set as it grows, for resuming a graph elsewhere (hydro2's checkpoints).
public struct Checkpoint: Sendable {
    /// Every task that has succeeded so far.
    public var completed: Set<TaskID>
    /// Time since the scheduler was created, on its clock.
    public var time: Duration
}
