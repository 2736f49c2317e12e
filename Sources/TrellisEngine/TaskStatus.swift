/// A task's state as people see it, in one vocabulary for `trellis run`, a coordinator, the journal, the wire
/// and the command line. The raw value is how every one of them spells it (`upstream-failed`); a coordinator
/// sends it as the protocol's `TaskState` of the same name.
public enum TaskStatus: String, Hashable, Sendable, CaseIterable {
    /// Submitted to a coordinator and not played yet: it does not start until played.
    case created
    /// Held by an operator; resuming makes it wait, or run, again.
    case paused
    /// Some task (or named output) it needs has not finished (been signalled) yet.
    case waiting
    /// Every need met, waiting for a slot or a worker with room for it.
    case ready
    /// Sent to a worker that has not yet said it started.
    case assigned
    case running
    /// An attempt failed; the task waits out its retry back-off before the next one.
    case retrying
    case succeeded
    /// Every attempt failed (a non-zero exit, an error, a timeout).
    case failed
    /// Cancelled (by an operator, a fail-fast failure or a cancelled job) before or while running.
    case cancelled
    /// Stopped by an operator at once (SIGKILL, no grace).
    case killed
    /// Never ran because a task it needs ended without success.
    case upstreamFailed = "upstream-failed"
    /// Was running when `trellis run` was stopped or killed; runs again on resume (local runs only).
    case interrupted
    /// An `on_success` or `on_failure` task whose case did not arise.
    case skipped

    /// Whether a resumed run leaves the task alone.
    public var isDone: Bool { self == .succeeded }

    /// Whether the task reached its end.
    public var isFinal: Bool {
        switch self {
        case .succeeded, .failed, .cancelled, .killed, .upstreamFailed, .skipped: true
        case .created, .paused, .waiting, .ready, .assigned, .running, .retrying, .interrupted: false
        }
    }
}
