internal import CoreMetrics
internal import Prometheus
internal import Synchronization
internal import TrellisCore
internal import TrellisEngine
internal import TrellisProtocol

/// What a coordinator counts and measures, through swift-metrics into a Prometheus registry of its own (one
/// per coordinator, so tests and programs that run several do not share one). Counters and histograms move as
/// the loop works; gauges are read off the engine when scraped. Every name is in the README.
final class CoordinatorMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let reportedQueues = Mutex(Set<String>())

    // Counted as the loop works.
    let tasksAdded: CoreMetrics.Counter
    let attempts: CoreMetrics.Counter
    let retries: CoreMetrics.Counter
    let timeouts: CoreMetrics.Counter
    let staleReports: CoreMetrics.Counter
    let workerLosses: CoreMetrics.Counter
    let forgottenTasks: CoreMetrics.Counter
    // Measured as the loop works.
    let runTime: CoreMetrics.Timer
    let turnTime: CoreMetrics.Timer
    let commitTime: CoreMetrics.Timer
    let commitBatch: CoreMetrics.Recorder

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        let quick: [Duration] = [
            .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
            .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .seconds(1),
        ]
        factory.durationHistogramBuckets = [
            "trellis_loop_turn_seconds": quick, "trellis_journal_commit_seconds": quick,
        ]
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(10), .milliseconds(100), .seconds(1), .seconds(10), .seconds(60),
            .seconds(600), .seconds(3_600), .seconds(21_600),
        ]
        factory.valueHistogramBuckets = ["trellis_journal_commit_records": [1, 2, 5, 10, 50, 100, 500, 1_000, 10_000]]
        self.factory = factory
        tasksAdded = CoreMetrics.Counter(label: "trellis_tasks_added_total", factory: factory)
        attempts = CoreMetrics.Counter(label: "trellis_attempts_total", factory: factory)
        retries = CoreMetrics.Counter(label: "trellis_retries_total", factory: factory)
        timeouts = CoreMetrics.Counter(label: "trellis_timeouts_total", factory: factory)
        staleReports = CoreMetrics.Counter(label: "trellis_stale_reports_total", factory: factory)
        workerLosses = CoreMetrics.Counter(label: "trellis_worker_losses_total", factory: factory)
        forgottenTasks = CoreMetrics.Counter(label: "trellis_tasks_forgotten_total", factory: factory)
        runTime = CoreMetrics.Timer(label: "trellis_task_run_seconds", factory: factory)
        turnTime = CoreMetrics.Timer(label: "trellis_loop_turn_seconds", factory: factory)
        commitTime = CoreMetrics.Timer(label: "trellis_journal_commit_seconds", factory: factory)
        commitBatch = CoreMetrics.Recorder(label: "trellis_journal_commit_records", aggregate: true, factory: factory)
    }

    /// Counts what a turn's records say happened.
    func count(_ records: [CoordinatorRecord]) {
        var added = 0
        var assigned = 0
        for record in records {
            switch record {
            case .taskAdded: added += 1
            case .assigned: assigned += 1
            case .fact(let fact):
                switch fact.fact {
                case .timedOut: timeouts.increment()
                case .retryDue: retries.increment()
                case .workerLeft: workerLosses.increment()
                default: break
                }
            default: break
            }
        }
        if added > 0 { tasksAdded.increment(by: added) }
        if assigned > 0 { attempts.increment(by: assigned) }
    }

    /// The gauges, as the engine stands now, then every metric in Prometheus' text format.
    func scrape(_ engine: CoordinatorEngine, workers: [RemoteWorker]) -> [UInt8] {
        var byState: [TaskStatus: Int] = [:]
        var readyByQueue: [String: Int] = [:]
        var queueNames: [Int: String] = [:]
        for job in engine.jobs.values {
            for (name, queue) in job.queues { queueNames[queue.rawValue] = name }
        }
        for index in engine.tasks.indices {
            let id = TaskID(index)
            let status = engine.view(of: id)
            byState[status, default: 0] += 1
            if status == .ready {
                let queue = queueNames[engine.state.core.queue(of: id).rawValue] ?? JobRequest.defaultQueue
                readyByQueue[queue, default: 0] += 1
            }
        }
        for status in TaskStatus.allCases where status != .interrupted {
            CoreMetrics.Gauge(label: "trellis_tasks", dimensions: [("state", status.rawValue)], factory: factory)
                .record(byState[status] ?? 0)
        }
        // A queue seen once is reported from then on, at 0 when it has nothing ready.
        let queues = reportedQueues.withLock { reported in
            reported.formUnion(readyByQueue.keys)
            return reported
        }
        for queue in queues {
            CoreMetrics.Gauge(label: "trellis_ready_tasks", dimensions: [("queue", queue)], factory: factory)
                .record(readyByQueue[queue] ?? 0)
        }
        var workersByState: [String: Int] = [:]
        for worker in workers { workersByState[worker.status, default: 0] += 1 }
        for state in ["connected", "disconnected", "lost"] {
            CoreMetrics.Gauge(label: "trellis_workers", dimensions: [("state", state)], factory: factory)
                .record(workersByState[state] ?? 0)
        }
        CoreMetrics.Gauge(label: "trellis_jobs", factory: factory).record(engine.jobs.count)
        return registry.emitToBuffer()
    }
}

extension CoreMetrics.Timer {
    func record(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
