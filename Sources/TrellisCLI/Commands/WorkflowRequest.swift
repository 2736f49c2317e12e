internal import Foundation
internal import TrellisCore
internal import TrellisProtocol
internal import TrellisWorkflow

// A workflow file becomes a wire request here, in the command line: the wire contract depends on no file
// format, and a file format on no wire.

extension Trellis_V1_AddTasksRequest {
    /// The request `trellis submit` sends for a workflow: the main tasks, then its `on_success` and
    /// `on_failure` tasks, its policies and its queues with their widths (a queue limits how many of its tasks
    /// run at once across all workers). External triggers are checked by `trellis run` only; a workflow that
    /// uses one is refused.
    init(plan: WorkflowPlan, play: Bool) throws(WorkflowValidationError) {
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
        var errors: [WorkflowError] = []
        for node in plan.nodes {
            switch node.kind {
            case .trigger(let trigger):
                errors.append(
                    WorkflowError(
                        .invalidValue,
                        "trigger '@\(trigger.name)' runs only with `trellis run`; a coordinator has no external triggers yet",
                        at: trigger.location))
            case .task(let task):
                var spec = Trellis_V1_TaskSpec(task)
                // The plan's resolved edges: a need on an array's written id is a need on every member.
                spec.needs = node.dependencies.map { dependency in
                    let parent = plan.nodes[dependency.task.rawValue]
                    var need = Trellis_V1_Need()
                    need.name = parent.id
                    if let item = dependency.item { need.output = parent.outputs[item] }
                    return need
                }
                switch task.role {
                case .main: tasks.append(spec)
                case .onSuccess: onSuccess.append(spec)
                case .onFailure: onFailure.append(spec)
                }
            }
        }
        guard errors.isEmpty else { throw WorkflowValidationError(errors) }
    }
}

extension Trellis_V1_TaskSpec {
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
