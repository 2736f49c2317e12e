internal import TrellisCore
internal import TrellisEngine
internal import TrellisProtocol

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
