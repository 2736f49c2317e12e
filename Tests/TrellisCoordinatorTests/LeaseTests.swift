import Foundation
import GRPCCore
import GRPCInProcessTransport
import Testing
import TrellisCoordinator
import TrellisJournal
import TrellisProtocol
import TrellisTestKit
import TrellisWorker

/// A worker driven message by message, to play a worker that goes silent, comes back late, or lies.
struct RawWorker {
    let service: Trellis_V1_WorkerService.Client<InProcessTransport.Client>
    let metadata: Metadata

    static func hello(_ name: String, running: [Trellis_V1_AttemptRef] = []) -> Trellis_V1_WorkerMessage {
        var message = Trellis_V1_WorkerMessage()
        message.hello.name = name
        message.hello.slots = 1
        message.hello.handlers = ["work"]
        message.hello.running = running
        return message
    }

    static func started(_ ref: Trellis_V1_AttemptRef) -> Trellis_V1_WorkerMessage {
        var message = Trellis_V1_WorkerMessage()
        message.started.attempt = ref
        return message
    }

    static func finished(_ ref: Trellis_V1_AttemptRef) -> Trellis_V1_WorkerMessage {
        var message = Trellis_V1_WorkerMessage()
        message.finished.attempt = ref
        message.finished.exitCode = 0
        return message
    }

    /// Opens a stream, sends `first`, and hands every coordinator message to `body` with a way to answer.
    func session<R: Sendable>(
        _ first: Trellis_V1_WorkerMessage,
        _ body:
            @escaping @Sendable (
                _ messages: RPCAsyncSequence<Trellis_V1_CoordinatorMessage, any Error>,
                _ send: AsyncStream<Trellis_V1_WorkerMessage>.Continuation
            ) async throws -> R
    ) async throws -> R {
        let (outgoing, send) = AsyncStream.makeStream(of: Trellis_V1_WorkerMessage.self)
        send.yield(first)
        return try await service.connect(
            metadata: metadata,
            requestProducer: { writer in for await message in outgoing { try await writer.write(message) } },
            onResponse: { response in
                defer { send.finish() }
                return try await body(response.messages, send)
            })
    }
}

/// An acknowledgement: a report about an attempt that cannot be current is answered `stale`, so once the
/// answer arrives, everything the stream sent before it has been handled.
func probe(_ task: UInt64) -> Trellis_V1_WorkerMessage {
    var ref = Trellis_V1_AttemptRef()
    ref.taskID = task
    ref.attempt = 999
    return RawWorker.started(ref)
}

@Suite("Leases and fencing, on a manual clock", .timeLimit(.minutes(1)))
struct LeaseTests {
    let configuration = CoordinatorConfiguration(
        heartbeatInterval: .seconds(2), leaseTimeout: .seconds(10), cancelGrace: .seconds(1))

    @Test("retry delays double from the task's own and stop at 300 s, as in a local run")
    func retryBackoffIsCapped() async throws {
        struct Boom: Error {}
        let clock = ManualClock()
        let patient = CoordinatorConfiguration(
            heartbeatInterval: .seconds(2), leaseTimeout: .seconds(3600), cancelGrace: .seconds(1))
        try await Cluster.with(clock: clock, configuration: patient) { cluster in
            try await cluster.startWorker(WorkerOptions(name: "w"), handlers: ["fail": { _ in throw Boom() }])
            var spec = Trellis_V1_TaskSpec.handler("t", "fail")
            spec.retries = 4
            spec.retryDelayMs = 100_000
            // Added unplayed and played once the watch shows it, so the watch sees every attempt.
            let job = try await cluster.add(.job([spec], play: false))
            var request = Trellis_V1_WatchJobRequest()
            request.jobID = job.jobID
            var play = Trellis_V1_TaskSelection()
            play.jobID = job.jobID
            let selection = play
            // After failure k the next attempt is due 100, 200, then 300 (not 400), then 300 (not 800) s later.
            // The clock moves by exactly that much each time: an uncapped delay would never come due.
            let delays: [Int64] = [100, 200, 300, 300]
            let attempts = try await cluster.ops.watchJob(request, metadata: cluster.metadata) { response in
                var assigned: [UInt32] = []
                var failures = 0
                for try await event in response.messages {
                    if event.taskID != 0, event.state == .created {
                        _ = try await cluster.ops.play(selection, metadata: cluster.metadata)
                    }
                    if event.state == .assigned || event.state == .running, assigned.last != event.attempt {
                        assigned.append(event.attempt)
                    }
                    if event.state == .retrying && event.attempt == UInt32(failures + 1) {
                        failures += 1
                        guard failures <= delays.count else { continue }
                        clock.advance(by: .seconds(delays[failures - 1]))
                    }
                    if event.jobEnded { break }
                }
                return assigned
            }
            #expect(attempts == [1, 2, 3, 4, 5])
            let task = try #require(try await cluster.tasks(job: job.jobID).first)
            #expect(task.state == .failed)
            #expect(task.attempts == 5)
        }
    }

