import Testing
import TrellisCore
import TrellisTestKit

@Suite("Random graphs through the harness")
struct RandomGraphTests {
    static let policies: [SchedulingPolicy] = [.outputFirst, .fifo, .wave, .threshold(3), .criticalPath]
    static let failurePolicies: [FailurePolicy] = [.continueIndependent, .failFast]
    static let seedsPerCombination: UInt64 = 120

    /// A distinct seed per policy pair and index, so no two combinations replay the same run.
    static func seed(_ index: UInt64, _ policy: SchedulingPolicy, _ failurePolicy: FailurePolicy) -> UInt64 {
        let p = UInt64(policies.firstIndex(of: policy)!)
        let f = UInt64(failurePolicies.firstIndex(of: failurePolicy)!)
        return (p * 2 + f) << 32 | index
    }

    @Test(arguments: policies, failurePolicies)
    func randomGraphsKeepEveryInvariant(policy: SchedulingPolicy, failurePolicy: FailurePolicy) {
        let generator = RandomDAG()
        var dispatches = 0
        for index in 0..<Self.seedsPerCombination {
            let seed = Self.seed(index, policy, failurePolicy)
            let graph = generator.generate(seed: seed)
            let report = CoreHarness(graph: graph, policy: policy, failurePolicy: failurePolicy).run(seed: seed)
            #expect(report.isClean, "\(policy) \(failurePolicy)\n\(report)\n\(graph)")
            if !report.isClean { return }
            dispatches += report.dispatches.count
        }
        #expect(dispatches > 0)
    }

    @Test(arguments: policies)
    func largerGraphsWithNarrowQueuesKeepEveryInvariant(policy: SchedulingPolicy) {
        var graphOptions = RandomDAG.Options()
        graphOptions.taskCount = 20...60
        graphOptions.queueWidth = 1...2
        graphOptions.producerProbability = 0.4
        var options = CoreHarness.Options()
        options.cancelProbability = 0.005
        options.lateSubmissionFraction = 0.6
        for seed in UInt64(500)..<540 {
            let graph = RandomDAG(options: graphOptions).generate(seed: seed)
            for failurePolicy in Self.failurePolicies {
                let report = CoreHarness(graph: graph, policy: policy, failurePolicy: failurePolicy, options: options)
                    .run(seed: seed)
                #expect(report.isClean, "\(policy) \(failurePolicy)\n\(report)\n\(graph)")
                if !report.isClean { return }
            }
        }
    }

