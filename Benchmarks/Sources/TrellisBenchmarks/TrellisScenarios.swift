import Synchronization
import Trellis
import TrellisCore
import TrellisExamples

/// The same shapes on Trellis's in-process runtime.
enum TrellisScenario {
    /// `n` independent no-op tasks submitted to a started scheduler, then waited for. Seconds per task.
    static func independent(_ n: Int, policy: SchedulingPolicy, width: Int) async throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        let scheduler = Scheduler(policy: policy)
        let queue = try scheduler.queue("work", width: width)
        scheduler.start()
        for _ in 0..<n { queue.submit {} }
        try await scheduler.wait()
        return seconds(start.duration(to: clock.now)) / Double(n)
    }

    /// A chain of `n` tasks, each taking the previous one's value. Returns seconds per hop (from `start()`
    /// to the last result) and seconds per submission.
    static func chain(_ n: Int, policy: SchedulingPolicy) async throws -> (hop: Double, submit: Double) {
        let clock = ContinuousClock()
        let scheduler = Scheduler(policy: policy)
        let queue = try scheduler.queue("work", width: 2)
        let submitStart = clock.now
        var last = queue.submit { 0 }
        for _ in 1..<n { last = queue.submit(last) { $0 + 1 } }
        let submitted = clock.now
        scheduler.start()
        let value = try await last.value
        let end = clock.now
        precondition(value == n - 1)
        try await scheduler.wait()
        return (
            seconds(submitted.duration(to: end)) / Double(n), seconds(submitStart.duration(to: submitted)) / Double(n)
        )
    }

    /// One root, `n` children reading it, one sink reading them all. Seconds per task.
    static func fan(_ n: Int, policy: SchedulingPolicy) async throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        let scheduler = Scheduler(policy: policy)
        let queue = try scheduler.queue("work", width: 2)
        scheduler.start()
        let root = queue.submit { 1 }
        let children = (0..<n).map { i in queue.submit(root) { $0 + i } }
        let sink = queue.submit(all: children) { $0.reduce(0, +) }
        _ = try await sink.value
        try await scheduler.wait()
        return seconds(start.duration(to: clock.now)) / Double(n + 2)
    }

    /// `n` independent no-op tasks all submitted before `start()` (the worst case for memory: every task is
    /// held at once). Bytes of resident memory per task at the peak.
    static func memory(_ n: Int) async throws -> Double {
        let before = procStatusBytes("VmRSS")
        let scheduler = Scheduler(policy: .fifo)
        let queue = try scheduler.queue("work", width: 2)
        for _ in 0..<n { queue.submit {} }
        let submitted = procStatusBytes("VmRSS")
        scheduler.start()
        try await scheduler.wait()
        let peak = max(procStatusBytes("VmHWM"), submitted)
        return Double(peak - before) / Double(n)
    }

    /// The smq workload, submitted whole before `start()`: seconds from `start()` to the first C and to the
    /// end, and seconds spent submitting.
    static func smq(
        policy: SchedulingPolicy, count: Int = 100
    ) async throws -> (
        first: Double, total: Double, submit: Double
    ) {
        let clock = ContinuousClock()
        let first = Mutex<ContinuousClock.Instant?>(nil)
        let submitStart = clock.now
        let scheduler = Scheduler(policy: policy)
        try SMQWorkload(count: count, size: 100, computeWidth: 2).submit(to: scheduler) { _, _ in
            let now = clock.now
            first.withLock { if $0 == nil { $0 = now } }
        }
        let start = clock.now
        scheduler.start()
        try await scheduler.wait()
        let end = clock.now
        let firstC = first.withLock { $0 }!
        return (
            seconds(start.duration(to: firstC)), seconds(start.duration(to: end)),
            seconds(submitStart.duration(to: start))
        )
    }
}

/// `SchedulerCore` alone, driven synchronously with no execution.
enum CoreScenario {
    enum Shape: String, CaseIterable {
        case independent, chain, fan, layered
    }

