import Synchronization
import Testing
import Trellis
import TrellisCore

@Suite("Producers and partial results", .timeLimit(.minutes(1)))
struct ProducerTests {
    /// The dependant of item 0 must run while the producer is still running: the producer waits for it.
    @Test func dependantOfAnItemStartsWhileTheProducerRuns() async throws {
        let scheduler = Scheduler(policy: .fifo)
        let queue = try scheduler.queue("work", width: 2)
        let firstItemConsumed = Gate()
        let parts = queue.submitProducer(count: 2) { (emit: Emitter<Int>) in
            try await emit(10)
            await firstItemConsumed.wait()  // would never open if the dependant waited for the whole producer
            try await emit(20)
        }
        let early = queue.submit(parts[0]) { value -> Int in
            firstItemConsumed.open()
            return value + 1
        }
        let late = queue.submit(parts[1]) { $0 + 2 }
        let whole = queue.submit(parts.completion) { _ in "done" }
        try await scheduler.wait()
        #expect(try await early.value == 11)
        #expect(try await late.value == 22)
        #expect(try await whole.value == "done")
    }

    @Test func producerFailureFailsOnlyTheMissingItems() async throws {
        let scheduler = Scheduler(policy: .fifo)
        let queue = try scheduler.queue("work", width: 1)
        let parts = queue.submitProducer(count: 3) { (emit: Emitter<Int>) in
            try await emit(1)
            throw TestFailure(label: "sensor")
        }
        let fromFirst = queue.submit(parts[0]) { $0 * 100 }
        let fromThird = queue.submit(parts[2]) { $0 * 100 }
        await #expect(throws: TrellisError.self) { try await scheduler.wait() }
        #expect(try await fromFirst.value == 100)
        #expect(try await parts[0].value == 1)
        await #expect(throws: TrellisError.self) { try await parts[1].value }
        let error = await #expect(throws: TrellisError.self) { try await fromThird.value }
        #expect(error?.code == .upstreamFailed)
        #expect(scheduler.state(of: fromThird.task) == .finished(.upstreamFailed(root: parts.task)))
    }

    @Test func producerThatYieldsTooFewFails() async throws {
        let scheduler = Scheduler(policy: .fifo)
        let queue = try scheduler.queue("work", width: 1)
        let parts = queue.submitProducer(count: 2) { (emit: Emitter<String>) in try await emit("only one") }
        await #expect(throws: TrellisError.self) { try await scheduler.wait() }
        let error = await #expect(throws: TrellisError.self) { try await parts.completion.value }
        #expect(error?.code == .missingPartialResults)
        #expect(try await parts[0].value == "only one")
    }

    /// A retried producer yields again; items from the first attempt keep their value and their dependants
    /// run once.
    @Test func retriedProducerDoesNotReleaseItemsTwice() async throws {
        let scheduler = Scheduler(policy: .fifo)
        let queue = try scheduler.queue("work", width: 2)
        let log = RunLog()
        let attempts = Counter()
        let parts = queue.submitProducer(count: 2, retry: RetryPolicy(maxAttempts: 2)) { (emit: Emitter<Int>) in
            let attempt = attempts.increment()
            try await emit(attempt * 10)
            if attempt == 1 { throw TestFailure(label: "first attempt") }
            try await emit(attempt * 10 + 1)
        }
        let consumer = queue.submit(parts[0]) { value -> Int in
            log.start(0, queue: "work")
            log.finish(0, queue: "work")
            return value
        }
        try await scheduler.wait()
        #expect(attempts.value == 2)
        #expect(log.runs(of: 0) == 1)
        #expect(try await consumer.value == 10)
        #expect(try await parts[1].value == 21)
    }
}

final class Counter: Sendable {
    private let count = Synchronization.Mutex(0)
    func increment() -> Int {
        count.withLock {
            $0 += 1; return $0
        }
    }
    var value: Int { count.withLock { $0 } }
}
