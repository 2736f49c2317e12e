internal import Foundation

// The worker link's types to and from the wire.

extension WireAttempt {
    init(_ ref: Trellis_V1_AttemptRef) {
        self.init(task: ref.taskID, epoch: ref.epoch, attempt: Int(ref.attempt))
    }
}

extension Trellis_V1_AttemptRef {
    init(_ ref: WireAttempt) {
        self.init()
        taskID = ref.task
        epoch = ref.epoch
        attempt = UInt32(clamping: ref.attempt)
    }
}

extension WorkerHello {
    package init(_ hello: Trellis_V1_Hello) {
        self.init(
            name: hello.name, type: hello.type, tags: hello.tags, slots: Int(hello.slots), resources: hello.resources,
            running: hello.running.map(WireAttempt.init))
    }
}

extension WorkerReport {
    /// The report a message carries; nil for a hello (only the first message may be one) or a message whose
    /// kind this Trellis does not know.
    package init?(_ message: Trellis_V1_WorkerMessage) {
        switch message.kind {
        case .heartbeat: self = .heartbeat
        case .started(let started): self = .started(WireAttempt(started.attempt))
        case .output(let output): self = .output(WireAttempt(output.attempt), name: output.name)
        case .finished(let finished):
            let result: AttemptResult =
                switch finished.result {
                case .exitCode(let code): .exited(code)
                case .value(let value): .value([UInt8](value))
                case .signal(let signal): .signalled(signal)
                case .error(let error): .error(error)
                case nil: .missing
                }
            self = .finished(WireAttempt(finished.attempt), result)
        case .log(let chunk): self = .log(WireAttempt(chunk.attempt))
        case .drain: self = .drain
        case .hello, nil: return nil
        }
    }
}

extension Trellis_V1_CoordinatorMessage {
    /// The instruction on the wire. An assignment's spec is decoded from its stored form here, on the
    /// worker's stream, rather than in the coordinator's loop.
    package init(_ instruction: WorkerInstruction) {
        self.init()
        switch instruction {
        case .welcome(let worker, let epoch, let heartbeat, let lease, let abandon):
            var welcome = Trellis_V1_Welcome()
            welcome.workerID = worker
            welcome.epoch = epoch
            welcome.heartbeatIntervalMs = UInt64(max(0, heartbeat.wholeMilliseconds))
            welcome.leaseTimeoutMs = UInt64(max(0, lease.wholeMilliseconds))
            welcome.abandon = abandon.map(Trellis_V1_AttemptRef.init)
            self.welcome = welcome
        case .assign(let given):
            var batch = Trellis_V1_Assignments()
            batch.assignments = given.map { assignment in
                var wire = Trellis_V1_Assignment()
                wire.attempt = Trellis_V1_AttemptRef(assignment.attempt)
                wire.jobID = assignment.job
                wire.spec = (try? Trellis_V1_TaskSpec(serializedBytes: assignment.spec)) ?? Trellis_V1_TaskSpec()
                for (name, value) in assignment.inputs { wire.inputs[name] = Data(value) }
                return wire
            }
            assignments = batch
        case .cancel(let ref, let grace):
            var cancel = Trellis_V1_CancelAttempt()
            cancel.attempt = Trellis_V1_AttemptRef(ref)
            cancel.graceMs = UInt64(max(0, grace.wholeMilliseconds))
            self.cancel = cancel
        case .stale(let ref):
            var stale = Trellis_V1_StaleReport()
            stale.attempt = Trellis_V1_AttemptRef(ref)
            self.stale = stale
        case .broadcast(let message):
            var broadcast = Trellis_V1_Broadcast()
            broadcast.message = message
            self.broadcast = broadcast
        }
    }
}
