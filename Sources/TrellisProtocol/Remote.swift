package import Foundation
package import TrellisCore
package import TrellisEngine

// What programs other than workers send a coordinator and read back, in Trellis's own types: the command line
// speaks these, and the generated protocol types stay inside this module.

/// What a task does.
package enum RemoteWork: Hashable, Sendable {
    /// `/bin/sh -c command` on a worker; `directory` nil for the worker's own.
    case shell(command: String, environment: [String: String] = [:], directory: String? = nil)
    /// A function a worker registered by name.
    case handler(name: String, payload: [UInt8])
    /// A condition the coordinator checks on its own host; relative files and commands are `directory`'s.
    case trigger(TriggerCondition, interval: Duration, timeout: Duration?, directory: String?)
}

/// A task's need: a task of the same request by name, or any task by id; `output` a named output of it.
package struct RemoteNeed: Hashable, Sendable {
    package enum Target: Hashable, Sendable {
        case name(String)
        case id(UInt64)
    }

    package var target: Target
    package var output: String?

    package init(_ target: Target, output: String? = nil) {
        self.target = target
        self.output = output
    }
}

/// A task to add.
package struct RemoteTaskSpec: Hashable, Sendable {
    package var name: String
    package var work: RemoteWork
    package var needs: [RemoteNeed] = []
    /// The job's queue; nil for the default one.
    package var queue: String?
    package var placement = Placement.anywhere
    package var priority = 0
    package var retries = 0
    package var retryDelay = Duration.zero
    package var timeout: Duration?
    package var outputs: [String] = []
    package var estimate: Double?

    package init(name: String, work: RemoteWork) {
        self.name = name
        self.work = work
    }
}

/// Tasks to add: a new job (`job` 0) with its policies and queues, or more tasks of job `job`.
package struct RemoteJob: Hashable, Sendable {
    package var job: UInt64 = 0
    package var name: String
    /// Main tasks are held until played.
    package var play: Bool
    /// The coordinator's default when nil.
    package var policy: SchedulingPolicy?
    package var failurePolicy: FailurePolicy?
    /// Queue widths by name.
    package var queues: [String: Int] = [:]
    package var tasks: [RemoteTaskSpec] = []
    package var onSuccess: [RemoteTaskSpec] = []
    package var onFailure: [RemoteTaskSpec] = []

    package init(name: String, play: Bool) {
        self.name = name
        self.play = play
    }
}

/// A task on a coordinator, as operators read it.
package struct RemoteTask: Hashable, Sendable {
    package var id: UInt64
    package var job: UInt64
    package var name: String
    /// Nil for a state this Trellis does not know.
    package var status: TaskStatus?
    package var attempts: Int
    /// The worker of the latest attempt.
    package var worker: String?
    package var exitCode: Int32?
    package var message: String?
    /// Named outputs signalled, in order.
    package var outputs: [String]
    /// What a handler returned, once it succeeded.
    package var value: [UInt8]?
    /// What it was added as, in the wire encoding the coordinator stored: handed on as it is, so fields a newer
    /// client added and this Trellis does not know still reach the operator who reads the task.
    package var storedSpec: [UInt8]?
    /// The tasks it needs, by id, in the order of its spec's needs.
    package var needs: [UInt64]

    package init(
        id: UInt64, job: UInt64, name: String, status: TaskStatus?, attempts: Int, worker: String?,
        exitCode: Int32?, message: String?, outputs: [String], value: [UInt8]?, storedSpec: [UInt8]?,
        needs: [UInt64] = []
    ) {
        self.needs = needs
        self.id = id
        self.job = job
        self.name = name
        self.status = status
        self.attempts = attempts
        self.worker = worker
        self.exitCode = exitCode
        self.message = message
        self.outputs = outputs
        self.value = value
        self.storedSpec = storedSpec
    }

    /// What it was added as; nil for a spec this Trellis cannot read.
    package var spec: RemoteTaskSpec? { storedSpec.flatMap(RemoteTaskSpec.init(stored:)) }

    /// What the task does.
    package var work: RemoteWork? { spec?.work }
}

