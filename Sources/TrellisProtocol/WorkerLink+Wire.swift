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
            handlers: hello.handlers, running: hello.running.map(WireAttempt.init))
    }
}

extension WorkerReport {
    /// The report a message carries; nil for a hello (only the first message may be one) or a message whose
    /// kind this Trellis does not know.
    package init?(_ message: Trellis_V1_WorkerMessage) {
        switch message.kind {
        case .heartbeat(let heartbeat): self = .heartbeat(running: heartbeat.running.map(WireAttempt.init))
        case .started(let started):
            self = .started(WireAttempt(started.attempt), pid: started.pid, timeMs: started.timeMs)
        case .output(let output): self = .output(WireAttempt(output.attempt), name: output.name, timeMs: output.timeMs)
        case .finished(let finished):
            let result: AttemptResult =
                switch finished.result {
                case .exitCode(let code): .exited(code)
                case .value(let value): .value([UInt8](value))
                case .signal(let signal): .signalled(signal)
                case .error(let error): .error(error)
                case nil: .missing
                }
            self = .finished(WireAttempt(finished.attempt), result, timeMs: finished.timeMs)
        case .log(let chunk):
            self = .log(WireAttempt(chunk.attempt), chunk.stream == .stderr ? .stderr : .stdout, [UInt8](chunk.data))
        case .drain: self = .drain
        case .hello, nil: return nil
        }
    }
}

extension Trellis_V1_WorkerMessage {
    /// A worker's first message.
    package init(_ hello: WorkerHello) {
        self.init()
        var wire = Trellis_V1_Hello()
        wire.name = hello.name
        wire.type = hello.type
        wire.tags = hello.tags
        wire.slots = UInt32(clamping: hello.slots)
        wire.resources = hello.resources
        wire.handlers = hello.handlers
        wire.running = hello.running.map(Trellis_V1_AttemptRef.init)
        self.hello = wire
    }

    /// A report on the wire. A trigger's `unsatisfied` is the coordinator's own and never sent; it would go as
    /// an error.
    package init(_ report: WorkerReport) {
        self.init()
        switch report {
        case .heartbeat(let running):
            var heartbeat = Trellis_V1_Heartbeat()
            heartbeat.running = running.map(Trellis_V1_AttemptRef.init)
            self.heartbeat = heartbeat
        case .started(let ref, let pid, let timeMs):
            var started = Trellis_V1_Started()
            started.attempt = Trellis_V1_AttemptRef(ref)
            started.pid = pid
            started.timeMs = timeMs
            self.started = started
        case .output(let ref, let name, let timeMs):
            var output = Trellis_V1_OutputSignalled()
            output.attempt = Trellis_V1_AttemptRef(ref)
            output.name = name
            output.timeMs = timeMs
            self.output = output
        case .finished(let ref, let result, let timeMs):
            var finished = Trellis_V1_Finished()
            finished.attempt = Trellis_V1_AttemptRef(ref)
            switch result {
            case .exited(let code): finished.exitCode = code
            case .value(let value): finished.value = Data(value)
            case .signalled(let signal): finished.signal = signal
            case .error(let error): finished.error = error
            case .unsatisfied(let checks): finished.error = "the trigger did not hold after \(checks) checks"
            case .missing: break
            }
            finished.timeMs = timeMs
            self.finished = finished
        case .log(let ref, let stream, let data):
            var chunk = Trellis_V1_LogChunk()
            chunk.attempt = Trellis_V1_AttemptRef(ref)
            chunk.stream = stream == .stderr ? .stderr : .stdout
            chunk.data = Data(data)
            log = chunk
        case .drain:
            drain = Trellis_V1_Drain()
        }
    }
}

extension Trellis_V1_CoordinatorMessage {
    /// The instruction on the wire. An assignment's spec is decoded from its stored form here, on the
    /// worker's stream, rather than in the coordinator's loop.
    package init(_ instruction: SentInstruction) {
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

extension WorkerInstruction where Spec == RemoteTaskSpec? {
    /// The instruction a message carries, as a worker reads it; nil for a kind this Trellis does not know.
    package init?(_ message: Trellis_V1_CoordinatorMessage) {
        switch message.kind {
        case .welcome(let welcome):
            self = .welcome(
                worker: welcome.workerID, epoch: welcome.epoch,
                heartbeat: .milliseconds(Int64(clamping: welcome.heartbeatIntervalMs)),
                lease: .milliseconds(Int64(clamping: welcome.leaseTimeoutMs)),
                abandon: welcome.abandon.map(WireAttempt.init))
        case .assignments(let batch):
            self = .assign(
                batch.assignments.map { wire in
                    WorkerAssignment(
                        attempt: WireAttempt(wire.attempt), job: wire.jobID,
                        spec: wire.hasSpec ? RemoteTaskSpec(wire.spec) : nil,
                        inputs: wire.inputs.mapValues { [UInt8]($0) })
                })
        case .cancel(let cancel):
            self = .cancel(WireAttempt(cancel.attempt), grace: .milliseconds(Int64(clamping: cancel.graceMs)))
        case .stale(let stale):
            self = .stale(WireAttempt(stale.attempt))
        case .broadcast(let broadcast):
            self = .broadcast(broadcast.message)
        case nil:
            return nil
        }
    }
}
