internal import Foundation
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

extension RemoteTask {
    init(_ info: Trellis_V1_TaskInfo) {
        self.init(
            id: info.id, job: info.jobID, name: info.name, status: info.state.status, attempts: Int(info.attempts),
            worker: info.worker.isEmpty ? nil : info.worker, exitCode: info.hasExitCode ? info.exitCode : nil,
            message: info.message.isEmpty ? nil : info.message, outputs: info.outputsSignalled,
            value: info.value.isEmpty ? nil : [UInt8](info.value), work: info.spec.remoteWork)
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
