import HeapModule

/// How ids changed when a core forgot jobs: the tasks, queues and jobs it kept are numbered again from zero,
/// in their old order, and what it forgot has no id any more.
public struct CoreRenumbering: Sendable, Hashable {
    /// For each old task id, its new one, or -1 when forgotten.
    var tasks: [Int32]
    var queues: [Int32]
    var jobs: [Int32]

    /// The task's id after the forgetting, or `nil` when it was forgotten.
    public func task(_ old: TaskID) -> TaskID? {
        guard old.rawValue >= 0, old.rawValue < tasks.count, tasks[old.rawValue] >= 0 else { return nil }
        return TaskID(Int(tasks[old.rawValue]))
    }

    public func queue(_ old: QueueID) -> QueueID? {
        guard old.rawValue >= 0, old.rawValue < queues.count, queues[old.rawValue] >= 0 else { return nil }
        return QueueID(Int(queues[old.rawValue]))
    }

    public func job(_ old: JobID) -> JobID? {
        guard old.rawValue >= 0, old.rawValue < jobs.count, jobs[old.rawValue] >= 0 else { return nil }
        return JobID(Int(jobs[old.rawValue]))
    }

    /// How many tasks were kept.
    public var keptTasks: Int { tasks.count { $0 >= 0 } }
}

/// A task kept by a forgetting that still refers to a task it would forget.
public struct ForgetBlocker: Sendable, Hashable {
    /// The task that would be kept.
    public var task: TaskID
    /// The task of a forgotten job it needs (a dependency), or that ended it (the root of an upstream failure
    /// or the cause of a cancel).
    public var needs: TaskID

    public init(task: TaskID, needs: TaskID) {
        self.task = task
        self.needs = needs
    }
}

/// Forgetting finished jobs: their tasks, queues and job entries leave the core, and everything kept is
/// numbered again, so the core's memory and its snapshots follow what is still of use, not the whole history.
///
/// A forgetting is a fact like any other: replayed at the same point it renumbers the same way, so the facts
/// after it name tasks by their new ids. It costs O(tasks + edges) once.
extension SchedulerCore {
    /// Why `jobs` cannot be forgotten now, or `nil` when they can: each must exist, not be the initial job and
    /// have no unfinished task, and no task kept may need or have been ended by one of theirs.
    public func forgetProblem(_ jobs: [JobID]) -> TrellisCoreError? {
        for job in jobs {
            guard job.rawValue > 0, job.rawValue < self.jobs.count else {
                return TrellisCoreError(
                    code: .unknownJob,
                    message: job == .initial
                        ? "the initial job cannot be forgotten" : "\(job) does not exist (\(self.jobs.count) jobs)")
            }
            let state = self.jobs[job.rawValue]
            guard state.unfinished == 0, !jobsToDecide.contains(Int32(job.rawValue)) else {
                return TrellisCoreError(
                    code: .jobUnfinished,
                    message: "\(job) has \(state.unfinished) unfinished tasks; it cannot be forgotten")
            }
        }
        if let blocker = forgetBlockers(jobs, limit: 1).first {
            return TrellisCoreError(
                code: .jobInUse,
                message:
                    "\(blocker.task) of \(job(of: blocker.task)) needs \(blocker.needs) of \(job(of: blocker.needs)); "
                    + "forget both jobs together")
        }
        return nil
    }

    /// Tasks of other jobs that refer to a task of `jobs` (at most `limit`), in id order.
    public func forgetBlockers(_ jobs: [JobID], limit: Int = .max) -> [ForgetBlocker] {
        let forgotten = forgottenJobs(jobs)
        var blockers: [ForgetBlocker] = []
        for (index, record) in tasks.enumerated() where !forgotten[Int(jobIndex(of: Int32(index)))] {
            var needs: Int32 = -1
            var edge = record.firstPredecessor
            while edge >= 0, needs < 0 {
                let source = predecessorSource[Int(edge)]
                if forgotten[Int(jobIndex(of: source))] { needs = source }
                edge = predecessorNext[Int(edge)]
            }
            if needs < 0, record.cause >= 0, forgotten[Int(jobIndex(of: record.cause))] { needs = record.cause }
            guard needs >= 0 else { continue }
            blockers.append(ForgetBlocker(task: TaskID(index), needs: TaskID(Int(needs))))
            if blockers.count >= limit { break }
        }
        return blockers
    }

