import Testing
import TrellisCore
import TrellisTestKit

/// Seeded random graphs through a core that places tasks on workers: workers join, drain, leave and lose
/// their leases mid-task, impostors report on attempts they do not hold, the driver restarts (a fresh core
/// replays the facts, or reads a snapshot and the facts after it, and workers connect again), and the core's
/// invariants are checked after every step.
@Suite("Random graphs on workers")
struct WorkerGraphTests {
    static let policies = RandomGraphTests.policies
    static let seedsPerPolicy: UInt64 = 220

    @Test(arguments: policies)
    func randomGraphsOnWorkersKeepEveryInvariant(policy: SchedulingPolicy) {
        var options = CoreHarness.Options()
        options.workers = CoreHarness.WorkerOptions()
        var lost = 0
        var joined = 0
        var restarts = 0
        var snapshotRestarts = 0
        var dispatches = 0
        for index in 0..<Self.seedsPerPolicy {
            let seed = UInt64(RandomGraphTests.policies.firstIndex(of: policy)!) << 40 | 0x7700_0000 | index
            let failurePolicy: FailurePolicy = index.isMultiple(of: 3) ? .failFast : .continueIndependent
            let graph = RandomDAG().generate(seed: seed)
            let report = CoreHarness(graph: graph, policy: policy, failurePolicy: failurePolicy, options: options)
                .run(seed: seed)
            #expect(report.isClean, "\(policy) \(failurePolicy)\n\(report)\n\(graph)")
            if !report.isClean { return }
            lost += report.attemptsLost
            joined += report.workersJoined
            restarts += report.restarts
            snapshotRestarts += report.snapshotRestarts
            dispatches += report.dispatches.count
        }
        // The runs did exercise what they claim to.
        #expect(lost > 0)
        #expect(joined > Int(Self.seedsPerPolicy) * 3)
        #expect(restarts > 10)
        #expect(
            snapshotRestarts > 3, "restarts read a snapshot and the facts after it (\(snapshotRestarts) of \(restarts))"
        )
        #expect(dispatches > 0)
    }

    /// Restarts often, most of them from a snapshot saved earlier in the run and
    /// the facts after it; every later step runs on the core read back, and the final state must still be
    /// the one a replay of every fact gives.
    @Test(arguments: policies)
    func restartsFromSnapshotsKeepEveryInvariant(policy: SchedulingPolicy) {
        var options = CoreHarness.Options()
        var workers = CoreHarness.WorkerOptions()
        workers.restartProbability = 0.3
        options.workers = workers
        var snapshotRestarts = 0
        for index in UInt64(0)..<60 {
            let seed = UInt64(Self.policies.firstIndex(of: policy)!) << 40 | 0x5A00_0000 | index
            let failurePolicy: FailurePolicy = index.isMultiple(of: 3) ? .failFast : .continueIndependent
            let graph = RandomDAG().generate(seed: seed)
            let report = CoreHarness(graph: graph, policy: policy, failurePolicy: failurePolicy, options: options)
                .run(seed: seed)
            #expect(report.isClean, "\(policy) \(failurePolicy)\n\(report)\n\(graph)")
            if !report.isClean { return }
            snapshotRestarts += report.snapshotRestarts
        }
        #expect(snapshotRestarts > 50, "\(snapshotRestarts) restarts from a snapshot")
    }

    /// Workers come and go often, and a task fails once its attempts have lost their worker twice.
    @Test func tasksFailAtTheCrashLimit() {
        var options = CoreHarness.Options()
        var workers = CoreHarness.WorkerOptions()
        workers.crashLimit = 2
        workers.leaveProbability = 0.08
        workers.joinProbability = 0.1
        options.workers = workers
        var graphOptions = RandomDAG.Options()
        graphOptions.taskCount = 10...30
        var crashed = 0
        for index in UInt64(0)..<150 {
            let policy = Self.policies[Int(index) % Self.policies.count]
            let seed = 0xC2A5_0000 | index
            let graph = RandomDAG(options: graphOptions).generate(seed: seed)
            let report = CoreHarness(graph: graph, policy: policy, options: options).run(seed: seed)
            #expect(report.isClean, "\(policy)\n\(report)\n\(graph)")
            if !report.isClean { return }
            crashed += report.outcomes.count {
                if case .failed(.crashed) = $0 { return true }
                return false
            }
        }
        #expect(crashed > 20, "\(crashed) tasks crashed")
    }

    @Test(arguments: policies)
    func happyWorkersRunEveryTaskOnce(policy: SchedulingPolicy) {
        var options = CoreHarness.Options.happyPath
        var workers = CoreHarness.WorkerOptions()
        workers.drainProbability = 0
        workers.leaveProbability = 0
        workers.leaseProbability = 0
        workers.impostorProbability = 0
        workers.restartProbability = 0
        options.workers = workers
        for seed in UInt64(0)..<40 {
            let graph = RandomDAG().generate(seed: seed)
            let report = CoreHarness(graph: graph, policy: policy, options: options).run(seed: seed)
            #expect(report.isClean, "\(report)")
            #expect(report.counts.succeeded == graph.tasks.count)
            #expect(report.dispatches.count == graph.tasks.count)
            #expect(report.staleReports == 0)
        }
    }

    /// Several jobs with their own policies and finales share the workers; tasks are held and released, some
    /// are added held; jobs are cancelled now and then,
    /// a fail-fast in one job cancels nothing in another, and each finale runs the group its main tasks call for.
    @Test(arguments: [false, true])
    func jobsShareTheCoreWithTheirOwnPolicies(onWorkers: Bool) {
        var options = CoreHarness.Options()
        options.jobs = 3
        options.cancelJobProbability = 0.004
        options.finaleFraction = 0.25
        options.holdProbability = 0.02
        options.heldFraction = 0.05
        if onWorkers { options.workers = CoreHarness.WorkerOptions() }
        var graphOptions = RandomDAG.Options()
        graphOptions.queueCount = 3...6
        var jobCancels = 0
        for index in UInt64(0)..<150 {
            let seed = 0x10B5_0000 | index | (onWorkers ? 1 << 20 : 0)
            let policy = Self.policies[Int(index) % Self.policies.count]
            let failurePolicy: FailurePolicy = index.isMultiple(of: 2) ? .failFast : .continueIndependent
            let graph = RandomDAG(options: graphOptions).generate(seed: seed)
            let report = CoreHarness(graph: graph, policy: policy, failurePolicy: failurePolicy, options: options)
                .run(seed: seed)
            #expect(report.isClean, "\(policy) \(failurePolicy)\n\(report)\n\(graph)")
            if !report.isClean { return }
            jobCancels += report.cancels
        }
        #expect(jobCancels > 0)
    }

    /// Larger graphs on narrow queues whose widths change while workers come and go: a queue narrowed
    /// below what it had admitted starts nothing until its running attempts are under the new width.
    @Test(arguments: policies)
    func largerGraphsOnNarrowQueuesAndWorkers(policy: SchedulingPolicy) {
        var graphOptions = RandomDAG.Options()
        graphOptions.taskCount = 20...60
        graphOptions.queueWidth = 1...2
        var options = CoreHarness.Options()
        options.workers = CoreHarness.WorkerOptions()
        options.widthChangeProbability = 0.05
        options.jobs = 2
        options.finaleFraction = 0.15
        options.holdProbability = 0.01
        for seed in UInt64(900)..<950 {
            let graph = RandomDAG(options: graphOptions).generate(seed: seed)
            let report = CoreHarness(graph: graph, policy: policy, options: options).run(seed: seed)
            #expect(report.isClean, "\(policy)\n\(report)\n\(graph)")
            if !report.isClean { return }
        }
    }
}
