import HeapModule

extension SchedulerCore {
    mutating func markDirty(_ queue: Int32) {
        guard !queues[Int(queue)].isDirty else { return }
        queues[Int(queue)].isDirty = true
        dirtyQueues.append(queue)
    }

    mutating func markAllQueuesDirty() {
        for queue in queues.indices { markDirty(Int32(queue)) }
    }

    /// Brings ranks up to date, enqueues newly ready tasks, opens the next barrier batch when the current one
    /// is done, and fills free slots of the queues whose state changed.
    mutating func flush(now: Duration, into actions: inout [SchedulerAction]) {
        while let job = jobsToDecide.popLast() { decideFinale(job, into: &actions) }
        guard isDispatching else { return }
        if anyJobUsesRanks, rankWatermark < tasks.count { updateRanks() }
        if !newlyReady.isEmpty {
            for id in newlyReady
            where tasks[Int(id)].phase == .ready && tasks[Int(id)].flags.isDisjoint(with: [.queued, .admitted, .held]) {
                enqueue(id)
            }
            newlyReady.removeAll(keepingCapacity: true)
        }
        for job in barrierJobs where jobs[Int(job)].batchRemaining == 0 && !jobs[Int(job)].pending.isEmpty {
            releaseBatch(of: job)
        }
        while let queue = dirtyQueues.popLast() {
            queues[Int(queue)].isDirty = false
            fill(queue, now: now, into: &actions)
        }
        if pool.isDirty { placeAdmitted(now: now, into: &actions) }
    }

    func entry(for id: Int32, level: Int32 = 0) -> ReadyEntry {
        let record = tasks[Int(id)]
        return ReadyEntry(
            level: level, priority: record.priority, rank: record.rank, task: id, job: queues[Int(record.queue)].job)
    }

    mutating func enqueue(_ id: Int32) {
        if !barrierJobs.isEmpty, !tasks[Int(id)].flags.contains(.inBatch) {
            let job = jobIndex(of: id)
            if jobs[Int(job)].policy.barrierChunk != nil {
                jobs[Int(job)].pending.insert(entry(for: id, level: -(jobs[Int(job)].currentWave + 1)))
                return
            }
        }
        tasks[Int(id)].flags.insert(.queued)
        let queue = tasks[Int(id)].queue
        queues[Int(queue)].ready.insert(entry(for: id))
        markDirty(queue)
    }

    /// Opens the next barrier batch: up to `chunk` ready tasks of the oldest wave. A wave is everything that
    /// became ready while the previous wave ran; its chunks are released one after another.
    mutating func releaseBatch(of job: Int32) {
        let chunk = jobs[Int(job)].policy.barrierChunk ?? Int.max
        var released = 0
        while released < chunk, let top = jobs[Int(job)].pending.max {
            // Skip what is no longer ready, held, or already released (a task held and released is pending twice).
            guard tasks[Int(top.task)].phase == .ready, tasks[Int(top.task)].flags.isDisjoint(with: [.held, .inBatch])
            else {
                _ = jobs[Int(job)].pending.popMax()
                continue
            }
            let wave = -top.level
            if released > 0, wave != jobs[Int(job)].currentWave { break }
            jobs[Int(job)].currentWave = max(jobs[Int(job)].currentWave, wave)
            _ = jobs[Int(job)].pending.popMax()
            tasks[Int(top.task)].flags.insert(.inBatch)
            released += 1
            enqueue(top.task)
        }
        jobs[Int(job)].batchRemaining = released
    }

    /// Dispatches the best ready tasks of `queue` while it has free slots; with workers, admits them into
    /// their placement classes while the queue has room.
    mutating func fill(_ queue: Int32, now: Duration, into actions: inout [SchedulerAction]) {
        let usesWorkers = usesWorkers
        while queues[Int(queue)].taken < queues[Int(queue)].width, let top = queues[Int(queue)].ready.popMax() {
            let record = tasks[Int(top.task)]
            // Skip entries left behind by a cancellation or by a rank that has grown since.
            guard record.phase == .ready, record.flags.contains(.queued), record.rank == top.rank else { continue }
            if usesWorkers {
                let placementClass = placementClass(of: top.task)
                if pool.hasAcceptingWorker(for: placementClass) {
                    admit(top.task)
                } else {
                    // No worker could run it: it waits aside and holds up no other task of its queue.
                    tasks[Int(top.task)].flags.remove(.queued)
                    pool.classes[Int(placementClass)].parked.append(top.task)
                }
            } else {
                dispatch(top.task, now: now, into: &actions)
            }
        }
    }

