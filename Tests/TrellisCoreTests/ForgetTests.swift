import Testing
import TrellisCore
import TrellisTestKit

/// Forgetting finished jobs: the core drops their tasks and numbers the rest again, and behaves from then on
/// exactly as a core that forgot nothing.
@Suite("Forgetting finished jobs")
struct ForgetTests {
    /// Harness runs of several jobs, on queue slots and on workers, replayed into a core that forgets finished
    /// jobs at random points and a twin that does not: the same actions after every fact, the same state for
    /// every task kept, invariants after every forgetting, and the forgetting core's own facts replay to it.
    @Test(arguments: [false, true])
    func aCoreThatForgetsBehavesAsOneThatDoesNot(onWorkers: Bool) {
        var options = CoreHarness.Options()
        options.jobs = 6
        options.cancelJobProbability = 0.003
        options.finaleFraction = 0.2
        options.holdProbability = 0.01
        // Jobs end at different times and are left alone once ended (a width change or a late task would
        // touch any job at any time).
        options.lateSubmissionFraction = 0
        options.widthChangeProbability = 0
        if onWorkers {
            var workers = CoreHarness.WorkerOptions()
            workers.restartProbability = 0
            options.workers = workers
        }
        var graphOptions = RandomDAG.Options()
        graphOptions.queueCount = 6...12
        graphOptions.taskCount = 30...90
        graphOptions.dependencies = 0...2
        var forgettings = 0
        var refusals = 0
        var forgotten = 0
        for index in UInt64(0)..<120 {
            let seed = 0xF0_0000 | index | (onWorkers ? 1 << 16 : 0)
            let policy = CoreHarness.policies[Int(index) % CoreHarness.policies.count]
            let failurePolicy: FailurePolicy = index.isMultiple(of: 2) ? .failFast : .continueIndependent
            let graph = Self.mostlyWithinJobs(RandomDAG(options: graphOptions).generate(seed: seed), jobs: options.jobs)
            let report = CoreHarness(graph: graph, policy: policy, failurePolicy: failurePolicy, options: options)
                .run(seed: seed)
            #expect(report.isClean, "\(report)")
            let fresh = SchedulerCore(
                policy: policy, failurePolicy: failurePolicy,
                execution: onWorkers ? .workers(leaseTimeout: options.workers!.leaseTimeout) : .queueSlots)
            let twin = ForgettingTwin(fresh: fresh, facts: report.facts, forgetProbability: 0.08).run(seed: seed)
            #expect(twin.isClean, "seed \(seed) \(policy) \(failurePolicy)\n\(twin)")
            if !twin.isClean { return }
            forgettings += twin.forgettings
            refusals += twin.refusals
            forgotten += twin.tasksForgotten
        }
        // The runs did forget, and were refused now and then.
        #expect(forgettings > 100, "\(forgettings) forgettings")
        #expect(refusals > 0)
        #expect(forgotten > 1_000, "\(forgotten) tasks forgotten")
    }

    /// The graph with most needs across jobs (the harness deals queue `q` to job `q % jobs`) taken out, so
    /// that many jobs can be forgotten once ended; one in eight stays.
    static func mostlyWithinJobs(_ graph: GraphSpec, jobs: Int) -> GraphSpec {
        var trimmed = graph
        for index in trimmed.tasks.indices {
            let job = trimmed.tasks[index].queue.rawValue % jobs
            trimmed.tasks[index].dependencies = trimmed.tasks[index].dependencies.filter { dependency in
                let source = dependency.task.rawValue
                return graph.tasks[source].queue.rawValue % jobs == job || (source + index).isMultiple(of: 8)
            }
        }
        return trimmed
    }

    @Test func aJobIsForgottenOnlyWhenFinishedAndNeededByNoTaskKept() throws {
        var core = SchedulerCore(policy: .fifo)
        var actions: [SchedulerAction] = []
        let first = core.addJob(policy: .fifo, failurePolicy: .continueIndependent)
        let second = core.addJob(policy: .outputFirst, failurePolicy: .continueIndependent)
        let firstQueue = try core.addQueue(width: 2, job: first)
        let secondQueue = try core.addQueue(width: 2, job: second)
        let a = try core.submit(TaskSpec(queue: firstQueue), now: .zero, into: &actions)
        let b = try core.submit(TaskSpec(queue: secondQueue, dependencies: [Dependency(a)]), now: .zero, into: &actions)
        core.start(now: .zero, into: &actions)

        #expect(core.forgetProblem([first])?.code == .jobUnfinished)
        #expect(core.forgetProblem([.initial])?.code == .unknownJob)
        #expect(core.forgetProblem([JobID(9)])?.code == .unknownJob)
        core.succeeded(a, attempt: 1, now: .seconds(1), into: &actions)
        // `b` of the second job needs `a`: the first job alone cannot go, both together can once `b` ends.
        let blocked = try #require(core.forgetProblem([first]))
        #expect(blocked.code == .jobInUse)
        #expect(blocked.message.contains("\(b)") && blocked.message.contains("\(a)"), "\(blocked.message)")
        #expect(core.forgetBlockers([first]) == [ForgetBlocker(task: b, needs: a)])
        #expect(throws: TrellisCoreError.self) { try core.forget([first]) }
        #expect(core.taskCount == 2)
        core.succeeded(b, attempt: 1, now: .seconds(2), into: &actions)

        let numbering = try core.forget([first, second])
        #expect(core.taskCount == 0 && core.queueCount == 0 && core.jobCount == 1)
        #expect(numbering.task(a) == nil && numbering.job(second) == nil && numbering.job(.initial) == .initial)
        #expect(core.counts == OutcomeCounts())
        #expect(core.checkInvariants() == [])

        // What comes next is numbered from the kept tables on.
        let third = core.addJob(policy: .fifo, failurePolicy: .continueIndependent)
        #expect(third == JobID(1))
        let queue = try core.addQueue(width: 1, job: third)
        actions = []
        let c = try core.submit(TaskSpec(queue: queue), now: .seconds(3), into: &actions)
        #expect(c == TaskID(0))
        #expect(actions == [.dispatch(c, queue: queue, attempt: 1)])
        #expect(core.checkInvariants() == [])
    }
}
