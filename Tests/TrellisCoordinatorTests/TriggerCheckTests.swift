import Foundation
import GRPCCore
import Testing
import TrellisCoordinator
import TrellisJournal
import TrellisProtocol
import TrellisWorker

@Suite("Triggers checked by the coordinator", .timeLimit(.minutes(1)))
struct TriggerCheckTests {
    static func trigger(
        _ name: String, _ condition: Trellis_V1_TriggerCheck.OneOf_Condition, every interval: UInt64 = 10,
        timeout: UInt64 = 0
    ) -> Trellis_V1_TaskSpec {
        var check = Trellis_V1_TriggerCheck()
        check.condition = condition
        check.intervalMs = interval
        check.timeoutMs = timeout
        var spec = Trellis_V1_TaskSpec()
        spec.name = name
        spec.trigger = check
        spec.queue = "@triggers"
        return spec
    }

    static func job(
        _ tasks: [Trellis_V1_TaskSpec], onFailure: [Trellis_V1_TaskSpec] = []
    ) -> Trellis_V1_AddTasksRequest {
        var request = Trellis_V1_AddTasksRequest.job(tasks, onFailure: onFailure)
        request.queues = ["@triggers": 4]
        return request
    }

    @Test("a file trigger holds its dependants until the file appears on the coordinator's host")
    func aFileTriggerHoldsItsDependants() async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let flag = directory + "/ready.flag"
        let ran = directory + "/ran"
        try await Cluster.with(clock: ContinuousClock()) { cluster in
            try await cluster.startWorker(WorkerOptions(name: "w1", slots: 2))
            let job = try await cluster.add(
                Self.job([
                    Self.trigger("@ready", .file(flag)),
                    .shell("after", "touch \(ran)", needs: ["@ready"]),
                    .shell("free", "true"),
                ]))
            let (trigger, after) = (job.taskIds[0], job.taskIds[1])
            var request = Trellis_V1_WatchJobRequest()
            request.jobID = job.jobID
            let (checker, afterWhileChecking, ended) = try await cluster.ops.watchJob(
                request, metadata: cluster.metadata
            ) { response in
                var checker = ""
                var afterWhileChecking: [Trellis_V1_TaskState] = []
                var ended = false
                for try await event in response.messages {
                    if event.taskID == trigger, event.state == .running, checker.isEmpty {
                        // Checking, on the coordinator: the dependant waits, and has not run.
                        checker = event.worker
                        afterWhileChecking = try await cluster.tasks(job: job.jobID).filter { $0.id == after }
                            .map(\.state)
                        #expect(!FileManager.default.fileExists(atPath: ran))
                        #expect(FileManager.default.createFile(atPath: flag, contents: nil))
                    }
                    if event.jobEnded { ended = true }
                }
                return (checker, afterWhileChecking, ended)
            }
            #expect(ended)
            #expect(checker == "@coordinator")
            #expect(afterWhileChecking == [.waiting])
            let states = try await cluster.tasks(job: job.jobID).map(\.state)
            #expect(states == [.succeeded, .succeeded, .succeeded])
            #expect(FileManager.default.fileExists(atPath: ran), "the dependant ran once the trigger held")
            let workers = try await cluster.ops.listWorkers(Trellis_V1_ListWorkersRequest(), metadata: cluster.metadata)
            #expect(workers.workers.map(\.name) == ["w1"], "the embedded executor is not a worker operators manage")
        }
    }

    @Test(
        "a trigger that never holds fails at its timeout without a retry; its dependants fail upstream, the clean-up runs"
    )
    func aTriggerTimesOut() async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await Cluster.with(clock: ContinuousClock()) { cluster in
            try await cluster.startWorker(WorkerOptions(name: "w1", slots: 2))
            var never = Self.trigger("@never", .file(directory + "/never"), every: 10, timeout: 60)
            never.retries = 3
            let job = try await cluster.add(
                Self.job(
                    [never, .shell("after", "true", needs: ["@never"])],
                    onFailure: [.shell("clean", "touch \(directory)/cleaned")]))
            _ = try await cluster.watch(job.jobID)
            let tasks = Dictionary(uniqueKeysWithValues: try await cluster.tasks(job: job.jobID).map { ($0.name, $0) })
            #expect(tasks["@never"]?.state == .failed)
            #expect(tasks["@never"]?.attempts == 1, "a trigger that timed out is not retried")
            #expect(tasks["@never"]?.message.hasPrefix("trigger not satisfied after") == true)
            #expect(tasks["after"]?.state == .upstreamFailed)
            #expect(tasks["clean"]?.state == .succeeded)
            #expect(FileManager.default.fileExists(atPath: directory + "/cleaned"))
        }
    }

    @Test("a command trigger needs the server's consent; with it, the command runs on the coordinator's host")
    func commandTriggersAreOptIn() async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var command = Self.trigger("@probe", .command("test -f probe"))
        command.trigger.workingDirectory = directory
        let request = Self.job([command, .shell("after", "true", needs: ["@probe"])])
        try await Cluster.with(clock: ContinuousClock()) { cluster in
            await #expect {
                _ = try await cluster.add(request)
            } throws: { error in
                let error = error as? RPCError
                return error?.code == .invalidArgument && error?.message.contains("--command-triggers") == true
            }
            let jobs = try await cluster.ops.listTasks(Trellis_V1_ListTasksRequest(), metadata: cluster.metadata)
            #expect(jobs.tasks.isEmpty, "nothing of a refused job is kept")
        }
        try await Cluster.with(clock: ContinuousClock(), configuration: .init(commandTriggers: true)) { cluster in
            try await cluster.startWorker(WorkerOptions(name: "w1", slots: 1))
            #expect(FileManager.default.createFile(atPath: directory + "/probe", contents: nil))
            let job = try await cluster.add(request)
            _ = try await cluster.watch(job.jobID)
            #expect(try await cluster.tasks(job: job.jobID).map(\.state) == [.succeeded, .succeeded])
        }
    }

    @Test("a trigger being checked when the coordinator restarts is checked again by the next session")
    func aCheckSurvivesARestart() async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let flag = directory + "/flag"
        let journal = InMemoryJournal<CoordinatorRecord>()
        let request = Self.job([Self.trigger("@flag", .file(flag)), .shell("after", "true", needs: ["@flag"])])
        let job = try await Cluster.with(journal: journal, clock: ContinuousClock()) { cluster in
            let job = try await cluster.add(request)
            var watch = Trellis_V1_WatchJobRequest()
            watch.jobID = job.jobID
            try await cluster.ops.watchJob(watch, metadata: cluster.metadata) { response in
                for try await event in response.messages where event.taskID == job.taskIds[0] && event.state == .running
                {
                    return
                }
            }
            return job
        }
        #expect(FileManager.default.createFile(atPath: flag, contents: nil))
        try await Cluster.with(journal: journal, clock: ContinuousClock()) { cluster in
            try await cluster.startWorker(WorkerOptions(name: "w1", slots: 1))
            _ = try await cluster.watch(job.jobID)
            let tasks = try await cluster.tasks(job: job.jobID)
            #expect(tasks.map(\.state) == [.succeeded, .succeeded])
            #expect(tasks[0].attempts == 1, "the next session's executor took the check over, under the same attempt")
        }
    }

    static func scratch() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("trellis-trigger-\(UUID())").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