    /// Forgets `jobs` (see `forgetProblem`) and numbers what is kept again.
    @discardableResult
    public mutating func forget(_ jobs: [JobID]) throws(TrellisCoreError) -> CoreRenumbering {
        if let problem = forgetProblem(jobs) { throw problem }
        let forgotten = forgottenJobs(jobs)
        var numbering = CoreRenumbering(tasks: [], queues: [], jobs: [])
        var next: Int32 = 0
        for (index, isForgotten) in forgotten.enumerated() {
            numbering.jobs.append(isForgotten ? -1 : next)
            if !isForgotten { next += 1 }
            if isForgotten { counts.subtract(self.jobs[index].counts) }
        }
        next = 0
        for queue in queues {
            numbering.queues.append(forgotten[Int(queue.job)] ? -1 : next)
            if !forgotten[Int(queue.job)] { next += 1 }
        }
        next = 0
        numbering.tasks.reserveCapacity(tasks.count)
        for task in tasks {
            let isForgotten = numbering.queues[Int(task.queue)] < 0
            numbering.tasks.append(isForgotten ? -1 : next)
            if !isForgotten { next += 1 }
        }
        renumber(numbering)
        return numbering
    }

    private func forgottenJobs(_ jobs: [JobID]) -> [Bool] {
        var forgotten = [Bool](repeating: false, count: self.jobs.count)
        for job in jobs where job.rawValue > 0 && job.rawValue < self.jobs.count { forgotten[job.rawValue] = true }
        return forgotten
    }

