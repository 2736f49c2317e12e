internal import TrellisCore
internal import TrellisEngine
internal import TrellisProtocol

/// One attempt as the wire names it: the task's wire id, the coordinator session that assigned it, and its
/// number.
struct WireAttempt: Hashable, Sendable {
    var task: UInt64
    var epoch: UInt64
    var attempt: Int
}

/// How an attempt ended, as its worker reports it.
enum AttemptResult: Hashable, Sendable {
    case exited(Int32)
    /// A handler's value: success, passed to dependants as an input.
    case value([UInt8])
    case signalled(Int32)
    case error(String)
    /// A trigger's condition did not hold within its timeout: failed, and not retried.
    case unsatisfied(checks: Int)
    /// The report carried no result.
    case missing
}

/// What the coordinator must do after handling an input. The loop turns effects into wire messages once the
/// turn's records are durable.
enum CoordinatorEffect: Hashable, Sendable {
    case assign(WorkerID, WireAttempt, job: UInt64, spec: [UInt8], inputs: [String: [UInt8]])
    case cancel(WorkerID, WireAttempt, grace: Duration)
    /// Tell a worker its report changed nothing.
    case stale(WorkerID, WireAttempt)
    /// A task of `job` changed as operators see it (`output`: the named output it just signalled).
    case changed(job: UInt64, task: UInt64, output: String?)
    case jobEnded(UInt64)
}
