// What a coordinator and its workers say to each other, in Trellis's own types. The wire forms are in
// WorkerLink+Wire.swift.

/// One attempt as the wire names it: the task's wire id, the coordinator session that assigned it, and its
/// number.
package struct WireAttempt: Hashable, Sendable {
    package var task: UInt64
    package var epoch: UInt64
    package var attempt: Int

    package init(task: UInt64, epoch: UInt64, attempt: Int) {
        self.task = task
        self.epoch = epoch
        self.attempt = attempt
    }
}

/// How an attempt ended, as its worker reports it.
package enum AttemptResult: Hashable, Sendable {
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

/// The first thing a worker says: who it is, what it offers, and the attempts it still runs (after a
/// reconnect).
package struct WorkerHello: Hashable, Sendable {
    package var name: String
    /// Empty for the default type.
    package var type: String
    package var tags: [String]
    package var slots: Int
    package var resources: [String: Double]
    package var running: [WireAttempt]

    package init(
        name: String, type: String, tags: [String], slots: Int, resources: [String: Double], running: [WireAttempt]
    ) {
        self.name = name
        self.type = type
        self.tags = tags
        self.slots = slots
        self.resources = resources
        self.running = running
    }
}

/// What a worker reports after its hello.
package enum WorkerReport: Hashable, Sendable {
    case heartbeat
    case started(WireAttempt)
    /// The attempt signalled a named output.
    case output(WireAttempt, name: String)
    case finished(WireAttempt, AttemptResult)
    /// The attempt printed something (the coordinator only checks that the attempt is still the worker's).
    case log(WireAttempt)
    /// The worker takes no more work.
    case drain
}

/// One attempt a coordinator hands a worker.
package struct WorkerAssignment: Hashable, Sendable {
    package var attempt: WireAttempt
    package var job: UInt64
    /// The task's spec as the coordinator stores it (`RemoteTaskSpec(stored:)` reads it).
    package var spec: [UInt8]
    /// The values of the handlers it needs, by name.
    package var inputs: [String: [UInt8]]

    package init(attempt: WireAttempt, job: UInt64, spec: [UInt8], inputs: [String: [UInt8]]) {
        self.attempt = attempt
        self.job = job
        self.spec = spec
        self.inputs = inputs
    }
}

/// What a coordinator tells one worker.
package enum WorkerInstruction: Hashable, Sendable {
    /// The answer to a hello: the worker's session, the coordinator's epoch, how often to send heartbeats,
    /// how long the lease lasts, and which of the attempts it named it must stop.
    case welcome(worker: UInt64, epoch: UInt64, heartbeat: Duration, lease: Duration, abandon: [WireAttempt])
    case assign([WorkerAssignment])
    /// SIGTERM now, SIGKILL after `grace`.
    case cancel(WireAttempt, grace: Duration)
    /// A report about this attempt changed nothing: it is no longer the worker's.
    case stale(WireAttempt)
    case broadcast(String)
}
