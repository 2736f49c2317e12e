internal import Foundation
internal import SwiftProtobuf
internal import TrellisCore
internal import TrellisEngine

// The remote types to and from the wire: the only place where one becomes the other.

extension Trellis_V1_AddTasksRequest {
    package init(_ job: RemoteJob) {
        self.init()
        jobID = job.job
        jobName = job.name
        play = job.play
        policy = job.policy?.description ?? ""
        failurePolicy =
            switch job.failurePolicy {
            case .failFast?: "fail-fast"
            case .continueIndependent?: "continue"
            case nil: ""
            }
        for (name, width) in job.queues { queues[name] = UInt32(clamping: width) }
        tasks = job.tasks.map(Trellis_V1_TaskSpec.init)
        onSuccess = job.onSuccess.map(Trellis_V1_TaskSpec.init)
        onFailure = job.onFailure.map(Trellis_V1_TaskSpec.init)
    }
}

extension Trellis_V1_TaskSpec {
    package init(_ spec: RemoteTaskSpec) {
        self.init()
        name = spec.name
        switch spec.work {
        case .shell(let command, let environment, let directory):
            var shell = Trellis_V1_ShellCommand()
            shell.command = command
            shell.environment = environment
            shell.workingDirectory = directory ?? ""
            work = .shell(shell)
        case .handler(let name, let payload):
            var call = Trellis_V1_HandlerCall()
            call.name = name
            call.payload = Data(payload)
            work = .handler(call)
        case .trigger(let condition, let interval, let timeout, let directory):
            var check = Trellis_V1_TriggerCheck()
            switch condition {
            case .fileExists(let path): check.file = path
            case .wallClock(let seconds): check.afterUnixSeconds = seconds
            case .command(let command): check.command = command
            }
            check.intervalMs = UInt64(max(1, interval.wholeMilliseconds))
            check.timeoutMs = timeout.map { UInt64(max(1, $0.wholeMilliseconds)) } ?? 0
            check.workingDirectory = directory ?? ""
            work = .trigger(check)
        }
        needs = spec.needs.map { need in
            var wire = Trellis_V1_Need()
            switch need.target {
            case .name(let name): wire.name = name
            case .id(let id): wire.taskID = id
            }
            wire.output = need.output ?? ""
            return wire
        }
        queue = spec.queue ?? ""
        workerType = spec.placement.type ?? ""
        tags = spec.placement.tags
        resources = spec.placement.resources
        priority = Int32(clamping: spec.priority)
        retries = UInt32(clamping: spec.retries)
        retryDelayMs = UInt64(max(0, spec.retryDelay.wholeMilliseconds))
        timeoutMs = spec.timeout.map { UInt64(max(1, $0.wholeMilliseconds)) } ?? 0
        outputs = spec.outputs
        estimateSeconds = spec.estimate ?? 0
    }

    /// What the task does, as Trellis says it; nil for none.
    package var remoteWork: RemoteWork? {
        switch work {
        case .shell(let shell):
            return .shell(
                command: shell.command, environment: shell.environment,
                directory: shell.workingDirectory.isEmpty ? nil : shell.workingDirectory)
        case .handler(let call):
            return .handler(name: call.name, payload: [UInt8](call.payload))
        case .trigger(let check):
            let condition: TriggerCondition
            switch check.condition {
            case .file(let path): condition = .fileExists(path)
            case .afterUnixSeconds(let seconds): condition = .wallClock(secondsSince1970: seconds)
            case .command(let command): condition = .command(command)
            case nil: return nil
            }
            return .trigger(
                condition, interval: .milliseconds(Int64(clamping: check.intervalMs)),
                timeout: check.timeoutMs == 0 ? nil : .milliseconds(Int64(clamping: check.timeoutMs)),
                directory: check.workingDirectory.isEmpty ? nil : check.workingDirectory)
        case nil:
            return nil
        }
    }
}

