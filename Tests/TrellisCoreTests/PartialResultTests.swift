import Testing
import TrellisCore
import TrellisTestKit

@Suite("Partial results")
struct PartialResultTests {
    /// A producer of three items with one consumer per item and one consumer of the whole:
    ///
    ///   p ──[0]──► c0
    ///     ──[1]──► c1
    ///     ──[2]──► c2
    ///     ──────► all
    struct Fan {
        var fixture: CoreFixture
        let q: QueueID
        let p: TaskID
        let items: [TaskID]
        let all: TaskID

        init(retry: RetryPolicy = .none, policy: SchedulingPolicy = .fifo) {
            var fixture = CoreFixture(policy: policy)
            let q = fixture.queue(width: 5)
            let p = fixture.submit(TaskSpec(queue: q, partialCount: 3, retry: retry))
            var items: [TaskID] = []
            for item in 0..<3 {
                items.append(fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(p, item: item)])))
            }
            all = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(p)]))
            self.fixture = fixture
            self.q = q
            self.p = p
            self.items = items
        }
    }

    @Test(arguments: [SchedulingPolicy.outputFirst, .fifo, .criticalPath])
    func itemDependantsStartWhileTheProducerRuns(policy: SchedulingPolicy) {
        var fan = Fan(policy: policy)
        #expect(fan.fixture.start().dispatched == [fan.p])
        #expect(fan.fixture.emit(fan.p, item: 0) == [.dispatch(fan.items[0], queue: fan.q, attempt: 1)])
        #expect(fan.fixture.core.emittedCount(of: fan.p) == 1)
        #expect(fan.fixture.core.state(of: fan.p) == .running(attempt: 1))
        #expect(fan.fixture.core.state(of: fan.items[1]) == .waiting)
        #expect(fan.fixture.emit(fan.p, item: 1).dispatched == [fan.items[1]])
        #expect(fan.fixture.emit(fan.p, item: 2).dispatched == [fan.items[2]])
        #expect(fan.fixture.core.state(of: fan.all) == .waiting)
        let end = fan.fixture.succeed(fan.p)
        #expect(end == [.completed(fan.p, .succeeded), .dispatch(fan.all, queue: fan.q, attempt: 1)])
        #expect(fan.fixture.core.checkInvariants().isEmpty)
    }

    @Test func itemsMayComeInAnyOrderButOnlyOnce() {
        var fan = Fan()
        fan.fixture.start()
        #expect(fan.fixture.emit(fan.p, item: 2).dispatched == [fan.items[2]])
        #expect(fan.fixture.core.emittedCount(of: fan.p) == 1)
        #expect(fan.fixture.core.hasEmitted(fan.p, item: 2))
        #expect(!fan.fixture.core.hasEmitted(fan.p, item: 0))
        #expect(fan.fixture.emit(fan.p, item: 3).isEmpty)
        #expect(fan.fixture.lastDisposition == .stale)
        #expect(fan.fixture.emit(fan.p, item: 2).isEmpty)
        #expect(fan.fixture.lastDisposition == .stale)
        #expect(fan.fixture.emit(fan.p, item: 0).dispatched == [fan.items[0]])
        #expect(fan.fixture.emit(fan.p, item: 0).isEmpty)
        #expect(fan.fixture.lastDisposition == .stale)
        #expect(fan.fixture.core.staleReports == 3)
        #expect(fan.fixture.core.checkInvariants().isEmpty)
        // Closing the gap completes the set; the producer may now succeed.
        #expect(fan.fixture.emit(fan.p, item: 1).dispatched == [fan.items[1]])
        #expect(fan.fixture.core.emittedCount(of: fan.p) == 3)
        #expect(fan.fixture.succeed(fan.p).outcome(of: fan.p) == .succeeded)
        #expect(fan.fixture.core.checkInvariants().isEmpty)
    }

    @Test func producerThatSucceedsWithoutAllItemsFails() {
        var fan = Fan()
        fan.fixture.start()
        fan.fixture.emit(fan.p, item: 0)
        let actions = fan.fixture.succeed(fan.p)
        #expect(actions.outcome(of: fan.p) == .failed(.missingPartialResults(emitted: 1)))
        #expect(actions.outcome(of: fan.items[1]) == .upstreamFailed(root: fan.p))
        #expect(actions.outcome(of: fan.items[2]) == .upstreamFailed(root: fan.p))
        #expect(actions.outcome(of: fan.all) == .upstreamFailed(root: fan.p))
        #expect(actions.outcome(of: fan.items[0]) == nil)
        #expect(fan.fixture.core.state(of: fan.items[0]) == .running(attempt: 1))
        #expect(fan.fixture.core.outcome(of: fan.p)?.description == "failed (producer yielded only 1 results)")
        #expect(fan.fixture.core.checkInvariants().isEmpty)
    }

    @Test func retriedProducerDoesNotReleaseItemsAgain() {
        var fan = Fan(retry: RetryPolicy(maxAttempts: 2))
        fan.fixture.start()
        fan.fixture.emit(fan.p, item: 0)
        fan.fixture.emit(fan.p, item: 1)
        // Attempt 1 ends early: a missing-results failure, retried at once.
        #expect(fan.fixture.succeed(fan.p) == [.dispatch(fan.p, queue: fan.q, attempt: 2)])
        #expect(fan.fixture.core.emittedCount(of: fan.p) == 2)
        // Attempt 2 yields from the start; items 0 and 1 already exist and are not released again.
        #expect(fan.fixture.emit(fan.p, item: 0, attempt: 2).isEmpty)
        #expect(fan.fixture.lastDisposition == .stale)
        #expect(fan.fixture.emit(fan.p, item: 1, attempt: 2).isEmpty)
        #expect(fan.fixture.lastDisposition == .stale)
        #expect(fan.fixture.emit(fan.p, item: 2, attempt: 2).dispatched == [fan.items[2]])
        #expect(fan.fixture.succeed(fan.p, attempt: 2).dispatched == [fan.all])
        #expect(fan.fixture.log.dispatched.filter { fan.items.contains($0) } == fan.items)
        #expect(fan.fixture.core.staleReports == 2)
        #expect(fan.fixture.core.checkInvariants().isEmpty)
    }

    @Test func itemDependantSubmittedAfterTheItemExistsIsReady() {
        var fan = Fan()
        fan.fixture.start()
        fan.fixture.emit(fan.p, item: 0)
        let onItem0 = TaskSpec(queue: fan.q, dependencies: [Dependency(fan.p, item: 0)])
        let (late, actions) = fan.fixture.submitting(onItem0)
        #expect(actions.dispatched == [late])
    }

    @Test func itemOfAFailedProducerThatExistsStillCounts() {
        var fan = Fan()
        fan.fixture.start()
        fan.fixture.emit(fan.p, item: 0)
        fan.fixture.fail(fan.p)
        let onItem0 = TaskSpec(queue: fan.q, dependencies: [Dependency(fan.p, item: 0)])
        let (late, actions) = fan.fixture.submitting(onItem0)
        #expect(actions.dispatched == [late])
        let onItem1 = TaskSpec(queue: fan.q, dependencies: [Dependency(fan.p, item: 1)])
        let (doomed, more) = fan.fixture.submitting(onItem1)
        #expect(more == [.completed(doomed, .upstreamFailed(root: fan.p))])
    }

    @Test func emittingAfterTheProducerEndedIsStale() {
        var fixture = CoreFixture()
        let q = fixture.queue(width: 1)
        let p = fixture.submit(TaskSpec(queue: q, partialCount: 1))
        fixture.start()
        fixture.emit(p, item: 0)
        fixture.succeed(p)
        #expect(fixture.emit(p, item: 0).isEmpty)
        #expect(fixture.lastDisposition == .stale)
        #expect(fixture.emit(p, item: 1).isEmpty)
        #expect(fixture.lastDisposition == .stale)
    }

    @Test func itemsYieldedAfterAStopRequestAreStale() {
        //   p (2 items) ─[0]─► late      late is submitted after p was asked to stop
        var fixture = CoreFixture(policy: .fifo)
        let q = fixture.queue(width: 2)
        let p = fixture.submit(TaskSpec(queue: q, partialCount: 2))
        fixture.start()
        #expect(fixture.cancel(p) == [.cancelRunning(p, attempt: 1)])
        let late = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(p, item: 0)]))
        #expect(fixture.emit(p, item: 0).isEmpty)
        #expect(fixture.lastDisposition == .stale)
        #expect(fixture.core.state(of: late) == .waiting)
        fixture.succeed(p)
        #expect(fixture.core.state(of: late) == .finished(.cancelled(cause: p)))
        #expect(fixture.core.checkInvariants().isEmpty)
    }

    @Test func itemDependantsRespectQueueWidth() {
        // One slot for the consumers: they start one at a time as items arrive.
        var fixture = CoreFixture()
        let producerQueue = fixture.queue(width: 1)
        let consumers = fixture.queue(width: 1)
        let p = fixture.submit(TaskSpec(queue: producerQueue, partialCount: 2))
        let c0 = fixture.submit(TaskSpec(queue: consumers, dependencies: [Dependency(p, item: 0)]))
        let c1 = fixture.submit(TaskSpec(queue: consumers, dependencies: [Dependency(p, item: 1)]))
        fixture.start()
        #expect(fixture.emit(p, item: 0).dispatched == [c0])
        #expect(fixture.emit(p, item: 1).isEmpty)
        #expect(fixture.succeed(c0).dispatched == [c1])
    }
}
