internal import Foundation
internal import TrellisCore
internal import TrellisProtocol
internal import TrellisWorkflow

// A workflow file becomes a wire request here, in the command line: the wire contract depends on no file
// format, and a file format on no wire.

extension Trellis_V1_AddTasksRequest {
    /// The request `trellis submit` sends for a workflow: the main tasks, then its `on_success` and
    /// `on_failure` tasks, its policies and its queues with their widths (a queue limits how many of its tasks
    /// run at once across all workers). Its triggers are checked by the coordinator, on the coordinator's host:
    /// relative files are resolved against `directory` (the workflow's), where commands also run.
    init(plan: WorkflowPlan, play: Bool, directory: String) {
        self.init()
        jobName = plan.workflow.name
        self.play = play
        policy = plan.workflow.policy.description
        failurePolicy = plan.workflow.failurePolicy == .failFast ? "fail-fast" : "continue"
        // The default queue is bounded only by worker slots on a coordinator, unless the file sets its width
        // (`--workers` is a local run's).
        for queue in plan.queues where queue.name != WorkflowQueue.defaultName || queue.location != nil {
            queues[queue.name] = UInt32(clamping: queue.width)
        }
        for node in plan.nodes {
            var spec: Trellis_V1_TaskSpec
            switch node.kind {
            case .trigger(let trigger):
                spec = Trellis_V1_TaskSpec(trigger, directory: directory)
            case .task(let task):
                spec = Trellis_V1_TaskSpec(task)
            }
            // The plan's resolved edges: a need on an array's written id is a need on every member, and a
            // need on a trigger is a need on its check.
            spec.needs = node.dependencies.map { dependency in
                let parent = plan.nodes[dependency.task.rawValue]
                var need = Trellis_V1_Need()
                need.name = parent.id
                if let item = dependency.item { need.output = parent.outputs[item] }
                return need
            }
            switch node.role {
            case .main: tasks.append(spec)
            case .onSuccess: onSuccess.append(spec)
            case .onFailure: onFailure.append(spec)
            }
        }
    }
}

extension Trellis_V1_TaskSpec {
    /// A trigger on the wire, named `@name` as in the plan, in the plan's trigger queue: the coordinator checks
    /// it. A trigger's own timeout ends its checks, so the task has no time limit of its own.
    init(_ trigger: WorkflowTrigger, directory: String) {
        self.init()
        name = "@" + trigger.name
        var check = Trellis_V1_TriggerCheck()
        switch trigger.condition {
        case .fileExists(let path): check.file = path.hasPrefix("/") ? path : directory + "/" + path
        case .wallClock(let seconds): check.afterUnixSeconds = seconds
        case .command(let command): check.command = command
        }
        check.intervalMs = UInt64(max(1, trigger.interval.milliseconds))
        check.timeoutMs = trigger.timeout.map { UInt64(max(1, $0.milliseconds)) } ?? 0
        check.workingDirectory = directory
        work = .trigger(check)
        queue = WorkflowPlan.triggerQueue
    }

    /// A workflow task on the wire; its needs name tasks of the same request.
    init(_ task: WorkflowTask) {
        self.init()
        name = task.id
        switch task.action {
        case .shell(let command):
            var shell = Trellis_V1_ShellCommand()
            shell.command = command
            for variable in task.environment { shell.environment[variable.name] = variable.value }
            shell.workingDirectory = task.workingDirectory ?? ""
            work = .shell(shell)
        case .wait(let seconds):
            var shell = Trellis_V1_ShellCommand()
            shell.command = String(format: "sleep %.6f", seconds)
            work = .shell(shell)
        }
        needs = task.needs.compactMap { need in
            var wire = Trellis_V1_Need()
            switch need.target {
            case .task(let name):
                wire.name = name
            case .output(let name, let output):
                wire.name = name
                wire.output = output
            case .trigger:
                return nil
            }
            return wire
        }
        queue = task.queue == WorkflowQueue.defaultName ? "" : task.queue
        workerType = task.placement.type ?? ""
        tags = task.placement.tags
        resources = task.placement.resources
        priority = Int32(clamping: task.priority)
        retries = UInt32(clamping: task.retries)
        retryDelayMs = UInt64(max(0, task.retryDelay.milliseconds))
        timeoutMs = task.timeout.map { UInt64(max(1, $0.milliseconds)) } ?? 0
        outputs = task.outputs
        estimateSeconds = task.expectedSeconds ?? 0
    }
}

extension Duration {
    var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
