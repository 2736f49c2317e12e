import Testing
import TrellisCore
import TrellisTestKit

/// Seeded random graphs through a core that places tasks on workers: workers join, drain, leave and lose
/// their leases mid-task, impostors report on attempts they do not hold, and the core's invariants are
/// checked after every step.
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
            dispatches += report.dispatches.count
        }
        // The runs did exercise what they claim to.
        #expect(lost > 0)
        #expect(joined > Int(Self.seedsPerPolicy) * 3)
        #expect(dispatches > 0)
    }

    @Test(arguments: policies)
    func happyWorkersRunEveryTaskOnce(policy: SchedulingPolicy) {
        var options = CoreHarness.Options.happyPath
        var workers = CoreHarness.WorkerOptions()
        workers.drainProbability = 0
        workers.leaveProbability = 0
        workers.leaseProbability = 0
        workers.impostorProbability = 0
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
}
