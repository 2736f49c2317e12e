import Testing
import TrellisCore
import TrellisTestKit

@Suite("Retries and timeouts")
struct RetryTimeoutTests {
    @Test(arguments: [
        (1, Duration.seconds(1)), (2, .seconds(2)), (3, .seconds(4)), (4, .seconds(8)), (5, .seconds(10)),
        (40, .seconds(10)),
    ])
    func backoffGrowsAndIsCapped(attempt: Int, delay: Duration) {
        let policy = RetryPolicy(maxAttempts: 50, initialBackoff: .seconds(1), multiplier: 2, maxBackoff: .seconds(10))
        #expect(policy.backoff(afterAttempt: attempt) == delay)
    }

    @Test func zeroBackoffIsAlwaysZero() {
        #expect(RetryPolicy(maxAttempts: 3).backoff(afterAttempt: 2) == .zero)
        #expect(RetryPolicy.none.maxAttempts == 1)
    }

    @Test func retriesWaitForTheirBackoff() {
        let retry = RetryPolicy(maxAttempts: 4, initialBackoff: .seconds(1), multiplier: 3, maxBackoff: .seconds(5))
        var fixture = CoreFixture()
        let q = fixture.queue(width: 1)
        let a = fixture.submit(TaskSpec(queue: q, retry: retry))
        fixture.start()
        fixture.now = .seconds(10)
        #expect(fixture.fail(a) == [.scheduleRetry(a, deadline: .seconds(11))])
        #expect(fixture.core.state(of: a) == .retrying(afterAttempt: 1))
        #expect(fixture.core.runningCount(of: q) == 0)
        fixture.now = .seconds(11)
        #expect(fixture.retryDue(a) == [.dispatch(a, queue: q, attempt: 2)])
        fixture.now = .seconds(12)
        #expect(fixture.fail(a, attempt: 2) == [.scheduleRetry(a, deadline: .seconds(15))])
        fixture.now = .seconds(15)
        fixture.retryDue(a)
        fixture.now = .seconds(16)
        // 1 s × 3 × 3 = 9 s, capped at 5 s.
        #expect(fixture.fail(a, attempt: 3) == [.scheduleRetry(a, deadline: .seconds(21))])
        fixture.now = .seconds(21)
        fixture.retryDue(a)
        #expect(fixture.fail(a, attempt: 4) == [.completed(a, .failed(.error))])
        #expect(fixture.core.checkInvariants().isEmpty)
    }

    @Test func backoffFreesTheSlotForOtherWork() {
        var fixture = CoreFixture()
        let q = fixture.queue(width: 1)
        let a = fixture.submit(TaskSpec(queue: q, retry: RetryPolicy(maxAttempts: 2, initialBackoff: .seconds(1))))
        let b = fixture.submit(TaskSpec(queue: q))
        fixture.start()
        #expect(fixture.fail(a) == [.scheduleRetry(a, deadline: .seconds(1)), .dispatch(b, queue: q, attempt: 1)])
        fixture.now = .seconds(1)
        #expect(fixture.retryDue(a).isEmpty)
        #expect(fixture.core.state(of: a) == .ready)
        #expect(fixture.succeed(b).dispatched == [a])
        #expect(fixture.succeed(a, attempt: 2) == [.completed(a, .succeeded)])
    }

    @Test func retryDueWhenNotBackingOffIsStale() {
        var fixture = CoreFixture()
        let q = fixture.queue(width: 1)
        let a = fixture.submit(TaskSpec(queue: q))
        fixture.start()
        #expect(fixture.retryDue(a).isEmpty)
        #expect(fixture.lastDisposition == .stale)
        #expect(fixture.retryDue(TaskID(7)).isEmpty)
        #expect(fixture.lastDisposition == .stale)
        #expect(fixture.core.staleReports == 2)
        #expect(fixture.core.state(of: a) == .running(attempt: 1))
    }

    @Test func nonRetryableFailureEndsAtOnce() {
        var fixture = CoreFixture()
        let q = fixture.queue(width: 1)
        let a = fixture.submit(TaskSpec(queue: q, retry: RetryPolicy(maxAttempts: 5)))
        fixture.start()
        #expect(fixture.fail(a, retryable: false) == [.completed(a, .failed(.error))])
    }

