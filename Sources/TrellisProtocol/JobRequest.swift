package import TrellisCore
package import TrellisEngine

/// An `AddTasks` request as the engine takes it: the submission for the core, and beside it, in the same
/// order, what the core does not keep — each task's name, its named outputs and its stored spec (what a
/// worker receives).
package struct JobRequest: Sendable {
    package var jobName: String
    package var submission: JobSubmission
    package var names: [String]
    package var outputs: [[String]]
    package var specs: [[UInt8]]
    /// The names of the submission's queues, in order: `default` first.
    package var queueNames: [String]
    /// Main tasks are held until the job is played.
    package var play: Bool
}

/// A request the engine cannot take, with the reason.
package struct JobRequestError: Error, Hashable, Sendable, CustomStringConvertible {
    package var message: String

    package init(_ message: String) { self.message = message }

    package var description: String { message }
}

/// A task the core already has, as a request's need by task id finds it.
package struct ExistingTask: Sendable {
    package var id: TaskID
    /// Its named outputs, in order (a need on one is a need on that partial result).
    package var outputs: [String]

    package init(id: TaskID, outputs: [String]) {
        self.id = id
        self.outputs = outputs
    }
}

extension JobRequest {
    /// The worker type of a task that names none: process work.
    package static let defaultWorkerType = "blocking"

    /// Worker types beginning with this are the coordinator's own: no task or worker may name one.
    package static let reservedPrefix = "@"

    /// The worker type of the coordinator's embedded executor, which checks triggers on its own host.
    package static let coordinatorType = "@coordinator"

    /// The queue a task names none of.
    package static let defaultQueue = "default"

    /// Turns a checked request into a submission: the main tasks, then the `on_success`, then the `on_failure`
    /// tasks, each in its queue (the default one is bounded only by worker slots unless the request sets its
    /// width). A need by name is a need on a task of the request; a need by id, on a task `existing` finds.
    /// `policy` is used when the request names none.
    package init(
        _ incoming: IncomingJob, policy defaultPolicy: SchedulingPolicy, existing: (UInt64) -> ExistingTask?
    ) throws(JobRequestError) {
        let request = incoming.job
        var queueNames = [Self.defaultQueue]
        queueNames += request.queues.keys.filter { !$0.isEmpty && $0 != Self.defaultQueue }.sorted()
        var queues: [JobSubmission.Queue] = []
        var queueIndex: [String: Int] = [:]
        for (index, name) in queueNames.enumerated() {
            let width = request.queues[name] ?? SchedulerCore.maxWorkerSlots
            guard width >= 1, width <= SchedulerCore.maxWorkerSlots else {
                throw JobRequestError(
                    "queue '\(name)' needs a width of 1 to \(SchedulerCore.maxWorkerSlots), got \(width)")
            }
            queues.append(JobSubmission.Queue(name: name, width: width))
            queueIndex[name] = index
        }
        let groups: [(TaskRole, [RemoteTaskSpec])] = [
            (.main, request.tasks), (.onSuccess, request.onSuccess), (.onFailure, request.onFailure),
        ]
        var specs: [RemoteTaskSpec] = []
        var roles: [TaskRole] = []
        for (role, group) in groups {
            specs += group
            roles += repeatElement(role, count: group.count)
        }
        var position: [String: Int] = [:]
        for (index, spec) in specs.enumerated() where position[spec.name] == nil { position[spec.name] = index }
        var submission = JobSubmission(
            policy: request.policy ?? defaultPolicy, failurePolicy: request.failurePolicy ?? .continueIndependent,
            queues: queues)
        submission.tasks.reserveCapacity(specs.count)
        for (index, spec) in specs.enumerated() {
            var needs: [JobSubmission.Need] = []
            for need in spec.needs {
                func item(in outputs: [String], of target: String) throws(JobRequestError) -> Int? {
                    guard let output = need.output else { return nil }
                    guard let item = outputs.firstIndex(of: output) else {
                        throw JobRequestError(
                            "'\(spec.name)' needs output '\(output)' of \(target), which does not declare it")
                    }
                    return item
                }
                switch need.target {
                case .name(let name):
                    guard let other = position[name] else {
                        throw JobRequestError("'\(spec.name)' needs unknown task '\(name)'")
                    }
                    needs.append(
                        JobSubmission.Need(.batch(other), item: try item(in: specs[other].outputs, of: "'\(name)'")))
                case .id(let id):
                    guard let found = existing(id) else {
                        throw JobRequestError("'\(spec.name)' needs task \(id), which does not exist")
                    }
                    needs.append(
                        JobSubmission.Need(.existing(found.id), item: try item(in: found.outputs, of: "task \(id)")))
                }
            }
            let queue = spec.queue ?? Self.defaultQueue
            guard let position = queueIndex[queue] else {
                throw JobRequestError("'\(spec.name)' is in queue '\(queue)', which the request does not name")
            }
            submission.tasks.append(
                JobSubmission.Task(
                    name: spec.name, queue: .new(position),
                    spec: Self.coreSpec(spec, role: roles[index], play: request.play), needs: needs))
        }
        self.init(
            jobName: request.name, submission: submission, names: specs.map(\.name), outputs: specs.map(\.outputs),
            specs: incoming.stored, queueNames: queueNames, play: request.play)
    }

    /// What the core needs of a spec: order, retries (back-off doubling, capped as in workflow files),
    /// timeout, outputs, placement and role. Main tasks of a job not yet played are held.
    package static func coreSpec(_ spec: RemoteTaskSpec, role: TaskRole, play: Bool) -> TaskSpec {
        TaskSpec(
            queue: QueueID(0), priority: spec.priority, partialCount: spec.outputs.count,
            estimate: spec.estimate.flatMap { $0 > 0 ? $0 : nil },
            retry: RetryPolicy(
                maxAttempts: spec.retries + 1, initialBackoff: spec.retryDelay, multiplier: 2,
                maxBackoff: RetryPolicy.longestWorkflowBackoff),
            timeout: spec.timeout, placement: placement(of: spec), role: role, held: role == .main && !play)
    }

    /// Where a task may run: a trigger only on the coordinator's embedded executor; other work on a worker of
    /// its type (process work when it names none), with its tags and resources.
    package static func placement(of spec: RemoteTaskSpec) -> Placement {
        if case .trigger = spec.work { return Placement(type: coordinatorType) }
        return Placement(
            type: spec.placement.type ?? defaultWorkerType, tags: spec.placement.tags,
            resources: spec.placement.resources)
    }
}
