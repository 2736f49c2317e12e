import Foundation
import GRPCCore
import GRPCInProcessTransport
import Testing
import TrellisCoordinator
import TrellisProtocol
import TrellisTestKit
import TrellisWorker

/// No one acts beyond their role: a worker reports only on attempts it holds, unknown ids are NOT_FOUND, and
/// a task never sees the credentials of the worker that runs it.
@Suite("Roles and answers", .timeLimit(.minutes(1)))
struct RoleTests {
    static func output(_ ref: Trellis_V1_AttemptRef) -> Trellis_V1_WorkerMessage {
        var message = Trellis_V1_WorkerMessage()
        message.output.attempt = ref
        message.output.name = "forged"
        return message
    }

    static func failed(_ ref: Trellis_V1_AttemptRef) -> Trellis_V1_WorkerMessage {
        var message = RawWorker.finished(ref)
        message.finished.exitCode = 3
        return message
    }

    @Test("a worker that does not hold an attempt is answered stale, whatever (epoch, attempt) it names")
    func impostorReportsChangeNothing() async throws {
        try await Cluster.with(clock: ManualClock()) { cluster in
            let raw = RawWorker(
                service: Trellis_V1_WorkerService.Client(wrapping: cluster.client), metadata: cluster.metadata)
            let (refs, refOut) = AsyncStream.makeStream(of: Trellis_V1_AttemptRef.self)
            let (go, goIn) = AsyncStream.makeStream(of: Void.self)
            let job = try await cluster.add(.job([.handler("t", "work")]))
            async let owner: [String] = raw.session(RawWorker.hello("owner")) { messages, send in
                var seen: [String] = []
                var held: Trellis_V1_AttemptRef?
                for try await message in messages {
                    switch message.kind {
                    case .assignments(let batch):
                        let ref = batch.assignments[0].attempt
                        held = ref
                        send.yield(RawWorker.started(ref))
                        send.yield(probe(ref.taskID))
                    case .stale(let stale) where seen.isEmpty:
                        // Started is recorded: let the impostor try, then finish for real.
                        seen.append("stale \(stale.attempt.attempt)")
                        let attempt = try #require(held)
                        refOut.yield(attempt)
                        for await _ in go { break }
                        send.yield(RawWorker.finished(attempt))
                        send.yield(probe(attempt.taskID))
                    case .stale(let stale):
                        seen.append("stale \(stale.attempt.attempt)")
                        return seen
                    default:
                        continue
                    }
                }
                return seen
            }
            var iterator = refs.makeAsyncIterator()
            let ref = try #require(await iterator.next())
            // Another worker, never given the attempt, reports on it with the right (epoch, attempt).
            let answers = try await raw.session(RawWorker.hello("impostor")) { messages, send in
                var stale: [UInt32] = []
                for try await message in messages {
                    switch message.kind {
                    case .welcome:
                        for forged in [
                            RawWorker.started(ref), Self.output(ref), Self.failed(ref), RawWorker.finished(ref),
                        ] {
                            send.yield(forged)
                        }
                    case .stale(let answer):
                        stale.append(answer.attempt.attempt)
                        if stale.count == 4 { return stale }
                    default:
                        continue
                    }
                }
                return stale
            }
            #expect(answers == [ref.attempt, ref.attempt, ref.attempt, ref.attempt])
            let during = try #require(try await cluster.tasks(job: job.jobID).first)
            #expect(during.state == .running)
            #expect(during.worker == "owner")
            #expect(during.attempts == 1)

            goIn.yield(())
            #expect(try await owner == ["stale 999", "stale 999"])
            let after = try #require(try await cluster.tasks(job: job.jobID).first)
            #expect(after.state == .succeeded)
            #expect(after.worker == "owner")
            #expect(after.attempts == 1)
        }
    }

    @Test("unknown jobs and tasks are NOT_FOUND, and the coordinator keeps serving")
    func unknownIDsAreNotFound() async throws {
        try await Cluster.with(clock: ContinuousClock()) { cluster in
            for job in [UInt64(987_654), 0] {
                await #expect(throws: RPCError.self) { _ = try await cluster.watch(job) }
                do {
                    _ = try await cluster.watch(job)
                } catch let error as RPCError {
                    #expect(error.code == .notFound)
                    #expect(error.message == "there is no job \(job)")
                }
            }
            var tasks = Trellis_V1_TaskSelection()
            tasks.taskIds = [987_654]
            var jobs = Trellis_V1_TaskSelection()
            jobs.jobID = 987_654
            for selection in [tasks, jobs] {
                do {
                    _ = try await cluster.ops.play(selection, metadata: cluster.metadata)
                    Issue.record("play of an unknown id succeeded")
                } catch let error as RPCError {
                    #expect(error.code == .notFound)
                    #expect(error.message.contains("987654"))
                }
            }
            try await cluster.startWorker(WorkerOptions(name: "w"), handlers: ["work": { _ in [] }])
            let job = try await cluster.add(.job([.handler("t", "work")]))
            _ = try await cluster.watch(job.jobID)
            #expect(try await cluster.tasks(job: job.jobID).map(\.state) == [.succeeded])
        }
    }