    /// The specs of `n` tasks of `shape` on queue 0.
    static func specs(_ shape: Shape, n: Int) -> [TaskSpec] {
        let queue = QueueID(0)
        var generator = SplitMix(seed: 42)
        return (0..<n).map { i in
            var dependencies: [Dependency] = []
            switch shape {
            case .independent: break
            case .chain: if i > 0 { dependencies = [Dependency(TaskID(i - 1))] }
            case .fan:
                if i == n - 1 {
                    dependencies = (1..<n - 1).map { Dependency(TaskID($0)) }
                } else if i > 0 {
                    dependencies = [Dependency(TaskID(0))]
                }
            case .layered:
                // Layers of 1,000; each task needs three random tasks of the layer before.
                let layer = 1000
                if i >= layer {
                    let base = (i / layer - 1) * layer
                    dependencies = (0..<3).map { _ in
                        Dependency(TaskID(base + Int(generator.next() % UInt64(layer))))
                    }
                }
            }
            return TaskSpec(queue: queue, dependencies: dependencies)
        }
    }

    /// Events per second (submissions + completions) for `specs`, built beforehand, on a queue of width 4.
    static func eventsPerSecond(_ specs: [TaskSpec], policy: SchedulingPolicy) throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        var core = SchedulerCore(policy: policy)
        _ = try core.addQueue(width: 4)
        var actions: [SchedulerAction] = []
        actions.reserveCapacity(64)
        var events = 0
        for spec in specs {
            try core.submit(spec, now: .zero, into: &actions)
            events += 1
        }
        core.start(now: .zero, into: &actions)
        var running: [TaskID] = []
        running.reserveCapacity(8)
        var cursor = 0
        while true {
            while cursor < actions.count {
                if case .dispatch(let task, _, _) = actions[cursor] { running.append(task) }
                cursor += 1
            }
            actions.removeAll(keepingCapacity: true)
            cursor = 0
            guard let task = running.popLast() else { break }
            core.succeeded(task, attempt: 1, now: .zero, into: &actions)
            events += 1
        }
        precondition(core.counts.succeeded == specs.count, "core finished \(core.counts.succeeded) of \(specs.count)")
        return Double(events) / seconds(start.duration(to: clock.now))
    }

    /// The same on workers: a core with `.workers` execution, one unbounded queue, and `workers` workers of
    /// `slots` slots (2 × 2 matches the queue of width 4). With `classes` > 1, task `i` needs tag `i % classes`
    /// and worker `w` offers tag `w % classes`, so placement has that many classes to choose among.
    static func eventsPerSecondOnWorkers(
        _ specs: [TaskSpec], policy: SchedulingPolicy, workers: Int, slots: Int, classes: Int = 1
    ) throws -> Double {
        let placed = specs.enumerated().map { index, spec in
            var spec = spec
            if classes > 1 { spec.placement = Placement(tags: ["t\(index % classes)"]) }
            return spec
        }
        let clock = ContinuousClock()
        let start = clock.now
        var core = SchedulerCore(policy: policy, execution: .workers(leaseTimeout: .seconds(10)))
        _ = try core.addQueue(width: .max)
        var actions: [SchedulerAction] = []
        actions.reserveCapacity(64)
        var events = 0
        for spec in placed {
            try core.submit(spec, now: .zero, into: &actions)
            events += 1
        }
        core.start(now: .zero, into: &actions)
        for worker in 0..<workers {
            let tags: Set<String> = classes > 1 ? ["t\(worker % classes)"] : []
            _ = try core.joinWorker(WorkerSpec(type: "cpu", tags: tags, slots: slots), now: .zero, into: &actions)
            events += 1
        }
        var running: [(TaskID, WorkerID)] = []
        running.reserveCapacity(workers * slots)
        var cursor = 0
        while true {
            while cursor < actions.count {
                if case .assign(let task, let worker, _) = actions[cursor] { running.append((task, worker)) }
                cursor += 1
            }
            actions.removeAll(keepingCapacity: true)
            cursor = 0
            guard let (task, worker) = running.popLast() else { break }
            core.succeeded(task, attempt: 1, worker: worker, now: .zero, into: &actions)
            events += 1
        }
        precondition(core.counts.succeeded == specs.count, "core finished \(core.counts.succeeded) of \(specs.count)")
        return Double(events) / seconds(start.duration(to: clock.now))
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
