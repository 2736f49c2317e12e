import Foundation
import Testing
import TrellisSQLite
import TrellisStore
import TrellisTestKit

/// One suite run against every coordinator store.
@Suite("Coordinator store conformance")
struct CoordinatorStoreTests {
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case memory, sqlite
        var testDescription: String { rawValue }
    }

    /// A store, with the file behind it for SQLite (removed at the end).
    final class Subject {
        let store: any CoordinatorStore
        let directory: URL?

        init(_ kind: Kind) throws {
            switch kind {
            case .memory:
                store = InMemoryCoordinatorStore()
                directory = nil
            case .sqlite:
                let url = FileManager.default.temporaryDirectory.appendingPathComponent(
                    "coordinator-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
                directory = url
                store = try SQLiteCoordinatorStore(path: url.appendingPathComponent("db.sqlite").path)
            }
        }

        deinit { directory.map { try? FileManager.default.removeItem(at: $0) } }
    }

    static func chain(_ names: [String], play: Bool = true, maxAttempts: Int = 1) -> NewTasks {
        NewTasks(
            jobName: "job",
            tasks: names.enumerated().map { position, name in
                NewTask(
                    name: name, needs: position == 0 ? [] : [NewNeed(.position(position - 1))], maxAttempts: maxAttempts
                )
            }, play: play)
    }

    /// Runs attempt `attempt` of `id` to success under `epoch`.
    static func succeed(_ store: any CoordinatorStore, _ id: UInt64, epoch: UInt64, attempt: Int = 1) throws -> [UInt64]
    {
        try store.apply(
            [
                .assigned(id, worker: "w", epoch: epoch, attempt: attempt),
                .started(id, epoch: epoch, attempt: attempt),
                .succeeded(id, epoch: epoch, attempt: attempt, exitCode: 0),
            ], at: 2
        ).ready
    }

    @Test(arguments: Kind.allCases)
    func theFinaleThatDoesNotRunIsSkippedAndStaysSo(kind: Kind) throws {
        let subject = try Subject(kind)
        let store = subject.store
        let session = try store.beginSession(at: 1)
        let added = try store.addTasks(
            NewTasks(
                jobName: "job",
                tasks: [
                    NewTask(name: "main", maxAttempts: 1), NewTask(name: "commit", maxAttempts: 1, role: .onSuccess),
                    NewTask(name: "clean", maxAttempts: 1, role: .onFailure),
                ], play: true), at: 1)
        let ids = added.taskIDs
        let ready = try Self.succeed(store, ids[0], epoch: session.epoch)
        #expect(ready == [ids[1]])
        let clean = try #require(try store.task(ids[2]))
        #expect(clean.state == .skipped)
        #expect(clean.state.isFinal)
        #expect(clean.message == "skipped: the job succeeded")
        #expect(try store.tasks(states: [.skipped], job: nil, afterID: 0, limit: 10).map(\.id) == [ids[2]])
    }

    @Test(arguments: Kind.allCases)
    func aChainBecomesReadyOneTaskAtATime(kind: Kind) throws {
        let subject = try Subject(kind)
        defer { withExtendedLifetime(subject) {} }
        let store = subject.store
        let epoch = try store.beginSession(at: 0).epoch
        #expect(epoch == 1)
        let added = try store.addTasks(Self.chain(["a", "b", "c"]), at: 1)
        #expect(added.taskIDs == [1, 2, 3])
        #expect(added.ready == [1])
        #expect(try Self.succeed(store, 1, epoch: epoch) == [2])
        #expect(try store.task(2)?.unmet == 0)
        #expect(try store.task(3)?.unmet == 1)
        #expect(try Self.succeed(store, 2, epoch: epoch) == [3])
        #expect(try store.task(1)?.state == .succeeded)
    }

    @Test(arguments: Kind.allCases)
    func createdTasksWaitForPlay(kind: Kind) throws {
        let subject = try Subject(kind)
        defer { withExtendedLifetime(subject) {} }
        let store = subject.store
        _ = try store.beginSession(at: 0)
        let added = try store.addTasks(Self.chain(["a", "b"], play: false), at: 1)
        #expect(added.ready.isEmpty)
        #expect(try store.task(1)?.state == .created)
        #expect(try store.apply([.assigned(1, worker: "w", epoch: 1, attempt: 1)], at: 1).ignored == [0])
        #expect(try store.apply([.played(1), .played(2)], at: 2).ready == [1])
        #expect(try store.task(2)?.state == .ready)
    }

    @Test(arguments: Kind.allCases)
    func reportsOfAnOldEpochOrAttemptChangeNothing(kind: Kind) throws {
        let subject = try Subject(kind)
        defer { withExtendedLifetime(subject) {} }
        let store = subject.store
        _ = try store.beginSession(at: 0)
        _ = try store.addTasks(Self.chain(["a", "b"]), at: 1)
        _ = try store.apply(
            [.assigned(1, worker: "w", epoch: 1, attempt: 1), .started(1, epoch: 1, attempt: 1)], at: 1)
        let epoch = try store.beginSession(at: 2).epoch  // the coordinator restarted
        #expect(epoch == 2)
        let late = try store.apply(
            [
                .succeeded(1, epoch: 1, attempt: 2, exitCode: 0),  // wrong attempt
                .succeeded(1, epoch: 2, attempt: 1, exitCode: 0),  // wrong epoch
                .assigned(1, worker: "w", epoch: 2, attempt: 3),  // not ready
            ], at: 3)
        #expect(late.ignored == [0, 1, 2])
        #expect(try store.task(1)?.state == .running)
        // The current attempt's own report is accepted: reconciliation after a restart.
        #expect(try store.apply([.succeeded(1, epoch: 1, attempt: 1, exitCode: 0)], at: 4).ready == [2])
    }

    @Test(arguments: Kind.allCases)
    func anOutputReleasesItsDependantsWhileTheProducerRuns(kind: Kind) throws {
        let subject = try Subject(kind)
        defer { withExtendedLifetime(subject) {} }
        let store = subject.store
        _ = try store.beginSession(at: 0)
        let batch = NewTasks(
            jobName: "j",
            tasks: [
                NewTask(name: "p", outputs: ["half", "all"], maxAttempts: 2),
                NewTask(name: "early", needs: [NewNeed(.position(0), output: "half")]),
                NewTask(name: "late", needs: [NewNeed(.position(0))]),
            ], play: true)
        _ = try store.addTasks(batch, at: 1)
        _ = try store.apply(
            [.assigned(1, worker: "w", epoch: 1, attempt: 1), .started(1, epoch: 1, attempt: 1)], at: 1)
        #expect(try store.apply([.outputSignalled(1, name: "half", epoch: 1, attempt: 1)], at: 2).ready == [2])
        #expect(try store.apply([.outputSignalled(1, name: "half", epoch: 1, attempt: 1)], at: 2).ignored == [0])
        // Ending without "all" is a failure; one attempt remains, so it is ready again.
        let ended = try store.apply([.succeeded(1, epoch: 1, attempt: 1, exitCode: 0)], at: 3)
        #expect(ended.ready == [1])
        #expect(try store.task(1)?.message == "ended without signalling all")
        #expect(try store.task(3)?.state == .ready)
        #expect(try store.task(3)?.unmet == 1)
    }

    /// As in the scheduling core: a need on an output the producer signalled stays met when the producer later
    /// fails for good; only needs that can no longer be met end their tasks.
    @Test(arguments: Kind.allCases)
    func aSignalledOutputStaysMetWhenItsProducerFails(kind: Kind) throws {
        let subject = try Subject(kind)
        defer { withExtendedLifetime(subject) {} }
        let store = subject.store
        _ = try store.beginSession(at: 0)
        let batch = NewTasks(
            jobName: "j",
            tasks: [
                NewTask(name: "p", outputs: ["half", "all"], maxAttempts: 1),
                NewTask(name: "early", needs: [NewNeed(.position(0), output: "half")]),
                NewTask(name: "late", needs: [NewNeed(.position(0))]),
                NewTask(name: "never", needs: [NewNeed(.position(0), output: "all")]),
                NewTask(name: "after-early", needs: [NewNeed(.position(1))]),
            ], play: true)
        _ = try store.addTasks(batch, at: 1)
        _ = try store.apply(
            [
                .assigned(1, worker: "w", epoch: 1, attempt: 1), .started(1, epoch: 1, attempt: 1),
                .outputSignalled(1, name: "half", epoch: 1, attempt: 1),
            ], at: 2)
        _ = try store.apply([.failed(1, epoch: 1, attempt: 1, exitCode: 1, message: "exit status 1")], at: 3)
        #expect(try store.task(1)?.state == .failed)
        #expect(try store.task(2)?.state == .ready)
        #expect(try store.task(3)?.state == .upstreamFailed)
        #expect(try store.task(4)?.state == .upstreamFailed)
        #expect(try store.task(5)?.state == .ready)
        #expect(try store.task(5)?.unmet == 1)
    }

    @Test(arguments: Kind.allCases)
    func aFinalFailureEndsEverythingDownstream(kind: Kind) throws {
        let subject = try Subject(kind)
        defer { withExtendedLifetime(subject) {} }
        let store = subject.store
        _ = try store.beginSession(at: 0)
        _ = try store.addTasks(Self.chain(["a", "b", "c"], maxAttempts: 2), at: 1)
        for attempt in 1...2 {
            _ = try store.apply(
                [
                    .assigned(1, worker: "w", epoch: 1, attempt: attempt),
                    .failed(1, epoch: 1, attempt: attempt, exitCode: 3, message: "exit status 3"),
                ], at: 2)
        }
        let a = try #require(try store.task(1))
        #expect(a.state == .failed)
        #expect(a.failures == 2)
        #expect(a.exitCode == 3)
        #expect(try store.task(2)?.state == .upstreamFailed)
        #expect(try store.task(3)?.state == .upstreamFailed)
        #expect(try store.task(3)?.message == "a (task 1) ended failed")
        // A later task that needs the failed one is doomed at once.
        let later = try store.addTasks(
            NewTasks(job: a.job, jobName: "", tasks: [NewTask(name: "d", needs: [NewNeed(.id(1))])], play: true), at: 3)
        #expect(later.ready.isEmpty)
        #expect(try store.task(later.taskIDs[0])?.state == .upstreamFailed)
    }

    @Test(arguments: Kind.allCases)
    func aLostWorkersTaskRunsAgainAndItsLateReportIsRejected(kind: Kind) throws {
        let subject = try Subject(kind)
        defer { withExtendedLifetime(subject) {} }
        let store = subject.store
        _ = try store.beginSession(at: 0)
        _ = try store.addTasks(Self.chain(["a"]), at: 1)
        _ = try store.apply(
            [.assigned(1, worker: "w1", epoch: 1, attempt: 1), .started(1, epoch: 1, attempt: 1)], at: 1)
        #expect(try store.apply([.requeued(1, epoch: 1, attempt: 1)], at: 2).ready == [1])
        #expect(try store.task(1)?.failures == 0, "a lost worker is not the task's failure")
        _ = try store.apply([.assigned(1, worker: "w2", epoch: 1, attempt: 2)], at: 3)
        #expect(try store.apply([.succeeded(1, epoch: 1, attempt: 1, exitCode: 0)], at: 4).ignored == [0])
        #expect(try store.task(1)?.state == .assigned)
        #expect(try store.task(1)?.worker == "w2")
    }

    @Test(arguments: Kind.allCases)
    func cancelPauseAndResume(kind: Kind) throws {
        let subject = try Subject(kind)
        defer { withExtendedLifetime(subject) {} }
        let store = subject.store
        _ = try store.beginSession(at: 0)
        _ = try store.addTasks(Self.chain(["a", "b"]), at: 1)
        _ = try store.addTasks(Self.chain(["x"]), at: 1)
        #expect(try store.apply([.paused(3)], at: 2).ignored.isEmpty)
        #expect(try store.task(3)?.state == .paused)
        #expect(try store.apply([.resumed(3)], at: 3).ready == [3])
        _ = try store.apply([.cancelled(1, killed: true)], at: 4)
        #expect(try store.task(1)?.state == .killed)
        #expect(try store.task(2)?.state == .cancelled)
        #expect(try store.apply([.cancelled(1, killed: false)], at: 5).ignored == [0])
        let listed = try store.tasks(states: [.cancelled, .killed], job: nil, afterID: 0, limit: 10)
        #expect(listed.map(\.id) == [1, 2])
        #expect(try store.tasks(states: [], job: 2, afterID: 0, limit: 10).map(\.name) == ["x"])
    }

    @Test func aRestartedSQLiteStoreKeepsEverythingAndBumpsTheEpoch() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "coordinator-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("db.sqlite").path
        do {
            let store = try SQLiteCoordinatorStore(path: path)
            _ = try store.beginSession(at: 0)
            _ = try store.addTasks(Self.chain(["a", "b", "c"]), at: 1)
            _ = try Self.succeed(store, 1, epoch: 1)
            _ = try store.apply([.assigned(2, worker: "w", epoch: 1, attempt: 1)], at: 3)
        }
        let reopened = try SQLiteCoordinatorStore(path: path)
        let session = try reopened.beginSession(at: 10)
        #expect(session.epoch == 2)
        #expect(session.ready.isEmpty)
        #expect(session.inFlight == [2])
        #expect(try reopened.task(1)?.state == .succeeded)
        #expect(try reopened.task(3)?.unmet == 1)
        #expect(try reopened.addTasks(Self.chain(["d"]), at: 11).taskIDs == [4], "ids keep growing")
    }

    /// Both stores fed the same seeded events, valid and stale, must hold the same tables.
    @Test(arguments: 0..<12)
    func storesAgreeOnRandomEventStreams(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let memory = InMemoryCoordinatorStore()
        let sqlite = try Subject(.sqlite)
        defer { withExtendedLifetime(sqlite) {} }
        let stores: [any CoordinatorStore] = [memory, sqlite.store]
        var epoch: UInt64 = 0
        for store in stores { epoch = try store.beginSession(at: 0).epoch }
        let count = Int.random(in: 5...25, using: &rng)
        var tasks: [NewTask] = []
        for position in 0..<count {
            var needs: [NewNeed] = []
            if position > 0 {
                for _ in 0..<Int.random(in: 0...2, using: &rng) {
                    let parent = Int.random(in: 0..<position, using: &rng)
                    needs.append(NewNeed(.position(parent), output: rng.chance(0.3) ? "o" : nil))
                }
            }
            tasks.append(
                NewTask(
                    name: "t\(position)", needs: needs, outputs: ["o"], maxAttempts: Int.random(in: 1...2, using: &rng))
            )
        }
        let batch = NewTasks(jobName: "random", tasks: tasks, play: rng.chance(0.7))
        let added = try stores.map { try $0.addTasks(batch, at: 1) }
        #expect(added[0] == added[1])
        for step in 0..<200 {
            let all = try memory.tasks(states: [], job: nil, afterID: 0, limit: 1000)
            let task = all[Int.random(in: 0..<all.count, using: &rng)]
            let attempt = task.attempt + (rng.chance(0.1) ? 1 : 0)
            let event: CoordinatorEvent =
                switch Int.random(in: 0..<10, using: &rng) {
                case 0: .played(task.id)
                case 1: .assigned(task.id, worker: "w", epoch: epoch, attempt: task.attempt + 1)
                case 2: .started(task.id, epoch: epoch, attempt: attempt)
                case 3: .outputSignalled(task.id, name: "o", epoch: epoch, attempt: attempt)
                case 4, 5: .succeeded(task.id, epoch: epoch, attempt: attempt, exitCode: 0)
                case 6: .failed(task.id, epoch: epoch, attempt: attempt, exitCode: 1, message: "boom")
                case 7: .requeued(task.id, epoch: epoch, attempt: attempt)
                case 8: rng.chance(0.5) ? .paused(task.id) : .resumed(task.id)
                default: rng.chance(0.2) ? .cancelled(task.id, killed: rng.chance(0.5)) : .played(task.id)
                }
            let results = try stores.map { try $0.apply([event], at: Double(step)) }
            #expect(results[0] == results[1], "seed \(seed) step \(step): \(event)")
            let tables = try stores.map { try $0.tasks(states: [], job: nil, afterID: 0, limit: 1000) }
            #expect(tables[0] == tables[1], "seed \(seed) step \(step): \(event)")
            if tables[0] != tables[1] { return }
        }
    }
}