    @Test(arguments: policies)
    func happyPathRunsEveryTask(policy: SchedulingPolicy) {
        var options = RandomDAG.Options()
        options.taskCount = 5...30
        let generator = RandomDAG(options: options)
        for seed in UInt64(0)..<40 {
            let graph = generator.generate(seed: seed)
            let report = CoreHarness(graph: graph, policy: policy, options: .happyPath).run(seed: seed)
            #expect(report.isClean, "\(report)")
            #expect(report.counts.succeeded == graph.tasks.count)
            #expect(report.dispatches.count == graph.tasks.count)
            #expect(report.staleReports == 0)
            for (queue, width) in graph.queueWidths.enumerated() { #expect(report.maxRunning[queue] <= width) }
        }
    }

    @Test(arguments: policies)
    func continueIndependentCancelsNothingUnasked(policy: SchedulingPolicy) {
        var options = CoreHarness.Options()
        options.cancelProbability = 0
        options.cancelAllProbability = 0
        for seed in UInt64(1_000)..<1_060 {
            let graph = RandomDAG().generate(seed: seed)
            let report = CoreHarness(graph: graph, policy: policy, options: options).run(seed: seed)
            #expect(report.isClean, "\(report)")
            #expect(report.counts.cancelled == 0)
            // Every task that neither failed nor depends on a failure succeeded.
            let failed = report.outcomes.filter { if case .failed = $0 { true } else { false } }.count
            #expect(report.counts.failed == failed)
            #expect(report.counts.succeeded + report.counts.failed + report.counts.upstreamFailed == graph.tasks.count)
        }
    }

    static let shapes: [(String, GraphSpec)] = [
        ("chain", .chain(length: 20)),
        ("fan-out/fan-in", .fanOutFanIn(width: 16, queueWidth: 3)),
        ("independent", .independent(count: 30, width: 4)),
        ("binary tree", .binaryTree(depth: 5, width: 3)),
        ("random layered", .randomLayered(layers: 5, width: 6, queueWidth: 3, seed: 7)),
    ]

    @Test(arguments: shapes.indices)
    func shapesRunCleanUnderEveryPolicy(shape: Int) {
        let (name, graph) = Self.shapes[shape]
        for policy in Self.policies {
            for seed in UInt64(0)..<10 {
                let happy = CoreHarness(graph: graph, policy: policy, options: .happyPath).run(seed: seed)
                #expect(happy.isClean, "\(name) \(policy): \(happy)")
                #expect(happy.counts.succeeded == graph.tasks.count)
                let rough = CoreHarness(graph: graph, policy: policy, failurePolicy: .failFast).run(seed: seed)
                #expect(rough.isClean, "\(name) \(policy): \(rough)")
            }
        }
    }

    @Test func shapesHaveTheirSize() {
        #expect(GraphSpec.chain(length: 20).tasks.count == 20)
        #expect(GraphSpec.chain(length: 20).sinks == [TaskID(19)])
        #expect(GraphSpec.fanOutFanIn(width: 16).tasks.count == 18)
        #expect(GraphSpec.fanOutFanIn(width: 16).sinks == [TaskID(17)])
        #expect(GraphSpec.independent(count: 30).sinks.count == 30)
        #expect(GraphSpec.binaryTree(depth: 5).tasks.count == 31)
        #expect(GraphSpec.binaryTree(depth: 5).sinks.count == 16)
        let layered = GraphSpec.randomLayered(layers: 5, width: 6, seed: 7)
        #expect(layered.tasks.count == 30)
        #expect(layered.tasks.prefix(6).allSatisfy { $0.dependencies.isEmpty })
        #expect(layered.tasks.dropFirst(6).allSatisfy { !$0.dependencies.isEmpty })
    }

    @Test func generatorIsDeterministicAndMakesDAGs() {
        let generator = RandomDAG()
        for seed in UInt64(0)..<200 {
            let graph = generator.generate(seed: seed)
            #expect(graph == generator.generate(seed: seed))
            for (index, spec) in graph.tasks.enumerated() {
                #expect(spec.queue.rawValue < graph.queueWidths.count)
                for dependency in spec.dependencies {
                    #expect(dependency.task.rawValue < index)
                    if let item = dependency.item { #expect(item < graph.tasks[dependency.task.rawValue].partialCount) }
                }
            }
        }
        #expect(generator.generate(seed: 1) != generator.generate(seed: 2))
    }

    @Test func splitMixMatchesTheReferenceSequence() {
        // Reference values of SplitMix64 seeded with 0.
        var rng = SplitMix64(seed: 0)
        let expected: [UInt64] = [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F]
        #expect([rng.next(), rng.next(), rng.next()] == expected)
    }

    @Test func harnessIsDeterministic() {
        let graph = RandomDAG().generate(seed: 42)
        let first = CoreHarness(graph: graph, policy: .outputFirst).run(seed: 42)
        let second = CoreHarness(graph: graph, policy: .outputFirst).run(seed: 42)
        #expect(first.dispatches == second.dispatches)
        #expect(first.completionOrder == second.completionOrder)
        #expect(first.steps == second.steps)
    }

    @Test func harnessExercisesEveryKindOfEvent() {
        // Across many runs, the harness must have hit each feature, or the invariant runs prove little.
        var total = (itemsEmitted: 0, timeoutsFired: 0, retriesFired: 0, cancels: 0, pauses: 0, staleReports: 0)
        var sawRetryAttempt = false
        var sawMissingResults = false
        var sawTimedOut = false
        var sawUpstreamFailed = false
        for seed in UInt64(0)..<300 {
            let graph = RandomDAG().generate(seed: seed)
            let report = CoreHarness(graph: graph, policy: .fifo).run(seed: seed)
            total.itemsEmitted += report.itemsEmitted
            total.timeoutsFired += report.timeoutsFired
            total.retriesFired += report.retriesFired
            total.cancels += report.cancels
            total.pauses += report.pauses
            total.staleReports += report.staleReports
            sawRetryAttempt = sawRetryAttempt || report.dispatches.contains { $0.attempt > 1 }
            for outcome in report.outcomes {
                switch outcome {
                case .failed(.missingPartialResults): sawMissingResults = true
                case .failed(.timedOut): sawTimedOut = true
                case .upstreamFailed: sawUpstreamFailed = true
                default: break
                }
            }
        }
        #expect(total.itemsEmitted > 0)
        #expect(total.timeoutsFired > 0)
        #expect(total.retriesFired > 0)
        #expect(total.cancels > 0)
        #expect(total.pauses > 0)
        #expect(total.staleReports > 0)
        #expect(sawRetryAttempt)
        #expect(sawMissingResults)
        #expect(sawTimedOut)
        #expect(sawUpstreamFailed)
    }
}
