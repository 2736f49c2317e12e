internal import HeapModule

/// The coordinator's scheduling core: which ready task goes to which worker, and when a worker's lease has
/// run out. A pure state machine: no I/O, no clock (callers pass `now`), no knowledge of dependencies (the
/// store decides readiness). Ready tasks wait in one heap per worker type, ordered by priority, then the
/// job policy's rank, then submission order; each goes to the least-loaded worker of its type whose tags
/// and free resources fit it.
package struct DispatchCore: Sendable {
    /// A ready task as placement sees it.
    package struct ReadyTask: Hashable, Sendable {
        package var id: UInt64
        package var type: String
        package var tags: [String]
        package var resources: [String: Double]
        package var priority: Int32
        package var rank: Double

        package init(
            id: UInt64, type: String, tags: [String] = [], resources: [String: Double] = [:], priority: Int32 = 0,
            rank: Double = 0
        ) {
            self.id = id
            self.type = type
            self.tags = tags
            self.resources = resources
            self.priority = priority
            self.rank = rank
        }
    }

    /// A connected (or recently disconnected) worker.
    package struct Worker: Sendable {
        package var id: UInt64
        package var type: String
        package var tags: Set<String>
        package var slots: Int
        package var free: [String: Double]
        /// Running attempts with the resources each holds.
        package var running: [UInt64: [String: Double]] = [:]
        /// False once its stream ended or it drains: it keeps its running tasks but gets no new ones.
        package var accepting = true
        package var leaseDeadline: Double

        var load: Double { Double(running.count) / Double(max(1, slots)) }
        var hasFreeSlot: Bool { accepting && running.count < slots }

        func fits(_ task: ReadyTask) -> Bool {
            task.tags.allSatisfy(tags.contains)
                && task.resources.allSatisfy { name, amount in (free[name] ?? 0) >= amount - 1e-9 }
        }
    }

    struct Entry: Comparable {
        var priority: Int32
        var rank: Double
        var id: UInt64

        static func < (a: Entry, b: Entry) -> Bool {
            if a.priority != b.priority { return a.priority < b.priority }
            if a.rank != b.rank { return a.rank < b.rank }
            return a.id > b.id
        }
    }

    package private(set) var workers: [UInt64: Worker] = [:]
    private var heaps: [String: Heap<Entry>] = [:]
    /// Tasks waiting for a worker, by id; a heap entry whose task is no longer here is skipped.
    private var waiting: [UInt64: ReadyTask] = [:]
    package let leaseTimeout: Double

    package init(leaseTimeout: Double) {
        self.leaseTimeout = leaseTimeout
    }

    package var waitingCount: Int { waiting.count }
    package func isWaiting(_ id: UInt64) -> Bool { waiting[id] != nil }

    // MARK: Tasks

    package mutating func enqueue(_ task: ReadyTask) {
        guard waiting.updateValue(task, forKey: task.id) == nil else { return }
        heaps[task.type, default: Heap()].insert(Entry(priority: task.priority, rank: task.rank, id: task.id))
    }

    /// Takes a task out of the waiting set (paused, cancelled); false if it was not waiting.
    @discardableResult
    package mutating func withdraw(_ id: UInt64) -> Bool {
        waiting.removeValue(forKey: id) != nil
    }

    // MARK: Workers

    package mutating func join(
        id: UInt64, type: String, tags: [String], slots: Int, resources: [String: Double], now: Double
    ) {
        workers[id] = Worker(
            id: id, type: type, tags: Set(tags), slots: slots, free: resources, leaseDeadline: now + leaseTimeout)
    }

    /// Any message from the worker renews its lease.
    package mutating func heard(from id: UInt64, now: Double) {
        workers[id]?.leaseDeadline = now + leaseTimeout
    }

    /// The worker takes no new tasks (its stream ended, or it drains); its running tasks stay its own
    /// until it reconnects or its lease runs out.
    package mutating func stopAccepting(_ id: UInt64) {
        workers[id]?.accepting = false
    }

    /// Removes a worker and returns the tasks it was running.
    package mutating func remove(_ id: UInt64) -> [UInt64] {
        guard let worker = workers.removeValue(forKey: id) else { return [] }
        return worker.running.keys.sorted()
    }

    /// Workers whose lease ran out by `now`.
    package func expired(now: Double) -> [UInt64] {
        workers.values.filter { $0.leaseDeadline <= now }.map(\.id).sorted()
    }

    package var nextLeaseDeadline: Double? { workers.values.map(\.leaseDeadline).min() }

    /// Records a task running on a worker outside `dispatch` (reconciled after a restart).
    package mutating func adopt(_ task: UInt64, by worker: UInt64, resources: [String: Double] = [:]) {
        guard workers[worker] != nil else { return }
        waiting.removeValue(forKey: task)
        workers[worker]!.running[task] = resources
        for (name, amount) in resources { workers[worker]!.free[name, default: 0] -= amount }
    }

    /// The worker is done with a task (it finished, failed, or was stopped): its slot and resources are free.
    @discardableResult
    package mutating func release(_ task: UInt64, from worker: UInt64) -> Bool {
        guard let held = workers[worker]?.running.removeValue(forKey: task) else { return false }
        for (name, amount) in held { workers[worker]!.free[name, default: 0] += amount }
        return true
    }

    package func runningCount(of worker: UInt64) -> Int { workers[worker]?.running.count ?? 0 }

    // MARK: Dispatch

    /// Places as many waiting tasks as free slots allow, highest first within each type, each on the
    /// least-loaded worker that fits it. A task no worker can take now stays waiting.
    package mutating func dispatch() -> [(task: UInt64, worker: UInt64)] {
        var placed: [(task: UInt64, worker: UInt64)] = []
        for type in heaps.keys.sorted() {
            var candidates = workers.values.filter { $0.type == type && $0.hasFreeSlot }.map(\.id)
            guard !candidates.isEmpty, var heap = heaps[type] else { continue }
            var unplaceable: [Entry] = []
            while !candidates.isEmpty, let entry = heap.popMax() {
                guard let task = waiting[entry.id] else { continue }
                var best: UInt64?
                for id in candidates where workers[id]!.fits(task) {
                    if let current = best {
                        let a = workers[id]!
                        let b = workers[current]!
                        if a.load < b.load
                            || (a.load == b.load
                                && (a.slots - a.running.count, b.id) > (b.slots - b.running.count, a.id))
                        {
                            best = id
                        }
                    } else {
                        best = id
                    }
                }
                guard let worker = best else {
                    unplaceable.append(entry)
                    continue
                }
                waiting.removeValue(forKey: task.id)
                workers[worker]!.running[task.id] = task.resources
                for (name, amount) in task.resources { workers[worker]!.free[name, default: 0] -= amount }
                placed.append((task.id, worker))
                if !workers[worker]!.hasFreeSlot { candidates.removeAll { $0 == worker } }
            }
            for entry in unplaceable { heap.insert(entry) }
            heaps[type] = heap
        }
        return placed
    }

    /// Internal consistency: every worker within its slots, no task both waiting and running, no task
    /// running twice. Empty when consistent.
    package func checkInvariants() -> [String] {
        var problems: [String] = []
        var runningOn: [UInt64: UInt64] = [:]
        for worker in workers.values {
            if worker.running.count > worker.slots {
                problems.append("worker \(worker.id) runs \(worker.running.count) tasks in \(worker.slots) slots")
            }
            for task in worker.running.keys {
                if let other = runningOn.updateValue(worker.id, forKey: task) {
                    problems.append("task \(task) runs on workers \(other) and \(worker.id)")
                }
                if waiting[task] != nil { problems.append("task \(task) is both waiting and running") }
            }
        }
        return problems
    }
}
