public import TrellisCore

/// Drives a `SchedulerCore` through a whole graph with seeded random events, checking invariants after each step.
///
/// Every step picks one event: a running attempt yields its next partial result, succeeds, fails or (once asked to
/// stop) reports; a timeout fires; due retries fire; a task is cancelled; dispatching pauses or resumes; a queue
/// changes width; a late task is submitted; or a stale report of an old attempt arrives. After each step the
/// harness runs `checkInvariants()` and its own driver-side checks, and records every violation in the report.
public struct CoreHarness: Sendable {
    /// How often each kind of event happens.
    public struct Options: Hashable, Sendable {
        /// Chance that a finishing attempt fails instead of succeeding.
        public var failureProbability = 0.15
        /// Chance that a failure is reported as not retryable.
        public var fatalFailureProbability = 0.1
        /// Chance that a producer finishes before yielding all its partial results.
        public var missingResultsProbability = 0.03
        /// Per-step chance of firing a pending timeout.
        public var timeoutProbability = 0.05
        /// Per-step chance of cancelling a random task.
        public var cancelProbability = 0.02
        /// Per-step chance of cancelling every unfinished task at once.
        public var cancelAllProbability = 0.002
        /// Per-step chance of pausing; a paused run resumes with `resumeProbability` per step.
        public var pauseProbability = 0.03
        public var resumeProbability = 0.3
        /// Per-step chance of a stale report (an old attempt, or a retry that is not due).
        public var staleReportProbability = 0.03
        /// Per-step chance of changing a queue's width.
        public var widthChangeProbability = 0.01
        /// Share of the tasks submitted only after `start`, one per step, interleaved with other events.
        public var lateSubmissionFraction = 0.3
        /// A run that takes more steps than this is reported as a violation.
        public var maxSteps = 100_000
        /// With workers, the core places tasks on workers that join, drain, leave and lose their leases.
        public var workers: WorkerOptions?
        /// Jobs sharing the core. Job 0 has the harness's policies; each further job gets a policy and a
        /// failure policy drawn from the seed, and the queues are dealt to the jobs in turn.
        public var jobs = 1
        /// Per-step chance of cancelling one job.
        public var cancelJobProbability = 0.0
        /// Per-step chances of holding a task that is not running, and of releasing a held one; and the share
        /// of tasks submitted held (added, not yet played).
        public var holdProbability = 0.0
        public var releaseProbability = 0.25
        public var heldFraction = 0.0
        /// Share of the tasks, taken from the end of the graph, that form finales (`onSuccess` or
        /// `onFailure`, at random); a finale task keeps only its needs on main tasks and on its own group.
        public var finaleFraction = 0.0

        /// The default mix: a bit of every event.
        public init() {}

        /// Only successes: no failures, timeouts, cancellations, pauses, width changes or stale reports.
        public static var happyPath: Options {
            var options = Options()
            options.failureProbability = 0
            options.missingResultsProbability = 0
            options.timeoutProbability = 0
            options.cancelProbability = 0
            options.cancelAllProbability = 0
            options.pauseProbability = 0
            options.staleReportProbability = 0
            options.widthChangeProbability = 0
            options.lateSubmissionFraction = 0
            return options
        }
    }

    /// How workers come and go when the harness drives a core with `.workers` execution.
    public struct WorkerOptions: Hashable, Sendable {
        public var leaseTimeout = Duration.seconds(10)
        /// Workers joined before `start`.
        public var initialWorkers = 3
        /// Per-step chances of a worker joining, draining, leaving (with its attempts), sending a heartbeat,
        /// and of a lease deadline being checked (run out, or already renewed).
        public var joinProbability = 0.01
        public var drainProbability = 0.004
        public var leaveProbability = 0.006
        public var heartbeatProbability = 0.05
        public var leaseProbability = 0.006
        /// Per-step chance of a report about a running attempt from a worker that does not hold it.
        public var impostorProbability = 0.02
        /// Per-step chance that the driver restarts: a fresh core replays the facts, and each worker
        /// connects again (keeping its attempts) or is lost.
        public var restartProbability = 0.01
        /// Share of the tasks that need a worker type, tags or resources.
        public var placedFraction = 0.4
        /// The core's crash limit: a task whose attempts lose their worker this many times fails.
        public var crashLimit: Int?

        public init() {}
    }

    /// What happened during one run.
    public struct Report: Sendable, CustomStringConvertible {
        /// One dispatched attempt.
        public struct Dispatch: Hashable, Sendable {
            public var task: TaskID
            public var attempt: Int
        }

        public var seed: UInt64
        public var steps = 0
        /// Every invariant violation seen, each prefixed with its step.
        public var violations: [String] = []
        public var dispatches: [Dispatch] = []
        /// Tasks in the order they reached their final state.
        public var completionOrder: [TaskID] = []
        /// The final outcome of each task, by task index.
        public var outcomes: [TaskOutcome?] = []
        public var counts = OutcomeCounts()
        /// The core's count of stale events, and how many the harness sent on purpose.
        public var staleReports = 0
        public var expectedStaleReports = 0
        /// The most attempts running at once on each queue.
        public var maxRunning: [Int] = []
        public var itemsEmitted = 0
        public var timeoutsFired = 0
        public var retriesFired = 0
        public var cancels = 0
        public var pauses = 0
        /// Workers joined, and attempts handed back because their worker left or lost its lease.
        public var workersJoined = 0
        public var attemptsLost = 0
        public var restarts = 0
        /// Restarts that read a snapshot and the facts after it.
        public var snapshotRestarts = 0
        /// Every fact the core accepted, in order: replaying them rebuilds the final state.
        public var facts: [TimedFact] = []

        public var isClean: Bool { violations.isEmpty }

        public var description: String {
            "seed \(seed): \(steps) steps, \(dispatches.count) dispatches, \(counts), "
                + "\(violations.count) violations" + violations.prefix(5).map { "\n  \($0)" }.joined()
        }
    }

    /// Every ordering policy, a threshold among them.
    public static let policies: [SchedulingPolicy] = [.outputFirst, .fifo, .wave, .threshold(3), .criticalPath]

    public var graph: GraphSpec
    public var policy: SchedulingPolicy
    public var failurePolicy: FailurePolicy
    public var options: Options

    /// A harness for `graph` under the given policies.
    public init(
        graph: GraphSpec,
        policy: SchedulingPolicy,
        failurePolicy: FailurePolicy = .continueIndependent,
        options: Options = Options()
    ) {
        self.graph = graph
        self.policy = policy
        self.failurePolicy = failurePolicy
        self.options = options
    }

    /// Runs the graph to completion with events drawn from `seed`.
    public func run(seed: UInt64) -> Report {
        var driver = HarnessDriver(harness: self, seed: seed)
        driver.run()
        return driver.report
    }
}
