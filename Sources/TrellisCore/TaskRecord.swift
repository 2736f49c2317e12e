/// The core's bookkeeping for one task; kept small because there may be millions.
struct TaskRecord {
    enum Phase: UInt8 {
        case waiting, ready, running, backoff, succeeded, failed, cancelled, upstreamFailed, skipped

        var isTerminal: Bool { rawValue >= Phase.succeeded.rawValue }
    }

    struct Flags: OptionSet {
        let rawValue: UInt16
        /// A cancellation was requested while running; the attempt ends as cancelled whatever it reports.
        static let cancelRequested = Flags(rawValue: 1 << 0)
        /// The running attempt passed its deadline; it ends as a timed-out failure.
        static let timedOut = Flags(rawValue: 1 << 1)
        /// Released into the current barrier batch (wave / threshold policies).
        static let inBatch = Flags(rawValue: 1 << 2)
        /// Sits in a queue's ready heap with its current rank.
        static let queued = Flags(rawValue: 1 << 3)
        /// Sits in the rank propagation work list.
        static let inWorklist = Flags(rawValue: 1 << 4)
        /// Has retry, timeout, placement or lost-attempt settings in `SchedulerCore.extras`.
        static let hasExtras = Flags(rawValue: 1 << 5)
        /// Admitted by its queue and waiting in its placement class for a worker (`.workers` execution).
        static let admitted = Flags(rawValue: 1 << 6)
        /// A finale task waiting for its job's main tasks to end (one extra unsatisfied input).
        static let gated = Flags(rawValue: 1 << 7)
        /// Held by an operator (paused, or submitted unplayed): it does not start until released.
        static let held = Flags(rawValue: 1 << 8)
    }

    var phase: Phase
    var flags: Flags = []
    /// A `FailureReason` code when failed.
    var reason: UInt8 = 0
    var attempt: Int32 = 0
    var queue: Int32
    var priority: Int32
    /// Dependencies not yet satisfied.
    var remaining: Int32 = 0
    var partialCount: Int32
    var emitted: Int32 = 0
    /// Heads of the successor and predecessor lists in the edge arenas (-1 for none).
    var firstSuccessor: Int32 = -1
    var firstPredecessor: Int32 = -1
    /// For cancelled or upstream-failed tasks: the task that caused it (-1 for none).
    var cause: Int32 = -1
    /// Output-first: the newest sink this task leads to. Critical path: the HEFT upward rank.
    var rank: Double
    /// The task's own cost estimate (critical path only).
    var cost: Double
}

/// Settings only some tasks have; kept out of `TaskRecord` so ordinary tasks stay small.
struct TaskExtras {
    var retry: RetryPolicy = .none
    var timeout: Duration?
    /// The placement class in `WorkerPool.classes` (0 runs anywhere).
    var placementClass: Int32 = 0
    /// Attempts that ended because their worker was lost; they do not count against `retry`.
    var lostAttempts: Int32 = 0
    var role = TaskRole.main
}

/// An entry of a ready heap or of the barrier's pending heap; the maximum runs first.
///
/// Order: a barrier's older wave, then explicit priority, then the older job, then the job policy's rank,
/// then submission order. Waves only differ within one job's pending heap.
struct ReadyEntry: Comparable {
    /// Barrier policies: minus the wave the task belongs to (older waves first).
    var level: Int32
    var priority: Int32
    var rank: Double
    var task: Int32
    var job: Int32

    static func < (lhs: ReadyEntry, rhs: ReadyEntry) -> Bool {
        if lhs.level != rhs.level { return lhs.level < rhs.level }
        if lhs.priority != rhs.priority { return lhs.priority < rhs.priority }
        if lhs.job != rhs.job { return lhs.job > rhs.job }
        if lhs.rank != rhs.rank { return lhs.rank < rhs.rank }
        return lhs.task > rhs.task
    }
}
