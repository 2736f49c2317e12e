public import TrellisCore

/// The durable task and worker tables of a coordinator. The store decides readiness: a task's count of
/// unmet needs goes down in the same transaction that records its parent's success (or output), and a task
/// whose count reaches zero while played becomes ready. It also fences: an event about an attempt that is
/// not the task's current (epoch, attempt) changes nothing and is reported stale. Order among ready tasks
/// and placement on workers are the scheduling core's business, not the store's.
///
/// ```swift
/// let store = InMemoryCoordinatorStore()
/// let session = try store.beginSession(at: now)                  // epoch 1
/// let added = try store.addTasks(NewTasks(jobName: "j", tasks: [a, b], play: true), at: now)
/// let ready = try store.apply([.assigned(added.taskIDs[0], worker: "w1", epoch: session.epoch, attempt: 1)])
/// ```
public protocol CoordinatorStore: Sendable {
    /// Begins a coordinator session: the epoch goes up by one. Tasks left assigned or running by the
    /// previous session stay so, to be reconciled with reconnecting workers (or requeued after a lease).
    func beginSession(at time: Double) throws(RunStoreError) -> CoordinatorSession

    /// Adds tasks, as a new job or to an existing one, all or none; needs name tasks of the same batch by
    /// position or existing tasks by id. Returns the job and the new ids in order.
    func addTasks(_ batch: NewTasks, at time: Double) throws(RunStoreError) -> AddedTasks

    /// Applies events in order, in one transaction. Returns which tasks became ready and which events were
    /// stale.
    func apply(_ events: [CoordinatorEvent], at time: Double) throws(RunStoreError) -> AppliedEvents

    func task(_ id: UInt64) throws(RunStoreError) -> RemoteTask?

    /// Tasks in id order, optionally only some states or one job, after `afterID`, at most `limit`.
    func tasks(
        states: Set<RemoteTaskState>, job: UInt64?, afterID: UInt64, limit: Int
    ) throws(RunStoreError) -> [RemoteTask]

    /// The values of the tasks `child` needs that returned one, by task name (a handler's result).
    func inputs(of child: UInt64) throws(RunStoreError) -> [String: [UInt8]]

    /// An attempt's stdout and stderr as kept, in order.
    func logs(of task: UInt64, attempt: Int) throws(RunStoreError) -> [LogRecord]

    /// Records a worker as it connects or is lost; a worker keeps its id across reconnects by name.
    func saveWorker(_ worker: RemoteWorker) throws(RunStoreError) -> RemoteWorker

    func workers() throws(RunStoreError) -> [RemoteWorker]
}

/// A piece of an attempt's output.
public struct LogRecord: Hashable, Sendable {
    public enum Stream: Int, Hashable, Sendable { case stdout = 1, stderr = 2 }
    public var stream: Stream
    public var data: [UInt8]

    public init(stream: Stream, data: [UInt8]) {
        self.stream = stream
        self.data = data
    }
}

/// A worker as the coordinator records it.
public struct RemoteWorker: Hashable, Sendable {
    public enum Status: String, Hashable, Sendable { case connected, lost, left }
    /// 0 until first saved.
    public var id: UInt64
    public var name: String
    public var type: String
    public var tags: [String]
    public var slots: Int
    public var status: Status
    public var lastSeen: Double

    public init(
        id: UInt64 = 0, name: String, type: String, tags: [String], slots: Int, status: Status, lastSeen: Double
    ) {
        self.id = id
        self.name = name
        self.type = type
        self.tags = tags
        self.slots = slots
        self.status = status
        self.lastSeen = lastSeen
    }
}

/// Where a remote task stands (the wire's `TaskState`).
public enum RemoteTaskState: String, Hashable, Sendable, CaseIterable {
    case created, ready, assigned, running, succeeded, failed, cancelled, killed, paused
    case upstreamFailed = "upstream-failed"
    /// A finale of the group that did not run: `on_success` of a job that did not succeed, or `on_failure`
    /// of one that did.
    case skipped

    public var isFinal: Bool {
        switch self {
        case .succeeded, .failed, .cancelled, .killed, .upstreamFailed, .skipped: true
        case .created, .ready, .assigned, .running, .paused: false
        }
    }
}

/// What `beginSession` returns.
public struct CoordinatorSession: Hashable, Sendable {
    public var epoch: UInt64
    /// Tasks ready now (played, needs met, not assigned), in id order.
    public var ready: [UInt64]
    /// Tasks assigned or running under an earlier epoch, awaiting reconciliation.
    public var inFlight: [UInt64]

    public init(epoch: UInt64, ready: [UInt64], inFlight: [UInt64]) {
        self.epoch = epoch
        self.ready = ready
        self.inFlight = inFlight
    }
}

/// One need of a new task.
public struct NewNeed: Hashable, Sendable {
    public enum Target: Hashable, Sendable {
        /// A task of the same batch, by position.
        case position(Int)
        /// An existing task.
        case id(UInt64)
    }

    public var target: Target
    /// Only this named output, or the whole task when `nil`.
    public var output: String?

    public init(_ target: Target, output: String? = nil) {
        self.target = target
        self.output = output
    }
}

