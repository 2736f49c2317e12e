import Testing
import TrellisCore

@Suite("Jobs in the scheduling core")
struct JobTests {
    @Test func aFailFastJobCancelsOnlyItself() {
        var core = SchedulerCore(policy: .fifo, failurePolicy: .continueIndependent)
        var actions: [SchedulerAction] = []
        let strict = core.addJob(policy: .fifo, failurePolicy: .failFast)
        let relaxedQueue = try! core.addQueue(width: 4)
        let strictQueue = try! core.addQueue(width: 4, job: strict)
        let failing = try! core.submit(TaskSpec(queue: strictQueue), now: .zero, into: &actions)
        let sibling = try! core.submit(TaskSpec(queue: strictQueue), now: .zero, into: &actions)
        let other = try! core.submit(TaskSpec(queue: relaxedQueue), now: .zero, into: &actions)
        // A task of the relaxed job that needs the failing one ends upstream-failed, not cancelled.
        let needs = try! core.submit(
            TaskSpec(queue: relaxedQueue, dependencies: [Dependency(failing)]), now: .zero, into: &actions)
        core.start(now: .zero, into: &actions)
        actions = []
        core.failed(failing, attempt: 1, now: .seconds(1), into: &actions)
        #expect(
            actions == [
                .completed(failing, .failed(.error)), .completed(needs, .upstreamFailed(root: failing)),
                .cancelRunning(sibling, attempt: 1),
            ])
        #expect(core.state(of: other) == .running(attempt: 1))
        #expect(core.job(of: sibling) == strict && core.job(of: other) == .initial)
        #expect(core.unfinishedCount(of: strict) == 1 && core.unfinishedCount(of: .initial) == 1)
        #expect(core.checkInvariants() == [])
    }

    @Test func cancellingAJobLeavesTheOthersRunning() {
        var core = SchedulerCore(policy: .fifo)
        var actions: [SchedulerAction] = []
        let second = core.addJob(policy: .outputFirst, failurePolicy: .continueIndependent)
        let first = try! core.addQueue(width: 1)
        let secondQueue = try! core.addQueue(width: 1, job: second)
        let a = try! core.submit(TaskSpec(queue: first), now: .zero, into: &actions)
        let b = try! core.submit(TaskSpec(queue: secondQueue), now: .zero, into: &actions)
        let c = try! core.submit(TaskSpec(queue: secondQueue), now: .zero, into: &actions)
        core.start(now: .zero, into: &actions)
        actions = []
        #expect(core.cancelJob(second, now: .zero, into: &actions) == .accepted)
        // output-first runs the newest sink first: c is running, b waits.
        #expect(actions == [.completed(b, .cancelled(cause: nil)), .cancelRunning(c, attempt: 1)])
        #expect(core.state(of: a) == .running(attempt: 1))
        actions = []
        core.succeeded(c, attempt: 1, now: .zero, into: &actions)
        #expect(actions == [.completed(c, .cancelled(cause: nil))])
        #expect(core.cancelJob(second, now: .zero, into: &actions) == .stale)
        #expect(core.counts(of: second).cancelled == 2 && core.counts(of: .initial).total == 0)
        #expect(throws: TrellisCoreError.self) { try core.addQueue(width: 1, job: JobID(7)) }
    }

    @Test func priorityFirstThenTheOlderJobThenTheJobsPolicy() {
        var core = SchedulerCore(policy: .fifo, execution: .workers(leaseTimeout: .seconds(10)))
        var actions: [SchedulerAction] = []
        let newer = core.addJob(policy: .fifo, failurePolicy: .continueIndependent)
        let olderQueue = try! core.addQueue(width: .max)
        let newerQueue = try! core.addQueue(width: .max, job: newer)
        core.start(now: .zero, into: &actions)
        let newerFirst = try! core.submit(TaskSpec(queue: newerQueue), now: .zero, into: &actions)
        let older = try! core.submit(TaskSpec(queue: olderQueue), now: .zero, into: &actions)
        let urgent = try! core.submit(TaskSpec(queue: newerQueue, priority: 1), now: .zero, into: &actions)
        let olderLater = try! core.submit(TaskSpec(queue: olderQueue), now: .zero, into: &actions)
        let worker = try! core.joinWorker(WorkerSpec(type: "cpu", slots: 1), now: .zero, into: &actions)
        var order: [TaskID] = []
        for _ in 0..<4 {
            let running = (0..<core.taskCount).map(TaskID.init).first { core.holder(of: $0) == worker }!
            order.append(running)
            actions = []
            core.succeeded(running, attempt: 1, worker: worker, now: .zero, into: &actions)
        }
        #expect(order == [urgent, older, olderLater, newerFirst])
        #expect(core.checkInvariants() == [])
    }

    @Test func eachJobHasItsOwnWaves() {
        var core = SchedulerCore(policy: .wave)
        var actions: [SchedulerAction] = []
        let free = core.addJob(policy: .fifo, failurePolicy: .continueIndependent)
        let waveQueue = try! core.addQueue(width: 4)
        let freeQueue = try! core.addQueue(width: 4, job: free)
        let a = try! core.submit(TaskSpec(queue: waveQueue), now: .zero, into: &actions)
        core.start(now: .zero, into: &actions)
        // b becomes ready while a's wave runs: it waits for the next wave; the fifo job's task does not.
        let b = try! core.submit(TaskSpec(queue: waveQueue), now: .zero, into: &actions)
        actions = []
        let c = try! core.submit(TaskSpec(queue: freeQueue), now: .zero, into: &actions)
        #expect(actions == [.dispatch(c, queue: freeQueue, attempt: 1)])
        #expect(core.state(of: b) == .ready)
        actions = []
        core.succeeded(a, attempt: 1, now: .zero, into: &actions)
        #expect(actions == [.completed(a, .succeeded), .dispatch(b, queue: waveQueue, attempt: 1)])
    }
}

@Suite("Holding tasks")
struct HoldTests {
    @Test func aHeldTaskWaitsUntilReleasedAndARunningOneCannotBeHeld() {
        var core = SchedulerCore(policy: .fifo)
        var actions: [SchedulerAction] = []
        let queue = try! core.addQueue(width: 1)
        let a = try! core.submit(TaskSpec(queue: queue), now: .zero, into: &actions)
        let unplayed = try! core.submit(TaskSpec(queue: queue, held: true), now: .zero, into: &actions)
        let c = try! core.submit(TaskSpec(queue: queue), now: .zero, into: &actions)
        core.start(now: .zero, into: &actions)
        #expect(actions == [.dispatch(a, queue: queue, attempt: 1)])
        #expect(core.hold(a, now: .zero, into: &actions) == .stale)
        #expect(core.hold(c, now: .zero, into: &actions) == .accepted)
        #expect(core.waitReason(of: c) == .held && core.waitReason(of: unplayed) == .held)
        actions = []
        core.succeeded(a, attempt: 1, now: .zero, into: &actions)
        #expect(actions == [.completed(a, .succeeded)])
        #expect(core.release(c, now: .zero, into: &actions) == .accepted)
        #expect(core.release(c, now: .zero, into: &actions) == .stale)
        #expect(actions == [.completed(a, .succeeded), .dispatch(c, queue: queue, attempt: 1)])
        actions = []
        core.succeeded(c, attempt: 1, now: .zero, into: &actions)
        core.release(unplayed, now: .zero, into: &actions)
        #expect(actions == [.completed(c, .succeeded), .dispatch(unplayed, queue: queue, attempt: 1)])
        #expect(core.checkInvariants() == [])
    }
}
