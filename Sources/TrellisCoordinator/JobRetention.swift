/// When ended jobs are forgotten of themselves (`trellis server --forget-after`).
///
/// Each ended job waits out the period from its end, in the order jobs ended. A job due that a job kept still
/// needs (a task of it is an input of a task kept) is blocked: it is tried again with the next jobs that fall
/// due (so it goes together with the job that needs it), or after a forgetting by hand. Jobs forgotten by hand,
/// or given more tasks after they ended, are passed over when their turn comes (a job that ends again is
/// queued again).
struct JobRetention {
    /// How long an ended job is kept; `nil` keeps jobs until they are forgotten by hand.
    let period: Duration?
    /// Ended jobs in the order they ended, with when; the ones before `head` have been looked at.
    private var ended: [(job: UInt64, at: Duration)] = []
    private var head = 0
    /// Jobs due that a job kept still needs.
    private var blocked: [UInt64] = []
    /// Whether jobs were forgotten by hand since the blocked ones were last looked at.
    private var changed = false

    init(period: Duration?) {
        self.period = period
    }

    mutating func jobEnded(_ job: UInt64, at time: Duration) {
        guard period != nil else { return }
        ended.append((job, time))
    }

    /// Jobs were forgotten by hand: the blocked jobs may go now.
    mutating func jobsForgotten() { changed = changed || !blocked.isEmpty }

    /// When the next job falls due.
    var nextDeadline: Duration? {
        guard let period, head < ended.count else { return nil }
        return ended[head].at + period
    }

    /// The jobs to try forgetting now: those whose period has run out, with the blocked ones when there are
    /// such or jobs were forgotten by hand. Hand back the ones still needed with `stillNeeded`.
    mutating func due(now: Duration) -> [UInt64] {
        guard let period else { return [] }
        var jobs: [UInt64] = []
        while head < ended.count, ended[head].at + period <= now {
            jobs.append(ended[head].job)
            head += 1
        }
        if !jobs.isEmpty || changed {
            jobs += blocked.takeAll()
            changed = false
        }
        if head > 1_024, head * 2 > ended.count {
            ended.removeFirst(head)
            head = 0
        }
        return jobs
    }

    mutating func stillNeeded(_ jobs: [UInt64]) { blocked += jobs }
}
