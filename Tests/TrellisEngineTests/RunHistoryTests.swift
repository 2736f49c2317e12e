import Testing
import TrellisCore
import TrellisEngine
import TrellisJournal

@Suite("Run history: a run's journal as people see it")
struct RunHistoryTests {
    static let header = RunHeader(
        identity: RunIdentity(workflow: "flow", file: "/tmp/flow.yaml", contentHash: "abc123"), policy: .threshold(3),
        failurePolicy: .failFast, origin: 1_700_000_000.25)

    /// Writes `records` through an in-memory journal (so through their binary form) and folds them back.
    static func history(_ batches: [[EngineRecord]]) async throws -> RunHistory {
        let journal = InMemoryJournal<EngineRecord>()
        let epoch = try await journal.begin()
        var history = RunHistory()
        for batch in batches {
            try await journal.append(batch, epoch: epoch)
            // A reader that follows the journal folds in only what is new.
            try await history.read(from: journal)
        }
        return history
    }

    static func named(_ names: [String]) -> [EngineRecord] {
        names.enumerated().map { .named(TaskID($0.offset), $0.element) }
    }

    @Test func everyRecordSurvivesItsBinaryFormAndEveryTruncationIsRefused() throws {
        let records: [EngineRecord] = [
            .header(Self.header),
            .header(
                RunHeader(
                    identity: RunIdentity(workflow: "", file: "", contentHash: ""), policy: .outputFirst,
                    failurePolicy: .continueIndependent, origin: 0)),
            .fact(TimedFact(at: .milliseconds(1_500), .submitted(TaskSpec(queue: QueueID(2), partialCount: 3)))),
            .fact(TimedFact(at: .seconds(9), .failed(TaskID(7), attempt: 2, retryable: false, worker: WorkerID(1)))),
            .named(TaskID(12), "sim/ü-1"),
            .run(.sessionStarted(at: 10.5, pid: 4242)),
            .run(.attemptStarted(task: "a", attempt: 3, at: 11)),
            .run(.processStarted(task: "a", attempt: 3, pid: Int32.max)),
            .run(.outputSignalled(task: "a", name: "fine", at: 12)),
            .run(.attemptEnded(task: "a", attempt: 3, state: .retrying, exitCode: -9, message: "boom", at: 13)),
            .run(.attemptEnded(task: "a", attempt: 4, state: .succeeded, exitCode: nil, message: nil, at: 14)),
            .run(.attemptEnded(task: "a", attempt: 5, state: .failed, exitCode: 0, message: nil, at: 14)),
            .run(.attemptEnded(task: "a", attempt: 6, state: .failed, exitCode: nil, message: "", at: 14)),
            .run(.settled(task: "b", state: .upstreamFailed, message: "upstream task a failed", at: 15)),
            .run(.settled(task: "c", state: .skipped, message: nil, at: 15)),
            .run(.sessionEnded(status: "failed", at: 16)),
        ]
        for record in records {
            let bytes = record.journalBytes()
            #expect(try EngineRecord(journalBytes: bytes) == record)
            for length in 0..<bytes.count {
                #expect(throws: JournalError.self, "\(record) cut to \(length) bytes") {
                    try EngineRecord(journalBytes: Array(bytes.prefix(length)))
                }
            }
            #expect(throws: JournalError.self) { try EngineRecord(journalBytes: bytes + [0]) }
        }
        #expect(throws: JournalError.self) { try EngineRecord(journalBytes: [9]) }
        // An unknown task state is refused by name, not trapped on.
        var writer = JournalWriter()
        writer.byte(4)
        writer.byte(6)
        writer.string("b")
        writer.string("exploded")
        #expect(throws: JournalError.self) { try EngineRecord(journalBytes: writer.bytes) }
    }

    @Test func factsAreFoldedInOrder() async throws {
        let history = try await Self.history([
            [.header(Self.header)] + Self.named(["sim", "plot", "report"]) + [
                .run(.sessionStarted(at: 100, pid: 4242))
            ],
            [
                .run(.attemptStarted(task: "sim", attempt: 1, at: 101)),
                .run(.processStarted(task: "sim", attempt: 1, pid: 5001)),
                .run(.outputSignalled(task: "sim", name: "fine", at: 102)),
                .run(.outputSignalled(task: "sim", name: "coarse", at: 103)),
                .run(.outputSignalled(task: "sim", name: "fine", at: 104)),
            ],
            [
                .run(.attemptEnded(task: "sim", attempt: 1, state: .retrying, exitCode: 3, message: "exit 3", at: 105)),
                .run(.attemptStarted(task: "sim", attempt: 2, at: 106)),
                .run(.processStarted(task: "sim", attempt: 2, pid: 5002)),
                .run(.outputSignalled(task: "sim", name: "coarse", at: 107)),
                .run(.attemptEnded(task: "sim", attempt: 2, state: .succeeded, exitCode: 0, message: nil, at: 108)),
                .run(.attemptStarted(task: "plot", attempt: 1, at: 109)),
                .run(.attemptEnded(task: "plot", attempt: 1, state: .failed, exitCode: 1, message: "exit 1", at: 110)),
                .run(.settled(task: "report", state: .upstreamFailed, message: "plot failed", at: 110)),
                .run(.sessionEnded(status: "failed", at: 111)),
            ],
        ])
        #expect(history.header == Self.header)
        #expect(history.lastSequence == 19)
        let snapshot = try #require(history.snapshot)
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

    @Test func aNewSessionInterruptsWhatWasRunningOrRetrying() async throws {
        let history = try await Self.history([
            [.header(Self.header)] + Self.named(["done", "running", "retrying", "waiting", "failed"]),
            [
                .run(.sessionStarted(at: 10, pid: 1)),
                .run(.attemptStarted(task: "done", attempt: 1, at: 11)),
                .run(.attemptEnded(task: "done", attempt: 1, state: .succeeded, exitCode: 0, message: nil, at: 12)),
                .run(.attemptStarted(task: "running", attempt: 1, at: 11)),
                .run(.attemptStarted(task: "retrying", attempt: 1, at: 11)),
                .run(
                    .attemptEnded(
                        task: "retrying", attempt: 1, state: .retrying, exitCode: 2, message: "exit 2", at: 13)),
                .run(.attemptStarted(task: "failed", attempt: 1, at: 11)),
                .run(.attemptEnded(task: "failed", attempt: 1, state: .failed, exitCode: 1, message: "exit 1", at: 14)),
            ],
            // The first session was killed: no sessionEnded. A second one starts.
            [.run(.sessionStarted(at: 20, pid: 2))],
        ])
        let snapshot = try #require(history.snapshot)
        #expect(snapshot.sessions == 2)
        #expect(snapshot.pid == 2)
        #expect(snapshot.status == "running")
        #expect(snapshot.startedAt == 10)
        #expect(snapshot.tasks.map(\.state) == [.succeeded, .interrupted, .interrupted, .waiting, .failed])
        #expect(snapshot.task("running")?.attempts.map(\.state) == [.interrupted])
        #expect(snapshot.task("retrying")?.attempts.map(\.state) == [.retrying])
    }

    @Test func aTaskSubmittedAgainTakesOverItsNameAndGoesOnCountingAttempts() async throws {
        let history = try await Self.history([
            [.header(Self.header)] + Self.named(["a", "b"]),
            [
                .fact(TimedFact(at: .seconds(1), .started)),
                .run(.attemptStarted(task: "a", attempt: 1, at: 1)),
                .run(.attemptEnded(task: "a", attempt: 1, state: .retrying, exitCode: 1, message: nil, at: 2)),
                .run(.attemptStarted(task: "a", attempt: 2, at: 3)),
                .run(.attemptEnded(task: "a", attempt: 2, state: .failed, exitCode: 1, message: nil, at: 4)),
            ],
            [.named(TaskID(2), "a")],
        ])
        #expect(history.names == ["a", "b", "a"])
        #expect(history.latestTask == ["a": TaskID(2), "b": TaskID(1)])
        #expect(history.attemptBase == [0, 0, 2], "attempt 1 of the new task is shown as attempt 3")
        #expect(history.snapshot?.tasks.map(\.id) == ["a", "b"], "one row per name")
        #expect(history.facts == [TimedFact(at: .seconds(1), .started)])
        #expect(history.name(of: TaskID(40)) == "task#40")
    }

    @Test func recordsBeforeTheHeaderHaveNoSnapshotToChange() async throws {
        var history = RunHistory()
        history.apply(.run(.sessionStarted(at: 1, pid: 1)))
        #expect(history.snapshot == nil)
        history.apply(.header(Self.header))
        #expect(history.snapshot?.sessions == 0)
        #expect(history.snapshot?.status == "new")
    }
}
