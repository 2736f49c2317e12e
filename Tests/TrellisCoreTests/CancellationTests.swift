import Testing
import TrellisCore
import TrellisTestKit

@Suite("Cancellation")
struct CancellationTests {
    @Test func cancellingAWaitingTaskTakesItsDependantsAlong() {
        //   a ──► b ──► c
        //         └───► d
        //   e (independent)
        var fixture = CoreFixture()
        let q = fixture.queue(width: 1)
        let a = fixture.submit(TaskSpec(queue: q))
        let b = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(a)]))
        let c = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(b)]))
        let d = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(b)]))
        let e = fixture.submit(TaskSpec(queue: q))
        fixture.start()
        let actions = fixture.cancel(b)
        #expect(fixture.lastDisposition == .accepted)
        #expect(actions.outcome(of: b) == .cancelled(cause: nil))
        #expect(actions.outcome(of: c) == .cancelled(cause: b))
        #expect(actions.outcome(of: d) == .cancelled(cause: b))
        #expect(actions.count == 3)
        #expect(fixture.core.state(of: a) == .running(attempt: 1))
        #expect(fixture.succeed(a) == [.completed(a, .succeeded), .dispatch(e, queue: q, attempt: 1)])
        #expect(fixture.core.counts.cancelled == 3)
        #expect(fixture.core.checkInvariants().isEmpty)
    }

    @Test func cancellingAReadyTaskFreesNothingButSkipsIt() {
        var fixture = CoreFixture(.independent(count: 3, width: 1))
        fixture.start()
        #expect(fixture.cancel(TaskID(1)) == [.completed(TaskID(1), .cancelled(cause: nil))])
        #expect(fixture.core.checkInvariants().isEmpty)
        #expect(fixture.succeed(TaskID(0)).dispatched == [TaskID(2)])
    }

    @Test(arguments: [true, false])
    func cancellingARunningTaskAsksItToStop(reportsSuccess: Bool) {
        //   a ──► b
        var fixture = CoreFixture()
        let q = fixture.queue(width: 1)
        let a = fixture.submit(TaskSpec(queue: q, retry: RetryPolicy(maxAttempts: 3)))
        let b = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(a)]))
        fixture.start()
        let actions = fixture.cancel(a)
        #expect(actions == [.cancelRunning(a, attempt: 1), .completed(b, .cancelled(cause: a))])
        #expect(fixture.core.state(of: a) == .running(attempt: 1))
        #expect(fixture.core.runningCount(of: q) == 1)
        // Asking twice is stale.
        #expect(fixture.cancel(a).isEmpty)
        #expect(fixture.lastDisposition == .stale)
        // Whatever the attempt reports, it ends cancelled, with no retry.
        let end = reportsSuccess ? fixture.succeed(a) : fixture.fail(a)
        #expect(end == [.completed(a, .cancelled(cause: nil))])
        #expect(fixture.core.runningCount(of: q) == 0)
        #expect(fixture.core.unfinishedCount == 0)
        #expect(fixture.core.checkInvariants().isEmpty)
    }

    @Test func cancellingATaskInBackoffEndsIt() {
        var fixture = CoreFixture()
        let q = fixture.queue(width: 1)
        let a = fixture.submit(TaskSpec(queue: q, retry: RetryPolicy(maxAttempts: 2, initialBackoff: .seconds(1))))
        fixture.start()
        fixture.fail(a)
        #expect(fixture.cancel(a) == [.completed(a, .cancelled(cause: nil))])
        // The retry timer still fires; it is stale now.
        fixture.now = .seconds(1)
        #expect(fixture.retryDue(a).isEmpty)
        #expect(fixture.lastDisposition == .stale)
    }

    @Test func cancellingAFinishedTaskIsStale() {
        var fixture = CoreFixture(.independent(count: 1))
        fixture.start()
        fixture.succeed(TaskID(0))
        #expect(fixture.cancel(TaskID(0)).isEmpty)
        #expect(fixture.lastDisposition == .stale)
        #expect(fixture.cancel(TaskID(3)).isEmpty)
        #expect(fixture.lastDisposition == .stale)
        #expect(fixture.core.outcome(of: TaskID(0)) == .succeeded)
    }

    @Test func cancelAllEndsEveryUnfinishedTask() {
        //   0 ──► 1 ──► 2      3 (running)     4 (ready)
        var fixture = CoreFixture()
        let q = fixture.queue(width: 2)
        let tasks = [
            TaskSpec(queue: q), TaskSpec(queue: q, dependencies: [Dependency(TaskID(0))]),
            TaskSpec(queue: q, dependencies: [Dependency(TaskID(1))]), TaskSpec(queue: q), TaskSpec(queue: q),
        ].map { fixture.submit($0) }
        #expect(fixture.start().dispatched == [tasks[0], tasks[3]])
        let actions = fixture.cancelAll()
        #expect(actions.contains(.cancelRunning(tasks[0], attempt: 1)))
        #expect(actions.contains(.cancelRunning(tasks[3], attempt: 1)))
        #expect(actions.outcome(of: tasks[1]) == .cancelled(cause: tasks[0]))
        #expect(actions.outcome(of: tasks[2]) == .cancelled(cause: tasks[0]))
        #expect(actions.outcome(of: tasks[4]) == .cancelled(cause: nil))
        #expect(actions.dispatched.isEmpty)
        #expect(fixture.core.unfinishedCount == 2)
        fixture.succeed(tasks[3])
        fixture.fail(tasks[0])
        #expect(fixture.core.unfinishedCount == 0)
        #expect(fixture.core.counts.cancelled == 5)
        #expect(fixture.core.checkInvariants().isEmpty)
        // A second cancelAll finds nothing to do.
        #expect(fixture.cancelAll().isEmpty)
    }

    @Test func cancelledProducerCancelsItemDependantsStillWaiting() {
        //   p (2 items) ──item 0──► x      (already started)
        //               ──item 1──► y      (waiting)
        var fixture = CoreFixture()
        let q = fixture.queue(width: 3)
        let p = fixture.submit(TaskSpec(queue: q, partialCount: 2))
        let x = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(p, item: 0)]))
        let y = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(p, item: 1)]))
        fixture.start()
        fixture.emit(p, item: 0)
        let actions = fixture.cancel(p)
        #expect(actions == [.cancelRunning(p, attempt: 1), .completed(y, .cancelled(cause: p))])
        #expect(fixture.core.state(of: x) == .running(attempt: 1))
        #expect(fixture.core.checkInvariants().isEmpty)
    }
}