    @Test func dependantsWaitThroughRetries() {
        //   a (3 attempts) ──► b
        var fixture = CoreFixture()
        let q = fixture.queue(width: 2)
        let a = fixture.submit(TaskSpec(queue: q, retry: RetryPolicy(maxAttempts: 3)))
        let b = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(a)]))
        fixture.start()
        fixture.fail(a)
        fixture.fail(a, attempt: 2)
        #expect(fixture.core.state(of: b) == .waiting)
        #expect(fixture.succeed(a, attempt: 3).dispatched == [b])
    }

    @Test func timeoutIsScheduledForEveryAttempt() {
        var fixture = CoreFixture()
        let q = fixture.queue(width: 1)
        let a = fixture.submit(TaskSpec(queue: q, retry: RetryPolicy(maxAttempts: 2), timeout: .seconds(30)))
        fixture.now = .seconds(5)
        let first = fixture.start()
        #expect(first == [.dispatch(a, queue: q, attempt: 1), .scheduleTimeout(a, attempt: 1, deadline: .seconds(35))])
        fixture.now = .seconds(6)
        let second = fixture.fail(a)
        #expect(
            second == [.dispatch(a, queue: q, attempt: 2), .scheduleTimeout(a, attempt: 2, deadline: .seconds(36))])
    }

    @Test func timedOutAttemptIsStoppedAndEndsAsTimedOut() {
        var fixture = CoreFixture()
        let q = fixture.queue(width: 1)
        let a = fixture.submit(TaskSpec(queue: q, timeout: .seconds(1)))
        let b = fixture.submit(TaskSpec(queue: q))
        fixture.start()
        fixture.now = .seconds(1)
        #expect(fixture.timeOut(a) == [.cancelRunning(a, attempt: 1)])
        #expect(fixture.lastDisposition == .accepted)
        // The slot stays taken until the attempt reports.
        #expect(fixture.core.runningCount(of: q) == 1)
        #expect(fixture.core.state(of: b) == .ready)
        // A second timeout of the same attempt changes nothing.
        #expect(fixture.timeOut(a).isEmpty)
        #expect(fixture.lastDisposition == .stale)
        // Even a success report counts as a timed-out failure.
        #expect(fixture.succeed(a) == [.completed(a, .failed(.timedOut)), .dispatch(b, queue: q, attempt: 1)])
        #expect(fixture.core.checkInvariants().isEmpty)
    }

    @Test func timedOutAttemptIsRetriedEvenWhenReportedAsFatal() {
        var fixture = CoreFixture()
        let q = fixture.queue(width: 1)
        let a = fixture.submit(TaskSpec(queue: q, retry: RetryPolicy(maxAttempts: 2), timeout: .seconds(1)))
        fixture.start()
        fixture.now = .seconds(1)
        fixture.timeOut(a)
        let actions = fixture.fail(a, retryable: false)
        #expect(
            actions == [.dispatch(a, queue: q, attempt: 2), .scheduleTimeout(a, attempt: 2, deadline: .seconds(2))])
        // The new attempt starts clean: a success now is a success.
        #expect(fixture.succeed(a, attempt: 2) == [.completed(a, .succeeded)])
    }

    @Test func lastAttemptTimingOutFailsAsTimedOut() {
        var fixture = CoreFixture()
        let q = fixture.queue(width: 1)
        let a = fixture.submit(TaskSpec(queue: q, retry: RetryPolicy(maxAttempts: 2), timeout: .seconds(1)))
        fixture.start()
        fixture.fail(a)
        fixture.timeOut(a, attempt: 2)
        #expect(fixture.fail(a, attempt: 2) == [.completed(a, .failed(.timedOut))])
        #expect(fixture.core.outcome(of: a)?.description == "failed (timed out)")
    }

    @Test func staleReportsOfOldAttemptsAreIgnoredAndCounted() {
        var fixture = CoreFixture()
        let q = fixture.queue(width: 1)
        let a = fixture.submit(TaskSpec(queue: q, partialCount: 1, retry: RetryPolicy(maxAttempts: 3)))
        fixture.start()
        fixture.timeOut(a)
        fixture.fail(a)
        #expect(fixture.core.state(of: a) == .running(attempt: 2))
        // Attempt 1 was replaced: everything it says now is stale.
        for report in [
            fixture.succeed(a, attempt: 1), fixture.fail(a, attempt: 1), fixture.timeOut(a, attempt: 1),
            fixture.emit(a, item: 0, attempt: 1), fixture.succeed(a, attempt: 3),
        ] {
            #expect(report.isEmpty)
            #expect(fixture.lastDisposition == .stale)
        }
        #expect(fixture.core.staleReports == 5)
        #expect(fixture.core.state(of: a) == .running(attempt: 2))
        #expect(fixture.core.emittedCount(of: a) == 0)
        fixture.emit(a, item: 0, attempt: 2)
        #expect(fixture.succeed(a, attempt: 2) == [.completed(a, .succeeded)])
        // Reports after the end are stale too.
        #expect(fixture.succeed(a, attempt: 2).isEmpty)
        #expect(fixture.core.staleReports == 6)
        #expect(fixture.core.checkInvariants().isEmpty)
    }

    @Test func attemptsNeverExceedMaxAttempts() {
        var fixture = CoreFixture()
        let q = fixture.queue(width: 1)
        let a = fixture.submit(TaskSpec(queue: q, retry: RetryPolicy(maxAttempts: 3)))
        fixture.start()
        for attempt in 1...3 { fixture.fail(a, attempt: attempt) }
        #expect(fixture.log.dispatched == [a, a, a])
        #expect(fixture.core.outcome(of: a) == .failed(.error))
    }
}
