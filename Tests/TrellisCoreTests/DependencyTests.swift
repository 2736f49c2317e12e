import Testing
import TrellisCore
import TrellisTestKit

@Suite("Dependencies and submission")
struct DependencyTests {
    @Test func chainRunsInOrder() {
        // 0 ──► 1 ──► 2 ──► 3
        var fixture = CoreFixture(.chain(length: 4, width: 4))
        #expect(fixture.start().dispatched == [TaskID(0)])
        #expect(fixture.core.state(of: TaskID(1)) == .waiting)
        let run = fixture.runToEnd()
        #expect(run.dispatched == [1, 2, 3].map(TaskID.init))
        #expect(fixture.core.counts.succeeded == 4)
        #expect(fixture.core.checkInvariants().isEmpty)
    }

    @Test func diamondWaitsForBothInputs() {
        //     a
        //    ╱ ╲
        //   b   c
        //    ╲ ╱
        //     d
        var fixture = CoreFixture()
        let q = fixture.queue(width: 4)
        let a = fixture.submit(TaskSpec(queue: q))
        let b = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(a)]))
        let c = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(a)]))
        let d = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(b), Dependency(c)]))
        #expect(fixture.start() == [.dispatch(a, queue: q, attempt: 1)])
        #expect(
            fixture.succeed(a) == [
                .completed(a, .succeeded), .dispatch(b, queue: q, attempt: 1),
                .dispatch(c, queue: q, attempt: 1),
            ])
        #expect(fixture.succeed(c) == [.completed(c, .succeeded)])
        #expect(fixture.core.state(of: d) == .waiting)
        #expect(fixture.succeed(b) == [.completed(b, .succeeded), .dispatch(d, queue: q, attempt: 1)])
        #expect(fixture.core.checkInvariants().isEmpty)
    }

    @Test func submissionsBeforeStartOnlyAccumulate() {
        var fixture = CoreFixture()
        let q = fixture.queue(width: 2)
        let (a, actions) = fixture.submitting(TaskSpec(queue: q))
        #expect(actions.isEmpty)
        #expect(fixture.core.state(of: a) == .ready)
        #expect(!fixture.core.isStarted)
        #expect(fixture.start().dispatched == [a])
        #expect(fixture.core.isStarted)
    }

    @Test func submissionAfterStartDispatchesAtOnce() {
        var fixture = CoreFixture()
        let q = fixture.queue(width: 1)
        fixture.start()
        let (a, first) = fixture.submitting(TaskSpec(queue: q))
        #expect(first == [.dispatch(a, queue: q, attempt: 1)])
        let (b, second) = fixture.submitting(TaskSpec(queue: q))
        #expect(second.isEmpty)
        #expect(fixture.core.state(of: b) == .ready)
        #expect(fixture.succeed(a).dispatched == [b])
    }

    @Test func dependencyThatAlreadySucceededIsSatisfied() {
        var fixture = CoreFixture()
        let q = fixture.queue(width: 1)
        fixture.start()
        let a = fixture.submit(TaskSpec(queue: q))
        fixture.succeed(a)
        let (b, actions) = fixture.submitting(TaskSpec(queue: q, dependencies: [Dependency(a)]))
        #expect(actions == [.dispatch(b, queue: q, attempt: 1)])
    }

    @Test func dependencyThatAlreadyFailedDoomsTheNewTask() {
        var fixture = CoreFixture()
        let q = fixture.queue(width: 1)
        fixture.start()
        let a = fixture.submit(TaskSpec(queue: q))
        fixture.fail(a)
        let (b, actions) = fixture.submitting(TaskSpec(queue: q, dependencies: [Dependency(a)]))
        #expect(actions == [.completed(b, .upstreamFailed(root: a))])
        // Upstream failure keeps its root through further generations.
        let (c, more) = fixture.submitting(TaskSpec(queue: q, dependencies: [Dependency(b)]))
        #expect(more == [.completed(c, .upstreamFailed(root: a))])
        #expect(fixture.core.unfinishedCount == 0)
    }

    @Test func dependencyThatWasCancelledCancelsTheNewTask() {
        var fixture = CoreFixture()
        let q = fixture.queue(width: 1)
        let a = fixture.submit(TaskSpec(queue: q))
        fixture.cancel(a)
        let (b, actions) = fixture.submitting(TaskSpec(queue: q, dependencies: [Dependency(a)]))
        #expect(actions == [.completed(b, .cancelled(cause: a))])
    }

    @Test func repeatedDependencyCountsOnce() {
        // b lists a twice; one success of a satisfies both edges.
        var fixture = CoreFixture()
        let q = fixture.queue(width: 1)
        let a = fixture.submit(TaskSpec(queue: q))
        let b = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(a), Dependency(a)]))
        fixture.start()
        #expect(fixture.core.checkInvariants().isEmpty)
        #expect(fixture.succeed(a).dispatched == [b])
        #expect(fixture.core.checkInvariants().isEmpty)
    }

    @Test func submissionErrorsChangeNothing() {
        var core = SchedulerCore()
        var actions: [SchedulerAction] = []
        #expect(throws: TrellisCoreError.self) { try core.addQueue(width: 0) }
        let q = try! core.addQueue(width: 1)
        let producer = try! core.submit(TaskSpec(queue: q, partialCount: 2), now: .zero, into: &actions)
        do {
            _ = try core.submit(TaskSpec(queue: QueueID(5)), now: .zero, into: &actions)
            Issue.record("unknown queue accepted")
        } catch {
            #expect(error.code == .unknownQueue)
        }
        do {
            _ = try core.submit(TaskSpec(queue: q, dependencies: [Dependency(TaskID(9))]), now: .zero, into: &actions)
            Issue.record("unknown dependency accepted")
        } catch {
            #expect(error.code == .unknownDependency)
        }
        for item in [-1, 2] {
            do {
                let dependency = Dependency(producer, item: item)
                _ = try core.submit(TaskSpec(queue: q, dependencies: [dependency]), now: .zero, into: &actions)
                Issue.record("item \(item) accepted")
            } catch {
                #expect(error.code == .itemOutOfRange)
            }
        }
        do {
            try core.setWidth(0, of: q, now: .zero, into: &actions)
            Issue.record("width 0 accepted")
        } catch {
            #expect(error.code == .invalidWidth)
        }
        #expect(core.taskCount == 1)
        #expect(core.unfinishedCount == 1)
        #expect(core.width(of: q) == 1)
        #expect(actions.isEmpty)
        #expect(core.checkInvariants().isEmpty)
    }

    @Test func widerQueueDispatchesAtOnceNarrowerLetsWorkFinish() {
        var fixture = CoreFixture(.independent(count: 5, width: 1))
        let q = QueueID(0)
        #expect(fixture.start().dispatched == [TaskID(0)])
        #expect(fixture.setWidth(3, of: q).dispatched == [TaskID(1), TaskID(2)])
        #expect(fixture.setWidth(1, of: q).isEmpty)
        #expect(fixture.core.runningCount(of: q) == 3)
        #expect(fixture.succeed(TaskID(0)).dispatched.isEmpty)
        #expect(fixture.succeed(TaskID(1)).dispatched.isEmpty)
        #expect(fixture.succeed(TaskID(2)).dispatched == [TaskID(3)])
        #expect(fixture.core.checkInvariants().isEmpty)
    }

    @Test func widthIsNeverExceeded() {
        var fixture = CoreFixture(.independent(count: 10, width: 3))
        fixture.start()
        var peak = 0
        while let (task, attempt) = fixture.running.first {
            peak = max(peak, fixture.core.runningCount(of: QueueID(0)))
            fixture.succeed(task, attempt: attempt)
        }
        #expect(peak == 3)
        #expect(fixture.core.counts.succeeded == 10)
    }
}
