package import TrellisEngine

/// What a run reports as it goes, in order, for the progress display, the log lines and `--json`: a local
/// run's loop and a followed job on a coordinator (`JobFollower`) both tell it.
package enum RunEvent: Sendable, Hashable {
    /// The session began; `done` tasks succeeded in earlier sessions and will not run again.
    case began(workflow: String, total: Int, done: Int, session: Int)
    /// An attempt began: on this machine, or on the named worker.
    case started(task: String, attempt: Int, queue: String, worker: String? = nil)
    /// A running task signalled a named output.
    case output(task: String, name: String)
    /// An attempt ended; `state` is `.retrying` when another attempt will follow.
    case finished(task: String, attempt: Int, state: TaskStatus, exitCode: Int32?, message: String?, seconds: Double)
    /// A task ended without running (upstream failed, cancelled, skipped).
    case settled(task: String, state: TaskStatus, message: String?)
    /// Stopping: running tasks get SIGTERM (`force`: SIGKILL at once).
    case stopping(force: Bool)
    case ended(status: String, seconds: Double)
}