    @Test("a reported start is shown at once and journalled with the next append, not in one of its own")
    func aStartRidesWithTheNextAppend() async throws {
        let journal = InMemoryJournal<CoordinatorRecord>()
        try await Cluster.with(journal: journal, clock: ManualClock(), configuration: configuration) { cluster in
            let raw = RawWorker(
                service: Trellis_V1_WorkerService.Client(wrapping: cluster.client), metadata: cluster.metadata)
            let job = try await cluster.add(.job([.handler("t", "work")]))
            let counts = try await raw.session(RawWorker.hello("w")) { messages, send -> [Int] in
                var counts: [Int] = []
                var ref = Trellis_V1_AttemptRef()
                for try await message in messages {
                    switch message.kind {
                    case .assignments(let batch):
                        ref = batch.assignments[0].attempt
                        counts.append(try await journal.allEntries().count)
                        send.yield(RawWorker.started(ref))
                        send.yield(probe(ref.taskID))
                    case .stale where counts.count == 1:
                        // The start has been taken: nothing was appended for it.
                        counts.append(try await journal.allEntries().count)
                        send.yield(RawWorker.finished(ref))
                        send.yield(probe(ref.taskID))
                    case .stale:
                        counts.append(try await journal.allEntries().count)
                        return counts
                    default: break
                    }
                }
                return counts
            }
            #expect(counts.count == 3)
            #expect(counts[1] == counts[0])
            #expect(counts[2] > counts[1])
            let records = try await journal.allEntries().map(\.record)
            #expect(records.contains { if case .attemptStarted = $0 { true } else { false } })
            #expect(try await cluster.tasks(job: job.jobID).first?.state == .succeeded)
        }
    }

    @Test("a worker keeps time on the clock it is given: a handler's hour-long timeout passes when that clock says")
    func aWorkerRunsOnItsOwnClock() async throws {
        let clock = ManualClock()
        // Leases and heartbeats far beyond the hour, so only the timeout is due.
        let patient = CoordinatorConfiguration(
            heartbeatInterval: .seconds(50_000), leaseTimeout: .seconds(100_000), cancelGrace: .seconds(1))
        try await Cluster.with(clock: clock, configuration: patient) { cluster in
            try await cluster.startWorker(
                WorkerOptions(name: "w"),
                handlers: [
                    "forever": { _ in
                        try await Task.sleep(for: .seconds(86_400)); return []
                    }
                ],
                clock: clock)
            var spec = Trellis_V1_TaskSpec.handler("t", "forever")
            spec.timeoutMs = 3_600_000
            let job = try await cluster.add(.job([spec]))
            var request = Trellis_V1_WatchJobRequest()
            request.jobID = job.jobID
            let (message, took) = try await cluster.ops.watchJob(request, metadata: cluster.metadata) { response in
                var running: UInt64?
                for try await event in response.messages {
                    if event.state == .running, running == nil {
                        running = event.timeMs
                        // The coordinator's next deadline, the worker's heartbeat and the handler's timeout all
                        // wait on the manual clock.
                        try await clock.waitForSleepers(count: 3)
                        clock.advance(by: .seconds(3_600))
                    }
                    if event.state == .failed { return (event.message, event.timeMs - (running ?? event.timeMs)) }
                }
                return ("", 0)
            }
            #expect(message.contains("timed out"), "\(message)")
            // The coordinator's event times follow its clock too: an hour passed between the two events.
            #expect(took >= 3_600_000, "\(took) ms between running and failed")
        }
    }

