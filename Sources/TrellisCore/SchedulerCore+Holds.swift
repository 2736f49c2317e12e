extension SchedulerCore {
    /// Holds an unfinished task that is not running: it does not start until released. A held task still
    /// becomes ready when its inputs exist; it just waits there. A running task cannot be held (`.stale`).
    @discardableResult
    public mutating func hold(_ task: TaskID, now: Duration, into actions: inout [SchedulerAction]) -> EventDisposition
    {
        guard task.rawValue >= 0, task.rawValue < tasks.count else { return stale() }
        let id = Int32(task.rawValue)
        let record = tasks[Int(id)]
        guard !record.phase.isTerminal, record.phase != .running, !record.flags.contains(.held) else { return stale() }
        tasks[Int(id)].flags.insert(.held)
        // Out of its heap (the entry goes stale) or its placement class, and out of a barrier batch.
        tasks[Int(id)].flags.remove(.queued)
        if record.flags.contains(.admitted) {
            tasks[Int(id)].flags.remove(.admitted)
            queues[Int(record.queue)].admitted -= 1
            markDirty(record.queue)
        }
        if record.flags.contains(.inBatch) {
            tasks[Int(id)].flags.remove(.inBatch)
            jobs[Int(jobIndex(of: id))].batchRemaining -= 1
        }
        flush(now: now, into: &actions)
        return .accepted
    }

    /// Releases a held task; a ready one may start at once.
    @discardableResult
    public mutating func release(
        _ task: TaskID, now: Duration, into actions: inout [SchedulerAction]
    ) -> EventDisposition {
        guard task.rawValue >= 0, task.rawValue < tasks.count else { return stale() }
        let id = Int32(task.rawValue)
        guard tasks[Int(id)].flags.contains(.held) else { return stale() }
        tasks[Int(id)].flags.remove(.held)
        if tasks[Int(id)].phase == .ready { newlyReady.append(id) }
        flush(now: now, into: &actions)
        return .accepted
    }

    /// Whether the task is held.
    public func isHeld(_ task: TaskID) -> Bool { tasks[task.rawValue].flags.contains(.held) }
}
