import Foundation
import GRPCCore
import Testing
import TrellisJournal
import TrellisProtocol
import TrellisTestKit
import TrellisWorker

@testable import TrellisCoordinator

@Suite("Forgetting jobs on a coordinator", .timeLimit(.minutes(1)))
struct ForgetJobsTests {
    static func forget<C: Clock>(_ jobs: [UInt64], on cluster: Cluster<C>) async throws -> UInt64 {
        var request = Trellis_V1_ForgetJobsRequest()
        request.jobIds = jobs
        return try await cluster.ops.forgetJobs(request, metadata: cluster.metadata).tasksForgotten
    }

    /// The refusal `body` meets: its status code and message.
    static func refusal(_ body: () async throws -> Void) async -> (RPCError.Code, String)? {
        do {
            try await body()
            return nil
        } catch let error as RPCError {
            return (error.code, error.message)
        } catch {
            return nil
        }
    }

    static func need(_ id: UInt64) -> Trellis_V1_Need {
        var need = Trellis_V1_Need()
        need.taskID = id
        return need
    }

    /// The names of the tasks the journal's latest snapshot holds.
    static func snapshotTasks(_ journal: InMemoryJournal<CoordinatorRecord>) async throws -> [String]? {
        guard let saved = try await journal.latestSnapshot() else { return nil }
        return try CoordinatorSnapshot.read(saved.state, epoch: saved.epoch, cancelGrace: .seconds(1)).engine.tasks
            .map(\.name)
    }

    @Test("ended jobs are forgotten all or none; their ids stay unused; restarts and snapshots know only the rest")
    func forgettingEndedJobs() async throws {
        let journal = InMemoryJournal<CoordinatorRecord>()
        let configuration = CoordinatorConfiguration(snapshotInterval: 10)
        let (kept, lastTask) = try await Cluster.with(
            journal: journal, clock: ContinuousClock(), configuration: configuration
        ) { cluster in
            try await cluster.startWorker(WorkerOptions(name: "w1", slots: 2))
            let first = try await cluster.add(.job([.shell("a1", "true"), .shell("a2", "true")]))
            _ = try await cluster.watch(first.jobID)
            var needsFirst = Trellis_V1_TaskSpec.shell("b1", "true")
            needsFirst.needs = [Self.need(first.taskIds[0])]
            let second = try await cluster.add(.job([needsFirst]))
            _ = try await cluster.watch(second.jobID)
            let open = try await cluster.add(.job([.shell("c1", "true")], play: false))

            // Refusals change nothing.
            let unfinished = await Self.refusal { _ = try await Self.forget([open.jobID], on: cluster) }
            #expect(unfinished?.0 == .failedPrecondition)
            #expect(unfinished?.1.contains("1 unfinished task") == true, "\(String(describing: unfinished))")
            let needed = await Self.refusal { _ = try await Self.forget([first.jobID], on: cluster) }
            #expect(needed?.0 == .failedPrecondition)
            #expect(
                needed?.1.contains("'b1' of job \(second.jobID) needs its task \(first.taskIds[0]) 'a1'") == true,
                "\(String(describing: needed))")
            let unknown = await Self.refusal { _ = try await Self.forget([first.jobID, 99], on: cluster) }
            #expect(unknown?.0 == .notFound && unknown?.1 == "there is no job 99")
            #expect(try await cluster.tasks(job: first.jobID).count == 2)

            // Together they go, with their three tasks.
            #expect(try await Self.forget([second.jobID, first.jobID], on: cluster) == 3)
            let all = try await cluster.ops.listTasks(Trellis_V1_ListTasksRequest(), metadata: cluster.metadata).tasks
            #expect(all.map(\.name) == ["c1"])
            var show = Trellis_V1_ShowTaskRequest()
            show.taskID = first.taskIds[1]
            let gone = await Self.refusal { _ = try await cluster.ops.showTask(show, metadata: cluster.metadata) }
            #expect(gone?.0 == .notFound && gone?.1 == "task \(first.taskIds[1]) has been forgotten with its job")
            let again = await Self.refusal { _ = try await Self.forget([first.jobID], on: cluster) }
            #expect(again?.1 == "job \(first.jobID) has been forgotten")
            let watched = await Self.refusal { _ = try await cluster.watch(second.jobID) }
            #expect(watched?.0 == .notFound && watched?.1 == "job \(second.jobID) has been forgotten")

            // New jobs and tasks get ids never given before, and the task kept runs under its own.
            var selection = Trellis_V1_TaskSelection()
            selection.jobID = open.jobID
            _ = try await cluster.ops.play(selection, metadata: cluster.metadata)
            _ = try await cluster.watch(open.jobID)
            var last: UInt64 = 0
            for round in 0..<4 {
                let next = try await cluster.add(.job([.shell("d\(round)", "true"), .shell("e\(round)", "true")]))
                #expect(next.jobID > open.jobID && next.taskIds.allSatisfy { $0 > open.taskIds[0] })
                _ = try await cluster.watch(next.jobID)
                last = next.taskIds[1]
            }
            #expect(try await cluster.tasks(job: open.jobID).map(\.state) == [.succeeded])
            try await cluster.settle()
            return (try await SnapshotRestartTests.picture(cluster), last)
        }
        // The latest snapshot, taken after the forgetting, holds only tasks kept.
        let snapshot = try #require(try await Self.snapshotTasks(journal))
        #expect(snapshot.first == "c1" && snapshot.contains("d0"), "\(snapshot)")
        #expect(Set(snapshot).isDisjoint(with: ["a1", "a2", "b1"]), "\(snapshot)")

