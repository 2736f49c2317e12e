extension SchedulerCore {
    /// Checks every invariant of the bookkeeping in O(tasks + edges); returns a description of each violation.
    /// Tests call it after every step.
    public func checkInvariants() -> [String] {
        var problems: [String] = []
        var running = [Int](repeating: 0, count: queues.count)
        var queuedValid = [Int](repeating: 0, count: queues.count)
        var unfinished = 0
        var inBatch = 0
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
            if record.flags.contains(.inBatch) { inBatch += 1 }
            switch record.phase {
            case .waiting:
                if record.remaining != unsatisfied || unsatisfied == 0 {
                    problems.append("task#\(id) waits with remaining \(record.remaining), unsatisfied \(unsatisfied)")
                }
            case .ready:
                if unsatisfied != 0 { problems.append("task#\(id) is ready with \(unsatisfied) unsatisfied inputs") }
                if record.flags.contains(.queued) {
                    queuedValid[Int(record.queue)] += 1
                } else if isDispatching, !pendingReady.contains(id), policy.barrierChunk == nil {
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
            case .failed, .cancelled, .upstreamFailed:
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
            let heapValid = queue.ready.unordered.filter { entry in
                let record = tasks[Int(entry.task)]
                return record.phase == .ready && record.flags.contains(.queued) && record.rank == entry.rank
            }.count
            if heapValid != queuedValid[index] {
                problems.append("queue#\(index) heap holds \(heapValid) live entries, \(queuedValid[index]) queued")
            }
            if isDispatching, queuedValid[index] > 0, queue.running < queue.width, !queue.isDirty {
                problems.append("queue#\(index) has ready work and a free slot (\(queue.running)/\(queue.width))")
            }
        }
        if unfinished != unfinishedCount { problems.append("unfinished \(unfinishedCount), tasks say \(unfinished)") }
        if counted != counts { problems.append("outcome counts \(counts), tasks say \(counted)") }
        if policy.barrierChunk != nil, inBatch != batchRemaining {
            problems.append("barrier batch counts \(batchRemaining), tasks say \(inBatch)")
        }
        return problems
    }
}
