import Testing
import TrellisCore

/// A `.workers` core with a clock, so each test reads as a list of events.
private struct WorkerFixture {
    var core: SchedulerCore
    var now = Duration.zero
    let queue: QueueID

    init(policy: SchedulingPolicy = .fifo, width: Int = .max, lease: Duration = .seconds(10)) {
        core = SchedulerCore(policy: policy, execution: .workers(leaseTimeout: lease))
        queue = try! core.addQueue(width: width)
        var actions: [SchedulerAction] = []
        core.start(now: now, into: &actions)
    }

    mutating func submit(_ placement: Placement = .anywhere, retries: Int = 0) -> (TaskID, [SchedulerAction]) {
        var actions: [SchedulerAction] = []
        let retry = retries > 0 ? RetryPolicy(maxAttempts: retries + 1) : RetryPolicy.none
        let id = try! core.submit(TaskSpec(queue: queue, retry: retry, placement: placement), now: now, into: &actions)
        return (id, actions)
    }

    mutating func join(
        _ type: String, slots: Int = 1, tags: Set<String> = [], resources: [String: Double] = [:]
    ) -> (WorkerID, [SchedulerAction]) {
        var actions: [SchedulerAction] = []
        let spec = WorkerSpec(type: type, tags: tags, slots: slots, resources: resources)
        let id = try! core.joinWorker(spec, now: now, into: &actions)
        return (id, actions)
    }

    mutating func succeed(_ task: TaskID, attempt: Int = 1, on worker: WorkerID) -> [SchedulerAction] {
        var actions: [SchedulerAction] = []
        core.succeeded(task, attempt: attempt, worker: worker, now: now, into: &actions)
        return actions
    }

    static func assignments(_ actions: [SchedulerAction]) -> [TaskID: WorkerID] {
        var result: [TaskID: WorkerID] = [:]
        for case .assign(let task, let worker, _) in actions { result[task] = worker }
        return result
    }
}

