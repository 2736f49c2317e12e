internal import TrellisCore
internal import TrellisJournal

/// The ids tasks have on the wire: from 1, in the order tasks are added, never given twice.
///
/// The core numbers its tasks densely from 0 and numbers them again when jobs are forgotten, so a wire id is
/// the core's id plus an offset that only a forgetting changes. The numbering keeps runs of tasks whose wire
/// ids are consecutive: a lookup either way is a binary search over the runs, and a task costs nothing.
struct WireNumbering: Hashable {
    struct Run: Hashable {
        /// The core's id of the run's first task, and its wire id.
        var index: Int
        var wire: UInt64
    }

    private(set) var runs: [Run] = []
    /// Tasks numbered.
    private(set) var count = 0
    /// The wire id the next task gets.
    private(set) var next: UInt64 = 1

    init() {}

    /// Numbers the task the core added as `count`; returns its wire id.
    @discardableResult
    mutating func add() -> UInt64 {
        let wire = next
        if let last = runs.last, last.wire + UInt64(count - last.index) == wire {
            // Goes on the last run.
        } else {
            runs.append(Run(index: count, wire: wire))
        }
        count += 1
        next += 1
        return wire
    }

    func wire(of task: TaskID) -> UInt64 {
        precondition(task.rawValue >= 0 && task.rawValue < count, "Internal inconsistency: no wire id for \(task)")
        // The last run that starts at or before the task.
        var low = 0
        var high = runs.count
        while high - low > 1 {
            let middle = (low + high) / 2
            if runs[middle].index <= task.rawValue { low = middle } else { high = middle }
        }
        return runs[low].wire + UInt64(task.rawValue - runs[low].index)
    }

    /// The core's id of the task with wire id `wire`, or `nil` when no task has it (any more).
    func task(wire: UInt64) -> TaskID? {
        guard wire >= 1, wire < next, !runs.isEmpty, wire >= runs[0].wire else { return nil }
        var low = 0
        var high = runs.count
        while high - low > 1 {
            let middle = (low + high) / 2
            if runs[middle].wire <= wire { low = middle } else { high = middle }
        }
        let run = runs[low]
        let end = low + 1 < runs.count ? runs[low + 1].index : count
        let index = run.index + Int(wire - run.wire)
        return index < end ? TaskID(index) : nil
    }

    /// Whether `wire` was given to a task that has been forgotten since.
    func wasForgotten(_ wire: UInt64) -> Bool { wire >= 1 && wire < next && task(wire: wire) == nil }

    /// Follows a forgetting: the tasks kept keep their wire ids under their new core ids.
    mutating func renumber(keeping kept: [Bool]) {
        precondition(kept.count == count, "Internal inconsistency: renumbering \(kept.count) of \(count) tasks")
        var renumbered = WireNumbering()
        renumbered.next = next
        var run = 0
        for (index, isKept) in kept.enumerated() {
            while run + 1 < runs.count, runs[run + 1].index <= index { run += 1 }
            guard isKept else { continue }
            renumbered.next = runs[run].wire + UInt64(index - runs[run].index)
            renumbered.add()
        }
        renumbered.next = next
        self = renumbered
    }

    func write(to w: inout JournalWriter) {
        w.int(count)
        w.unsigned(next)
        w.unsigned(UInt64(runs.count))
        for run in runs {
            w.int(run.index)
            w.unsigned(run.wire)
        }
    }

    /// Reads a numbering back, checked: runs in order, inside `count`, ids below `next`.
    static func read(from r: inout JournalReader) throws(JournalError) -> WireNumbering {
        var numbering = WireNumbering()
        numbering.count = try r.int()
        numbering.next = try r.unsigned()
        guard numbering.count >= 0, numbering.next >= 1 else { throw r.corrupt("a wire numbering out of range") }
        var previous: Run?
        for _ in 0..<(try r.count()) {
            let run = Run(index: try r.int(), wire: try r.unsigned())
            if let previous {
                guard run.index > previous.index, run.wire >= previous.wire + UInt64(run.index - previous.index)
                else { throw r.corrupt("wire id runs out of order") }
            } else if run.index != 0 {
                throw r.corrupt("wire id runs that do not start at the first task")
            }
            numbering.runs.append(run)
            previous = run
        }
        if let last = numbering.runs.last {
            guard last.index < numbering.count, last.wire + UInt64(numbering.count - last.index) <= numbering.next
            else { throw r.corrupt("wire ids past the next one") }
        } else if numbering.count != 0 {
            throw r.corrupt("tasks without wire ids")
        }
        return numbering
    }

    /// The numbering of `count` tasks never forgotten (wire id = core id + 1), as snapshots of the first format
    /// imply.
    static func dense(_ count: Int) -> WireNumbering {
        var numbering = WireNumbering()
        for _ in 0..<count { numbering.add() }
        return numbering
    }
}
