public import TrellisCore

/// Which workflow a run belongs to.
public struct RunIdentity: Hashable, Sendable {
    public var workflow: String
    public var file: String
    public var contentHash: String

    public init(workflow: String, file: String, contentHash: String) {
        self.workflow = workflow
        self.file = file
        self.contentHash = contentHash
    }
}

extension TaskStatus {
    /// How a task that reached its end is recorded.
    public init(_ outcome: TaskOutcome) {
        switch outcome {
        case .succeeded: self = .succeeded
        case .failed: self = .failed
        case .cancelled: self = .cancelled
        case .upstreamFailed: self = .upstreamFailed
        case .skipped: self = .skipped
        }
    }
}

/// One thing that happened in a run. Times are seconds since 1970.
public enum RunFact: Hashable, Sendable {
    /// A runner process started (or resumed) the run.
    case sessionStarted(at: Double, pid: Int32)
    case attemptStarted(task: String, attempt: Int, at: Double)
    /// The attempt's process is running as `pid` (its own process group).
    case processStarted(task: String, attempt: Int, pid: Int32)
    case outputSignalled(task: String, name: String, at: Double)
    /// An attempt ended; `state` is what became of the task (`.retrying` when it will be tried again).
    case attemptEnded(task: String, attempt: Int, state: TaskStatus, exitCode: Int32?, message: String?, at: Double)
    /// A task ended without an attempt of its own (upstream failed, or cancelled before it started).
    case settled(task: String, state: TaskStatus, message: String?, at: Double)
    /// The session ended: `status` is `succeeded`, `failed` or `interrupted`.
    case sessionEnded(status: String, at: Double)
}

/// One attempt of a task.
public struct StoredAttempt: Hashable, Sendable {
    public var number: Int
    public var startedAt: Double
    public var endedAt: Double?
    public var state: TaskStatus?
    public var exitCode: Int32?
    public var pid: Int32?

    public init(
        number: Int, startedAt: Double, endedAt: Double? = nil, state: TaskStatus? = nil, exitCode: Int32? = nil,
        pid: Int32? = nil
    ) {
        self.number = number
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.state = state
        self.exitCode = exitCode
        self.pid = pid
    }
}

/// The recorded state of one task.
public struct StoredTask: Hashable, Sendable {
    public var id: String
    public var state: TaskStatus
    public var attempts: [StoredAttempt]
    /// Named outputs signalled, in order.
    public var outputs: [String]
    public var exitCode: Int32?
    public var message: String?
    public var finishedAt: Double?

    public init(
        id: String, state: TaskStatus = .waiting, attempts: [StoredAttempt] = [], outputs: [String] = [],
        exitCode: Int32? = nil, message: String? = nil, finishedAt: Double? = nil
    ) {
        self.id = id
        self.state = state
        self.attempts = attempts
        self.outputs = outputs
        self.exitCode = exitCode
        self.message = message
        self.finishedAt = finishedAt
    }

    public var startedAt: Double? { attempts.first?.startedAt }
}

/// A run as recorded.
public struct RunSnapshot: Hashable, Sendable {
    public var identity: RunIdentity
    /// How many runner sessions have worked on the run (the local runner's epoch).
    public var sessions: Int
    /// The pid of the latest session.
    public var pid: Int32?
    /// `running` while a session is active (or was killed), then how the latest session ended.
    public var status: String
    public var startedAt: Double?
    public var endedAt: Double?
    /// Tasks in the order they were first opened.
    public var tasks: [StoredTask]

    public init(
        identity: RunIdentity, sessions: Int = 0, pid: Int32? = nil, status: String = "new", startedAt: Double? = nil,
        endedAt: Double? = nil, tasks: [StoredTask] = []
    ) {
        self.identity = identity
        self.sessions = sessions
        self.pid = pid
        self.status = status
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.tasks = tasks
    }

    public func task(_ id: String) -> StoredTask? { tasks.first { $0.id == id } }

    /// How many tasks are in each state.
    public var counts: [TaskStatus: Int] {
        var counts: [TaskStatus: Int] = [:]
        for task in tasks { counts[task.state, default: 0] += 1 }
        return counts
    }
}

extension RunSnapshot {
    /// The effect of one fact. `index` maps task ids to their positions in `tasks`; a fact about a task not
    /// yet listed adds it.
    public mutating func apply(_ fact: RunFact, index: inout [String: Int]) {
        func position(_ id: String) -> Int {
            if let position = index[id] { return position }
            index[id] = tasks.count
            tasks.append(StoredTask(id: id))
            return tasks.count - 1
        }
        switch fact {
        case .sessionStarted(let at, let pid):
            sessions += 1
            self.pid = pid
            status = "running"
            if startedAt == nil { startedAt = at }
            endedAt = nil
            for i in tasks.indices where tasks[i].state == .running || tasks[i].state == .retrying {
                tasks[i].state = .interrupted
                if let last = tasks[i].attempts.indices.last, tasks[i].attempts[last].state == nil {
                    tasks[i].attempts[last].state = .interrupted
                }
            }
        case .attemptStarted(let task, let attempt, let at):
            let i = position(task)
            tasks[i].state = .running
            tasks[i].message = nil
            tasks[i].exitCode = nil
            tasks[i].finishedAt = nil
            tasks[i].attempts.append(StoredAttempt(number: attempt, startedAt: at))
        case .processStarted(let task, let attempt, let pid):
            let i = position(task)
            if let a = tasks[i].attempts.lastIndex(where: { $0.number == attempt }) { tasks[i].attempts[a].pid = pid }
        case .outputSignalled(let task, let name, _):
            let i = position(task)
            if !tasks[i].outputs.contains(name) { tasks[i].outputs.append(name) }
        case .attemptEnded(let task, let attempt, let state, let exitCode, let message, let at):
            let i = position(task)
            if let a = tasks[i].attempts.lastIndex(where: { $0.number == attempt }) {
                tasks[i].attempts[a].endedAt = at
                tasks[i].attempts[a].state = state
                tasks[i].attempts[a].exitCode = exitCode
            }
            tasks[i].state = state
            tasks[i].exitCode = exitCode
            tasks[i].message = message
            tasks[i].finishedAt = state.isFinal ? at : nil
        case .settled(let task, let state, let message, let at):
            let i = position(task)
            tasks[i].state = state
            tasks[i].message = message
            tasks[i].finishedAt = at
        case .sessionEnded(let status, let at):
            self.status = status
            endedAt = at
        }
    }
}
