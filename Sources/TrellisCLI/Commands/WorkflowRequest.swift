internal import Foundation
internal import TrellisCore
internal import TrellisEngine
internal import TrellisProtocol
internal import TrellisWorkflow

// A workflow file becomes a coordinator's job here, in the command line: the wire contract depends on no file
// format, and a file format on no wire.

extension RemoteJob {
    /// The job `trellis submit` sends for a workflow: the main tasks, then its `on_success` and `on_failure`
    /// tasks, its policies and its queues with their widths (a queue limits how many of its tasks run at once
    /// across all workers). Its triggers are checked by the coordinator, on the coordinator's host: relative
    /// files are resolved against `directory` (the workflow's), where commands also run.
    init(plan: WorkflowPlan, play: Bool, directory: String) {
        self.init(name: plan.workflow.name, play: play)
        policy = plan.workflow.policy
        failurePolicy = plan.workflow.failurePolicy
        // The default queue is bounded only by worker slots on a coordinator, unless the file sets its width
        // (`--workers` is a local run's).
        for queue in plan.queues where queue.name != WorkflowQueue.defaultName || queue.location != nil {
            queues[queue.name] = queue.width
        }
        for node in plan.nodes {
            var spec: RemoteTaskSpec
            switch node.kind {
            case .trigger(let trigger):
                spec = RemoteTaskSpec(trigger, directory: directory)
            case .task(let task):
                spec = RemoteTaskSpec(task)
            }
            // The plan's resolved edges: a need on an array's written id is a need on every member, and a
            // need on a trigger is a need on its check.
            spec.needs = node.dependencies.map { dependency in
                let parent = plan.nodes[dependency.task.rawValue]
                return RemoteNeed(.name(parent.id), output: dependency.item.map { parent.outputs[$0] })
            }
            switch node.role {
            case .main: tasks.append(spec)
            case .onSuccess: onSuccess.append(spec)
            case .onFailure: onFailure.append(spec)
            }
        }
    }
}

extension RemoteTaskSpec {
    /// A trigger, named `@name` as in the plan, in the plan's trigger queue: the coordinator checks it. A
    /// trigger's own timeout ends its checks, so the task has no time limit of its own.
    init(_ trigger: WorkflowTrigger, directory: String) {
        var condition = trigger.condition
        if case .fileExists(let path) = condition, !path.hasPrefix("/") {
            condition = .fileExists(directory + "/" + path)
        }
        self.init(
            name: "@" + trigger.name,
            work: .trigger(condition, interval: trigger.interval, timeout: trigger.timeout, directory: directory))
        queue = WorkflowPlan.triggerQueue
    }

    /// A workflow task; its needs name tasks of the same job.
    init(_ task: WorkflowTask) {
        let work: RemoteWork =
            switch task.action {
            case .shell(let command):
                .shell(
                    command: command,
                    environment: Dictionary(task.environment.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 }),
                    directory: task.workingDirectory)
            case .wait(let seconds): .shell(command: String(format: "sleep %.6f", seconds))
            }
        self.init(name: task.id, work: work)
        queue = task.queue == WorkflowQueue.defaultName ? nil : task.queue
        placement = task.placement
        priority = task.priority
        retries = task.retries
        retryDelay = task.retryDelay
        timeout = task.timeout
        outputs = task.outputs
        estimate = task.expectedSeconds
    }
}