    @Test("a silent worker loses its task after the lease; its late report is answered stale and changes nothing")
    func silentWorkerIsReplaced() async throws {
        let clock = ManualClock()
        try await Cluster.with(clock: clock, configuration: configuration) { cluster in
            let raw = RawWorker(
                service: Trellis_V1_WorkerService.Client(wrapping: cluster.client), metadata: cluster.metadata)
            let job = try await cluster.add(.job([.handler("t", "work")]))
            let (first, ending): (Trellis_V1_AttemptRef?, RPCError?) = try await raw.session(RawWorker.hello("ghost")) {
                messages, send -> (Trellis_V1_AttemptRef?, RPCError?) in
                var ref: Trellis_V1_AttemptRef?
                do {
                    for try await message in messages {
                        if case .assignments(let batch) = message.kind {
                            ref = batch.assignments[0].attempt
                            send.yield(RawWorker.started(ref!))
                            send.yield(probe(ref!.taskID))
                        }
                        if case .stale = message.kind {
                            // Started is recorded; now the ghost falls silent past its lease.
                            try await clock.waitForSleepers(count: 1)
                            clock.advance(by: .seconds(11))
                        }
                    }
                } catch let error as RPCError {
                    return (ref, error)
                }
                return (ref, nil)
            }
            // The lost worker's stream ends with a status that says why.
            #expect(ending?.code == .unavailable)
            #expect(ending?.message.contains("'ghost' is lost") == true)
            let ghostAttempt = try #require(first)
            #expect(ghostAttempt.attempt == 1)

            try await cluster.startWorker(WorkerOptions(name: "good"), handlers: ["work": { _ in Array("ok".utf8) }])
            _ = try await cluster.watch(job.jobID)
            let task = try #require(try await cluster.tasks(job: job.jobID).first)
            #expect(task.state == .succeeded)
            #expect(task.attempts == 2)
            #expect(task.worker == "good")

            // The ghost comes back and reports its old attempt: abandoned at once, then answered stale.
            let answers = try await raw.session(RawWorker.hello("ghost", running: [ghostAttempt])) { messages, send in
                var seen: [String] = []
                for try await message in messages {
                    switch message.kind {
                    case .welcome(let welcome):
                        seen.append("abandon \(welcome.abandon.map(\.attempt))")
                        send.yield(RawWorker.finished(ghostAttempt))
                    case .stale(let stale):
                        seen.append("stale \(stale.attempt.attempt)")
                        return seen
                    default:
                        seen.append("other")
                    }
                }
                return seen
            }
            #expect(answers == ["abandon [1]", "stale 1"])
            let after = try #require(try await cluster.tasks(job: job.jobID).first)
            #expect(after.state == .succeeded)
            #expect(after.attempts == 2)
            #expect(after.worker == "good")
        }
    }

    @Test("a long task is never re-run for being long: heartbeats keep its lease")
    func heartbeatsKeepTheLease() async throws {
        let clock = ManualClock()
        try await Cluster.with(clock: clock, configuration: configuration) { cluster in
            let raw = RawWorker(
                service: Trellis_V1_WorkerService.Client(wrapping: cluster.client), metadata: cluster.metadata)
            let job = try await cluster.add(.job([.handler("long", "work")]))
            try await raw.session(RawWorker.hello("slow")) { messages, send in
                var rounds = 0
                for try await message in messages {
                    switch message.kind {
                    case .assignments(let batch):
                        send.yield(RawWorker.started(batch.assignments[0].attempt))
                        send.yield(probe(batch.assignments[0].attempt.taskID))
                    case .stale:
                        // Everything sent is handled; let 6 s pass (the lease is 10 s), then beat again.
                        guard rounds < 5 else { return }
                        rounds += 1
                        try await clock.waitForSleepers(count: 1)
                        clock.advance(by: .seconds(6))
                        var beat = Trellis_V1_WorkerMessage()
                        beat.heartbeat = Trellis_V1_Heartbeat()
                        send.yield(beat)
                        send.yield(probe(job.taskIds[0]))
                    default:
                        break
                    }
                }
            }
            let task = try #require(try await cluster.tasks(job: job.jobID).first)
            // 30 s passed in all, three leases' worth: still the first attempt.
            #expect(task.state == .running)
            #expect(task.attempts == 1)
        }
    }
}
