import Testing
import TrellisCore
import TrellisTestKit

@Suite("Failure policies")
struct FailurePolicyTests {
    /// Two branches under one root:
    ///
    ///   a ──► b ──► c        (a fails)
    ///   x ──► y              (independent)
    ///   z = f(b, y)          (joins both)
    struct Branches {
        var fixture: CoreFixture
        let a = TaskID(0), b = TaskID(1), c = TaskID(2), x = TaskID(3), y = TaskID(4), z = TaskID(5)

        init(_ failurePolicy: FailurePolicy) {
            var graph = GraphSpec(queueWidths: [4])
            let q = QueueID(0)
            graph.add(TaskSpec(queue: q))
            graph.add(TaskSpec(queue: q, dependencies: [Dependency(TaskID(0))]))
            graph.add(TaskSpec(queue: q, dependencies: [Dependency(TaskID(1))]))
            graph.add(TaskSpec(queue: q))
            graph.add(TaskSpec(queue: q, dependencies: [Dependency(TaskID(3))]))
            graph.add(TaskSpec(queue: q, dependencies: [Dependency(TaskID(1)), Dependency(TaskID(4))]))
            fixture = CoreFixture(graph, policy: .fifo, failurePolicy: failurePolicy)
        }
    }

    @Test func continueIndependentKeepsOtherBranchesRunning() {
        var graph = Branches(.continueIndependent)
        #expect(graph.fixture.start().dispatched == [graph.a, graph.x])
        let actions = graph.fixture.fail(graph.a, retryable: false)
        #expect(
            actions == [
                .completed(graph.a, .failed(.error)),
                .completed(graph.b, .upstreamFailed(root: graph.a)),
                .completed(graph.z, .upstreamFailed(root: graph.a)),
                .completed(graph.c, .upstreamFailed(root: graph.a)),
            ])
        #expect(graph.fixture.core.state(of: graph.x) == .running(attempt: 1))
        #expect(graph.fixture.succeed(graph.x).dispatched == [graph.y])
        #expect(graph.fixture.succeed(graph.y) == [.completed(graph.y, .succeeded)])
        #expect(graph.fixture.core.unfinishedCount == 0)
        let counts = graph.fixture.core.counts
        #expect([counts.succeeded, counts.failed, counts.upstreamFailed, counts.cancelled] == [2, 1, 3, 0])
        #expect(graph.fixture.core.checkInvariants().isEmpty)
    }

    @Test func failFastCancelsEverythingElse() {
        var graph = Branches(.failFast)
        graph.fixture.start()
        let actions = graph.fixture.fail(graph.a)
        #expect(actions.outcome(of: graph.a) == .failed(.error))
        #expect(actions.outcome(of: graph.b) == .upstreamFailed(root: graph.a))
        #expect(actions.outcome(of: graph.c) == .upstreamFailed(root: graph.a))
        #expect(actions.outcome(of: graph.z) == .upstreamFailed(root: graph.a))
        // The running x is asked to stop; y, waiting on x, is cancelled because of x.
        #expect(actions.contains(.cancelRunning(graph.x, attempt: 1)))
        #expect(actions.outcome(of: graph.y) == .cancelled(cause: graph.x))
        #expect(actions.dispatched.isEmpty)
        #expect(graph.fixture.core.unfinishedCount == 1)
        // Whatever x reports, it ends cancelled because of a.
        #expect(graph.fixture.succeed(graph.x) == [.completed(graph.x, .cancelled(cause: graph.a))])
        #expect(graph.fixture.core.unfinishedCount == 0)
        #expect(graph.fixture.core.checkInvariants().isEmpty)
    }

    @Test func failFastWaitsForTheLastAttempt() {
        // A retryable failure with attempts left is not a failure for good: nothing is cancelled.
        var fixture = CoreFixture(policy: .fifo, failurePolicy: .failFast)
        let q = fixture.queue(width: 2)
        let a = fixture.submit(TaskSpec(queue: q, retry: RetryPolicy(maxAttempts: 2)))
        let other = fixture.submit(TaskSpec(queue: q))
        fixture.start()
        #expect(fixture.fail(a) == [.dispatch(a, queue: q, attempt: 2)])
        #expect(fixture.core.state(of: other) == .running(attempt: 1))
        let actions = fixture.fail(a, attempt: 2)
        #expect(actions == [.completed(a, .failed(.error)), .cancelRunning(other, attempt: 1)])
    }

    @Test(arguments: [FailurePolicy.continueIndependent, .failFast])
    func upstreamFailureNamesTheRootThroughGenerations(failurePolicy: FailurePolicy) {
        // r ──► 1 ──► 2 ──► 3 ──► 4
        var fixture = CoreFixture(.chain(length: 5), failurePolicy: failurePolicy)
        fixture.start()
        let actions = fixture.fail(TaskID(0))
        for task in 1...4 { #expect(actions.outcome(of: TaskID(task)) == .upstreamFailed(root: TaskID(0))) }
        #expect(fixture.core.counts.upstreamFailed == 4)
    }

    @Test func itemDependantsOfAFailedProducerWaitingForMissingItemsFail() {
        //   p (3 items) ──item 0──► i0
        //               ──item 2──► i2
        //               ──whole───► w
        var fixture = CoreFixture(policy: .fifo)
        let q = fixture.queue(width: 4)
        let p = fixture.submit(TaskSpec(queue: q, partialCount: 3))
        let i0 = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(p, item: 0)]))
        let i2 = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(p, item: 2)]))
        let w = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(p)]))
        fixture.start()
        #expect(fixture.emit(p, item: 0).dispatched == [i0])
        let actions = fixture.fail(p)
        #expect(actions.outcome(of: i2) == .upstreamFailed(root: p))
        #expect(actions.outcome(of: w) == .upstreamFailed(root: p))
        #expect(actions.outcome(of: i0) == nil)
        #expect(fixture.core.state(of: i0) == .running(attempt: 1))
        #expect(fixture.succeed(i0) == [.completed(i0, .succeeded)])
    }
}
