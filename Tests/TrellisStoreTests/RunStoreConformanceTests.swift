import Foundation
import Synchronization
import Testing
import TrellisSQLite
import TrellisStore
import TrellisTestKit

/// One store under test, with a way to reach the same run again as a resumed runner would.
final class StoreHarness {
    let store: any RunStore
    /// The same run through a new store object (SQLite: a new connection to the same file).
    let reopen: () throws -> any RunStore
    private let directory: URL?

    init(_ kind: StoreKind) throws {
        switch kind {
        case .inMemory:
            let store = InMemoryRunStore()
            self.store = store
            reopen = { store }
            directory = nil
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appending(path: "trellis-store-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let path = directory.appending(path: "state.sqlite").path
            store = try SQLiteRunStore(path: path)
            reopen = { try SQLiteRunStore(path: path) }
            self.directory = directory
        }
    }

    deinit {
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }
}

enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case inMemory = "in-memory"
    case sqlite = "SQLite"

    var testDescription: String { rawValue }
}

/// Whether the writer thread of a concurrency test has finished, and how.
final class Writer: Sendable {
    let finished = Atomic<Bool>(false)
    let failure = Mutex<RunStoreError?>(nil)
}

/// Every store must behave the same: each test runs against the in-memory store and a fresh SQLite file.
@Suite("Run store conformance")
struct RunStoreConformanceTests {
    static let identity = RunIdentity(workflow: "flow", file: "flow.yaml", contentHash: "hash-1")

    @Test(arguments: StoreKind.allCases)
    func snapshotIsNilBeforeOpen(_ kind: StoreKind) throws {
        let harness = try StoreHarness(kind)
        #expect(try harness.store.snapshot() == nil)
    }

    @Test(arguments: StoreKind.allCases)
    func openCreatesEveryTaskAsWaiting(_ kind: StoreKind) throws {
        let harness = try StoreHarness(kind)
        let opened = try harness.store.open(Self.identity, tasks: ["b", "a", "c"], restart: false)
        #expect(opened.identity == Self.identity)
        #expect(opened.sessions == 0)
        #expect(opened.pid == nil)
        #expect(opened.status == "new")
        #expect(opened.startedAt == nil)
        #expect(opened.endedAt == nil)
        #expect(opened.tasks == [StoredTask(id: "b"), StoredTask(id: "a"), StoredTask(id: "c")])
        #expect(try harness.store.snapshot() == opened)
    }