@Suite("Workers in the scheduling core")
struct WorkerTests {
    @Test func aTaskWaitsForAWorkerOfItsTypeAndSaysSo() {
        var fixture = WorkerFixture()
        let (gpu, _) = fixture.submit(Placement(type: "gpu"))
        #expect(fixture.core.waitReason(of: gpu) == .noWorker(Placement(type: "gpu")))
        #expect(fixture.core.waitReason(of: gpu)?.description == "no connected worker of type gpu")
        let (cpuWorker, joined) = fixture.join("cpu")
        #expect(joined == [.scheduleLease(cpuWorker, deadline: .seconds(10))])
        let (anything, submitted) = fixture.submit()
        #expect(submitted == [.assign(anything, to: cpuWorker, attempt: 1)])
        #expect(fixture.core.state(of: gpu) == .ready)
        let (gpuWorker, gpuJoined) = fixture.join("gpu")
        #expect(
            gpuJoined == [.scheduleLease(gpuWorker, deadline: .seconds(10)), .assign(gpu, to: gpuWorker, attempt: 1)])
        #expect(fixture.core.holder(of: gpu) == gpuWorker)
        #expect(fixture.core.waitReason(of: gpu) == nil)
    }

    @Test func tagsAndResourcesMustFit() {
        var fixture = WorkerFixture()
        let placement = Placement(tags: ["ssd"], resources: ["mem": 3])
        let (bare, _) = fixture.join("cpu", slots: 4, resources: ["mem": 8])
        let (small, _) = fixture.join("cpu", slots: 4, tags: ["ssd"], resources: ["mem": 2])
        let (task, actions) = fixture.submit(placement)
        #expect(actions.isEmpty)
        #expect(
            fixture.core.waitReason(of: task)?.description == "no connected worker with tags ssd with resources mem=3")
        let (fits, joined) = fixture.join("cpu", slots: 4, tags: ["ssd", "big"], resources: ["mem": 5])
        #expect(WorkerFixture.assignments(joined) == [task: fits])
        // A second task of the same kind finds 2 of mem left on the only fitting worker: it waits, busy.
        let (second, more) = fixture.submit(placement)
        #expect(more.isEmpty)
        #expect(fixture.core.waitReason(of: second) == .workersBusy(placement))
        let freed = fixture.succeed(task, on: fits)
        #expect(freed == [.completed(task, .succeeded), .assign(second, to: fits, attempt: 1)])
        #expect(fixture.core.runningCount(of: bare) == 0 && fixture.core.runningCount(of: small) == 0)
        #expect(fixture.core.checkInvariants() == [])
    }

    @Test func theLeastLoadedWorkerGetsTheTask() {
        var fixture = WorkerFixture()
        let (two, _) = fixture.join("cpu", slots: 2)
        let (four, _) = fixture.join("cpu", slots: 4)
        var placed: [WorkerID] = []
        for _ in 0..<6 {
            let (_, actions) = fixture.submit()
            placed += WorkerFixture.assignments(actions).values
        }
        // Ties go to the worker with more free slots; then load (running / slots) decides.
        #expect(placed == [four, two, four, four, two, four])
        #expect(fixture.core.runningCount(of: two) == 2 && fixture.core.runningCount(of: four) == 4)
    }

    @Test func aQueueWidthHoldsAcrossWorkers() {
        var fixture = WorkerFixture(width: 1)
        let (a, _) = fixture.join("cpu", slots: 3)
        let (b, _) = fixture.join("cpu", slots: 3)
        let (first, started) = fixture.submit()
        let (second, waiting) = fixture.submit()
        #expect(WorkerFixture.assignments(started).count == 1 && waiting.isEmpty)
        #expect(fixture.core.waitReason(of: second) == .queueFull(fixture.queue, width: 1))
        let holder = fixture.core.holder(of: first)!
        #expect(holder == a || holder == b)
        let next = fixture.succeed(first, on: holder)
        #expect(WorkerFixture.assignments(next).keys.contains(second))
    }

    @Test func aLostWorkersAttemptsRunAgainWithoutUsingRetries() {
        var fixture = WorkerFixture()
        let (lost, _) = fixture.join("cpu")
        let (task, _) = fixture.submit()
        #expect(fixture.core.holder(of: task) == lost)
        fixture.now = .seconds(5)
        var actions: [SchedulerAction] = []
        #expect(fixture.core.heartbeat(lost, now: fixture.now, into: &actions) == .accepted)
        #expect(actions == [.scheduleLease(lost, deadline: .seconds(15))])
        // The first deadline has been moved on by the heartbeat.
        fixture.now = .seconds(10)
        actions = []
        #expect(fixture.core.leaseExpired(lost, now: fixture.now, into: &actions) == .stale)
        #expect(actions.isEmpty)
        let (other, _) = fixture.join("cpu")
        fixture.now = .seconds(15)
        #expect(fixture.core.leaseExpired(lost, now: fixture.now, into: &actions) == .accepted)
        #expect(actions == [.assign(task, to: other, attempt: 2)])
        #expect(fixture.core.lostAttempts(of: task) == 1)
        #expect(!fixture.core.isConnected(lost))
        // The lost worker's late report is stale; the new holder's counts, though the task has no retries.
        actions = []
        #expect(fixture.core.succeeded(task, attempt: 1, worker: lost, now: fixture.now, into: &actions) == .stale)
        #expect(fixture.succeed(task, attempt: 2, on: other) == [.completed(task, .succeeded)])
    }

    /// Dask's "killed worker", HyperQueue's crash limit: a task whose attempts keep taking their worker down
    /// fails for good at the limit, whatever retries it has, and what needs it ends upstream-failed.
    @Test func aTaskThatKeepsLosingItsWorkerFailsAtTheCrashLimit() throws {
        var fixture = WorkerFixture()
        #expect(throws: TrellisCoreError.self) { try fixture.core.setCrashLimit(0) }
        var actions: [SchedulerAction] = []
        try fixture.core.apply(.crashLimitSet(2), now: .zero, into: &actions)
        #expect(fixture.core.crashLimit == 2)
        let (first, _) = fixture.join("cpu")
        let (task, _) = fixture.submit(retries: 5)
        let dependant = try fixture.core.submit(
            TaskSpec(queue: fixture.queue, dependencies: [Dependency(task)]), now: .zero, into: &actions)
        #expect(fixture.core.holder(of: task) == first)
        let (second, _) = fixture.join("cpu")
        actions = []
        fixture.core.workerLeft(first, now: .seconds(1), into: &actions)
        #expect(actions == [.assign(task, to: second, attempt: 2)])
        actions = []
        fixture.core.workerLeft(second, now: .seconds(2), into: &actions)
        #expect(
            actions == [
                .completed(task, .failed(.crashed(losses: 2))), .completed(dependant, .upstreamFailed(root: task)),
            ])
        #expect(fixture.core.checkInvariants() == [])
        // The limit is part of the snapshot.
        #expect(try SchedulerCore(snapshot: fixture.core.snapshot()).crashLimit == 2)
    }

    @Test func aTimedOutOrCancelledAttemptEndsWithItsWorker() {
        var fixture = WorkerFixture()
        let (worker, _) = fixture.join("cpu", slots: 2)
        var actions: [SchedulerAction] = []
        let timed = try! fixture.core.submit(
            TaskSpec(queue: fixture.queue, timeout: .seconds(1)), now: fixture.now, into: &actions)
        let (cancelled, _) = fixture.submit()
        fixture.core.timedOut(timed, attempt: 1, now: .seconds(1), into: &actions)
        fixture.core.cancel(cancelled, now: .seconds(1), into: &actions)
        actions = []
        fixture.core.workerLeft(worker, now: .seconds(2), into: &actions)
        #expect(actions == [.completed(timed, .failed(.timedOut)), .completed(cancelled, .cancelled(cause: nil))])
        #expect(fixture.core.unfinishedCount == 0)
    }

    @Test func aDrainingWorkerFinishesButTakesNothingNew() {
        var fixture = WorkerFixture()
        let (worker, _) = fixture.join("cpu", slots: 2)
        let (first, _) = fixture.submit()
        #expect(fixture.core.drainWorker(worker) == .accepted)
        #expect(fixture.core.drainWorker(worker) == .stale)
        let (second, queued) = fixture.submit()
        #expect(queued.isEmpty)
        #expect(fixture.core.waitReason(of: second) == .noWorker(.anywhere))
        #expect(fixture.succeed(first, on: worker) == [.completed(first, .succeeded)])
    }

    @Test func onlyTheHolderMayReport() {
        var fixture = WorkerFixture()
        let (owner, _) = fixture.join("cpu")
        let (impostor, _) = fixture.join("cpu")
        let (task, _) = fixture.submit()
        let holder = fixture.core.holder(of: task)!
        let other = holder == owner ? impostor : owner
        var actions: [SchedulerAction] = []
        #expect(fixture.core.failed(task, attempt: 1, worker: other, now: .zero, into: &actions) == .stale)
        #expect(fixture.core.succeeded(task, attempt: 1, worker: other, now: .zero, into: &actions) == .stale)
        #expect(actions.isEmpty)
        #expect(fixture.core.state(of: task) == .running(attempt: 1))
        #expect(fixture.core.staleReports == 2)
    }

    @Test func badWorkersAndPlacementsAreRefusedWithNothingChanged() {
        var slotsCore = SchedulerCore()
        var actions: [SchedulerAction] = []
        let queue = try! slotsCore.addQueue(width: 1)
        #expect(throws: TrellisCoreError.self) {
            try slotsCore.joinWorker(WorkerSpec(type: "cpu", slots: 1), now: .zero, into: &actions)
        }
        #expect(throws: TrellisCoreError.self) {
            try slotsCore.submit(TaskSpec(queue: queue, placement: Placement(type: "gpu")), now: .zero, into: &actions)
        }
        var fixture = WorkerFixture()
        for spec in [
            WorkerSpec(type: "cpu", slots: 0), WorkerSpec(type: "cpu", slots: SchedulerCore.maxWorkerSlots + 1),
            WorkerSpec(type: "cpu", slots: 1, resources: ["mem": .nan]),
            WorkerSpec(type: "cpu", slots: 1, resources: ["mem": -1]),
        ] {
            #expect(throws: TrellisCoreError.self) { try fixture.core.joinWorker(spec, now: .zero, into: &actions) }
        }
        #expect(throws: TrellisCoreError.self) {
            try fixture.core.submit(
                TaskSpec(queue: fixture.queue, placement: Placement(resources: ["mem": .infinity])), now: .zero,
                into: &actions)
        }
        #expect(fixture.core.workerCount == 0 && fixture.core.taskCount == 0 && slotsCore.taskCount == 0)
        #expect(actions.isEmpty)
    }

    /// A task no worker could run takes no slot of its queue: the next one runs meanwhile.
    @Test func aTaskNoWorkerCanRunHoldsUpNoOtherTaskOfItsQueue() {
        var fixture = WorkerFixture(width: 1)
        let (cpu, _) = fixture.join("cpu")
        var actions: [SchedulerAction] = []
        let gpuTask = try! fixture.core.submit(
            TaskSpec(queue: fixture.queue, priority: 1, placement: Placement(type: "gpu")), now: .zero, into: &actions)
        let (anywhere, started) = fixture.submit()
        #expect(started == [.assign(anywhere, to: cpu, attempt: 1)])
        #expect(fixture.core.waitReason(of: gpuTask) == .noWorker(Placement(type: "gpu")))
        // A gpu worker joins while the queue's one slot is taken: the gpu task waits for the slot.
        let (gpu, joined) = fixture.join("gpu")
        #expect(joined == [.scheduleLease(gpu, deadline: .seconds(10))])
        #expect(fixture.core.waitReason(of: gpuTask) == .queueFull(fixture.queue, width: 1))
        #expect(
            fixture.succeed(anywhere, on: cpu) == [
                .completed(anywhere, .succeeded), .assign(gpuTask, to: gpu, attempt: 1),
            ])
        // The gpu worker leaves before the task ends: it runs again once another one comes, and blocks nothing.
        fixture.core.workerLeft(gpu, now: .seconds(1), into: &actions)
        let (later, laterActions) = fixture.submit()
        #expect(laterActions == [.assign(later, to: cpu, attempt: 1)])
        #expect(fixture.core.waitReason(of: gpuTask) == .noWorker(Placement(type: "gpu")))
        #expect(fixture.core.checkInvariants() == [])
    }
}
