import Testing
import TrellisCore
import TrellisTestKit

/// A core's snapshot stands for the facts it consumed: read back, it writes the same bytes, answers the same,
/// and goes on exactly as the core it was taken from.
@Suite("Core snapshots")
struct SnapshotTests {
    /// The facts of a seeded run on workers (joins, losses, restarts, retries, timeouts, cancels).
    static func facts(
        seed: UInt64, policy: SchedulingPolicy
    ) -> (facts: [TimedFact], execution: SchedulerCore.Execution) {
        var options = CoreHarness.Options()
        options.workers = CoreHarness.WorkerOptions()
        let graph = RandomDAG().generate(seed: seed)
        let report = CoreHarness(graph: graph, policy: policy, options: options).run(seed: seed)
        return (report.facts, .workers(leaseTimeout: options.workers!.leaseTimeout))
    }

    @Test(arguments: RandomGraphTests.policies)
    func aCoreReadBackFromItsSnapshotGoesOnAsTheOriginal(policy: SchedulingPolicy) throws {
        var compared = 0
        for seed in UInt64(0)..<40 {
            let (facts, execution) = Self.facts(seed: 0x5_0000 | seed, policy: policy)
            for cut in Set([0, facts.count / 4, facts.count / 2, facts.count * 3 / 4, facts.count]) {
                var original = SchedulerCore(policy: policy, execution: execution)
                var actions: [SchedulerAction] = []
                try original.replay(facts[..<cut], into: &actions)
                let bytes = original.snapshot()
                var restored = try SchedulerCore(snapshot: bytes)
                #expect(restored.snapshot() == bytes, "seed \(seed), cut \(cut)")
                for index in 0..<original.taskCount {
                    let task = TaskID(index)
                    #expect(restored.state(of: task) == original.state(of: task))
                    #expect(restored.holder(of: task) == original.holder(of: task))
                }
                // The same facts after the cut: the same actions, and the same state at the end.
                var originalActions: [SchedulerAction] = []
                var restoredActions: [SchedulerAction] = []
                try original.replay(facts[cut...], into: &originalActions)
                try restored.replay(facts[cut...], into: &restoredActions)
                #expect(restoredActions == originalActions, "seed \(seed), cut \(cut)")
                #expect(restored.snapshot() == original.snapshot(), "seed \(seed), cut \(cut)")
                compared += 1
            }
        }
        #expect(compared >= 150)
    }

    @Test func aDamagedSnapshotIsRefusedNeverTrusted() throws {
        let (facts, execution) = Self.facts(seed: 0x5_1234, policy: .outputFirst)
        var core = SchedulerCore(policy: .outputFirst, execution: execution)
        var actions: [SchedulerAction] = []
        try core.replay(facts[..<(facts.count / 2)], into: &actions)
        let bytes = core.snapshot()
        // Every truncation is refused.
        for length in 0..<bytes.count {
            #expect(throws: JournalError.self) { try SchedulerCore(snapshot: Array(bytes[..<length])) }
        }
        // A changed byte is refused, or reads as a core that keeps every invariant; it never traps.
        var rng = SplitMix64(seed: 7)
        var refused = 0
        for _ in 0..<3_000 {
            var damaged = bytes
            let position = Int.random(in: damaged.indices, using: &rng)
            damaged[position] ^= UInt8.random(in: 1...255, using: &rng)
            do {
                let read = try SchedulerCore(snapshot: damaged)
                #expect(read.checkInvariants().isEmpty)
            } catch {
                refused += 1
            }
        }
        #expect(refused > 1_000)
        // Another format is named as such.
        var future = bytes
        future[0] = 9
        #expect {
            try SchedulerCore(snapshot: future)
        } throws: { error in
            (error as? JournalError)?.code == .unsupportedVersion
        }
    }
}
