import Testing
import TrellisCore
import TrellisEngine

@Suite("Forgetting jobs in the engine state")
struct EngineForgetTests {
    /// A forgetting in the middle keeps the live tasks of other jobs running, their ids renumbered, their
    /// retry delays and timeouts kept under the new ids.
    @Test func liveTasksOfOtherJobsKeepTheirStateAndDeadlines() throws {
        var state = EngineState(SchedulerCore(policy: .fifo))
        var actions: [SchedulerAction] = []
        try state.apply(.jobAdded(policy: .fifo, failurePolicy: .continueIndependent), now: .zero, into: &actions)
        try state.apply(.jobAdded(policy: .fifo, failurePolicy: .continueIndependent), now: .zero, into: &actions)
        try state.apply(.queueAdded(width: 4, job: JobID(1)), now: .zero, into: &actions)
        try state.apply(.queueAdded(width: 4, job: JobID(2)), now: .zero, into: &actions)
        try state.apply(.submitted(TaskSpec(queue: QueueID(0))), now: .zero, into: &actions)
        var retried = TaskSpec(queue: QueueID(1))
        retried.retry = RetryPolicy(maxAttempts: 3, initialBackoff: .seconds(5))
        try state.apply(.submitted(retried), now: .zero, into: &actions)
        var timed = TaskSpec(queue: QueueID(1))
        timed.timeout = .seconds(30)
        try state.apply(.submitted(timed), now: .zero, into: &actions)
        try state.apply(.started, now: .zero, into: &actions)
        try state.apply(.succeeded(TaskID(0), attempt: 1, worker: nil), now: .seconds(1), into: &actions)
        try state.apply(.failed(TaskID(1), attempt: 1, retryable: true, worker: nil), now: .seconds(1), into: &actions)
        #expect(state.timers.retries[TaskID(1)] == .seconds(6))
        #expect(state.timers.timeouts[AttemptRef(TaskID(2), attempt: 1)] == .seconds(30))

        try state.apply(.jobsForgotten([JobID(1)]), now: .seconds(2), into: &actions)
        #expect(state.core.taskCount == 2)
        #expect(state.timers.retries == [TaskID(0): .seconds(6)])
        #expect(state.timers.timeouts == [AttemptRef(TaskID(1), attempt: 1): .seconds(30)])
        #expect(state.core.state(of: TaskID(0)) == .retrying(afterAttempt: 1))
        #expect(state.core.state(of: TaskID(1)) == .running(attempt: 1))
        let facts = state.takeUnsaved()
        #expect(facts.last == TimedFact(at: .seconds(2), .jobsForgotten([JobID(1)])))

        // A restart from the facts, the forgetting among them, comes back to the same state and deadlines.
        var ignored: [SchedulerAction] = []
        let restored = try EngineState.restore(
            SchedulerCore(policy: .fifo), from: facts, now: .seconds(2), into: &ignored)
        #expect(restored.core.snapshot() == state.core.snapshot())
        #expect(restored.timers == state.timers)

        actions = []
        try state.apply(.retryDue(TaskID(0)), now: .seconds(6), into: &actions)
        #expect(actions == [.dispatch(TaskID(0), queue: QueueID(0), attempt: 2)])
    }
}
