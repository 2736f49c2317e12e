internal import TrellisCore
internal import TrellisProtocol

/// The coordinator's embedded executor: a worker session of its own, of the reserved type `@coordinator`,
/// that checks triggers on the coordinator's host. It joins the core at every session start (what an earlier
/// session's checks held runs again) and every turn renews its lease, so the core places, counts and
/// cancels trigger checks as it does any other attempt.
struct TriggerChecks {
    /// Its news, posted to the loop's inbox.
    enum Event: Sendable {
        case started
        case ended(AttemptResult)
    }

    /// Starts checking one attempt's trigger in a task of its own.
    typealias Launch = @Sendable (RemoteWork?, WireAttempt) -> Task<Void, Never>

    /// The session name and worker type no connection may take.
    static let name = JobRequest.coordinatorType
    /// Enough slots that only the job's trigger queue limits how many are checked at once.
    static let slots = 1 << 20

    let worker: WorkerID
    let launch: Launch
    var running: [WireAttempt: Task<Void, Never>] = [:]

    mutating func start(_ ref: WireAttempt, spec: [UInt8]) {
        // Anything but a trigger was refused when added; the launch ends it with an error.
        running[ref] = launch(RemoteTaskSpec(stored: spec)?.work, ref)
    }

    mutating func cancel(_ ref: WireAttempt) {
        running[ref]?.cancel()
    }

    mutating func ended(_ ref: WireAttempt) {
        running[ref] = nil
    }

    mutating func stopAll() {
        for task in running.values { task.cancel() }
        running.removeAll()
    }
}