        try await Cluster.with(journal: journal, clock: ContinuousClock(), configuration: configuration) { cluster in
            #expect(try await SnapshotRestartTests.picture(cluster) == kept)
            try await cluster.startWorker(WorkerOptions(name: "w1", slots: 2))
            let next = try await cluster.add(.job([.shell("f", "true")]))
            #expect(next.taskIds == [lastTask + 1])
            _ = try await cluster.watch(next.jobID)
        }
    }

    @Test("a restart replays a forgetting journaled after the latest snapshot, and the records after it")
    func aForgettingAfterTheSnapshotIsReplayed() async throws {
        let journal = InMemoryJournal<CoordinatorRecord>()
        // Snapshots too far apart to be taken in this test.
        let configuration = CoordinatorConfiguration(snapshotInterval: 1_000_000)
        let before = try await Cluster.with(journal: journal, clock: ContinuousClock(), configuration: configuration) {
            cluster in
            try await cluster.startWorker(WorkerOptions(name: "w1", slots: 2))
            var jobs: [UInt64] = []
            for round in 0..<3 {
                let job = try await cluster.add(.job([.shell("g\(round)", "true"), .shell("h\(round)", "exit 1")]))
                _ = try await cluster.watch(job.jobID)
                jobs.append(job.jobID)
            }
            #expect(try await Self.forget([jobs[1]], on: cluster) == 2)
            let after = try await cluster.add(.job([.shell("i", "true")]))
            _ = try await cluster.watch(after.jobID)
            try await cluster.settle()
            return try await SnapshotRestartTests.picture(cluster)
        }
        #expect(try await Self.snapshotTasks(journal) == nil)
        #expect(before.count == 5)
        let after = try await Cluster.with(
            journal: journal, clock: ContinuousClock(), configuration: configuration
        ) { cluster in try await SnapshotRestartTests.picture(cluster) }
        #expect(after == before)
    }

    @Test("--forget-after forgets a job that long after it ended; one a job kept needs goes together with that job")
    func endedJobsAreForgottenAfterTheRetention() async throws {
        let clock = ManualClock()
        // Leases and heartbeats far away: the coordinator's one sleeper waits for the next retention deadline.
        let configuration = CoordinatorConfiguration(
            heartbeatInterval: .seconds(50_000), leaseTimeout: .seconds(100_000), forgetAfter: .seconds(60))
        try await Cluster.with(clock: clock, configuration: configuration) { cluster in
            try await cluster.startWorker(WorkerOptions(name: "w"))
            /// Moves the clock past the next deadline and waits until the coordinator sleeps again, its turn done.
            func pass(_ duration: Duration) async throws {
                // A request answered after the job's end: its deadline is armed (the loop arms between turns).
                try await cluster.settle()
                try await clock.waitForSleepers(count: 1)
                clock.advance(by: duration)
                try await clock.waitForSleepers(count: 1)
            }
            let first = try await cluster.add(.job([.shell("a", "true")]))
            _ = try await cluster.watch(first.jobID)
            var needsFirst = Trellis_V1_TaskSpec.shell("b", "true")
            needsFirst.needs = [Self.need(first.taskIds[0])]
            let second = try await cluster.add(.job([needsFirst], play: false))
            let lone = try await cluster.add(.job([.shell("c", "true")]))
            _ = try await cluster.watch(lone.jobID)

            // Past the period: the lone job goes; the first one stays, as the second still needs it.
            try await pass(.seconds(61))
            var all = try await cluster.ops.listTasks(Trellis_V1_ListTasksRequest(), metadata: cluster.metadata).tasks
            #expect(all.map(\.name) == ["a", "b"])

            var selection = Trellis_V1_TaskSelection()
            selection.jobID = second.jobID
            _ = try await cluster.ops.play(selection, metadata: cluster.metadata)
            _ = try await cluster.watch(second.jobID)
            // The second job's period runs out: both go, together.
            try await pass(.seconds(61))
            all = try await cluster.ops.listTasks(Trellis_V1_ListTasksRequest(), metadata: cluster.metadata).tasks
            #expect(all.isEmpty, "\(all.map(\.name))")
            let gone = await Self.refusal { _ = try await Self.forget([first.jobID], on: cluster) }
            #expect(gone?.1 == "job \(first.jobID) has been forgotten")
        }
    }
}
