/// Why a task failed for good.
public enum FailureReason: Hashable, Sendable {
    /// The task's work reported an error.
    case error
    /// The last attempt ran past its timeout.
    case timedOut
    /// A producer finished having yielded only `emitted` of its promised partial results.
    case missingPartialResults(emitted: Int)
    /// Its attempts lost their worker `losses` times, the core's crash limit (`SchedulerCore.crashLimit`).
    case crashed(losses: Int)
}

/// The final state of a task.
public enum TaskOutcome: Hashable, Sendable, CustomStringConvertible {
    case succeeded
    case failed(FailureReason)
    /// Cancelled by request; `cause` is the task whose cancellation or failure reached this one
    /// (`nil` when this task itself was cancelled).
    case cancelled(cause: TaskID?)
    /// Never ran because `root` failed for good.
    case upstreamFailed(root: TaskID)
    /// A finale task of the group that was not needed: `on_success` when the job's main tasks did not all
    /// succeed, `on_failure` when they did.
    case skipped

    public var description: String {
        switch self {
        case .succeeded: "succeeded"
        case .failed(.error): "failed"
        case .failed(.timedOut): "failed (timed out)"
        case .failed(.missingPartialResults(let n)): "failed (producer yielded only \(n) results)"
        case .failed(.crashed(let n)): "failed (lost its worker \(n) times)"
        case .cancelled(nil): "cancelled"
        case .cancelled(let cause?): "cancelled (because of \(cause))"
        case .upstreamFailed(let root): "upstream failed (\(root))"
        case .skipped: "skipped"
        }
    }
}

/// What a driver must do after an event, in order.
public enum SchedulerAction: Hashable, Sendable {
    /// Start attempt `attempt` (1-based) of `task` in a free slot of `queue`.
    case dispatch(TaskID, queue: QueueID, attempt: Int)
    /// Stop the running attempt of `task`; the driver still reports how the attempt ended.
    case cancelRunning(TaskID, attempt: Int)
    /// `task` reached its final state.
    case completed(TaskID, TaskOutcome)
    /// Call `timedOut(_:attempt:now:)` at `deadline` unless the attempt has ended by then.
    case scheduleTimeout(TaskID, attempt: Int, deadline: Duration)
    /// Call `retryDue(_:now:)` at `deadline`.
    case scheduleRetry(TaskID, deadline: Duration)
    /// Start attempt `attempt` (1-based) of `task` on `worker` (a core with `.workers` execution).
    case assign(TaskID, to: WorkerID, attempt: Int)
    /// Call `leaseExpired(_:now:)` at `deadline`; a heartbeat before then hands out a later deadline.
    case scheduleLease(WorkerID, deadline: Duration)
}

/// Whether an event changed anything. Reports about an attempt that is no longer current are `stale`.
public enum EventDisposition: Hashable, Sendable {
    case accepted
    case stale
}
