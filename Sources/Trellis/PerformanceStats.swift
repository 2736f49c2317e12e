public import TrellisCore

/// How a scheduler's run went. Times are on the scheduler's clock, except `coreTime` (real time).
public struct PerformanceStats: Sendable, CustomStringConvertible {
    public struct QueueStats: Sendable {
        public var name: String
        public var width: Int
        /// Summed run time of the queue's attempts.
        public var busyTime: Duration
        /// `busyTime / (width × wallTime)`.
        public var utilisation: Double
        public var peakConcurrency: Int
        public var attempts: Int
    }

    public var counts: OutcomeCounts
    public var submitted: Int
    /// From `start()` to the last completion (or to now while work remains).
    public var wallTime: Duration
    /// Real time spent inside `SchedulerCore` transitions with the lock held, estimated by timing one
    /// transition in 16.
    public var coreTime: Duration
    public var coreEvents: Int
    /// From `start()` to the first task that succeeded.
    public var timeToFirstResult: Duration?
    public var peakConcurrency: Int
    public var queues: [QueueStats]
    /// Reports about attempts that were no longer current, dropped.
    public var staleReports: Int

    public var description: String {
        var lines = [
            "tasks: \(submitted) submitted, \(counts.succeeded) succeeded, \(counts.failed) failed, "
                + "\(counts.cancelled) cancelled, \(counts.upstreamFailed) upstream-failed",
            "wall \(wallTime), core \(coreTime) over \(coreEvents) events, first result "
                + (timeToFirstResult.map { "\($0)" } ?? "-") + ", peak concurrency \(peakConcurrency)",
        ]
        for queue in queues {
            let percent = (queue.utilisation * 1000).rounded() / 10
            lines.append(
                "  \(queue.name) (width \(queue.width)): \(queue.attempts) attempts, busy \(queue.busyTime), "
                    + "utilisation \(percent)%, peak \(queue.peakConcurrency)")
        }
        return lines.joined(separator: "\n")
    }
}
