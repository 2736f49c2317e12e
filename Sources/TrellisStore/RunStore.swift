/// The durable record of a workflow run: the facts a runner reports, in order, and what they add up to.
///
/// A store records facts and answers questions; it holds no scheduling policy. A runner opens the run, gets
/// back what earlier sessions recorded (so succeeded tasks are not run again), and records each fact as it
/// happens. Facts are applied in order and each `record` call is atomic, so after a crash the stored state
/// is always a prefix of what happened.
///
/// ```swift
/// let store = try SQLiteRunStore(path: ".trellis/flow/state.sqlite")
/// let earlier = try store.open(RunIdentity(workflow: "flow", file: "flow.yaml", contentHash: hash), tasks: ids, restart: false)
/// try store.record([.sessionStarted(at: now, pid: getpid()), .attemptStarted(task: "a", attempt: 1, at: now)])
/// ```
public protocol RunStore: Sendable {
    /// Creates the run, or returns the state earlier sessions left. Throws `.workflowChanged` when the stored
    /// run belongs to a different version of the workflow, unless `restart` (which discards it).
    /// Every id in `tasks` gets a row (new ones as `.waiting`).
    func open(_ identity: RunIdentity, tasks: [String], restart: Bool) throws(RunStoreError) -> RunSnapshot

    /// Applies the facts in order, all or none.
    func record(_ facts: [RunFact]) throws(RunStoreError)

    /// The run as recorded now, or `nil` when no run was ever opened here.
    func snapshot() throws(RunStoreError) -> RunSnapshot?
}

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

/// The recorded state of one task.
public enum StoredState: String, Hashable, Sendable, CaseIterable {
    case waiting
    case running
    /// Failed an attempt and waits to try again.
    case retrying
    case succeeded
    case failed
    case cancelled
    case upstreamFailed = "upstream-failed"
    /// Was running when the run was stopped or killed; runs again on resume.
    case interrupted
    /// An `on_success` or `on_failure` task whose case did not arise.
    case skipped

    /// Whether a resumed run leaves the task alone.
    public var isDone: Bool { self == .succeeded }

    /// Whether the task reached an end in its session.
    public var isFinal: Bool {
        switch self {
        case .succeeded, .failed, .cancelled, .upstreamFailed, .skipped: true
        case .waiting, .running, .retrying, .interrupted: false
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
    case attemptEnded(task: String, attempt: Int, state: StoredState, exitCode: Int32?, message: String?, at: Double)
    /// A task ended without an attempt of its own (upstream failed, or cancelled before it started).
    case settled(task: String, state: StoredState, message: String?, at: Double)
    /// The session ended: `status` is `succeeded`, `failed` or `interrupted`.
    case sessionEnded(status: String, at: Double)
}

/// One attempt of a task.
public struct StoredAttempt: Hashable, Sendable {
    public var number: Int
    public var startedAt: Double
    public var endedAt: Double?
    public var state: StoredState?
    public var exitCode: Int32?
    public var pid: Int32?

    public init(
        number: Int, startedAt: Double, endedAt: Double? = nil, state: StoredState? = nil, exitCode: Int32? = nil,
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
    public var state: StoredState
    public var attempts: [StoredAttempt]
    /// Named outputs signalled, in order.
    public var outputs: [String]
    public var exitCode: Int32?
    public var message: String?
    public var finishedAt: Double?

    public init(
        id: String, state: StoredState = .waiting, attempts: [StoredAttempt] = [], outputs: [String] = [],
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
    public var counts: [StoredState: Int] {
        var counts: [StoredState: Int] = [:]
        for task in tasks { counts[task.state, default: 0] += 1 }
        return counts
    }
}

/// A store that could not do what was asked.
public struct RunStoreError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable { case workflowChanged, notOpen, storage, noSuchJob }
        private var value: Value
        /// The stored run belongs to a different version of the workflow file.
        public static let workflowChanged = Code(value: .workflowChanged)
        /// `record` before `open`.
        public static let notOpen = Code(value: .notOpen)
        /// The database failed.
        public static let storage = Code(value: .storage)
        /// Tasks were added to a job that does not exist.
        public static let noSuchJob = Code(value: .noSuchJob)
        public var description: String { value.rawValue }
    }

    public var code: Code
    public var message: String
    /// The underlying error's description, when there is one.
    public var cause: String?

    public init(_ code: Code, _ message: String, cause: String? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { message + (cause.map { " (\($0))" } ?? "") }
}