    @Test(arguments: StoreKind.allCases)
    func factsAreAppliedInOrder(_ kind: StoreKind) throws {
        let harness = try StoreHarness(kind)
        let store = harness.store
        _ = try store.open(Self.identity, tasks: ["sim", "plot", "report"], restart: false)
        try store.record([.sessionStarted(at: 100, pid: 4242)])
        try store.record([
            .attemptStarted(task: "sim", attempt: 1, at: 101),
            .processStarted(task: "sim", attempt: 1, pid: 5001),
            .outputSignalled(task: "sim", name: "fine", at: 102),
            .outputSignalled(task: "sim", name: "coarse", at: 103),
            .outputSignalled(task: "sim", name: "fine", at: 104),
        ])
        try store.record([
            .attemptEnded(task: "sim", attempt: 1, state: .retrying, exitCode: 3, message: "exit 3", at: 105),
            .attemptStarted(task: "sim", attempt: 2, at: 106),
            .processStarted(task: "sim", attempt: 2, pid: 5002),
            .outputSignalled(task: "sim", name: "coarse", at: 107),
            .attemptEnded(task: "sim", attempt: 2, state: .succeeded, exitCode: 0, message: nil, at: 108),
            .attemptStarted(task: "plot", attempt: 1, at: 109),
            .attemptEnded(task: "plot", attempt: 1, state: .failed, exitCode: 1, message: "exit 1", at: 110),
            .settled(task: "report", state: .upstreamFailed, message: "plot failed", at: 110),
            .sessionEnded(status: "failed", at: 111),
        ])
        let snapshot = try #require(try store.snapshot())
        #expect(snapshot.sessions == 1)
        #expect(snapshot.pid == 4242)
        #expect(snapshot.status == "failed")
        #expect(snapshot.startedAt == 100)
        #expect(snapshot.endedAt == 111)
        #expect(snapshot.tasks.map(\.id) == ["sim", "plot", "report"])
        #expect(
            snapshot.task("sim")
                == StoredTask(
                    id: "sim", state: .succeeded,
                    attempts: [
                        StoredAttempt(
                            number: 1, startedAt: 101, endedAt: 105, state: .retrying, exitCode: 3, pid: 5001),
                        StoredAttempt(
                            number: 2, startedAt: 106, endedAt: 108, state: .succeeded, exitCode: 0, pid: 5002),
                    ],
                    outputs: ["fine", "coarse"], exitCode: 0, message: nil, finishedAt: 108))
        #expect(
            snapshot.task("plot")
                == StoredTask(
                    id: "plot", state: .failed,
                    attempts: [StoredAttempt(number: 1, startedAt: 109, endedAt: 110, state: .failed, exitCode: 1)],
                    exitCode: 1, message: "exit 1", finishedAt: 110))
        #expect(
            snapshot.task("report")
                == StoredTask(id: "report", state: .upstreamFailed, message: "plot failed", finishedAt: 110))
        #expect(snapshot.counts == [.succeeded: 1, .failed: 1, .upstreamFailed: 1])
    }

    @Test(arguments: StoreKind.allCases)
    func aNewAttemptClearsTheLastOutcomeButKeepsOutputs(_ kind: StoreKind) throws {
        let harness = try StoreHarness(kind)
        _ = try harness.store.open(Self.identity, tasks: ["a"], restart: false)
        try harness.store.record([
            .attemptStarted(task: "a", attempt: 1, at: 1),
            .outputSignalled(task: "a", name: "half", at: 2),
            .attemptEnded(task: "a", attempt: 1, state: .failed, exitCode: 9, message: "boom", at: 3),
            .attemptStarted(task: "a", attempt: 2, at: 4),
        ])
        let task = try #require(try harness.store.snapshot()?.task("a"))
        #expect(task.state == .running)
        #expect(task.exitCode == nil)
        #expect(task.message == nil)
        #expect(task.finishedAt == nil)
        #expect(task.outputs == ["half"])
        #expect(task.attempts.map(\.number) == [1, 2])
        #expect(task.startedAt == 1)
    }

    @Test(arguments: StoreKind.allCases)
    func factsAboutAnUnopenedTaskAddIt(_ kind: StoreKind) throws {
        let harness = try StoreHarness(kind)
        _ = try harness.store.open(Self.identity, tasks: ["a"], restart: false)
        try harness.store.record([.attemptStarted(task: "late", attempt: 1, at: 5)])
        let snapshot = try #require(try harness.store.snapshot())
        #expect(snapshot.tasks.map(\.id) == ["a", "late"])
        #expect(snapshot.task("late")?.state == .running)
    }

    @Test(arguments: StoreKind.allCases)
    func newSessionInterruptsRunningAndRetryingTasks(_ kind: StoreKind) throws {
        let harness = try StoreHarness(kind)
        let store = harness.store
        _ = try store.open(Self.identity, tasks: ["done", "running", "retrying", "waiting", "failed"], restart: false)
        try store.record([
            .sessionStarted(at: 10, pid: 1),
            .attemptStarted(task: "done", attempt: 1, at: 11),
            .attemptEnded(task: "done", attempt: 1, state: .succeeded, exitCode: 0, message: nil, at: 12),
            .attemptStarted(task: "running", attempt: 1, at: 11),
            .attemptStarted(task: "retrying", attempt: 1, at: 11),
            .attemptEnded(task: "retrying", attempt: 1, state: .retrying, exitCode: 2, message: "exit 2", at: 13),
            .attemptStarted(task: "failed", attempt: 1, at: 11),
            .attemptEnded(task: "failed", attempt: 1, state: .failed, exitCode: 1, message: "exit 1", at: 14),
        ])
        // The first session was killed: no sessionEnded. A second one starts.
        try store.record([.sessionStarted(at: 20, pid: 2)])
        let snapshot = try #require(try store.snapshot())
        #expect(snapshot.sessions == 2)
        #expect(snapshot.pid == 2)
        #expect(snapshot.status == "running")
        #expect(snapshot.startedAt == 10)
        #expect(snapshot.tasks.map(\.state) == [.succeeded, .interrupted, .interrupted, .waiting, .failed])
        // The open attempt is interrupted too; an attempt that already ended keeps its outcome.
        #expect(snapshot.task("running")?.attempts.map(\.state) == [.interrupted])
        #expect(snapshot.task("running")?.attempts.map(\.endedAt) == [nil])
        #expect(snapshot.task("retrying")?.attempts.map(\.state) == [.retrying])
        #expect(snapshot.task("done")?.attempts.map(\.state) == [.succeeded])
    }

    @Test(arguments: StoreKind.allCases)
    func sessionEndedThenStartedAgainClearsTheEnd(_ kind: StoreKind) throws {
        let harness = try StoreHarness(kind)
        _ = try harness.store.open(Self.identity, tasks: [], restart: false)
        try harness.store.record([.sessionStarted(at: 1, pid: 7), .sessionEnded(status: "interrupted", at: 2)])
        #expect(try harness.store.snapshot()?.status == "interrupted")
        #expect(try harness.store.snapshot()?.endedAt == 2)
        try harness.store.record([.sessionStarted(at: 3, pid: 8)])
        let snapshot = try #require(try harness.store.snapshot())
        #expect(snapshot.status == "running")
        #expect(snapshot.endedAt == nil)
        #expect(snapshot.startedAt == 1)
        #expect(snapshot.sessions == 2)
    }

    @Test(arguments: StoreKind.allCases)
    func reopeningWithTheSameHashReturnsWhatWasRecorded(_ kind: StoreKind) throws {
        let harness = try StoreHarness(kind)
        _ = try harness.store.open(Self.identity, tasks: ["a", "b"], restart: false)
        try harness.store.record([
            .sessionStarted(at: 1, pid: 11),
            .attemptStarted(task: "a", attempt: 1, at: 2),
            .outputSignalled(task: "a", name: "x", at: 3),
            .attemptEnded(task: "a", attempt: 1, state: .succeeded, exitCode: 0, message: nil, at: 4),
            .sessionEnded(status: "interrupted", at: 5),
        ])
        let recorded = try #require(try harness.store.snapshot())

        // A resumed runner: a new store object, the same workflow, one task more (the file may list it now
        // that its id expanded differently — new ids get rows, old ones stay).
        let resumed = try harness.reopen()
        #expect(try resumed.snapshot() == recorded)
        let renamed = RunIdentity(workflow: "flow-renamed", file: "moved/flow.yaml", contentHash: "hash-1")
        let earlier = try resumed.open(renamed, tasks: ["b", "a", "c"], restart: false)
        var expected = recorded
        expected.identity = renamed
        expected.tasks.append(StoredTask(id: "c"))
        #expect(earlier == expected)
        #expect(try resumed.snapshot() == expected)
    }

    @Test(arguments: StoreKind.allCases)
    func differentHashIsRefusedWithoutRestart(_ kind: StoreKind) throws {
        let harness = try StoreHarness(kind)
        _ = try harness.store.open(Self.identity, tasks: ["a"], restart: false)
        try harness.store.record([.sessionStarted(at: 1, pid: 1), .attemptStarted(task: "a", attempt: 1, at: 2)])
        let before = try harness.store.snapshot()

        let changed = RunIdentity(workflow: "flow", file: "flow.yaml", contentHash: "hash-2")
        let store = try harness.reopen()
        #expect {
            _ = try store.open(changed, tasks: ["a"], restart: false)
        } throws: { error in
            (error as? RunStoreError)?.code == .workflowChanged
        }
        // The refusal changes nothing.
        #expect(try store.snapshot() == before)
    }

    @Test(arguments: StoreKind.allCases)
    func restartDiscardsTheOldRun(_ kind: StoreKind) throws {
        let harness = try StoreHarness(kind)
        _ = try harness.store.open(Self.identity, tasks: ["a", "old"], restart: false)
        try harness.store.record([
            .sessionStarted(at: 1, pid: 1),
            .attemptStarted(task: "a", attempt: 1, at: 2),
            .outputSignalled(task: "a", name: "x", at: 3),
            .attemptEnded(task: "a", attempt: 1, state: .succeeded, exitCode: 0, message: nil, at: 4),
        ])
        let changed = RunIdentity(workflow: "flow", file: "flow.yaml", contentHash: "hash-2")
        let store = try harness.reopen()
        let fresh = try store.open(changed, tasks: ["new", "a"], restart: true)
        #expect(fresh == RunSnapshot(identity: changed, tasks: [StoredTask(id: "new"), StoredTask(id: "a")]))
        #expect(try store.snapshot() == fresh)
    }

    @Test(arguments: StoreKind.allCases)
    func restartWithTheSameHashAlsoStartsOver(_ kind: StoreKind) throws {
        let harness = try StoreHarness(kind)
        _ = try harness.store.open(Self.identity, tasks: ["a"], restart: false)
        try harness.store.record([.sessionStarted(at: 1, pid: 1), .attemptStarted(task: "a", attempt: 1, at: 2)])
        let fresh = try harness.store.open(Self.identity, tasks: ["a"], restart: true)
        #expect(fresh == RunSnapshot(identity: Self.identity, tasks: [StoredTask(id: "a")]))
    }

    @Test(arguments: StoreKind.allCases)
    func recordBeforeOpenFailsWithNotOpen(_ kind: StoreKind) throws {
        let harness = try StoreHarness(kind)
        #expect {
            try harness.store.record([.sessionStarted(at: 1, pid: 1), .attemptStarted(task: "a", attempt: 1, at: 2)])
        } throws: { error in
            (error as? RunStoreError)?.code == .notOpen
        }
        #expect(try harness.store.snapshot() == nil)
        // Whatever was refused must not leak into the run opened afterwards.
        let opened = try harness.store.open(Self.identity, tasks: ["b"], restart: false)
        #expect(opened == RunSnapshot(identity: Self.identity, tasks: [StoredTask(id: "b")]))
    }

    @Test(arguments: StoreKind.allCases)
    func aBatchIsVisibleWholeAfterRecord(_ kind: StoreKind) throws {
        let harness = try StoreHarness(kind)
        _ = try harness.store.open(Self.identity, tasks: ["a", "b"], restart: false)
        try harness.store.record([
            .sessionStarted(at: 1, pid: 1),
            .attemptStarted(task: "a", attempt: 1, at: 2),
            .attemptEnded(task: "a", attempt: 1, state: .succeeded, exitCode: 0, message: nil, at: 3),
            .attemptStarted(task: "b", attempt: 1, at: 4),
        ])
        // Read through a second store object: for SQLite a separate connection sees the committed batch.
        let snapshot = try #require(try harness.reopen().snapshot())
        #expect(snapshot.sessions == 1)
        #expect(snapshot.tasks.map(\.state) == [.succeeded, .running])
    }

    @Test(arguments: StoreKind.allCases)
    func concurrentReadersSeeWholeBatchesOnly(_ kind: StoreKind) throws {
        let harness = try StoreHarness(kind)
        let store = harness.store
        let ids = (0..<60).map { "t\($0)" }
        _ = try store.open(Self.identity, tasks: ids, restart: false)
        let writer = Writer()

        // Each batch runs one task from start to success; a reader must never see a task half way. The
        // writer has a thread of its own, so the reader's loop cannot starve it.
        Thread {
            defer { writer.finished.store(true, ordering: .releasing) }
            do throws(RunStoreError) {
                for (position, id) in ids.enumerated() {
                    let at = Double(position)
                    try store.record([
                        .attemptStarted(task: id, attempt: 1, at: at),
                        .outputSignalled(task: id, name: "out", at: at),
                        .attemptEnded(task: id, attempt: 1, state: .succeeded, exitCode: 0, message: nil, at: at),
                    ])
                }
            } catch {
                writer.failure.withLock { $0 = error }
            }
        }.start()
        var observed = 0
        var torn: [String] = []
        repeat {
            let snapshot = try #require(try store.snapshot())
            let done = snapshot.tasks.prefix { $0.state == .succeeded }
            for task in done where task.attempts.count != 1 || task.outputs != ["out"] { torn.append(task.id) }
            for task in snapshot.tasks.dropFirst(done.count) where task != StoredTask(id: task.id) {
                torn.append(task.id)
            }
            observed += 1
        } while !writer.finished.load(ordering: .acquiring)
        #expect(writer.failure.withLock { $0 } == nil)
        #expect(torn.isEmpty)
        #expect(observed > 0)
        #expect(try store.snapshot()?.counts == [.succeeded: ids.count])
    }

    @Test(arguments: StoreKind.allCases)
    func tenThousandTasks(_ kind: StoreKind) throws {
        let harness = try StoreHarness(kind)
        let ids = (0..<10_000).map { "task-\($0)" }
        let opened = try harness.store.open(Self.identity, tasks: ids, restart: false)
        #expect(opened.tasks.count == 10_000)
        #expect(opened.tasks.map(\.id) == ids)
        #expect(opened.counts == [.waiting: 10_000])

        var facts: [RunFact] = [.sessionStarted(at: 0, pid: 1)]
        for (position, id) in ids.enumerated() {
            let at = Double(position)
            facts.append(.attemptStarted(task: id, attempt: 1, at: at))
            switch position % 4 {
            case 0:
                facts.append(.outputSignalled(task: id, name: "part", at: at))
                facts.append(
                    .attemptEnded(task: id, attempt: 1, state: .succeeded, exitCode: 0, message: nil, at: at + 1))
            case 1:
                facts.append(
                    .attemptEnded(task: id, attempt: 1, state: .failed, exitCode: 1, message: "exit 1", at: at + 1))
            case 2:
                facts.append(
                    .attemptEnded(task: id, attempt: 1, state: .retrying, exitCode: 1, message: nil, at: at + 1))
            default:
                break  // still running
            }
        }
        try harness.store.record(facts)
        try harness.store.record([.sessionStarted(at: 20_000, pid: 2)])

        let snapshot = try #require(try harness.reopen().snapshot())
        #expect(snapshot.tasks.count == 10_000)
        #expect(snapshot.tasks.map(\.id) == ids)
        #expect(snapshot.counts == [.succeeded: 2_500, .failed: 2_500, .interrupted: 5_000])
        #expect(snapshot.tasks.reduce(0) { $0 + $1.attempts.count } == 10_000)
        #expect(snapshot.tasks.reduce(0) { $0 + $1.outputs.count } == 2_500)
        #expect(snapshot.tasks[9_999].attempts == [StoredAttempt(number: 1, startedAt: 9_999, state: .interrupted)])
    }
}