extension RemoteTaskSpec {
    /// A spec from the wire; nil when it says no work this Trellis knows.
    init?(_ wire: Trellis_V1_TaskSpec) {
        guard let work = wire.remoteWork else { return nil }
        self.init(name: wire.name, work: work)
        needs = wire.needs.map { need in
            let target: RemoteNeed.Target =
                switch need.target {
                case .taskID(let id)?: .id(id)
                case .name(let name)?: .name(name)
                case nil: .name("")
                }
            return RemoteNeed(target, output: need.output.isEmpty ? nil : need.output)
        }
        queue = wire.queue.isEmpty ? nil : wire.queue
        placement = Placement(
            type: wire.workerType.isEmpty ? nil : wire.workerType, tags: wire.tags, resources: wire.resources)
        priority = Int(wire.priority)
        retries = Int(wire.retries)
        retryDelay = .milliseconds(Int64(clamping: wire.retryDelayMs))
        timeout = wire.timeoutMs == 0 ? nil : .milliseconds(Int64(clamping: wire.timeoutMs))
        outputs = wire.outputs
        estimate = wire.estimateSeconds == 0 ? nil : wire.estimateSeconds
    }

    /// A spec as a coordinator stores it (the wire encoding, which is also what its workers receive); nil when
    /// the bytes are not one this Trellis can read.
    package init?(stored bytes: [UInt8]) {
        guard let wire = try? Trellis_V1_TaskSpec(serializedBytes: bytes) else { return nil }
        self.init(wire)
    }

    /// The spec as a coordinator stores it (maps in a fixed order, so equal specs make equal bytes).
    package var stored: [UInt8] { Trellis_V1_TaskSpec(self).storedBytes }
}

extension Trellis_V1_TaskSpec {
    /// The stored form: maps in a fixed order, so equal specs make equal bytes.
    var storedBytes: [UInt8] {
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        return (try? serializedBytes(options: options)) ?? []
    }
}

extension RemoteTask {
    init(_ info: Trellis_V1_TaskInfo) {
        self.init(
            id: info.id, job: info.jobID, name: info.name, status: info.state.status, attempts: Int(info.attempts),
            worker: info.worker.isEmpty ? nil : info.worker, exitCode: info.hasExitCode ? info.exitCode : nil,
            message: info.message.isEmpty ? nil : info.message, outputs: info.outputsSignalled,
            value: info.value.isEmpty ? nil : [UInt8](info.value),
            storedSpec: info.hasSpec ? info.spec.storedBytes : nil, needs: info.needIds)
    }
}

extension Trellis_V1_TaskInfo {
    /// The task on the wire (a coordinator's answer).
    package init(_ task: RemoteTask) {
        self.init()
        id = task.id
        jobID = task.job
        name = task.name
        state = task.status.map(Trellis_V1_TaskState.init) ?? .unspecified
        // Decoded into the message as stored, unknown fields and all, rather than re-made from what this
        // Trellis understood of it.
        if let stored = task.storedSpec, let spec = try? Trellis_V1_TaskSpec(serializedBytes: stored) {
            self.spec = spec
        }
        attempts = UInt32(clamping: task.attempts)
        worker = task.worker ?? ""
        if let code = task.exitCode { exitCode = code }
        message = task.message ?? ""
        outputsSignalled = task.outputs
        if let value = task.value { self.value = Data(value) }
        needIds = task.needs
    }
}

extension RemoteWorker {
    init(_ info: Trellis_V1_WorkerInfo) {
        self.init(
            id: info.id, name: info.name, type: info.type, tags: info.tags, slots: Int(info.slots),
            running: Int(info.running), resources: info.resources, status: info.status,
            lastSeen: info.lastSeenMs == 0 ? nil : Date(timeIntervalSince1970: Double(info.lastSeenMs) / 1000))
    }
}

extension Trellis_V1_WorkerInfo {
    /// The worker on the wire (a coordinator's answer).
    package init(_ worker: RemoteWorker) {
        self.init()
        id = worker.id
        name = worker.name
        type = worker.type
        tags = worker.tags
        slots = UInt32(clamping: worker.slots)
        running = UInt32(clamping: worker.running)
        resources = worker.resources
        status = worker.status
        lastSeenMs = worker.lastSeen.map { UInt64(max(0, ($0.timeIntervalSince1970 * 1000).rounded())) } ?? 0
    }
}

