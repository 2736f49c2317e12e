extension SchedulerCore {
    /// Checks every invariant of the bookkeeping in O(tasks + edges); returns a description of each violation.
    /// Tests call it after every step.
    public func checkInvariants() -> [String] {
        var problems: [String] = []
        var running = [Int](repeating: 0, count: queues.count)
        var queuedValid = [Int](repeating: 0, count: queues.count)
        var admitted = [Int](repeating: 0, count: queues.count)
        var unfinished = 0
        var counted = OutcomeCounts()
        let pendingReady = Set(newlyReady)

        for (index, record) in tasks.enumerated() {
            let id = Int32(index)
            var unsatisfied: Int32 = 0
            var edge = record.firstPredecessor
            while edge >= 0 {
                let source = predecessorSource[Int(edge)]
                let item = predecessorItem[Int(edge)]
                if source >= id { problems.append("task#\(id) depends on later task#\(source)") }
                let satisfied =
                    item < 0 ? tasks[Int(source)].phase == .succeeded : isEmitted(source, item: item)
                if !satisfied { unsatisfied += 1 }
                edge = predecessorNext[Int(edge)]
            }
            if record.phase.isTerminal {
                counted.record(outcome(of: id))
            } else {
                unfinished += 1
            }
            switch record.phase {
            case .waiting:
                let expected = unsatisfied + (record.flags.contains(.gated) ? 1 : 0)
                if record.remaining != expected || expected == 0 {
                    problems.append("task#\(id) waits with remaining \(record.remaining), unsatisfied \(unsatisfied)")
                }
            case .ready:
                if unsatisfied != 0 { problems.append("task#\(id) is ready with \(unsatisfied) unsatisfied inputs") }
                if record.flags.contains(.queued) {
                    queuedValid[Int(record.queue)] += 1
                    if record.flags.contains(.admitted) { problems.append("task#\(id) is both queued and admitted") }
                } else if record.flags.contains(.admitted) {
                    admitted[Int(record.queue)] += 1
                } else if record.flags.contains(.held) {
                    if record.flags.contains(.inBatch) { problems.append("held task#\(id) is in a barrier batch") }
                } else if usesWorkers, !pool.hasAcceptingWorker(for: placementClass(of: id)) {
                    // Parked: no worker that accepts work could run it.
                    if !pool.classes[Int(placementClass(of: id))].parked.contains(id), isDispatching,
                        !pendingReady.contains(id), jobs[Int(jobIndex(of: id))].policy.barrierChunk == nil
                    {
                        problems.append("task#\(id) waits for a worker but is not parked")
                    }
                } else if isDispatching, !pendingReady.contains(id),
                    jobs[Int(jobIndex(of: id))].policy.barrierChunk == nil
                {
                    problems.append("task#\(id) is ready but in no ready heap")
                }
            case .running, .backoff:
                if unsatisfied != 0 { problems.append("task#\(id) started with \(unsatisfied) unsatisfied inputs") }
                if record.phase == .running { running[Int(record.queue)] += 1 }
                if record.attempt < 1 { problems.append("task#\(id) is \(record.phase) at attempt \(record.attempt)") }
            case .succeeded:
                if unsatisfied != 0 { problems.append("task#\(id) succeeded with \(unsatisfied) unsatisfied inputs") }
                if record.emitted != record.partialCount {
                    problems.append("task#\(id) succeeded with \(record.emitted)/\(record.partialCount) items")
                }
            case .failed, .cancelled, .upstreamFailed, .skipped:
                break
            }
            for key in itemsAhead where key.task == id && key.item <= record.emitted {
                problems.append("task#\(id) holds item \(key.item) ahead of its unbroken prefix \(record.emitted)")
            }
            if record.emitted > record.partialCount {
                problems.append("task#\(id) emitted \(record.emitted) of \(record.partialCount) items")
            }
            if !record.phase.isTerminal, record.phase != .waiting, record.phase != .ready, record.attempt < 1 {
                problems.append("task#\(id) in phase \(record.phase) never dispatched")
            }
        }
        for (index, queue) in queues.enumerated() {
            if queue.running != running[index] {
                problems.append("queue#\(index) counts \(queue.running) running, tasks say \(running[index])")
            }
            // Entries are deleted lazily, and a task held and released is inserted again, so a queued task may
            // have more than one live entry; each counts once (the first one popped wins).
            let heapValid = Set(
                queue.ready.unordered.filter { entry in
                    let record = tasks[Int(entry.task)]
                    return record.phase == .ready && record.flags.contains(.queued) && record.rank == entry.rank
                }.map(\.task)
            ).count
            if heapValid != queuedValid[index] {
                problems.append("queue#\(index) heap holds \(heapValid) live entries, \(queuedValid[index]) queued")
            }
            if queue.admitted != admitted[index] {
                problems.append("queue#\(index) counts \(queue.admitted) admitted, tasks say \(admitted[index])")
            }
            if isDispatching, queuedValid[index] > 0, queue.taken < queue.width, !queue.isDirty {
                problems.append("queue#\(index) has ready work and a free slot (\(queue.taken)/\(queue.width))")
            }
        }
        if unfinished != unfinishedCount { problems.append("unfinished \(unfinishedCount), tasks say \(unfinished)") }
        if counted != counts { problems.append("outcome counts \(counts), tasks say \(counted)") }
        checkJobs(into: &problems)
        if usesWorkers {
            checkWorkers(into: &problems)
        } else if !pool.holders.isEmpty || !pool.workers.isEmpty {
            problems.append("a queue-slot core has \(pool.workers.count) workers")
        }
        return problems
    }

    /// Workers: slots and resources never overdrawn, holders consistent both ways, each running attempt on a
    /// worker that fits it, candidate sets exact, and no admitted task left while a worker could take it.
    func checkWorkers(into problems: inout [String]) {
        var held = [Int](repeating: 0, count: pool.workers.count)
        var heldResources = [[String: Double]](repeating: [:], count: pool.workers.count)
        for (index, record) in tasks.enumerated() {
            let id = Int32(index)
            let holder = pool.holders[id]
            guard record.phase == .running else {
                if let holder { problems.append("task#\(id) is \(record.phase) but held by worker#\(holder)") }
                continue
            }
            guard let holder else {
                problems.append("task#\(id) runs on no worker")
                continue
            }
            let worker = pool.workers[Int(holder)]
            let placement = pool.classes[Int(placementClass(of: id))].placement
            if worker.state == .gone { problems.append("task#\(id) runs on gone worker#\(holder)") }
            if !placement.admits(worker.spec) { problems.append("task#\(id) (\(placement)) runs on worker#\(holder)") }
            if !worker.tasks.contains(id) { problems.append("worker#\(holder) does not list its task#\(id)") }
            held[Int(holder)] += 1
            for (name, amount) in placement.resources { heldResources[Int(holder)][name, default: 0] += amount }
        }
        for (index, worker) in pool.workers.enumerated() {
            if worker.running != held[index] || worker.tasks.count != held[index] {
                problems.append("worker#\(index) counts \(worker.running) running, tasks say \(held[index])")
            }
            if worker.running > worker.spec.slots {
                problems.append("worker#\(index) runs \(worker.running) in \(worker.spec.slots) slots")
            }
            for (name, total) in worker.spec.resources {
                let expected = total - (heldResources[index][name] ?? 0)
                if abs((worker.free[name] ?? 0) - expected) > 1e-6 || expected < -1e-9 {
                    problems.append("worker#\(index) has \(worker.free[name] ?? 0) \(name) free, expected \(expected)")
                }
            }
            for (placementClass, entry) in pool.classes.enumerated() {
                let admits = worker.state != .gone && entry.placement.admits(worker.spec)
                if index == 0 {
                    let accepting = entry.admitting.count { pool.workers[Int($0)].state == .accepting }
                    if accepting != entry.accepting {
                        problems.append(
                            "class \(placementClass) counts \(entry.accepting) accepting workers, not \(accepting)")
                    }
                    if entry.accepting > 0,
                        entry.parked.contains(where: {
                            tasks[Int($0)].phase == .ready
                                && tasks[Int($0)].flags.isDisjoint(with: [.queued, .admitted, .held])
                        })
                    {
                        problems.append("class \(placementClass) keeps tasks parked though a worker accepts work")
                    }
                }
                if admits != entry.admitting.contains(Int32(index)) {
                    problems.append("class \(placementClass) lists worker#\(index) wrongly (admits: \(admits))")
                }
                if (admits && worker.hasFreeSlot) != entry.candidates.contains(Int32(index)) {
                    problems.append("class \(placementClass) candidacy of worker#\(index) is wrong")
                }
            }
        }
        guard isDispatching, !pool.isDirty else { return }
        for (placementClass, entry) in pool.classes.enumerated() {
            let live = Set(entry.ready.unordered.filter(isLiveAdmitted).map(\.task)).count
            if live > 0, !entry.isActive {
                problems.append("class \(placementClass) has admitted tasks but is inactive")
            }
            if live > 0, let worker = pool.bestWorker(for: Int32(placementClass)) {
                problems.append("class \(placementClass) has \(live) admitted tasks while worker#\(worker) has room")
            }
        }
    }
}

