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
    /// The handlers it can run, by name.
    package var handlers: [String]
    package var running: [WireAttempt]

    package init(
        name: String, type: String, tags: [String], slots: Int, resources: [String: Double], handlers: [String] = [],
        running: [WireAttempt]
    ) {
        self.name = name
        self.type = type
        self.tags = tags
        self.slots = slots
        self.resources = resources
        self.handlers = handlers
        self.running = running
    }
}

/// What a worker reports after its hello. Times are wall-clock milliseconds on the worker's clock.
package enum WorkerReport: Hashable, Sendable {
    /// Renews the lease of the attempts it names.
    case heartbeat(running: [WireAttempt])
    /// `pid`: the process group of a shell task, 0 for a handler.
    case started(WireAttempt, pid: Int32, timeMs: UInt64)
    /// The attempt signalled a named output.
    case output(WireAttempt, name: String, timeMs: UInt64)
    case finished(WireAttempt, AttemptResult, timeMs: UInt64)
    /// What the attempt printed (the coordinator only checks that the attempt is still the worker's).
    case log(WireAttempt, LogStream, [UInt8])
    /// The worker takes no more work.
    case drain

    package enum LogStream: Hashable, Sendable {
        case stdout, stderr
    }
}

/// One attempt a coordinator hands a worker. `Spec` is how the task's spec travels on each side: the
/// coordinator hands on the bytes it stores (`[UInt8]`), decoded only on the worker's stream; a worker reads
/// a `RemoteTaskSpec` (nil for one this Trellis cannot read).
package struct WorkerAssignment<Spec: Hashable & Sendable>: Hashable, Sendable {
    package var attempt: WireAttempt
    package var job: UInt64
    package var spec: Spec
    /// The values of the handlers it needs, by name.
    package var inputs: [String: [UInt8]]

    package init(attempt: WireAttempt, job: UInt64, spec: Spec, inputs: [String: [UInt8]]) {
        self.attempt = attempt
        self.job = job
        self.spec = spec
        self.inputs = inputs
    }
}

/// What a coordinator tells one worker; `Spec` as in `WorkerAssignment`.
package enum WorkerInstruction<Spec: Hashable & Sendable>: Hashable, Sendable {
    /// The answer to a hello: the worker's session, the coordinator's epoch, how often to send heartbeats,
    /// how long the lease lasts, and which of the attempts it named it must stop.
    case welcome(worker: UInt64, epoch: UInt64, heartbeat: Duration, lease: Duration, abandon: [WireAttempt])
    case assign([WorkerAssignment<Spec>])
    /// SIGTERM now, SIGKILL after `grace`.
    case cancel(WireAttempt, grace: Duration)
    /// A report about this attempt changed nothing: it is no longer the worker's.
    case stale(WireAttempt)
    case broadcast(String)
}

/// An instruction as the coordinator sends it.
package typealias SentInstruction = WorkerInstruction<[UInt8]>
/// An instruction as a worker reads it.
package typealias ReceivedInstruction = WorkerInstruction<RemoteTaskSpec?>