/// A task to add. `spec` is the task's wire description, kept as bytes the store does not read.
public struct NewTask: Hashable, Sendable {
    public var name: String
    public var spec: [UInt8]
    public var needs: [NewNeed]
    public var outputs: [String]
    public var maxAttempts: Int
    public var role: TaskRole
    /// The job policy's order among ready tasks of equal priority (higher first), fixed when added.
    public var rank: Double

    public init(
        name: String, spec: [UInt8] = [], needs: [NewNeed] = [], outputs: [String] = [], maxAttempts: Int = 1,
        role: TaskRole = .main, rank: Double = 0
    ) {
        self.name = name
        self.spec = spec
        self.needs = needs
        self.outputs = outputs
        self.maxAttempts = maxAttempts
        self.role = role
        self.rank = rank
    }
}

public struct NewTasks: Hashable, Sendable {
    /// 0 for a new job.
    public var job: UInt64
    public var jobName: String
    public var tasks: [NewTask]
    /// Played at once (ready when their needs are met) rather than created.
    public var play: Bool

    public init(job: UInt64 = 0, jobName: String, tasks: [NewTask], play: Bool) {
        self.job = job
        self.jobName = jobName
        self.tasks = tasks
        self.play = play
    }
}

public struct AddedTasks: Hashable, Sendable {
    public var job: UInt64
    public var taskIDs: [UInt64]
    /// Of the new tasks, those ready at once.
    public var ready: [UInt64]
    /// Tasks that ended at once: new ones needing a task that already failed, and skipped finales.
    public var ended: [UInt64] = []
}

/// One fact about remote tasks. `epoch` and `attempt` fence reports: they must match the task's current.
public enum CoordinatorEvent: Hashable, Sendable {
    case played(UInt64)
    case assigned(UInt64, worker: String, epoch: UInt64, attempt: Int)
    case started(UInt64, epoch: UInt64, attempt: Int)
    case outputSignalled(UInt64, name: String, epoch: UInt64, attempt: Int)
    case succeeded(UInt64, epoch: UInt64, attempt: Int, exitCode: Int32?, value: [UInt8]? = nil)
    /// The attempt failed; the task is ready again while attempts remain, else failed for good.
    case failed(UInt64, epoch: UInt64, attempt: Int, exitCode: Int32?, message: String)
    /// The attempt's worker was lost: the task is ready again as a new attempt (not counted as a failure).
    case requeued(UInt64, epoch: UInt64, attempt: Int)
    /// Cancelled or killed by an operator, with everything that needs it.
    case cancelled(UInt64, killed: Bool)
    case paused(UInt64)
    case resumed(UInt64)
    /// Output of the current attempt, kept with the task.
    case log(UInt64, epoch: UInt64, attempt: Int, LogRecord)
}

public struct AppliedEvents: Hashable, Sendable {
    /// Tasks that became ready, in the order it happened.
    public var ready: [UInt64] = []
    /// Positions (in the applied list) of events that were stale or did not apply to the task's state.
    public var ignored: [Int] = []
    /// Tasks that reached a final state, directly or because of a task they need.
    public var ended: [UInt64] = []

    public init(ready: [UInt64] = [], ignored: [Int] = [], ended: [UInt64] = []) {
        self.ready = ready
        self.ignored = ignored
        self.ended = ended
    }
}

/// A remote task as stored.
public struct RemoteTask: Hashable, Sendable {
    public var id: UInt64
    public var job: UInt64
    public var name: String
    public var state: RemoteTaskState
    public var spec: [UInt8]
    public var outputs: [String]
    public var maxAttempts: Int
    public var role: TaskRole
    public var rank: Double
    /// Attempts started so far (the current one included); requeues after a lost worker count too.
    public var attempt: Int
    /// Failed attempts so far.
    public var failures: Int
    /// The epoch of the current attempt (0 before the first).
    public var epoch: UInt64
    public var worker: String?
    /// Needs not yet met.
    public var unmet: Int
    public var played: Bool
    public var signalled: [String]
    public var exitCode: Int32?
    /// What a handler returned.
    public var value: [UInt8]?
    public var message: String?
    public var createdAt: Double
    public var startedAt: Double?
    public var finishedAt: Double?

    public init(
        id: UInt64, job: UInt64, name: String, state: RemoteTaskState, spec: [UInt8], outputs: [String],
        maxAttempts: Int, role: TaskRole = .main, rank: Double = 0, attempt: Int = 0, failures: Int = 0,
        epoch: UInt64 = 0, worker: String? = nil,
        unmet: Int, played: Bool, signalled: [String] = [], exitCode: Int32? = nil, value: [UInt8]? = nil,
        message: String? = nil,
        createdAt: Double, startedAt: Double? = nil, finishedAt: Double? = nil
    ) {
        self.id = id
        self.job = job
        self.name = name
        self.state = state
        self.spec = spec
        self.outputs = outputs
        self.maxAttempts = maxAttempts
        self.role = role
        self.rank = rank
        self.attempt = attempt
        self.failures = failures
        self.epoch = epoch
        self.worker = worker
        self.unmet = unmet
        self.played = played
        self.signalled = signalled
        self.exitCode = exitCode
        self.value = value
        self.message = message
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }
}
