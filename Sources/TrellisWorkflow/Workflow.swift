public import TrellisCore

/// A workflow ready to schedule: parsed from a YAML file or a WfFormat instance, with task arrays expanded.
///
/// ```swift
/// let workflow = try WorkflowLoader.load(path: "Examples/quickstart.yaml")
/// let plan = try workflow.plan()
/// print(plan.nodes.map(\.id))
/// ```
public struct Workflow: Sendable {
    public var name: String
    /// The file it came from, as given.
    public var file: String
    public var policy: SchedulingPolicy
    public var failurePolicy: FailurePolicy
    /// Queues in declaration order; `default` is always present.
    public var queues: [WorkflowQueue]
    public var triggers: [WorkflowTrigger]
    /// The main graph, then the `on_success` and `on_failure` tasks (see `WorkflowTask.Role`).
    public var tasks: [WorkflowTask]
    /// Task arrays (`matrix` / `for_each`): the id as written, with `${…}`, to the ids it expanded to.
    /// A need that names the written id depends on every member.
    public var arrays: [String: [String]]
    /// A hash of the file's bytes: a resumed run refuses a file that changed.
    public var contentHash: String

    public init(
        name: String,
        file: String,
        policy: SchedulingPolicy = .outputFirst,
        failurePolicy: FailurePolicy = .continueIndependent,
        queues: [WorkflowQueue] = [WorkflowQueue(name: WorkflowQueue.defaultName, width: 4)],
        triggers: [WorkflowTrigger] = [],
        tasks: [WorkflowTask] = [],
        arrays: [String: [String]] = [:],
        contentHash: String = ""
    ) {
        self.name = name
        self.file = file
        self.policy = policy
        self.failurePolicy = failurePolicy
        self.queues = queues
        self.triggers = triggers
        self.tasks = tasks
        self.arrays = arrays
        self.contentHash = contentHash
    }

    /// Sets the width of a queue, adding the queue if the file did not declare it.
    public mutating func setWidth(_ width: Int, of queue: String) {
        if let index = queues.firstIndex(where: { $0.name == queue }) {
            queues[index].width = width
        } else {
            queues.append(WorkflowQueue(name: queue, width: width))
        }
    }
}

/// A named queue with a fixed number of slots.
public struct WorkflowQueue: Hashable, Sendable {
    public static let defaultName = "default"
    /// The widest a queue may be.
    public static let maxWidth = 1 << 20

    public var name: String
    public var width: Int
    public var location: SourceLocation?

    public init(name: String, width: Int, location: SourceLocation? = nil) {
        self.name = name
        self.width = width
        self.location = location
    }
}

/// One task of a workflow.
public struct WorkflowTask: Hashable, Sendable {
    /// Where a task sits in the run: the main graph, or a finale that runs once after everything else.
    public enum Role: String, Hashable, Sendable {
        case main
        /// Runs after the main graph when every main task succeeded.
        case onSuccess = "on_success"
        /// Runs after the main graph when any main task did not succeed.
        case onFailure = "on_failure"
    }

    /// What the task does.
    public enum Action: Hashable, Sendable {
        /// A command for `/bin/sh -c`.
        case shell(String)
        /// Waits this many seconds and succeeds; no process (replays of recorded workflows).
        case wait(seconds: Double)
    }

    public var id: String
    public var action: Action
    public var needs: [WorkflowNeed]
    public var queue: String
    public var priority: Int
    /// Extra attempts after a failure.
    public var retries: Int
    /// The pause before the first retry; it doubles with each further retry.
    public var retryDelay: Duration
    public var timeout: Duration?
    /// Environment variables added to the inherited environment, in file order.
    public var environment: [EnvironmentVariable]
    public var workingDirectory: String?
    /// Expected duration in seconds (`.criticalPath` and the simulator).
    public var estimate: Double?
    /// Named outputs the task signals while running, by printing `::trellis output NAME` on stdout.
    public var outputs: [String]
    public var role: Role
    /// Where it may run on a coordinator's workers (worker type, tags, resources). A local run runs every task
    /// on this machine.
    public var placement: Placement = .anywhere
    public var location: SourceLocation?

    public init(
        id: String,
        action: Action,
        needs: [WorkflowNeed] = [],
        queue: String = WorkflowQueue.defaultName,
        priority: Int = 0,
        retries: Int = 0,
        retryDelay: Duration = .seconds(1),
        timeout: Duration? = nil,
        environment: [EnvironmentVariable] = [],
        workingDirectory: String? = nil,
        estimate: Double? = nil,
        outputs: [String] = [],
        role: Role = .main,
        location: SourceLocation? = nil
    ) {
        self.id = id
        self.action = action
        self.needs = needs
        self.queue = queue
        self.priority = priority
        self.retries = retries
        self.retryDelay = retryDelay
        self.timeout = timeout
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.estimate = estimate
        self.outputs = outputs
        self.role = role
        self.location = location
    }

    /// The retry policy the scheduling core applies.
    public var retryPolicy: RetryPolicy {
        RetryPolicy(
            maxAttempts: retries + 1, initialBackoff: retryDelay, multiplier: 2,
            maxBackoff: RetryPolicy.longestWorkflowBackoff)
    }
}

/// One `NAME=value` pair of a task's environment.
public struct EnvironmentVariable: Hashable, Sendable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// One entry of a task's `needs`.
public struct WorkflowNeed: Hashable, Sendable {
    public enum Target: Hashable, Sendable {
        /// The whole task must succeed.
        case task(String)
        /// The task must signal this named output (it may still be running).
        case output(task: String, name: String)
        /// The external trigger must be satisfied.
        case trigger(String)
    }

    public var target: Target
    public var location: SourceLocation?

    public init(_ target: Target, location: SourceLocation? = nil) {
        self.target = target
        self.location = location
    }
}

/// An external condition checked in-process at an interval (Cylc's xtriggers).
public struct WorkflowTrigger: Hashable, Sendable {
    public typealias Condition = TriggerCondition

    public var name: String
    public var condition: Condition
    public var interval: Duration
    /// Give up, failing every task that needs the trigger, after this long; `nil` waits forever.
    public var timeout: Duration?
    public var location: SourceLocation?

    public init(
        name: String,
        condition: Condition,
        interval: Duration = .seconds(1),
        timeout: Duration? = nil,
        location: SourceLocation? = nil
    ) {
        self.name = name
        self.condition = condition
        self.interval = interval
        self.timeout = timeout
        self.location = location
    }
}