/// Both stores fed the same seeded stream of well-formed facts must always hold the same run.
@Suite("Run store differential")
struct RunStoreDifferentialTests {
    static func nextFact(_ run: RunSnapshot, step: Int, using rng: inout SplitMix64) -> RunFact {
        let at = Double(step)
        let candidates = run.tasks.map(\.id) + ["late-\(Int.random(in: 1...2, using: &rng))"]
        let id = candidates.randomElement(using: &rng)!
        let task = run.task(id) ?? StoredTask(id: id)
        let open = task.attempts.last.flatMap { $0.state == nil ? $0.number : nil }
        switch Int.random(in: 0..<20, using: &rng) {
        case 0:
            return .sessionStarted(at: at, pid: Int32.random(in: 100...999, using: &rng))
        case 1:
            return .sessionEnded(status: ["succeeded", "failed", "interrupted"].randomElement(using: &rng)!, at: at)
        default:
            break
        }
        guard let open else {
            if Bool.random(using: &rng) {
                let settled: [StoredState] = [.upstreamFailed, .cancelled, .skipped, .failed]
                let message = Bool.random(using: &rng) ? "settled at \(step)" : nil
                return .settled(task: id, state: settled.randomElement(using: &rng)!, message: message, at: at)
            }
            return .attemptStarted(task: id, attempt: (task.attempts.map(\.number).max() ?? 0) + 1, at: at)
        }
        switch Int.random(in: 0..<3, using: &rng) {
        case 0:
            return .processStarted(task: id, attempt: open, pid: Int32.random(in: 1000...9999, using: &rng))
        case 1:
            return .outputSignalled(task: id, name: ["coarse", "fine", "final"].randomElement(using: &rng)!, at: at)
        default:
            let ended: [StoredState] = [.succeeded, .failed, .retrying, .interrupted, .cancelled]
            let exitCode: Int32? = Bool.random(using: &rng) ? Int32.random(in: 0...3, using: &rng) : nil
            let message = Bool.random(using: &rng) ? "exit \(exitCode ?? -1)" : nil
            return .attemptEnded(
                task: id, attempt: open, state: ended.randomElement(using: &rng)!, exitCode: exitCode, message: message,
                at: at)
        }
    }

