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
        // A changed byte is refused: the snapshot is sealed with a hash of its bytes.
        var rng = SplitMix64(seed: 7)
        for _ in 0..<1_000 {
            var damaged = bytes
            let position = Int.random(in: damaged.indices, using: &rng)
            damaged[position] ^= UInt8.random(in: 1...255, using: &rng)
            #expect(throws: JournalError.self) { try SchedulerCore(snapshot: damaged) }
        }
        // Bytes that pass the hash are still checked: ids out of range are refused, never followed.
        var unsealed = JournalReader(Array(bytes.dropLast(8)))
        _ = try SchedulerCore(snapshotFrom: &unsealed)
        var trusted = 0
        for _ in 0..<3_000 {
            var damaged = Array(bytes.dropLast(8))
            let position = Int.random(in: damaged.indices, using: &rng)
            damaged[position] ^= UInt8.random(in: 1...255, using: &rng)
            var writer = JournalWriter()
            for byte in damaged { writer.byte(byte) }
            if (try? SchedulerCore(snapshot: writer.sealed())) != nil { trusted += 1 }
        }
        #expect(trusted < 3_000)
        // Another format is named as such.
        var future = Array(bytes.dropLast(8))
        future[0] = 9
        var writer = JournalWriter()
        for byte in future { writer.byte(byte) }
        #expect {
            try SchedulerCore(snapshot: writer.sealed())
        } throws: { error in
            (error as? JournalError)?.code == .unsupportedVersion
        }
    }
}
