import HeapModule

/// One job's share of the core: its policies, its tasks, and its barrier state.
///
/// A coordinator runs many jobs on the same workers. Each has its own ordering and failure policy, and its own
/// queues (a queue belongs to one job). Between jobs, a ready task's explicit priority comes first, then the
/// older job, then the job's own policy. A fail-fast or a job cancel touches only that job's tasks.
struct JobState {
    var policy: SchedulingPolicy
    var failurePolicy: FailurePolicy
    /// The job's tasks in submission order.
    var tasks: [Int32] = []
    /// Index into `tasks` below which every task has finished; advanced lazily.
    var firstUnfinished = 0
    var unfinished = 0
    var counts = OutcomeCounts()

    // Barrier policies (wave, threshold).
    var pending = Heap<ReadyEntry>()
    /// The wave whose chunks are being released; tasks that become ready now belong to the next one.
    var currentWave: Int32 = -1
    var batchRemaining = 0

    init(policy: SchedulingPolicy, failurePolicy: FailurePolicy) {
        self.policy = policy
        self.failurePolicy = failurePolicy
    }
}

extension SchedulerCore {
    /// Adds a job with its own policies; give it queues with `addQueue(width:job:)`.
    public mutating func addJob(policy: SchedulingPolicy, failurePolicy: FailurePolicy) -> JobID {
        jobs.append(JobState(policy: policy, failurePolicy: failurePolicy))
        if policy.usesRanks { anyJobUsesRanks = true }
        if policy.barrierChunk != nil { barrierJobs.append(Int32(jobs.count - 1)) }
        return JobID(jobs.count - 1)
    }

    /// Cancels every unfinished task of `job` (and what waits for them elsewhere), in O(the job's tasks).
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

    /// The job a queue belongs to.
    public func job(ofQueue queue: QueueID) -> JobID { JobID(Int(queues[queue.rawValue].job)) }

    /// The job's tasks that have not finished.
    public func unfinishedCount(of job: JobID) -> Int { jobs[job.rawValue].unfinished }

    /// How the job's finished tasks ended.
    public func counts(of job: JobID) -> OutcomeCounts { jobs[job.rawValue].counts }

    // MARK: - Internals

    func jobIndex(of id: Int32) -> Int32 { queues[Int(tasks[Int(id)].queue)].job }

    mutating func cancelJobTasks(_ job: Int32, cause: Int32, into actions: inout [SchedulerAction]) {
        while jobs[Int(job)].firstUnfinished < jobs[Int(job)].tasks.count,
            tasks[Int(jobs[Int(job)].tasks[jobs[Int(job)].firstUnfinished])].phase.isTerminal
        {
            jobs[Int(job)].firstUnfinished += 1
        }
        var index = jobs[Int(job)].firstUnfinished
        while index < jobs[Int(job)].tasks.count {
            _ = requestCancel(jobs[Int(job)].tasks[index], cause: cause, into: &actions)
            index += 1
        }
    }
}