extension RemoteTaskQuery {
    /// The listing a request asks for.
    package init(_ request: Trellis_V1_ListTasksRequest) {
        self.init(
            job: request.jobID == 0 ? nil : request.jobID,
            statuses: request.states.isEmpty ? nil : Set(request.states.compactMap(\.status)),
            afterID: request.afterID, limit: request.limit == 0 ? nil : Int(request.limit))
    }
}

extension Trellis_V1_ListTasksRequest {
    init(_ query: RemoteTaskQuery) {
        self.init()
        jobID = query.job ?? 0
        states = TaskStatus.allCases.filter { query.statuses?.contains($0) ?? false }.map(Trellis_V1_TaskState.init)
        // No states means any on the wire; an empty set matches nothing, so it names a state no task is in.
        if query.statuses?.isEmpty == true { states = [.unspecified] }
        afterID = query.afterID
        limit = UInt32(clamping: query.limit ?? 0)
    }
}

extension RemoteSelection {
    /// The tasks a request selects.
    package init(_ selection: Trellis_V1_TaskSelection) {
        self.init(ids: selection.taskIds, job: selection.jobID == 0 ? nil : selection.jobID, all: selection.all)
    }
}

extension Trellis_V1_TaskSelection {
    init(_ selection: RemoteSelection) {
        self.init()
        taskIds = selection.ids
        jobID = selection.job ?? 0
        all = selection.all
    }
}

extension RemoteJobEvent {
    package init(_ event: Trellis_V1_JobEvent) {
        self.init()
        task = event.taskID
        taskName = event.taskName
        status = event.state.status
        attempt = Int(event.attempt)
        output = event.output.isEmpty ? nil : event.output
        worker = event.worker.isEmpty ? nil : event.worker
        message = event.message.isEmpty ? nil : event.message
        timeMs = event.timeMs
        jobEnded = event.jobEnded
        jobName = event.jobName
        jobTasks = Int(event.jobTasks)
    }
}

extension Trellis_V1_JobEvent {
    /// The event on the wire (a coordinator's, or a test's).
    package init(_ event: RemoteJobEvent) {
        self.init()
        taskID = event.task
        taskName = event.taskName
        state = event.status.map(Trellis_V1_TaskState.init) ?? .unspecified
        attempt = UInt32(clamping: event.attempt)
        output = event.output ?? ""
        worker = event.worker ?? ""
        message = event.message ?? ""
        timeMs = event.timeMs
        jobEnded = event.jobEnded
        jobName = event.jobName
        jobTasks = UInt32(clamping: event.jobTasks)
    }
}

extension Duration {
    /// Whole milliseconds, rounded toward zero.
    var wholeMilliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}

extension RemoteJobSummary {
    init(_ info: Trellis_V1_JobInfo) {
        var counts = OutcomeCounts()
        counts.succeeded = Int(info.succeeded)
        counts.failed = Int(info.failed)
        counts.cancelled = Int(info.cancelled)
        counts.upstreamFailed = Int(info.upstreamFailed)
        counts.skipped = Int(info.skipped)
        self.init(
            id: info.id, name: info.name, policy: info.policy, tasks: Int(info.tasks), unfinished: Int(info.unfinished),
            counts: counts)
    }
}

extension Trellis_V1_JobInfo {
    /// The job on the wire (a coordinator's answer).
    package init(_ job: RemoteJobSummary) {
        self.init()
        id = job.id
        name = job.name
        policy = job.policy
        tasks = UInt32(clamping: job.tasks)
        unfinished = UInt32(clamping: job.unfinished)
        succeeded = UInt32(clamping: job.counts.succeeded)
        failed = UInt32(clamping: job.counts.failed)
        cancelled = UInt32(clamping: job.counts.cancelled)
        upstreamFailed = UInt32(clamping: job.counts.upstreamFailed)
        skipped = UInt32(clamping: job.counts.skipped)
        state =
            switch job.state {
            case .running: .running
            case .succeeded: .succeeded
            case .failed: .failed
            case .cancelled: .cancelled
            }
    }
}