    @Test(arguments: 1...20 as ClosedRange<UInt64>)
    func storesAgreeOnRandomFactStreams(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)  // a failing seed replays the same facts
        let reference = try StoreHarness(.inMemory)
        let sqlite = try StoreHarness(.sqlite)
        let identity = RunIdentity(workflow: "random", file: "random.yaml", contentHash: "seed-\(seed)")
        let tasks = (0..<Int.random(in: 1...6, using: &rng)).map { "t\($0)" }
        let opened = try reference.store.open(identity, tasks: tasks, restart: false)
        #expect(try sqlite.store.open(identity, tasks: tasks, restart: false) == opened)

        var step = 0
        for batch in 0..<30 {
            var model = try #require(try reference.store.snapshot())
            var facts: [RunFact] = []
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                step += 1
                let fact = Self.nextFact(model, step: step, using: &rng)
                facts.append(fact)
                // The reference takes the batch one fact at a time, so later facts are chosen from the run as
                // the earlier ones leave it; SQLite takes the batch whole.
                try reference.store.record([fact])
                model = try #require(try reference.store.snapshot())
            }
            try sqlite.store.record(facts)
            let expected = try reference.store.snapshot()
            #expect(try sqlite.store.snapshot() == expected, "seed \(seed), batch \(batch): \(facts)")
        }
        #expect(try sqlite.reopen().snapshot() == reference.store.snapshot())
    }
}

