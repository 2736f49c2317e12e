import Testing
import TrellisCore
import TrellisTestKit

@Suite("Pause and resume")
struct PauseTests {
    @Test func pausedCoreDispatchesNothingButRunningWorkReports() {
        //   a ──► b      c
        var fixture = CoreFixture()
        let q = fixture.queue(width: 1)
        let a = fixture.submit(TaskSpec(queue: q))
        let b = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(a)]))
        let c = fixture.submit(TaskSpec(queue: q))
        fixture.start()
        fixture.pause()
        #expect(fixture.core.isPaused)
        #expect(fixture.succeed(a) == [.completed(a, .succeeded)])
        #expect(fixture.core.state(of: b) == .ready)
        #expect(fixture.core.checkInvariants().isEmpty)
        let (d, submitted) = fixture.submitting(TaskSpec(queue: q))
        #expect(submitted.isEmpty)
        #expect(fixture.resume() == [.dispatch(b, queue: q, attempt: 1)])
        #expect(!fixture.core.isPaused)
        #expect(fixture.succeed(b).dispatched == [c])
        #expect(fixture.succeed(c).dispatched == [d])
        #expect(fixture.core.checkInvariants().isEmpty)
    }

    @Test func pauseBeforeStartHoldsDispatchUntilResume() {
        var fixture = CoreFixture(.independent(count: 2, width: 2))
        fixture.pause()
        #expect(fixture.start().isEmpty)
        #expect(fixture.resume().dispatched == [TaskID(0), TaskID(1)])
    }

    @Test func resumeWithoutPauseChangesNothing() {
        var fixture = CoreFixture(.independent(count: 2, width: 1))
        fixture.start()
        #expect(fixture.resume().isEmpty)
        #expect(fixture.core.runningCount(of: QueueID(0)) == 1)
    }

    @Test func retriesAndWidthChangesWaitForResume() {
        var fixture = CoreFixture()
        let q = fixture.queue(width: 1)
        let a = fixture.submit(TaskSpec(queue: q, retry: RetryPolicy(maxAttempts: 2, initialBackoff: .seconds(1))))
        let b = fixture.submit(TaskSpec(queue: q))
        fixture.start()
        fixture.pause()
        #expect(fixture.fail(a) == [.scheduleRetry(a, deadline: .seconds(1))])
        fixture.now = .seconds(1)
        #expect(fixture.retryDue(a).isEmpty)
        #expect(fixture.setWidth(2, of: q).isEmpty)
        #expect(fixture.core.checkInvariants().isEmpty)
        #expect(fixture.resume().dispatched == [a, b])
        #expect(fixture.core.state(of: a) == .running(attempt: 2))
    }

    @Test(arguments: [SchedulingPolicy.wave, .threshold(1)])
    func barrierBatchOpensOnResume(policy: SchedulingPolicy) {
        //   a ──► b
        var fixture = CoreFixture(policy: policy)
        let q = fixture.queue(width: 1)
        let a = fixture.submit(TaskSpec(queue: q))
        let b = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(a)]))
        fixture.start()
        fixture.pause()
        fixture.succeed(a)
        #expect(fixture.core.checkInvariants().isEmpty)
        #expect(fixture.resume().dispatched == [b])
    }

    @Test func cancelWhilePausedFinishesAtOnce() {
        var fixture = CoreFixture(.chain(length: 2))
        fixture.start()
        fixture.pause()
        let actions = fixture.cancel(TaskID(1))
        #expect(actions == [.completed(TaskID(1), .cancelled(cause: nil))])
        fixture.succeed(TaskID(0))
        #expect(fixture.resume().isEmpty)
        #expect(fixture.core.unfinishedCount == 0)
    }
}
