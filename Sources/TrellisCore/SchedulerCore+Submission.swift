extension SchedulerCore {
    // MARK: - Submission

    /// Adds a task. Its dependencies must already be submitted; a dependency that has already failed or been
    /// cancelled finishes the new task at once (as upstream-failed or cancelled).
    @discardableResult
    public mutating func submit(
        _ spec: TaskSpec,
        now: Duration,
        into actions: inout [SchedulerAction]
    ) throws(TrellisCoreError) -> TaskID {
        try check(spec, as: tasks.count, batch: [], newQueues: 0, newJob: -1)
        let id = Int32(tasks.count)
        let job = queues[spec.queue.rawValue].job
        var doom: (phase: TaskRecord.Phase, cause: Int32)?
        for dependency in spec.dependencies {
            let source = dependency.task.rawValue
            if doom == nil, !isSatisfied(dependency), tasks[source].phase.isTerminal {
                doom = inheritedDoom(from: Int32(source))
            }
        }
        var placementClass: Int32 = 0
        if let placement = spec.placementIfAny { placementClass = try self.placementClass(for: placement) }
        let cost = max(0, spec.estimate ?? 1)
        var record = TaskRecord(
            phase: .waiting,
            queue: Int32(spec.queue.rawValue),
            priority: Int32(clamping: spec.priority),
            partialCount: Int32(clamping: spec.partialCount),
            rank: initialRank(id: id, cost: cost, policy: jobs[Int(job)].policy),
            cost: cost
        )
        if spec.retry.maxAttempts > 1 || spec.timeout != nil || placementClass != 0 || spec.role != .main {
            record.flags.insert(.hasExtras)
            extras[id] = TaskExtras(
                retry: spec.retry, timeout: spec.timeout, placementClass: placementClass, role: spec.role)
        }
        if spec.held { record.flags.insert(.held) }
        tasks.append(record)
        for dependency in spec.dependencies {
            let source = Int32(dependency.task.rawValue)
            let item = Int32(dependency.item ?? -1)
            predecessorSource.append(source)
            predecessorItem.append(item)
            predecessorNext.append(tasks[Int(id)].firstPredecessor)
            tasks[Int(id)].firstPredecessor = Int32(predecessorSource.count - 1)
            guard doom == nil, !isSatisfied(dependency) else { continue }
            tasks[Int(id)].remaining += 1
            successorTarget.append(id)
            if item < 0 {
                successorNext.append(tasks[Int(source)].firstSuccessor)
                tasks[Int(source)].firstSuccessor = Int32(successorTarget.count - 1)
            } else {
                let key = ItemKey(task: source, item: item)
                successorNext.append(itemSuccessors[key] ?? -1)
                itemSuccessors[key] = Int32(successorTarget.count - 1)
            }
        }
        unfinishedCount += 1
        jobs[Int(job)].taskAdded(id, isMain: spec.role == .main, listed: jobs.count > 1)
        if spec.role == .main {
            // Main work: counted above.
        } else if let decision = jobs[Int(job)].decision {
            if decision != spec.role { doom = (.skipped, -1) }
        } else {
            // Gated: one more input, the end of the job's main tasks.
            tasks[Int(id)].flags.insert(.gated)
            tasks[Int(id)].remaining += 1
            jobs[Int(job)].gated.append(id)
            if jobs[Int(job)].mainUnfinished == 0 { jobsToDecide.append(job) }
        }
        if let doom {
            finish(id, phase: doom.phase, cause: doom.cause, into: &actions)
        } else if tasks[Int(id)].remaining == 0 {
            makeReady(id)
        }
        flush(now: now, into: &actions)
        return TaskID(Int(id))
    }

    func initialRank(id: Int32, cost: Double, policy: SchedulingPolicy) -> Double {
        switch policy {
        case .outputFirst: Double(id)
        case .criticalPath: cost
        case .fifo, .wave, .threshold: 0
        }
    }

    /// Whether a dependency is satisfied now.
    func isSatisfied(_ dependency: Dependency) -> Bool {
        if let item = dependency.item { return isEmitted(Int32(dependency.task.rawValue), item: Int32(item)) }
        return tasks[dependency.task.rawValue].phase == .succeeded
    }

    /// How a task that depends on the finished, unsuccessful `source` ends.
    func inheritedDoom(from source: Int32) -> (phase: TaskRecord.Phase, cause: Int32) {
        let record = tasks[Int(source)]
        switch record.phase {
        case .failed: return (.upstreamFailed, source)
        case .upstreamFailed: return (.upstreamFailed, record.cause)
        case .cancelled: return (.cancelled, source)
        case .skipped: return (.skipped, source)
        case .succeeded, .waiting, .ready, .running, .backoff:
            preconditionFailure("Internal inconsistency: doom inherited from task#\(source) in phase \(record.phase)")
        }
    }

    /// The placement class of a new task; checked before anything changes.
    mutating func placementClass(for placement: Placement) throws(TrellisCoreError) -> Int32 {
        guard !placement.isAnywhere else { return 0 }
        try checkPlacement(placement)
        return pool.placementClass(of: placement)
    }

    func checkPlacement(_ placement: Placement) throws(TrellisCoreError) {
        guard !placement.isAnywhere else { return }
        guard usesWorkers else {
            throw TrellisCoreError(
                code: .invalidPlacement, message: "this core runs tasks in queue slots; it cannot place \(placement)")
        }
        if let bad = placement.resources.first(where: { !$0.value.isFinite }) {
            throw TrellisCoreError(
                code: .invalidPlacement, message: "resource '\(bad.key)' needs a finite amount, got \(bad.value)")
        }
    }

    /// The first task of `batch` that `submit` would refuse, taking them one after another (the first getting
    /// id `taskCount`), with the error it would throw; `nil` when it would take them all. Changes nothing: a
    /// driver that must take a batch whole or not at all asks first. A task of the batch may depend on an
    /// earlier one by the id it will get. `newQueues` queues not yet added (ids from `queueCount` on) count as
    /// queues of `job`, or of a job not yet added (id `jobCount`) when `job` is `nil`.
    public func firstProblem(
        in batch: [TaskSpec], newQueues: Int = 0, of job: JobID? = nil
    ) -> (offset: Int, error: TrellisCoreError)? {
        let newJob = Int32(job?.rawValue ?? jobs.count)
        for (offset, spec) in batch.enumerated() {
            do {
                try check(spec, as: tasks.count + offset, batch: batch, newQueues: newQueues, newJob: newJob)
            } catch {
                return (offset, error)
            }
        }
        return nil
    }

    /// Whether `submit` would take `spec` as task `id`, the tasks from `taskCount` on being `batch`.
    func check(
        _ spec: TaskSpec, as id: Int, batch: [TaskSpec], newQueues: Int, newJob: Int32
    ) throws(TrellisCoreError) {
        func jobOf(_ queue: QueueID) -> Int32 { queue.rawValue < queues.count ? queues[queue.rawValue].job : newJob }
        guard spec.queue.rawValue >= 0, spec.queue.rawValue < queues.count + newQueues else {
            throw unknownQueue(spec.queue)
        }
        try checkSpec(spec)
        let job = jobOf(spec.queue)
        if spec.role == .main, Int(job) < jobs.count, let decision = jobs[Int(job)].decision {
            throw TrellisCoreError(
                code: .finaleStarted,
                message: "job#\(job) has already started its \(decision == .onSuccess ? "on_success" : "on_failure") "
                    + "finale; it takes no more main tasks")
        }
        for dependency in spec.dependencies {
            let source = dependency.task.rawValue
            guard source >= 0, source < id else {
                throw TrellisCoreError(
                    code: .unknownDependency,
                    message: "task#\(id) depends on \(dependency.task), which has not been submitted"
                )
            }
            let existing = source < tasks.count
            let partialCount = existing ? Int(tasks[source].partialCount) : batch[source - tasks.count].partialCount
            if let item = dependency.item, item < 0 || item >= partialCount {
                throw TrellisCoreError(
                    code: .itemOutOfRange,
                    message: "task#\(id) depends on item \(item) of \(dependency.task), which yields "
                        + "\(partialCount) partial results"
                )
            }
            let sourceRole = existing ? role(of: Int32(source)) : batch[source - tasks.count].role
            let sourceJob = existing ? jobIndex(of: Int32(source)) : jobOf(batch[source - tasks.count].queue)
            if spec.role == .main, sourceRole != .main, sourceJob == job {
                throw TrellisCoreError(
                    code: .invalidTask,
                    message: "task#\(id) is main work of job#\(job), so it cannot need \(dependency.task), which is "
                        + "part of that job's finale (it runs only after the main work)")
            }
        }
        if let placement = spec.placementIfAny { try checkPlacement(placement) }
    }

    /// Largest number of partial results a producer may promise.
    public static let maxPartialCount = 1 << 24

    /// Refuses numbers the core could not compute with: a negative or huge partial count, an estimate or a
    /// retry multiplier that is not a finite amount, a negative or absurd delay.
    func checkSpec(_ spec: TaskSpec) throws(TrellisCoreError) {
        guard spec.partialCount >= 0, spec.partialCount <= Self.maxPartialCount else {
            throw TrellisCoreError(
                code: .invalidTask,
                message: "a task yields between 0 and \(Self.maxPartialCount) partial results, not \(spec.partialCount)"
            )
        }
        if let estimate = spec.estimate, !estimate.isFinite {
            throw TrellisCoreError(code: .invalidTask, message: "an estimate must be a finite number, got \(estimate)")
        }
        let retry = spec.retry
        let longest = Duration.seconds(365 * 24 * 3600)
        guard retry.multiplier.isFinite, retry.multiplier >= 0, retry.multiplier <= 1_000,
            retry.initialBackoff >= .zero, retry.initialBackoff <= longest,
            retry.maxBackoff >= .zero, retry.maxBackoff <= longest
        else {
            throw TrellisCoreError(
                code: .invalidTask,
                message: "a retry policy needs delays between 0 and 365 days and a multiplier between 0 and 1000")
        }
        if let timeout = spec.timeout, timeout < .zero || timeout > longest {
            throw TrellisCoreError(code: .invalidTask, message: "a timeout lies between 0 and 365 days, not \(timeout)")
        }
    }

    @inline(__always)
    func checkQueue(_ queue: QueueID) throws(TrellisCoreError) {
        guard queue.rawValue >= 0, queue.rawValue < queues.count else { throw unknownQueue(queue) }
    }

    func unknownQueue(_ queue: QueueID) -> TrellisCoreError {
        TrellisCoreError(code: .unknownQueue, message: "\(queue) does not exist (\(queues.count) queues)")
    }
}