    mutating func dispatch(_ id: Int32, now: Duration, into actions: inout [SchedulerAction]) {
        tasks[Int(id)].flags.remove(.queued)
        let attempt = beginAttempt(id)
        let queue = QueueID(Int(tasks[Int(id)].queue))
        actions.append(.dispatch(TaskID(Int(id)), queue: queue, attempt: attempt))
        armTimeout(id, attempt: attempt, now: now, into: &actions)
    }

    /// Marks the next attempt of a task running and takes its queue slot; returns the attempt number.
    mutating func beginAttempt(_ id: Int32) -> Int {
        tasks[Int(id)].phase = .running
        tasks[Int(id)].attempt += 1
        queues[Int(tasks[Int(id)].queue)].running += 1
        return Int(tasks[Int(id)].attempt)
    }

    func armTimeout(_ id: Int32, attempt: Int, now: Duration, into actions: inout [SchedulerAction]) {
        if tasks[Int(id)].flags.contains(.hasExtras), let timeout = extras[id]?.timeout {
            actions.append(.scheduleTimeout(TaskID(Int(id)), attempt: attempt, deadline: now + timeout))
        }
    }

    // MARK: - Ranks

    /// Propagates ranks from the tasks submitted since the last update to their unfinished ancestors.
    ///
    /// New tasks are visited in decreasing id order; since a task only depends on older ones, each is final
    /// when visited. Older tasks whose rank grows are visited in decreasing id order through a heap, each at
    /// most once per update, and a queued one is re-keyed with a fresh heap entry (the old entry goes stale).
    mutating func updateRanks() {
        let start = rankWatermark
        rankWatermark = tasks.count
        var worklist = Heap<Int32>()
        var id = Int32(tasks.count - 1)
        while id >= Int32(start) {
            if !tasks[Int(id)].phase.isTerminal { propagateRank(from: id, below: Int32(start), worklist: &worklist) }
            id -= 1
        }
        while let old = worklist.popMax() {
            tasks[Int(old)].flags.remove(.inWorklist)
            if tasks[Int(old)].flags.contains(.queued) {
                let queue = tasks[Int(old)].queue
                queues[Int(queue)].ready.insert(entry(for: old))
                markDirty(queue)
            } else if tasks[Int(old)].flags.contains(.admitted) {
                pool.classes[Int(placementClass(of: old))].ready.insert(entry(for: old))
                pool.isDirty = true
            }
            propagateRank(from: old, below: Int32(start), worklist: &worklist)
        }
    }

    mutating func propagateRank(from id: Int32, below start: Int32, worklist: inout Heap<Int32>) {
        let childRank = tasks[Int(id)].rank
        let queue = tasks[Int(id)].queue
        let job = queues[Int(queue)].job
        let policy = jobs[Int(job)].policy
        guard policy.usesRanks else { return }
        // Critical path: a predecessor's rank adds its own cost; output-first: it inherits the newest sink.
        let addsCost = policy == .criticalPath
        var edge = tasks[Int(id)].firstPredecessor
        while edge >= 0 {
            let parent = predecessorSource[Int(edge)]
            edge = predecessorNext[Int(edge)]
            let parentQueue = tasks[Int(parent)].queue
            // Ranks mean something only within one job's policy.
            guard !tasks[Int(parent)].phase.isTerminal, parentQueue == queue || queues[Int(parentQueue)].job == job
            else { continue }
            let candidate = addsCost ? tasks[Int(parent)].cost + childRank : childRank
            guard candidate > tasks[Int(parent)].rank else { continue }
            tasks[Int(parent)].rank = candidate
            if parent < start, !tasks[Int(parent)].flags.contains(.inWorklist) {
                tasks[Int(parent)].flags.insert(.inWorklist)
                worklist.insert(parent)
            }
        }
    }
}
