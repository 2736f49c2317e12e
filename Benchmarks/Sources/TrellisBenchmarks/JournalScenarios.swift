import Foundation
import TrellisCore
import TrellisJournal
import TrellisSQLite

/// The journal: how fast facts become durable, and how fast a restart rebuilds the core from them.
enum JournalScenario {
    /// The facts of `n` independent tasks run on two workers of two slots: joins, submissions, successes.
    static func facts(tasks n: Int) throws -> [TimedFact] {
        var core = SchedulerCore(policy: .fifo, execution: .workers(leaseTimeout: .seconds(10)))
        var facts: [TimedFact] = []
        var actions: [SchedulerAction] = []
        var now = Duration.zero
        func feed(_ fact: CoreFact) throws {
            if try core.apply(fact, now: now, into: &actions) == .accepted { facts.append(TimedFact(at: now, fact)) }
        }
        try feed(.queueAdded(width: .max, job: .initial))
        try feed(.started)
        for _ in 0..<2 { try feed(.workerJoined(WorkerSpec(type: "cpu", slots: 2))) }
        let queue = QueueID(0)
        for _ in 0..<n { try feed(.submitted(TaskSpec(queue: queue))) }
        var cursor = 0
        while cursor < actions.count {
            now += .microseconds(50)
            if case .assign(let task, let worker, let attempt) = actions[cursor] {
                try feed(.succeeded(task, attempt: attempt, worker: worker))
            }
            cursor += 1
        }
        precondition(core.counts.succeeded == n, "the scenario finished \(core.counts.succeeded) of \(n) tasks")
        return facts
    }

    /// Facts made durable per second when appended in batches of `batch` (one transaction each).
    static func appendRate(
        _ facts: [TimedFact], batch: Int, in directory: URL, durability: SQLiteJournal<TimedFact>.Durability
    )
        async throws -> Double
    {
        let path = directory.appendingPathComponent("append-\(batch)-\(UUID().uuidString).sqlite").path
        defer { removeDatabase(path) }
        let journal = try SQLiteJournal<TimedFact>(path: path, durability: durability)
        let epoch = try await journal.begin()
        let clock = ContinuousClock()
        let start = clock.now
        var rest = facts[...]
        while !rest.isEmpty {
            try await journal.append(Array(rest.prefix(batch)), epoch: epoch)
            rest = rest.dropFirst(batch)
        }
        return Double(facts.count) / seconds(start.duration(to: clock.now))
    }

    /// A journal holding `facts`, for restart measurements.
    static func journal(of facts: [TimedFact], in directory: URL) async throws -> String {
        let path = directory.appendingPathComponent("restart-\(UUID().uuidString).sqlite").path
        let journal = try SQLiteJournal<TimedFact>(path: path)
        let epoch = try await journal.begin()
        var rest = facts[...]
        while !rest.isEmpty {
            try await journal.append(Array(rest.prefix(1000)), epoch: epoch)
            rest = rest.dropFirst(1000)
        }
        return path
    }

    /// A restart: open the journal, begin a session, read every fact and replay it into a fresh core.
    static func restart(_ path: String) async throws -> (read: Double, replay: Double, tasks: Int) {
        let clock = ContinuousClock()
        let start = clock.now
        let journal = try SQLiteJournal<TimedFact>(path: path)
        _ = try await journal.begin()
        let facts = try await journal.allEntries().map(\.record)
        let read = clock.now
        var core = SchedulerCore(policy: .fifo, execution: .workers(leaseTimeout: .seconds(10)))
        var actions: [SchedulerAction] = []
        actions.reserveCapacity(facts.count * 2)
        try core.replay(facts, into: &actions)
        let end = clock.now
        return (seconds(start.duration(to: read)), seconds(read.duration(to: end)), core.taskCount)
    }

    static func removeDatabase(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }
}