/// Which tasks a listing shows: of one job or every one, in some states or any, from an id on, at most so many.
package struct RemoteTaskQuery: Hashable, Sendable {
    /// Nil for every job.
    package var job: UInt64?
    /// Nil for any state; an empty set matches nothing (a request naming only states this Trellis does not know).
    package var statuses: Set<TaskStatus>?
    /// Tasks whose id is greater.
    package var afterID: UInt64 = 0
    /// Nil for the coordinator's cap.
    package var limit: Int?

    package init(job: UInt64? = nil, statuses: Set<TaskStatus>? = nil, afterID: UInt64 = 0, limit: Int? = nil) {
        self.job = job
        self.statuses = statuses
        self.afterID = afterID
        self.limit = limit
    }
}

/// The tasks an operator's change applies to: `ids`, those of `job`, or (`all`) every task.
package struct RemoteSelection: Hashable, Sendable {
    package var ids: [UInt64]
    package var job: UInt64?
    package var all: Bool

    package init(ids: [UInt64] = [], job: UInt64? = nil, all: Bool = false) {
        self.ids = ids
        self.job = job
        self.all = all
    }

    /// Selects nothing, which a request must not do.
    package var isEmpty: Bool { ids.isEmpty && job == nil && !all }
}

/// A worker as the coordinator knows it.
package struct RemoteWorker: Hashable, Sendable {
    package var id: UInt64
    package var name: String
    package var type: String
    package var tags: [String]
    package var slots: Int
    package var running: Int
    package var resources: [String: Double]
    /// `connected`, `disconnected` or `lost`.
    package var status: String
    package var lastSeen: Date?

    package init(
        id: UInt64, name: String, type: String, tags: [String], slots: Int, running: Int,
        resources: [String: Double], status: String, lastSeen: Date?
    ) {
        self.id = id
        self.name = name
        self.type = type
        self.tags = tags
        self.slots = slots
        self.running = running
        self.resources = resources
        self.status = status
        self.lastSeen = lastSeen
    }
}

/// A job as the coordinator knows it: how its tasks stand.
package struct RemoteJobSummary: Hashable, Sendable {
    package enum State: String, Hashable, Sendable, CaseIterable {
        /// A task has not finished.
        case running
        /// Every task succeeded, or was a finale that did not run.
        case succeeded
        /// A task failed, or did not run because one failed.
        case failed
        /// Nothing failed, but a task was cancelled or killed.
        case cancelled
    }

    package var id: UInt64
    package var name: String
    package var policy: String
    /// Every task of the job, its finale included.
    package var tasks: Int
    package var unfinished: Int
    /// How the finished ones ended.
    package var counts: OutcomeCounts

    package init(id: UInt64, name: String, policy: String, tasks: Int, unfinished: Int, counts: OutcomeCounts) {
        self.id = id
        self.name = name
        self.policy = policy
        self.tasks = tasks
        self.unfinished = unfinished
        self.counts = counts
    }

    /// As `job watch` would end: `succeeded` is its exit status 0.
    package var state: State {
        if unfinished > 0 { return .running }
        if counts.failed + counts.upstreamFailed > 0 { return .failed }
        return counts.cancelled > 0 ? .cancelled : .succeeded
    }
}

/// One event of a job's watch: its header (`task` 0, `jobName`, `jobTasks`), a task as it now is (or an
/// output it signalled), or the job's end.
package struct RemoteJobEvent: Hashable, Sendable {
    package var task: UInt64 = 0
    package var taskName = ""
    package var status: TaskStatus?
    package var attempt = 0
    package var output: String?
    package var worker: String?
    package var message: String?
    /// Milliseconds since 1970.
    package var timeMs: UInt64 = 0
    package var jobEnded = false
    package var jobName = ""
    package var jobTasks = 0

    package init() {}

    package var isHeader: Bool { task == 0 && !jobEnded }
}

/// What an operator does to tasks.
package enum RemoteChange: Hashable, Sendable {
    case play, cancel, kill, pause, resume
}