extension SchedulerCore {
    /// Jobs: each task listed by exactly its queue's job, and each job's counts and barrier batch match its
    /// tasks.
    func checkJobs(into problems: inout [String]) {
        var listed = [Int32](repeating: -1, count: tasks.count)
        for (index, job) in jobs.enumerated() {
            var unfinished = 0
            var inBatch = 0
            var counted = OutcomeCounts()
            for (position, id) in taskList(of: Int32(index)).enumerated() {
                if listed[Int(id)] >= 0 {
                    problems.append("task#\(id) listed by job#\(listed[Int(id)]) and job#\(index)")
                }
                listed[Int(id)] = Int32(index)
                if jobIndex(of: id) != Int32(index) { problems.append("job#\(index) lists task#\(id) of another job") }
                let record = tasks[Int(id)]
                if record.phase.isTerminal {
                    counted.record(outcome(of: id))
                } else {
                    unfinished += 1
                    if position < job.firstUnfinished { problems.append("job#\(index) skips unfinished task#\(id)") }
                }
                if record.flags.contains(.inBatch) { inBatch += 1 }
            }
            if unfinished != job.unfinished {
                problems.append("job#\(index) counts \(job.unfinished) unfinished, tasks say \(unfinished)")
            }
            if counted != job.counts { problems.append("job#\(index) counts \(job.counts), tasks say \(counted)") }
            if job.policy.barrierChunk != nil, inBatch != job.batchRemaining {
                problems.append("job#\(index) barrier batch counts \(job.batchRemaining), tasks say \(inBatch)")
            }
            if job.policy.barrierChunk == nil, inBatch != 0 {
                problems.append("job#\(index) has \(inBatch) tasks in a batch")
            }
        }
        for (id, job) in listed.enumerated() where job < 0 { problems.append("task#\(id) belongs to no job") }
    }
}
