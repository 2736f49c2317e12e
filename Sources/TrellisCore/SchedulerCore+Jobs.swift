import HeapModule

/// One job's share of the core: its policies, its tasks, and its barrier state.
///
/// A coordinator runs many jobs on the same workers. Each has its own ordering and failure policy, and its own
/// queues (a queue belongs to one job). Between jobs, a ready task's explicit priority comes first, then the
/// older job, then the job's own policy. A fail-fast or a job cancel touches only that job's tasks.
struct JobState {
    var policy: SchedulingPolicy
    var failurePolicy: FailurePolicy
    /// The job's tasks in submission order. The initial job keeps none while it is the only job (its tasks
    /// are then all tasks); the list is built when a second job is added.
    var tasks: [Int32] = []
    /// Index into `tasks` below which every task has finished; advanced lazily.
    var firstUnfinished = 0
    var unfinished = 0
    var counts = OutcomeCounts()

    // Finale.
    var mainUnfinished = 0
    /// No main task has ended other than succeeded.
    var mainAllSucceeded = true
    /// The finale group that runs, once decided.
    var decision: TaskRole?
    /// Finale tasks waiting for the decision.
    var gated: [Int32] = []

    // Barrier policies (wave, threshold).
    var pending = Heap<ReadyEntry>()
    /// The wave whose chunks are being released; tasks that become ready now belong to the next one.
    var currentWave: Int32 = -1
    var batchRemaining = 0

    init(policy: SchedulingPolicy, failurePolicy: FailurePolicy) {
        self.policy = policy
        self.failurePolicy = failurePolicy
    }

    /// Counts a new task (and lists it, when the core has more than one job).
    mutating func taskAdded(_ id: Int32, isMain: Bool, listed: Bool) {
        unfinished += 1
        if isMain { mainUnfinished += 1 }
        if listed { tasks.append(id) }
    }

    /// Counts a task's end; `true` when it was the last main task and the finale is now to be decided.
    mutating func taskEnded(_ outcome: TaskOutcome, isMain: Bool, wasInBatch: Bool) -> Bool {
        if wasInBatch { batchRemaining -= 1 }
        unfinished -= 1
        counts.record(outcome)
        guard isMain else { return false }
        mainUnfinished -= 1
        if outcome != .succeeded { mainAllSucceeded = false }
        return mainUnfinished == 0 && decision == nil && !gated.isEmpty
    }
}

extension SchedulerCore {
    /// Adds a job with its own policies; give it queues with `addQueue(width:job:)`.
    public mutating func addJob(policy: SchedulingPolicy, failurePolicy: FailurePolicy) -> JobID {
        if jobs.count == 1 { jobs[0].tasks = (0..<Int32(tasks.count)).map { $0 } }
        jobs.append(JobState(policy: policy, failurePolicy: failurePolicy))
        if policy.usesRanks { anyJobUsesRanks = true }
        if policy.barrierChunk != nil { barrierJobs.append(Int32(jobs.count - 1)) }
        return JobID(jobs.count - 1)
    }

    /// Cancels every unfinished task of `job` (and what waits for them elsewhere), in O(the job's tasks).
    /// A finale waiting for the main tasks is spared, so the job's `onFailure` clean-up runs; cancelling
    /// again while the finale runs cancels the finale.
    @discardableResult
    public mutating func cancelJob(
        _ job: JobID,
        now: Duration,
        into actions: inout [SchedulerAction]
    ) -> EventDisposition {
        guard job.rawValue >= 0, job.rawValue < jobs.count, jobs[job.rawValue].unfinished > 0 else { return stale() }
        cancelJobTasks(Int32(job.rawValue), cause: -1, into: &actions)
        flush(now: now, into: &actions)
        return .accepted
    }

    // MARK: - Job queries

    public var jobCount: Int { jobs.count }

    public func policy(of job: JobID) -> SchedulingPolicy { jobs[job.rawValue].policy }
    public func failurePolicy(of job: JobID) -> FailurePolicy { jobs[job.rawValue].failurePolicy }

    /// The job a task belongs to (the job of its queue).
    public func job(of task: TaskID) -> JobID { JobID(Int(jobIndex(of: Int32(task.rawValue)))) }

