import Foundation
import GRDB
import Testing
import TrellisCore
import TrellisJournal
import TrellisSQLite
import TrellisTestKit

/// A fresh directory per test, removed at the end.
final class TemporaryDirectory: Sendable {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("trellis-journal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

@Suite("Journals")
struct JournalTests {
    @Test func theInMemoryJournalConforms() async throws {
        let problems = try await JournalConformance.check { InMemoryJournal<String>() }
        #expect(problems == [])
    }

    @Test func theSQLiteJournalConforms() async throws {
        let directory = try TemporaryDirectory()
        var count = 0
        let problems = try await JournalConformance.check {
            count += 1
            return try SQLiteJournal<String>(path: directory.path("journal-\(count).sqlite"))
        }
        #expect(problems == [])
    }

    @Test func aReopenedSQLiteJournalKeepsItsEntriesSessionAndSnapshot() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("journal.sqlite")
        do {
            let journal = try SQLiteJournal<String>(path: path, durability: .full)
            let epoch = try await journal.begin()
            try await journal.append(["a", "b"], epoch: epoch)
            try await journal.saveSnapshot(JournalSnapshot(sequence: 1, epoch: epoch, state: [7]))
        }
        let journal = try SQLiteJournal<String>(path: path)
        #expect(try await journal.allEntries().map(\.record) == ["a", "b"])
        #expect(try await journal.latestSnapshot() == JournalSnapshot(sequence: 1, epoch: 1, state: [7]))
        let epoch = try await journal.begin()
        #expect(epoch == 2)
        #expect(try await journal.append(["c"], epoch: epoch) == 3...3)
    }

    @Test func anotherFormatVersionIsRefusedByName() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("journal.sqlite")
        _ = try SQLiteJournal<String>(path: path)
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in try db.execute(sql: "UPDATE journal_meta SET version = 9") }
        #expect {
            _ = try SQLiteJournal<String>(path: path)
        } throws: { error in
            let error = error as? JournalError
            return error?.code == .unsupportedVersion && error?.message.contains("format version 9") == true
        }
    }

    @Test func aCorruptEntryIsNamed() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("journal.sqlite")
        let journal = try SQLiteJournal<String>(path: path)
        let epoch = try await journal.begin()
        try await journal.append(["a", "b"], epoch: epoch)
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            try db.execute(sql: "UPDATE journal SET record = x'ff' WHERE sequence = 2")
        }
        await #expect {
            _ = try await journal.allEntries()
        } throws: { error in
            (error as? JournalError)?.code == .corrupt && "\(error)".contains("entry 2")
        }
    }

    /// The facts of seeded runs (workers joining and leaving, jobs, finales, holds), group-committed to
    /// SQLite in batches of random size, read back by a new journal and replayed into a fresh core, end in the
    /// same outcome for every task.
    @Test func coreFactsThroughSQLiteReplayToTheSameOutcomes() async throws {
        let directory = try TemporaryDirectory()
        var options = CoreHarness.Options()
        options.workers = CoreHarness.WorkerOptions()
        options.jobs = 2
        options.finaleFraction = 0.2
        options.holdProbability = 0.02
        var graphOptions = RandomDAG.Options()
        graphOptions.taskCount = 10...40
        for seed in UInt64(0)..<30 {
            let graph = RandomDAG(options: graphOptions).generate(seed: seed)
            let report = CoreHarness(graph: graph, policy: .outputFirst, options: options).run(seed: seed)
            #expect(report.isClean, "\(report)")
            let path = directory.path("facts-\(seed).sqlite")
            do {
                let journal = try SQLiteJournal<TimedFact>(path: path)
                let epoch = try await journal.begin()
                var rng = SplitMix64(seed: seed)
                var rest = report.facts[...]
                while !rest.isEmpty {
                    let size = Int.random(in: 1...20, using: &rng)
                    try await journal.append(Array(rest.prefix(size)), epoch: epoch)
                    rest = rest.dropFirst(size)
                }
            }
            let facts = try await SQLiteJournal<TimedFact>(path: path).allEntries().map(\.record)
            #expect(facts == report.facts)
            var core = SchedulerCore(
                policy: .outputFirst, execution: .workers(leaseTimeout: CoreHarness.WorkerOptions().leaseTimeout))
            var actions: [SchedulerAction] = []
            try core.replay(facts, into: &actions)
            #expect(core.counts == report.counts)
            for (index, outcome) in report.outcomes.enumerated() {
                #expect(core.outcome(of: TaskID(index)) == outcome, "seed \(seed) task#\(index)")
            }
        }
    }

    /// Every fact of many seeded runs survives the binary form; truncated or random bytes are refused as
    /// corrupt, never trapped on.
    @Test func factsRoundTripAndBadBytesAreRefused() throws {
        var options = CoreHarness.Options()
        options.workers = CoreHarness.WorkerOptions()
        options.jobs = 2
        options.finaleFraction = 0.2
        options.holdProbability = 0.02
        options.heldFraction = 0.05
        var rng = SplitMix64(seed: 7)
        var checked = 0
        for seed in UInt64(0)..<60 {
            let graph = RandomDAG().generate(seed: seed)
            let report = CoreHarness(graph: graph, policy: CoreHarness.policies[Int(seed) % 5], options: options)
                .run(seed: seed)
            for fact in report.facts {
                let bytes = fact.journalBytes()
                #expect(try TimedFact(journalBytes: bytes) == fact)
                checked += 1
                let cut = Int.random(in: 0..<bytes.count, using: &rng)
                #expect(throws: JournalError.self) { try TimedFact(journalBytes: Array(bytes.prefix(cut))) }
            }
        }
        #expect(checked > 1000)
        // The harness never forgets jobs; the forgetting fact goes through the same form.
        for fact in [
            TimedFact(at: .seconds(3), .jobsForgotten([JobID(1), JobID(4)])), TimedFact(at: .zero, .jobsForgotten([])),
        ] {
            let bytes = fact.journalBytes()
            #expect(try TimedFact(journalBytes: bytes) == fact)
            #expect(throws: JournalError.self) { try TimedFact(journalBytes: Array(bytes.dropLast())) }
        }
        var refused = 0
        for _ in 0..<20_000 {
            let bytes = (0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            do {
                _ = try TimedFact(journalBytes: bytes)
            } catch {
                #expect(error.code == .corrupt)
                refused += 1
            }
        }
        #expect(refused > 10_000)
    }
}
