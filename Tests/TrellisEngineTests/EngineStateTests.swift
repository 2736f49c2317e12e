import Testing
import TrellisCore
import TrellisEngine

@Suite("Engine state")
struct EngineStateTests {
    /// A core on two workers with a timeout, a retry back-off and leases pending, journaled and restored.
    @Test func aRestoredStateHasTheSameCoreAndTheDeadlinesThatStillMatter() throws {
        let lease = Duration.seconds(10)
        func fresh() -> SchedulerCore { SchedulerCore(policy: .fifo, execution: .workers(leaseTimeout: lease)) }
        var state = EngineState(fresh())
        var actions: [SchedulerAction] = []
        try state.apply(.queueAdded(width: 8, job: .initial), now: .zero, into: &actions)
        try state.apply(.started, now: .zero, into: &actions)
        try state.apply(.workerJoined(WorkerSpec(type: "cpu", slots: 1)), now: .zero, into: &actions)
        try state.apply(.workerJoined(WorkerSpec(type: "cpu", slots: 1)), now: .zero, into: &actions)
        let timed = TaskSpec(queue: QueueID(0), timeout: .seconds(30))
        let retried = TaskSpec(queue: QueueID(0), retry: RetryPolicy(maxAttempts: 3, initialBackoff: .seconds(5)))
        try state.apply(.submitted(timed), now: .seconds(1), into: &actions)
        try state.apply(.submitted(retried), now: .seconds(1), into: &actions)
        let retriedHolder = try #require(state.core.holder(of: TaskID(1)))
        try state.apply(
            .failed(TaskID(1), attempt: 1, retryable: true, worker: retriedHolder), now: .seconds(2), into: &actions)
        // A heartbeat moves a lease on but is not a fact.
        state.heartbeat(WorkerID(0), now: .seconds(3), into: &actions)
        #expect(state.timers.timeouts == [AttemptRef(TaskID(0), attempt: 1): .seconds(31)])
        #expect(state.timers.retries == [TaskID(1): .seconds(7)])
        #expect(state.timers.leases == [WorkerID(0): .seconds(13), WorkerID(1): .seconds(10)])
        // The lease of worker 1 runs out: journaled as the worker leaving.
        #expect(state.leaseExpired(WorkerID(1), now: .seconds(10), into: &actions) == .accepted)
        let facts = state.takeUnsaved()
        #expect(facts.last == TimedFact(at: .seconds(10), .workerLeft(WorkerID(1))))
        #expect(facts.count == 8)
        #expect(state.takeUnsaved().isEmpty)

        var rearmed: [SchedulerAction] = []
        let restored = try EngineState.restore(fresh(), from: facts, now: .seconds(20), into: &rearmed)
        #expect(rearmed == [.scheduleLease(WorkerID(0), deadline: .seconds(30))])
        #expect(restored.timers.timeouts == state.timers.timeouts)
        #expect(restored.timers.retries == state.timers.retries)
        #expect(restored.timers.leases == [WorkerID(0): .seconds(30)])
        for index in 0..<2 {
            #expect(restored.core.state(of: TaskID(index)) == state.core.state(of: TaskID(index)))
            #expect(restored.core.holder(of: TaskID(index)) == state.core.holder(of: TaskID(index)))
        }
        #expect(restored.unsaved.isEmpty)
    }
}