    /// The queue a task waits and runs in.
    public func queue(of task: TaskID) -> QueueID { QueueID(Int(tasks[task.rawValue].queue)) }

    /// The job a queue belongs to.
    public func job(ofQueue queue: QueueID) -> JobID { JobID(Int(queues[queue.rawValue].job)) }

    /// The job's tasks that have not finished.
    public func unfinishedCount(of job: JobID) -> Int { jobs[job.rawValue].unfinished }

    /// How the job's finished tasks ended.
    public func counts(of job: JobID) -> OutcomeCounts { jobs[job.rawValue].counts }

    /// The finale group that runs (`.onSuccess` or `.onFailure`), once the job's main tasks have all ended
    /// and it has finale tasks; `nil` before.
    public func finaleDecision(of job: JobID) -> TaskRole? { jobs[job.rawValue].decision }

    /// Whether a task is main work or part of its job's finale.
    public func role(of task: TaskID) -> TaskRole { role(of: Int32(task.rawValue)) }

    // MARK: - Internals

    @inline(__always)
    func jobIndex(of id: Int32) -> Int32 { queues[Int(tasks[Int(id)].queue)].job }

    @inline(__always)
    func role(of id: Int32) -> TaskRole {
        tasks[Int(id)].flags.contains(.hasExtras) ? extras[id]?.role ?? .main : .main
    }

    /// Counts a main task's end; the job's finale is decided at the next flush once none is left.

    /// Opens the finale of a job whose main tasks have all ended: one group's gate opens, the other group
    /// ends skipped (with whatever waits for it).
    mutating func decideFinale(_ job: Int32, into actions: inout [SchedulerAction]) {
        guard jobs[Int(job)].decision == nil, jobs[Int(job)].mainUnfinished == 0, !jobs[Int(job)].gated.isEmpty
        else { return }
        let runs: TaskRole = jobs[Int(job)].mainAllSucceeded ? .onSuccess : .onFailure
        jobs[Int(job)].decision = runs
        let gated = jobs[Int(job)].gated
        jobs[Int(job)].gated = []
        for id in gated where tasks[Int(id)].flags.contains(.gated) {
            tasks[Int(id)].flags.remove(.gated)
            if role(of: id) == runs {
                tasks[Int(id)].remaining -= 1
                if tasks[Int(id)].remaining == 0 { makeReady(id) }
            } else {
                finish(id, phase: .skipped, cause: -1, into: &actions)
                doomDependants(of: id, phase: .skipped, cause: id, into: &actions)
            }
        }
    }

    /// The job's tasks, in submission order: `jobs[job].tasks`, or every task while there is one job.
    func taskList(of job: Int32) -> [Int32] {
        jobs.count == 1 ? Array(0..<Int32(tasks.count)) : jobs[Int(job)].tasks
    }

    mutating func cancelJobTasks(_ job: Int32, cause: Int32, into actions: inout [SchedulerAction]) {
        if jobs.count == 1 {
            jobs[0].firstUnfinished = max(jobs[0].firstUnfinished, firstUnfinished)
            while jobs[0].firstUnfinished < tasks.count, tasks[jobs[0].firstUnfinished].phase.isTerminal {
                jobs[0].firstUnfinished += 1
            }
            var id = Int32(jobs[0].firstUnfinished)
            while id < Int32(tasks.count) {
                if !tasks[Int(id)].flags.contains(.gated) { _ = requestCancel(id, cause: cause, into: &actions) }
                id += 1
            }
            return
        }
        while jobs[Int(job)].firstUnfinished < jobs[Int(job)].tasks.count,
            tasks[Int(jobs[Int(job)].tasks[jobs[Int(job)].firstUnfinished])].phase.isTerminal
        {
            jobs[Int(job)].firstUnfinished += 1
        }
        // A finale still waiting for the main tasks is not cancelled with them: the clean-up runs.
        var index = jobs[Int(job)].firstUnfinished
        while index < jobs[Int(job)].tasks.count {
            let id = jobs[Int(job)].tasks[index]
            if !tasks[Int(id)].flags.contains(.gated) { _ = requestCancel(id, cause: cause, into: &actions) }
            index += 1
        }
    }
}