    @Test("a task does not receive the worker's token")
    func tasksDoNotInheritTheToken() async throws {
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("trellis-env-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: marker) }
        setenv("TRELLIS_TOKEN", "a-secret-the-task-must-not-see", 1)
        defer { unsetenv("TRELLIS_TOKEN") }
        try await Cluster.with(clock: ContinuousClock()) { cluster in
            try await cluster.startWorker(WorkerOptions(name: "w"))
            let command = "printf '%s|%s' \"${TRELLIS_TOKEN-unset}\" \"$TRELLIS_TASK_NAME\" > \(marker)"
            let job = try await cluster.add(.job([.shell("env", command)]))
            _ = try await cluster.watch(job.jobID)
            #expect(try await cluster.tasks(job: job.jobID).map(\.state) == [.succeeded])
        }
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "unset|env")
    }

    @Test("a request over the size limit is answered RESOURCE_EXHAUSTED with its size, not a reset stream")
    func oversizedRequestGetsAStatus() async throws {
        try await Cluster.with(clock: ContinuousClock()) { cluster in
            let command = String(repeating: "x", count: 200 * 1024)
            let specs = (0..<340).map { Trellis_V1_TaskSpec.shell("t\($0)", command) }
            do {
                _ = try await cluster.add(.job(specs))
                Issue.record("a request of about 68 MB was accepted")
            } catch let error as RPCError {
                #expect(error.code == .resourceExhausted)
                #expect(
                    error.message.contains(
                        "the coordinator reads at most \(Coordinator<ContinuousClock>.maxRequestBytes)"))
            }
            try await cluster.startWorker(WorkerOptions(name: "w"), handlers: ["work": { _ in [] }])
            let job = try await cluster.add(.job([.handler("t", "work")]))
            _ = try await cluster.watch(job.jobID)
            #expect(try await cluster.tasks(job: job.jobID).map(\.state) == [.succeeded])
        }
    }

    @Test("a played task whose needs have not finished is waiting, not ready, in listings and filters")
    func waitingIsNotReady() async throws {
        try await Cluster.with(clock: ContinuousClock()) { cluster in
            let job = try await cluster.add(.job([.shell("a", "true"), .shell("b", "true", needs: ["a"])]))
            #expect(try await cluster.tasks(job: job.jobID).map(\.state) == [.ready, .waiting])
            for (states, expected) in [
                ([Trellis_V1_TaskState.waiting], ["b"]), ([.ready], ["a"]), ([.ready, .waiting], ["a", "b"]),
            ] {
                var request = Trellis_V1_ListTasksRequest()
                request.jobID = job.jobID
                request.states = states
                let listed = try await cluster.ops.listTasks(request, metadata: cluster.metadata).tasks
                #expect(listed.map(\.name) == expected, "\(states)")
            }
            try await cluster.startWorker(WorkerOptions(name: "w"))
            let events = try await cluster.watch(job.jobID)
            #expect(try await cluster.tasks(job: job.jobID).map(\.state) == [.succeeded, .succeeded])
            // b was never shown ready before a succeeded.
            let aDone = try #require(events.firstIndex { $0.taskName == "a" && $0.state == .succeeded })
            #expect(!events[..<aDone].contains { $0.taskName == "b" && $0.state == .ready })
        }
    }

    @Test("playing a job shows its tasks ready or waiting on the watch stream, as they are")
    func playShowsWaiting() async throws {
        try await Cluster.with(clock: ContinuousClock()) { cluster in
            let job = try await cluster.add(
                .job([.shell("a", "true"), .shell("b", "true", needs: ["a"])], play: false))
            var request = Trellis_V1_WatchJobRequest()
            request.jobID = job.jobID
            var play = Trellis_V1_TaskSelection()
            play.jobID = job.jobID
            let selection = play
            let seen = try await cluster.ops.watchJob(request, metadata: cluster.metadata) { response in
                var seen: [String] = []
                for try await event in response.messages {
                    if event.taskID == 0 {
                        // The watch's first event names the job and counts its tasks.
                        #expect(event.jobTasks == 2)
                        continue
                    }
                    seen.append("\(event.taskName) \(RemoteStateName.of(event.state))")
                    if seen.count == 2 { _ = try await cluster.ops.play(selection, metadata: cluster.metadata) }
                    if seen.count == 4 { return seen }
                }
                return seen
            }
            #expect(Array(seen.prefix(2)) == ["a created", "b created"])
            #expect(Set(seen.dropFirst(2)) == ["a ready", "b waiting"])
        }
    }
}

/// State names for test messages.
enum RemoteStateName {
    static func of(_ state: Trellis_V1_TaskState) -> String {
        switch state {
        case .created: "created"
        case .ready: "ready"
        case .waiting: "waiting"
        default: "\(state)"
        }
    }
}