/// What only the SQLite store does: it is a file, shared by processes and sessions.
@Suite("SQLite run store")
struct SQLiteRunStoreTests {
    @Test func aBatchThatFailsPartWayLeavesNothingBehind() throws {
        let harness = try StoreHarness(.sqlite)
        let identity = RunIdentity(workflow: "flow", file: "flow.yaml", contentHash: "h")
        _ = try harness.store.open(identity, tasks: ["a", "b"], restart: false)
        let before = try harness.store.snapshot()
        // SQLite stores NaN as NULL, which the NOT NULL start time refuses: the second fact fails.
        #expect {
            try harness.store.record([
                .attemptStarted(task: "a", attempt: 1, at: 1),
                .attemptStarted(task: "b", attempt: 1, at: .nan),
            ])
        } throws: { error in
            (error as? RunStoreError)?.code == .storage
        }
        #expect(try harness.store.snapshot() == before)
    }

    @Test func readOnlyStoreSeesTheRun() throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "trellis-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appending(path: "state.sqlite").path
        let store = try SQLiteRunStore(path: path)
        let identity = RunIdentity(workflow: "flow", file: "flow.yaml", contentHash: "h")
        _ = try store.open(identity, tasks: ["a"], restart: false)
        try store.record([.sessionStarted(at: 1, pid: 3), .attemptStarted(task: "a", attempt: 1, at: 2)])

        let reader = try SQLiteRunStore(path: path, readOnly: true)
        #expect(try reader.snapshot() == store.snapshot())
        #expect(reader.path == path)
    }

    @Test func unopenableDatabaseIsAStorageError() {
        #expect {
            _ = try SQLiteRunStore(path: "/nonexistent-\(UUID().uuidString)/state.sqlite")
        } throws: { error in
            (error as? RunStoreError)?.code == .storage
        }
    }
}
