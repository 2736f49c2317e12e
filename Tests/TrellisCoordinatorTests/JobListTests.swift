import Foundation
import GRPCCore
import Testing
import TrellisCoordinator
import TrellisProtocol
import TrellisWorker

@Suite("Listing jobs", .timeLimit(.minutes(1)))
struct JobListTests {
    static func jobs(_ cluster: Cluster<ContinuousClock>, _ job: UInt64 = 0) async throws -> [Trellis_V1_JobInfo] {
        var request = Trellis_V1_ListJobsRequest()
        request.jobID = job
        return try await cluster.ops.listJobs(request, metadata: cluster.metadata).jobs
    }

    @Test("each job with its state and counts, as job watch would end; one job by id; unknown and forgotten ones")
    func jobsWithTheirStates() async throws {
        try await Cluster.with(clock: ContinuousClock()) { cluster in
            try await cluster.startWorker(WorkerOptions(name: "w1", slots: 2))
            var fine = Trellis_V1_AddTasksRequest.job(
                [.shell("a", "true"), .shell("b", "true", needs: ["a"])], onFailure: [.shell("clean", "true")])
            fine.jobName = "fine"
            fine.policy = "output-first"
            let succeeded = try await cluster.add(fine)
            _ = try await cluster.watch(succeeded.jobID)
            let failed = try await cluster.add(
                .job([.shell("bad", "exit 3"), .shell("after", "true", needs: ["bad"])]))
            _ = try await cluster.watch(failed.jobID)
            let cancelled = try await cluster.add(.job([.shell("held", "true")], play: false))
            var selection = Trellis_V1_TaskSelection()
            selection.jobID = cancelled.jobID
            _ = try await cluster.ops.cancel(selection, metadata: cluster.metadata)
            let running = try await cluster.add(.job([.shell("later", "true")], play: false))

            let all = try await Self.jobs(cluster)
            #expect(all.map(\.id) == [succeeded.jobID, failed.jobID, cancelled.jobID, running.jobID])
            #expect(all.map(\.state) == [.succeeded, .failed, .cancelled, .running])
            let first = all[0]
            #expect(first.name == "fine" && first.policy == "output-first")
            // The clean-up that did not run is skipped, and counts as done.
            #expect(first.tasks == 3 && first.unfinished == 0 && first.succeeded == 2 && first.skipped == 1)
            #expect(all[1].failed == 1 && all[1].upstreamFailed == 1)
            #expect(all[3].tasks == 1 && all[3].unfinished == 1)
            #expect(try await Self.jobs(cluster, failed.jobID).map(\.id) == [failed.jobID])

            await #expect {
                _ = try await Self.jobs(cluster, 99)
            } throws: { error in
                (error as? RPCError)?.code == .notFound && (error as? RPCError)?.message == "there is no job 99"
            }
            var forget = Trellis_V1_ForgetJobsRequest()
            forget.jobIds = [succeeded.jobID]
            _ = try await cluster.ops.forgetJobs(forget, metadata: cluster.metadata)
            #expect(try await Self.jobs(cluster).map(\.id) == [failed.jobID, cancelled.jobID, running.jobID])
            await #expect {
                _ = try await Self.jobs(cluster, succeeded.jobID)
            } throws: { error in
                (error as? RPCError)?.message == "job \(succeeded.jobID) has been forgotten"
            }
        }
    }
}
