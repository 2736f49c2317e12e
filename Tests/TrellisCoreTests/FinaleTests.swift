import Testing
import TrellisCore

/// A job's finale: `onSuccess` tasks run when every main task succeeded, `onFailure` tasks otherwise, and the
/// other group ends skipped.
@Suite("Finales in the scheduling core")
struct FinaleTests {
    struct Job {
        var core = SchedulerCore(policy: .fifo)
        var actions: [SchedulerAction] = []
        let queue: QueueID
        var main: [TaskID] = []
        var onSuccess: TaskID
        var onFailure: TaskID

        init(failurePolicy: FailurePolicy = .continueIndependent, mainTasks: Int = 2) {
            core = SchedulerCore(policy: .fifo, failurePolicy: failurePolicy)
            queue = try! core.addQueue(width: 8)
            for _ in 0..<mainTasks { main.append(try! core.submit(TaskSpec(queue: queue), now: .zero, into: &actions)) }
            onSuccess = try! core.submit(TaskSpec(queue: queue, role: .onSuccess), now: .zero, into: &actions)
            onFailure = try! core.submit(TaskSpec(queue: queue, role: .onFailure), now: .zero, into: &actions)
            core.start(now: .zero, into: &actions)
            actions = []
        }
    }

    @Test func everyMainTaskSucceededSoOnSuccessRuns() {
        var job = Job()
        #expect(job.core.waitReason(of: job.onSuccess) == .finale)
        job.core.succeeded(job.main[0], attempt: 1, now: .zero, into: &job.actions)
        #expect(job.core.finaleDecision(of: .initial) == nil)
        job.core.succeeded(job.main[1], attempt: 1, now: .zero, into: &job.actions)
        #expect(
            job.actions == [
                .completed(job.main[0], .succeeded), .completed(job.main[1], .succeeded),
                .completed(job.onFailure, .skipped), .dispatch(job.onSuccess, queue: job.queue, attempt: 1),
            ])
        #expect(job.core.finaleDecision(of: .initial) == .onSuccess)
        #expect(job.core.checkInvariants() == [])
    }

    @Test func aFailedMainTaskRunsOnFailure() {
        var job = Job()
        job.core.failed(job.main[0], attempt: 1, now: .zero, into: &job.actions)
        #expect(job.core.state(of: job.onFailure) == .waiting)
        job.actions = []
        job.core.succeeded(job.main[1], attempt: 1, now: .zero, into: &job.actions)
        #expect(
            job.actions == [
                .completed(job.main[1], .succeeded), .completed(job.onSuccess, .skipped),
                .dispatch(job.onFailure, queue: job.queue, attempt: 1),
            ])
        #expect(job.core.counts(of: .initial).skipped == 1)
    }

    @Test func aCancelledJobStillCleansUpAndASecondCancelStopsTheCleanUp() {
        var job = Job()
        #expect(job.core.cancelJob(.initial, now: .zero, into: &job.actions) == .accepted)
        #expect(job.actions == [.cancelRunning(job.main[0], attempt: 1), .cancelRunning(job.main[1], attempt: 1)])
        job.actions = []
        job.core.succeeded(job.main[0], attempt: 1, now: .zero, into: &job.actions)
        job.core.failed(job.main[1], attempt: 1, now: .zero, into: &job.actions)
        #expect(
            job.actions == [
                .completed(job.main[0], .cancelled(cause: nil)), .completed(job.main[1], .cancelled(cause: nil)),
                .completed(job.onSuccess, .skipped), .dispatch(job.onFailure, queue: job.queue, attempt: 1),
            ])
        job.actions = []
        #expect(job.core.cancelJob(.initial, now: .zero, into: &job.actions) == .accepted)
        #expect(job.actions == [.cancelRunning(job.onFailure, attempt: 1)])
    }

    @Test func failFastCancelsTheMainTasksButNotTheCleanUp() {
        var job = Job(failurePolicy: .failFast)
        job.core.failed(job.main[0], attempt: 1, now: .zero, into: &job.actions)
        #expect(job.actions == [.completed(job.main[0], .failed(.error)), .cancelRunning(job.main[1], attempt: 1)])
        job.actions = []
        job.core.succeeded(job.main[1], attempt: 1, now: .zero, into: &job.actions)
        #expect(job.actions.contains(.dispatch(job.onFailure, queue: job.queue, attempt: 1)))
        #expect(job.core.outcome(of: job.onSuccess) == .skipped)
    }

    @Test func afterTheDecisionMainTasksAreRefusedAndLateFinaleTasksFollowIt() {
        var job = Job(mainTasks: 1)
        job.core.succeeded(job.main[0], attempt: 1, now: .zero, into: &job.actions)
        #expect(throws: TrellisCoreError.self) {
            try job.core.submit(TaskSpec(queue: job.queue), now: .zero, into: &job.actions)
        }
        job.actions = []
        let late = try! job.core.submit(TaskSpec(queue: job.queue, role: .onSuccess), now: .zero, into: &job.actions)
        let lateSkipped = try! job.core.submit(
            TaskSpec(queue: job.queue, role: .onFailure), now: .zero, into: &job.actions)
        #expect(
            job.actions == [.dispatch(late, queue: job.queue, attempt: 1), .completed(lateSkipped, .skipped)])
        #expect(job.core.checkInvariants() == [])
    }
}
