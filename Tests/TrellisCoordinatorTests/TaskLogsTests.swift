import Foundation
import GRPCCore
import Synchronization
import Testing
import TrellisCoordinator
import TrellisProtocol
import TrellisWorker

@Suite("What tasks print, kept by the coordinator", .timeLimit(.minutes(1)))
struct TaskLogsTests {
    static func scratch() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("trellis-logs-\(UUID())").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Every chunk of a `TaskLogs` call, as (stream, text, attempt).
    static func logs(
        _ cluster: Cluster<ContinuousClock>, task: UInt64, attempt: UInt32 = 0, follow: Bool = false,
        each: @escaping @Sendable (String) async throws -> Void = { _ in }
    ) async throws -> [(Trellis_V1_TaskLogsChunk.Stream, String, UInt32)] {
        var request = Trellis_V1_TaskLogsRequest()
        request.taskID = task
        request.attempt = attempt
        request.follow = follow
        return try await cluster.ops.taskLogs(request, metadata: cluster.metadata) { response in
            var chunks: [(Trellis_V1_TaskLogsChunk.Stream, String, UInt32)] = []
            for try await chunk in response.messages {
                let text = String(decoding: chunk.data, as: UTF8.self)
                chunks.append((chunk.stream, text, chunk.attempt))
                try await each(text)
            }
            return chunks
        }
    }

    static func text(
        _ chunks: [(Trellis_V1_TaskLogsChunk.Stream, String, UInt32)], _ stream: Trellis_V1_TaskLogsChunk.Stream
    ) -> String {
        chunks.filter { $0.0 == stream }.map(\.1).joined()
    }

    @Test("each attempt's stdout and stderr are kept apart; attempts are asked for by number; a forgotten job's go")
    func attemptsAndStreams() async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = CoordinatorConfiguration(logDirectory: directory, logLimit: 64)
        try await Cluster.with(clock: ContinuousClock(), configuration: configuration) { cluster in
            try await cluster.startWorker(WorkerOptions(name: "w1", slots: 2))
            var flaky = Trellis_V1_TaskSpec.shell(
                "flaky", "echo try $TRELLIS_ATTEMPT; echo bad $TRELLIS_ATTEMPT >&2; exit $((2 - TRELLIS_ATTEMPT))")
            flaky.retries = 1
            let loud = Trellis_V1_TaskSpec.shell("loud", "head -c 200 /dev/zero | tr -c x x")
            let job = try await cluster.add(.job([flaky, loud]))
            _ = try await cluster.watch(job.jobID)

            let latest = try await Self.logs(cluster, task: job.taskIds[0])
            #expect(Self.text(latest, .stdout) == "try 2\n" && Self.text(latest, .stderr) == "bad 2\n")
            #expect(latest.allSatisfy { $0.2 == 2 })
            let first = try await Self.logs(cluster, task: job.taskIds[0], attempt: 1)
            #expect(Self.text(first, .stdout) == "try 1\n" && Self.text(first, .stderr) == "bad 1\n")
            await #expect {
                _ = try await Self.logs(cluster, task: job.taskIds[0], attempt: 3)
            } throws: { error in
                (error as? RPCError)?.code == .notFound
                    && (error as? RPCError)?.message == "task \(job.taskIds[0]) has no attempt 3 (it has had 2)"
            }
            // Past the limit, a stream keeps its first 64 bytes and says the rest is not kept.
            let loudText = Self.text(try await Self.logs(cluster, task: job.taskIds[1]), .stdout)
            #expect(loudText == String(repeating: "x", count: 64) + "\n[trellis: output beyond 64 bytes is not kept]\n")

            let other = try await cluster.add(.job([.shell("other", "echo other")]))
            _ = try await cluster.watch(other.jobID)
            var forget = Trellis_V1_ForgetJobsRequest()
            forget.jobIds = [job.jobID]
            _ = try await cluster.ops.forgetJobs(forget, metadata: cluster.metadata)
            await #expect {
                _ = try await Self.logs(cluster, task: job.taskIds[0])
            } throws: { error in
                (error as? RPCError)?.message == "task \(job.taskIds[0]) has been forgotten with its job"
            }
            // The files went with the job: the store does what it is asked in order, so once a later read has
            // been answered, they are gone.
            #expect(Self.text(try await Self.logs(cluster, task: other.taskIds[0]), .stdout) == "other\n")
            #expect(!FileManager.default.fileExists(atPath: "\(directory)/job-\(job.jobID)"))
        }
    }

    @Test("following a running attempt: what it printed so far, then each new chunk, ending with the attempt")
    func followingARunningAttempt() async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let go = directory + "/go"
        let configuration = CoordinatorConfiguration(logDirectory: directory)
        try await Cluster.with(clock: ContinuousClock(), configuration: configuration) { cluster in
            try await cluster.startWorker(WorkerOptions(name: "w1", slots: 1))
            let job = try await cluster.add(
                .job([.shell("talks", "echo first; while [ ! -e '\(go)' ]; do sleep 0.02; done; echo second")]))
            // Followed once its attempt runs; once it has printed its first line, the file lets it go on.
            var watch = Trellis_V1_WatchJobRequest()
            watch.jobID = job.jobID
            try await cluster.ops.watchJob(watch, metadata: cluster.metadata) { response in
                for try await event in response.messages where event.state == .running || event.state == .assigned {
                    return
                }
            }
            let created = Atomic(false)
            let followed = try await Self.logs(cluster, task: job.taskIds[0], follow: true) { text in
                if text.contains("first"), !created.exchange(true, ordering: .relaxed) {
                    _ = FileManager.default.createFile(atPath: go, contents: nil)
                }
            }
            #expect(Self.text(followed, .stdout) == "first\nsecond\n")
            let tasks = try await cluster.tasks(job: job.jobID)
            #expect(tasks.map(\.state) == [.succeeded])
        }
    }

    @Test("a coordinator that keeps no logs says how to keep them")
    func noLogDirectory() async throws {
        try await Cluster.with(clock: ContinuousClock()) { cluster in
            let job = try await cluster.add(.job([.shell("a", "true")], play: false))
            await #expect {
                _ = try await Self.logs(cluster, task: job.taskIds[0])
            } throws: { error in
                (error as? RPCError)?.code == .failedPrecondition
                    && (error as? RPCError)?.message.contains("--logs DIR") == true
            }
        }
    }
}
