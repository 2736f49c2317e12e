/// Everything the scheduling core needs to know about a task; what the task does is the driver's business.
public struct TaskSpec: Hashable, Sendable, Codable {
    public var queue: QueueID
    /// Higher runs first, before any policy order.
    public var priority: Int
    /// Tasks (or partial results of producers) that must exist before this task may start.
    /// Every dependency must name an already submitted task, so submission order is a topological order.
    public var dependencies: [Dependency]
    /// How many partial results the task yields while running (0 for an ordinary task).
    public var partialCount: Int
    /// Expected duration in seconds, used by `.criticalPath`; `nil` counts as 1.
    public var estimate: Double?
    public var retry: RetryPolicy
    /// Per-attempt time limit; `nil` for none.
    public var timeout: Duration?
    /// Where the task may run; only a core with `.workers` execution places tasks.
    public var placement: Placement {
        get { placementIfAny ?? .anywhere }
        set { placementIfAny = newValue.isAnywhere ? nil : newValue }
    }
    /// `nil` runs anywhere; kept optional so the common spec copies without touching reference counts.
    var placementIfAny: Placement?
    /// Main work, or part of a finale that runs once the job's main tasks have ended.
    public var role: TaskRole
    /// Submitted held: it does not start until `release(_:now:into:)` (a task added but not yet played).
    public var held: Bool

    public init(
        queue: QueueID,
        priority: Int = 0,
        dependencies: [Dependency] = [],
        partialCount: Int = 0,
        estimate: Double? = nil,
        retry: RetryPolicy = .none,
        timeout: Duration? = nil,
        placement: Placement? = nil,
        role: TaskRole = .main,
        held: Bool = false
    ) {
        self.queue = queue
        self.priority = priority
        self.dependencies = dependencies
        self.partialCount = partialCount
        self.estimate = estimate
        self.retry = retry
        self.timeout = timeout
        if let placement, !placement.isAnywhere { placementIfAny = placement }
        self.role = role
        self.held = held
    }
}

/// What a task is to its job. A job's finale runs once all its main tasks have ended: the `onSuccess` tasks
/// when every main task succeeded, the `onFailure` tasks otherwise; the other group ends `.skipped`.
public enum TaskRole: Hashable, Sendable, Codable {
    case main
    /// Runs once after every main task of the job succeeded (a commit).
    case onSuccess
    /// Runs once after the job's main tasks ended and any did not succeed (a clean-up).
    case onFailure

    /// The role's name as stores write it: `main`, `on-success`, `on-failure`.
    public var name: String {
        switch self {
        case .main: "main"
        case .onSuccess: "on-success"
        case .onFailure: "on-failure"
        }
    }

    /// The role a store wrote as `name`.
    public init?(name: String) {
        switch name {
        case "main": self = .main
        case "on-success": self = .onSuccess
        case "on-failure": self = .onFailure
        default: return nil
        }
    }
}
