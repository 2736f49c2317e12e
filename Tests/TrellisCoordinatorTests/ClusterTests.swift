import Foundation
import GRPCCore
import GRPCInProcessTransport
import Testing
import TrellisCoordinator
import TrellisProtocol
import TrellisTestKit
import TrellisWorker

@Suite("Coordinator and workers, in one process", .timeLimit(.minutes(1)))
struct ClusterTests {
    @Test("a job of handlers and shell tasks runs to the end, values flow to dependants, one finale runs")
    func jobRunsToTheEnd() async throws {
        let seen = Recorder()
        try await Cluster.with(clock: ContinuousClock()) { cluster in
            let handlers: [String: TaskHandler] = [
                "seed": { call in call.payload },
                "double": { call in
                    let input = Int(String(decoding: call.inputs["seed"] ?? [], as: UTF8.self)) ?? -1
                    seen.record("double saw \(input)")
                    return Array(String(input * 2).utf8)
                },
            ]
            try await cluster.startWorker(WorkerOptions(name: "w1", slots: 2), handlers: handlers)
            let job = try await cluster.add(
                .job(
                    [
                        .handler("seed", "seed", payload: "21"),
                        .handler("double", "double", needs: ["seed"]),
                        .shell("check", "test \"$TRELLIS_TASK_NAME\" = check", needs: ["double"]),
                    ], onSuccess: [.shell("commit", "true")], onFailure: [.shell("clean", "true")]))
            let events = try await cluster.watch(job.jobID)
            #expect(events.last?.jobEnded == true)
            let tasks = try await cluster.tasks(job: job.jobID)
            let states = Dictionary(uniqueKeysWithValues: tasks.map { ($0.name, $0.state) })
            #expect(
                states == [
                    "seed": .succeeded, "double": .succeeded, "check": .succeeded, "commit": .succeeded,
                    "clean": .skipped,
                ])
            #expect(tasks.first { $0.name == "clean" }?.message == "not needed: every task succeeded")
            #expect(seen.all == ["double saw 21"])
        }
    }

    @Test("a failing task fails its dependants upstream, and the clean-up runs instead of the commit")
    func failureRunsCleanup() async throws {
        try await Cluster.with(clock: ContinuousClock()) { cluster in
            try await cluster.startWorker(WorkerOptions(name: "w1", slots: 2))
            var flaky = Trellis_V1_TaskSpec.shell("flaky", "exit $((3 - TRELLIS_ATTEMPT))")
            flaky.retries = 1
            let job = try await cluster.add(
                .job(
                    [.shell("bad", "exit 3"), .shell("after", "true", needs: ["bad"]), flaky],
                    onSuccess: [.shell("commit", "true")], onFailure: [.shell("clean", "true")]))
            _ = try await cluster.watch(job.jobID)
            let tasks = Dictionary(uniqueKeysWithValues: try await cluster.tasks(job: job.jobID).map { ($0.name, $0) })
            #expect(tasks["bad"]?.state == .failed)
            #expect(tasks["bad"]?.exitCode == 3)
            #expect(tasks["after"]?.state == .upstreamFailed)
            #expect(tasks["flaky"]?.state == .failed)
            #expect(tasks["flaky"]?.attempts == 2)
            #expect(tasks["commit"]?.state == .skipped)
            #expect(tasks["clean"]?.state == .succeeded)
        }
    }

    @Test("a task goes only to a worker of its type that carries its tags")
    func placementByTypeAndTags() async throws {
        try await Cluster.with(clock: ContinuousClock()) { cluster in
            let handlers: [String: TaskHandler] = ["noop": { _ in [] }]
            try await cluster.startWorker(WorkerOptions(name: "cpu", slots: 4), handlers: handlers)
            let job = try await cluster.add(
                .job([.handler("plain", "noop"), .handler("gpu", "noop", type: "gpu", tags: ["cuda"])]))
            try await cluster.startWorker(WorkerOptions(name: "gpu-untagged", type: "gpu"), handlers: handlers)
            try await cluster.settle()
            var show = Trellis_V1_ShowTaskRequest()
            show.taskID = job.taskIds[1]
            #expect(try await cluster.ops.showTask(show, metadata: cluster.metadata).state == .ready)
            try await cluster.startWorker(
                WorkerOptions(name: "gpu-cuda", type: "gpu", tags: ["cuda"]), handlers: handlers)
            _ = try await cluster.watch(job.jobID)
            let tasks = try await cluster.tasks(job: job.jobID)
            #expect(tasks.map(\.worker) == ["cpu", "gpu-cuda"])
            #expect(tasks.allSatisfy { $0.state == .succeeded })
        }
    }

    @Test("a wrong token is refused and harms nobody")
    func wrongToken() async throws {
        try await Cluster.with(clock: ContinuousClock()) { cluster in
            let error = await #expect(throws: RPCError.self) {
                _ = try await cluster.ops.addTasks(
                    .job([.shell("a", "true")]), metadata: ["authorization": "Bearer wrong"])
            }
            #expect(error?.code == .unauthenticated)
            let worker = Worker(options: WorkerOptions(name: "intruder"))
            let workerError = await #expect(throws: RPCError.self) {
                try await worker.run(client: cluster.client, token: "wrong")
            }
            #expect(workerError?.code == .unauthenticated)
            try await cluster.startWorker(WorkerOptions(name: "w1"))
            let job = try await cluster.add(.job([.shell("a", "true")]))
            _ = try await cluster.watch(job.jobID)
            #expect(try await cluster.tasks(job: job.jobID).map(\.state) == [.succeeded])
        }
    }

    @Test("malformed requests and streams are refused with a clear status; the coordinator keeps serving")
    func malformedInput() async throws {
        try await Cluster.with(clock: ContinuousClock()) { cluster in
            let cycle = await #expect(throws: RPCError.self) {
                _ = try await cluster.add(
                    .job([
                        .shell("a", "true", needs: ["b"]), .shell("b", "true", needs: ["a"]),
                        .shell("c", "true", needs: ["nope"]),
                    ]))
            }
            #expect(cycle?.code == .invalidArgument)
            #expect(cycle?.message.contains("dependency cycle: a → b → a") == true)
            #expect(cycle?.message.contains("'c' needs unknown task 'nope'") == true)

            var unknownID = Trellis_V1_Need()
            unknownID.taskID = 999
            var spec = Trellis_V1_TaskSpec.shell("x", "true")
            spec.needs = [unknownID]
            let missing = await #expect(throws: RPCError.self) { _ = try await cluster.add(.job([spec])) }
            #expect(missing?.message == "'x' needs task 999, which does not exist")

            let huge = await #expect(throws: RPCError.self) {
                _ = try await cluster.add(.job([.shell("big", String(repeating: "x", count: 300_000))]))
            }
            #expect(huge?.code == .invalidArgument)
            #expect(huge?.message == "'big': command longer than 262144 bytes")

            let raw = Trellis_V1_WorkerService.Client(wrapping: cluster.client)
            let notHello = await #expect(throws: RPCError.self) {
                try await raw.connect(
                    metadata: cluster.metadata,
                    requestProducer: { writer in
                        var heartbeat = Trellis_V1_WorkerMessage()
                        heartbeat.heartbeat = Trellis_V1_Heartbeat()
                        try await writer.write(heartbeat)
                    }, onResponse: { response in for try await _ in response.messages {} })
            }
            #expect(notHello?.code == .invalidArgument)
            let noSlots = await #expect(throws: RPCError.self) {
                try await raw.connect(
                    metadata: cluster.metadata,
                    requestProducer: { writer in
                        var hello = Trellis_V1_WorkerMessage()
                        hello.hello.name = "zero"
                        try await writer.write(hello)
                    }, onResponse: { response in for try await _ in response.messages {} })
            }
            #expect(noSlots?.message == "a worker offers 1 to 4096 slots")

            try await cluster.startWorker(WorkerOptions(name: "w1"))
            let job = try await cluster.add(.job([.shell("fine", "true")]))
            _ = try await cluster.watch(job.jobID)
            #expect(try await cluster.tasks(job: job.jobID).map(\.state) == [.succeeded])
        }
    }

    @Test("created tasks wait for play; pause holds, resume releases; cancel ends a task and its dependants")
    func operatorCommands() async throws {
        try await Cluster.with(clock: ContinuousClock()) { cluster in
            try await cluster.startWorker(WorkerOptions(name: "w1"))
            let job = try await cluster.add(
                .job([.shell("a", "true"), .shell("b", "true", needs: ["a"]), .shell("c", "true")], play: false))
            try await cluster.settle()
            #expect(try await cluster.tasks(job: job.jobID).map(\.state) == [.created, .created, .created])
            var selection = Trellis_V1_TaskSelection()
            selection.taskIds = [job.taskIds[2]]
            #expect(try await cluster.ops.pause(selection, metadata: cluster.metadata).changed == 1)
            selection.taskIds = [job.taskIds[1]]
            #expect(try await cluster.ops.cancel(selection, metadata: cluster.metadata).changed == 1)
            selection.taskIds = []
            selection.jobID = job.jobID
            #expect(try await cluster.ops.play(selection, metadata: cluster.metadata).changed == 1)
            try await cluster.settle()
            selection.jobID = 0
            selection.taskIds = [job.taskIds[2]]
            #expect(try await cluster.ops.resume(selection, metadata: cluster.metadata).changed == 1)
            #expect(try await cluster.ops.play(selection, metadata: cluster.metadata).changed == 1)
            _ = try await cluster.watch(job.jobID)
            #expect(try await cluster.tasks(job: job.jobID).map(\.state) == [.succeeded, .cancelled, .succeeded])
        }
    }

    @Test("a running task is cancelled on its worker: the process stops and the task is cancelled")
    func cancelRunning() async throws {
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("trellis-cancel-\(UUID())").path
        try await Cluster.with(clock: ContinuousClock()) { cluster in
            try await cluster.startWorker(WorkerOptions(name: "w1", gracePeriod: .seconds(5)))
            let job = try await cluster.add(.job([.shell("long", "touch \(marker); exec sleep 600")]))
            var request = Trellis_V1_WatchJobRequest()
            request.jobID = job.jobID
            var kill = Trellis_V1_TaskSelection()
            kill.taskIds = job.taskIds
            let selection = kill
            let events = try await cluster.ops.watchJob(request, metadata: cluster.metadata) { response in
                var states: [Trellis_V1_TaskState] = []
                for try await event in response.messages {
                    states.append(event.state)
                    if event.state == .running {
                        _ = try await cluster.ops.kill(selection, metadata: cluster.metadata)
                    }
                }
                return states
            }
            #expect(events.contains(.running))
            #expect(try await cluster.tasks(job: job.jobID).map(\.state) == [.killed])
            // The worker's slot came back: a new task runs.
            let next = try await cluster.add(.job([.shell("next", "true")]))
            _ = try await cluster.watch(next.jobID)
            #expect(try await cluster.tasks(job: next.jobID).map(\.state) == [.succeeded])
        }
        try? FileManager.default.removeItem(atPath: marker)
    }

    @Test("cancelling a job stops its main tasks and still runs its on_failure clean-up")
    func cancelledJobCleansUp() async throws {
        let cleaned = FileManager.default.temporaryDirectory.appendingPathComponent("trellis-cleaned-\(UUID())").path
        try await Cluster.with(clock: ContinuousClock()) { cluster in
            try await cluster.startWorker(WorkerOptions(name: "w1", slots: 2, gracePeriod: .seconds(5)))
            let job = try await cluster.add(
                .job(
                    [.shell("long", "exec sleep 600"), .shell("after", "true", needs: ["long"])],
                    onSuccess: [.shell("commit", "true")], onFailure: [.shell("clean", "touch \(cleaned)")]))
            var request = Trellis_V1_WatchJobRequest()
            request.jobID = job.jobID
            var byJob = Trellis_V1_TaskSelection()
            byJob.jobID = job.jobID
            let selection = byJob
            _ = try await cluster.ops.watchJob(request, metadata: cluster.metadata) { response in
                var cancelled = false
                for try await event in response.messages where event.state == .running && !cancelled {
                    cancelled = true
                    _ = try await cluster.ops.cancel(selection, metadata: cluster.metadata)
                }
            }
            let tasks = Dictionary(uniqueKeysWithValues: try await cluster.tasks(job: job.jobID).map { ($0.name, $0) })
            #expect(tasks["long"]?.state == .cancelled)
            #expect(tasks["after"]?.state == .cancelled)
            #expect(tasks["commit"]?.state == .skipped)
            #expect(tasks["clean"]?.state == .succeeded)
            #expect(FileManager.default.fileExists(atPath: cleaned), "the clean-up ran")
        }
        try? FileManager.default.removeItem(atPath: cleaned)
    }
}
