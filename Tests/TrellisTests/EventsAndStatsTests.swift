import Synchronization
import Testing
import Trellis
import TrellisCore

@Suite("Events, checkpoints, statistics", .timeLimit(.minutes(1)))
struct EventsAndStatsTests {
    @Test func eventsArriveInCausalOrderWithOutputs() async throws {
        let scheduler = Scheduler(policy: .outputFirst)
        let queue = try scheduler.queue("work", width: 2)
        let events = scheduler.events
        //  a ─► b ─► d
        //  a ─► c ─► d
        let a = queue.submit(name: "a") { 1 }
        let b = queue.submit(a, name: "b") { $0 + 1 }
        let c = queue.submit(a, name: "c") { $0 + 2 }
        let d = queue.submit(b, c, name: "d") { $0 * $1 }
        scheduler.start()
        try await scheduler.wait()
        scheduler.finishEvents()
        var log: [TaskEvent] = []
        for await event in events { log.append(event) }

        func index(_ task: TaskID, _ kind: String) -> Int? {
            log.firstIndex { event in
                guard event.task == task else { return false }
                switch event.kind {
                case .submitted: return kind == "submitted"
                case .started: return kind == "started"
                case .succeeded: return kind == "succeeded"
                default: return false
                }
            }
        }
        for task in [a, b, c, d].map(\.task) {
            let submitted = try #require(index(task, "submitted"))
            let started = try #require(index(task, "started"))
            let succeeded = try #require(index(task, "succeeded"))
            #expect(submitted < started && started < succeeded)
        }
        for (input, dependant) in [(a, b), (a, c), (b, d), (c, d)] {
            #expect(index(input.task, "succeeded")! < index(dependant.task, "started")!)
        }
        let output = log.compactMap { event -> Int? in
            if event.task == d.task, case .succeeded(let output) = event.kind { output as? Int } else { nil }
        }
        #expect(output == [6])
        #expect(log.contains { $0.name == "d" })
    }

    @Test func partialResultEventsPrecedeTheirDependantsStart() async throws {
        let scheduler = Scheduler(policy: .fifo)
        let queue = try scheduler.queue("work", width: 2)
        let events = scheduler.events
        let parts = queue.submitProducer(count: 2) { (emit: Emitter<Int>) in
            try await emit(5)
            try await emit(6)
        }
        let consumer = queue.submit(parts[1]) { $0 * 2 }
        scheduler.start()
        try await scheduler.wait()
        scheduler.finishEvents()
        var log: [TaskEvent] = []
        for await event in events { log.append(event) }
        let partial = try #require(
            log.firstIndex {
                if case .partialResult(1, let value) = $0.kind { (value as? Int) == 6 } else { false }
            })
        let started = try #require(
            log.firstIndex { $0.task == consumer.task && { if case .started = $0 { true } else { false } }($0.kind) })
        #expect(partial < started)
    }

    @Test func checkpointsSeeTheCompletedSetGrow() async throws {
        let scheduler = Scheduler(policy: .fifo)
        let queue = try scheduler.queue("work", width: 2)
        let seen = Mutex<[Set<TaskID>]>([])
        scheduler.onCheckpoint { checkpoint in seen.withLock { $0.append(checkpoint.completed) } }
        let futures = (0..<20).map { index in queue.submit { index } }
        try await scheduler.wait()
        let snapshots = seen.withLock { $0 }
        #expect(!snapshots.isEmpty)
        for (earlier, later) in zip(snapshots, snapshots.dropFirst()) { #expect(earlier.isStrictSubset(of: later)) }
        #expect(snapshots.last == Set(futures.map(\.task)))
    }

    @Test func statisticsCountAndMeasureOnTheSchedulersClock() async throws {
        let scheduler = Scheduler(policy: .fifo)
        let narrow = try scheduler.queue("narrow", width: 1)
        let wide = try scheduler.queue("wide", width: 3)
        for index in 0..<10 { narrow.submit { index } }
        for index in 0..<30 { wide.submit { index } }
        narrow.submit { () -> Int in throw TestFailure(label: "x") }
        await #expect(throws: TrellisError.self) { try await scheduler.wait() }
        let stats = scheduler.stats
        #expect(stats.submitted == 41)
        #expect(stats.counts.succeeded == 40)
        #expect(stats.counts.failed == 1)
        #expect(stats.queues.map(\.attempts) == [11, 30])
        #expect(stats.queues[0].peakConcurrency == 1)
        #expect(stats.queues[1].peakConcurrency <= 3)
        #expect(stats.peakConcurrency <= 4)
        #expect(stats.coreEvents >= 41 * 2)
        #expect(stats.timeToFirstResult != nil)
        #expect(stats.timeToFirstResult! <= stats.wallTime)
    }

    /// Queues keep their scheduler alive, so both go out of scope together here.
    static func submitAndDrop(start: Bool) throws -> [Future<Int>] {
        let scheduler = Scheduler(policy: .fifo)
        let queue = try scheduler.queue("work", width: 2)
        let futures = (0..<50).map { index in queue.submit { index * 2 } }
        if start { scheduler.start() }
        return futures
    }

    @Test func droppedSchedulerStillFinishesStartedWork() async throws {
        let futures = try Self.submitAndDrop(start: true)
        for (index, future) in futures.enumerated() { #expect(try await future.value == index * 2) }
    }

    @Test func droppedUnstartedSchedulerFailsItsFuturesInsteadOfHanging() async throws {
        let futures = try Self.submitAndDrop(start: false)
        for future in futures {
            let error = await #expect(throws: TrellisError.self) { try await future.value }
            #expect(error?.code == .cancelled)
        }
    }
}