    /// Rebuilds every table through `numbering`, dropping what it forgets; lists keep their order.
    private mutating func renumber(_ numbering: CoreRenumbering) {
        let taskMap = numbering.tasks
        let outputFirst = self.jobs.map { $0.policy == .outputFirst }
        func task(_ id: Int32) -> Int32 { id < 0 ? id : taskMap[Int(id)] }
        func ids(_ list: [Int32]) -> [Int32] { list.compactMap { taskMap[Int($0)] >= 0 ? taskMap[Int($0)] : nil } }
        // Output-first ranks are the ids of the sinks they lead to, in the same job: numbered again too.
        func rank(_ rank: Double, job: Int32) -> Double {
            outputFirst[Int(job)] && rank >= 0 && Int(rank) < taskMap.count ? Double(taskMap[Int(rank)]) : rank
        }
        func heap(_ heap: Heap<ReadyEntry>) -> Heap<ReadyEntry> {
            Heap(
                heap.unordered.compactMap { entry -> ReadyEntry? in
                    guard taskMap[Int(entry.task)] >= 0 else { return nil }
                    var moved = entry
                    moved.rank = rank(entry.rank, job: entry.job)
                    moved.task = taskMap[Int(entry.task)]
                    moved.job = numbering.jobs[Int(entry.job)]
                    return moved
                })
        }
        func below(_ bound: Int) -> Int { taskMap.prefix(bound).count { $0 >= 0 } }

        // Edges: each kept list walked in order and laid out again, without the edges to forgotten tasks.
        var newSuccessorTarget: [Int32] = []
        var newSuccessorNext: [Int32] = []
        func relay(_ head: Int32) -> Int32 {
            var first: Int32 = -1
            var last: Int32 = -1
            var edge = head
            while edge >= 0 {
                let target = taskMap[Int(successorTarget[Int(edge)])]
                edge = successorNext[Int(edge)]
                guard target >= 0 else { continue }
                newSuccessorTarget.append(target)
                newSuccessorNext.append(-1)
                let added = Int32(newSuccessorTarget.count - 1)
                if last >= 0 { newSuccessorNext[Int(last)] = added } else { first = added }
                last = added
            }
            return first
        }
        var newPredecessorSource: [Int32] = []
        var newPredecessorItem: [Int32] = []
        var newPredecessorNext: [Int32] = []
        var keptTasks: [TaskRecord] = []
        keptTasks.reserveCapacity(numbering.keptTasks)
        for (index, old) in tasks.enumerated() where taskMap[index] >= 0 {
            var record = old
            record.queue = numbering.queues[Int(old.queue)]
            record.cause = task(old.cause)
            record.rank = rank(old.rank, job: queues[Int(old.queue)].job)
            record.firstSuccessor = relay(old.firstSuccessor)
            var first: Int32 = -1
            var last: Int32 = -1
            var edge = old.firstPredecessor
            while edge >= 0 {
                // A kept task needs no forgotten one (`forgetProblem`).
                newPredecessorSource.append(taskMap[Int(predecessorSource[Int(edge)])])
                newPredecessorItem.append(predecessorItem[Int(edge)])
                newPredecessorNext.append(-1)
                let added = Int32(newPredecessorSource.count - 1)
                if last >= 0 { newPredecessorNext[Int(last)] = added } else { first = added }
                last = added
                edge = predecessorNext[Int(edge)]
            }
            record.firstPredecessor = first
            keptTasks.append(record)
        }
        var newItemSuccessors: [ItemKey: Int32] = [:]
        // In key order, so that the same core forgetting the same jobs lays its edges out the same way.
        let itemLists = itemSuccessors.sorted { ($0.key.task, $0.key.item) < ($1.key.task, $1.key.item) }
        for (key, head) in itemLists where taskMap[Int(key.task)] >= 0 {
            let list = relay(head)
            if list >= 0 { newItemSuccessors[ItemKey(task: taskMap[Int(key.task)], item: key.item)] = list }
        }
        var newItemsAhead = Set<ItemKey>()
        for key in itemsAhead where taskMap[Int(key.task)] >= 0 {
            newItemsAhead.insert(ItemKey(task: taskMap[Int(key.task)], item: key.item))
        }
        var newExtras: [Int32: TaskExtras] = [:]
        for (id, extra) in extras where taskMap[Int(id)] >= 0 { newExtras[taskMap[Int(id)]] = extra }

        var newQueues: [QueueState] = []
        for (index, old) in queues.enumerated() where numbering.queues[index] >= 0 {
            var queue = old
            queue.job = numbering.jobs[Int(old.job)]
            queue.ready = heap(old.ready)
            newQueues.append(queue)
        }
        var newJobs: [JobState] = []
        for (index, old) in jobs.enumerated() where numbering.jobs[index] >= 0 {
            var job = old
            job.tasks = ids(old.tasks)
            job.gated = ids(old.gated)
            job.pending = heap(old.pending)
            newJobs.append(job)
        }
        func jobIDs(_ list: [Int32]) -> [Int32] {
            list.compactMap { numbering.jobs[Int($0)] >= 0 ? numbering.jobs[Int($0)] : nil }
        }
        barrierJobs = jobIDs(barrierJobs)
        jobsToDecide = jobIDs(jobsToDecide)
        newlyReady = ids(newlyReady)
        dirtyQueues = dirtyQueues.compactMap { numbering.queues[Int($0)] >= 0 ? numbering.queues[Int($0)] : nil }
        rankWatermark = below(rankWatermark)
        firstUnfinished = below(firstUnfinished)

        for index in pool.workers.indices {
            pool.workers[index].tasks = Set(pool.workers[index].tasks.map(task))
        }
        for index in pool.classes.indices {
            pool.classes[index].ready = heap(pool.classes[index].ready)
            pool.classes[index].parked = ids(pool.classes[index].parked)
        }
        var holders: [Int32: Int32] = [:]
        for (id, worker) in pool.holders { holders[task(id)] = worker }
        pool.holders = holders

        tasks = keptTasks
        queues = newQueues
        jobs = newJobs
        successorTarget = newSuccessorTarget
        successorNext = newSuccessorNext
        predecessorSource = newPredecessorSource
        predecessorItem = newPredecessorItem
        predecessorNext = newPredecessorNext
        itemSuccessors = newItemSuccessors
        itemsAhead = newItemsAhead
        extras = newExtras
    }
}

extension OutcomeCounts {
    mutating func subtract(_ other: OutcomeCounts) {
        succeeded -= other.succeeded
        failed -= other.failed
        cancelled -= other.cancelled
        upstreamFailed -= other.upstreamFailed
        skipped -= other.skipped
    }
}
