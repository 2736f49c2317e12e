import Foundation
import GRPCCore
import Testing
import TrellisCoordinator
import TrellisJournal
import TrellisProtocol
import TrellisWorker

@Suite("A coordinator restarts from its snapshot", .timeLimit(.minutes(1)))
struct SnapshotRestartTests {
    /// What operators see of every task.
    static func picture(_ cluster: Cluster<ContinuousClock>) async throws -> [String] {
        try await cluster.ops.listTasks(Trellis_V1_ListTasksRequest(), metadata: cluster.metadata).tasks.map {
            "\($0.id) \($0.name) job \($0.jobID) \($0.state) attempts \($0.attempts) exit \($0.exitCode) "
                + "\($0.message) on \($0.worker) outputs \($0.outputsSignalled)"
        }
    }

    @Test("snapshots replace the entries they stand for; a restart reads the latest and the entries after it")
    func restartFromASnapshot() async throws {
        let journal = InMemoryJournal<CoordinatorRecord>()
        let configuration = CoordinatorConfiguration(snapshotInterval: 20)
        let handlers: [String: TaskHandler] = ["echo": { call in call.payload }]
        var flaky = Trellis_V1_TaskSpec.shell("flaky", "exit $((2 - TRELLIS_ATTEMPT))")
        flaky.retries = 2
        var producer = Trellis_V1_TaskSpec.shell("producer", "echo '::trellis output half'")
        producer.outputs = ["half"]
        let (before, held) = try await Cluster.with(
            journal: journal, clock: ContinuousClock(), configuration: configuration
        ) {
            cluster in
            try await cluster.startWorker(WorkerOptions(name: "w1", slots: 2), handlers: handlers)
            for round in 0..<6 {
                let job = try await cluster.add(
                    .job(
                        [
                            .handler("value", "echo", payload: "round \(round)"), flaky, producer,
                            .shell("bad", "exit 3"), .shell("after", "true", needs: ["bad"]),
                        ], onSuccess: [.shell("commit", "true")], onFailure: [.shell("clean", "true")]))
                _ = try await cluster.watch(job.jobID)
            }
            // A created task, then paused: it stays as it is across the restart.
            let held = try await cluster.add(.job([.shell("later", "true")], play: false))
            var selection = Trellis_V1_TaskSelection()
            selection.taskIds = held.taskIds
            _ = try await cluster.ops.pause(selection, metadata: cluster.metadata)
            try await cluster.settle()
            return (try await Self.picture(cluster), held)
        }
        let snapshot = try #require(await journal.latestSnapshot(), "a snapshot was saved")
        #expect(snapshot.sequence > 20)
        // The entries it stands for are gone.
        await #expect(throws: JournalError.self) { _ = try await journal.entries(after: 0, limit: 10) }
        let afterSnapshot = try await journal.allEntries(after: snapshot.sequence)
        #expect(afterSnapshot.count < 60, "\(afterSnapshot.count) entries after the snapshot")

        try await Cluster.with(journal: journal, clock: ContinuousClock(), configuration: configuration) { cluster in
            #expect(try await Self.picture(cluster) == before, "the restart shows every task as it was")
            // The held task is still held, and runs once resumed and played; a new job needs a task from before.
            try await cluster.startWorker(WorkerOptions(name: "w1", slots: 2), handlers: handlers)
            var selection = Trellis_V1_TaskSelection()
            selection.taskIds = held.taskIds
            _ = try await cluster.ops.resume(selection, metadata: cluster.metadata)
            _ = try await cluster.ops.play(selection, metadata: cluster.metadata)
            var needsOld = Trellis_V1_TaskSpec.shell("needs-old", "true")
            var need = Trellis_V1_Need()
            need.taskID = 1
            needsOld.needs = [need]
            let next = try await cluster.add(.job([needsOld]))
            _ = try await cluster.watch(next.jobID)
            _ = try await cluster.watch(held.jobID)
            #expect(try await cluster.tasks(job: held.jobID).map(\.state) == [.succeeded])
            #expect(try await cluster.tasks(job: next.jobID).map(\.state) == [.succeeded])
        }
    }

    @Test("a journal whose snapshot is of another format is refused, naming it; nothing is changed")
    func aSnapshotOfAnotherFormatIsRefused() async throws {
        let journal = InMemoryJournal<CoordinatorRecord>()
        let configuration = CoordinatorConfiguration(snapshotInterval: 5)
        try await Cluster.with(journal: journal, clock: ContinuousClock(), configuration: configuration) { cluster in
            try await cluster.startWorker(WorkerOptions(name: "w1", slots: 2))
            for _ in 0..<3 { _ = try await cluster.watch(try await cluster.add(.job([.shell("a", "true")])).jobID) }
        }
        var saved = try #require(await journal.latestSnapshot())
        let epoch = try await journal.begin()
        var body = Array(saved.state.dropLast(8))
        body[0] = 99
        var writer = JournalWriter()
        for byte in body { writer.byte(byte) }
        saved.state = writer.sealed()
        saved.epoch = epoch
        try await journal.saveSnapshot(saved)
        let coordinator = Coordinator(journal: journal, clock: ContinuousClock(), configuration: configuration)
        await #expect {
            try await coordinator.run()
        } throws: { error in
            let error = error as? JournalError
            return error?.code == .unsupportedVersion && error?.message.contains("format 99") == true
        }
    }
}
