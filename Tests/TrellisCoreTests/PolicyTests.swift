import Testing
import TrellisCore
import TrellisTestKit

@Suite("Scheduling policies")
struct PolicyTests {
    static let allPolicies: [SchedulingPolicy] = [.outputFirst, .fifo, .wave, .threshold(2), .criticalPath]

    /// The "smq" shape: four acquisitions A0..A3, one transform B_i = f(A_i) each, and every pair
    /// C[i*4+k] = g(B_i, B_k). Ids: A_i = i, B_i = 4 + i, C_j = 8 + j.
    ///
    ///   A0   A1   A2   A3        (acquire queue)
    ///   │    │    │    │
    ///   B0   B1   B2   B3        (compute queue)
    ///    ╲  ╱ ╲  ╱ ╲  ╱  ...
    ///   C0 … C15: C[i*4+k] needs B_i and B_k
    static func smq(sharedQueue: Bool) -> GraphSpec {
        var graph = GraphSpec(queueWidths: sharedQueue ? [1] : [1, 1])
        let acquire = QueueID(0)
        let compute = QueueID(sharedQueue ? 0 : 1)
        let a = (0..<4).map { _ in graph.add(TaskSpec(queue: acquire)) }
        let b = a.map { graph.add(TaskSpec(queue: compute, dependencies: [Dependency($0)])) }
        for i in 0..<4 {
            for k in 0..<4 {
                graph.add(TaskSpec(queue: compute, dependencies: [Dependency(b[i]), Dependency(b[k])]))
            }
        }
        return graph
    }

    static func ids(_ raw: [Int]) -> [TaskID] { raw.map(TaskID.init) }

    @Test func outputFirstOnOneQueueFinishesTheNewestOutputFirst() {
        var fixture = CoreFixture(Self.smq(sharedQueue: true), policy: .outputFirst)
        let run = fixture.runToEnd()
        // A3, B3, C15 (= g(B3, B3)); then A2, B2, C14 (= g(B3, B2)); …; then the remaining C by recency.
        #expect(run.dispatched == Self.ids([3, 7, 23, 2, 6, 22, 1, 5, 21, 0, 4, 20] + Array((8...19).reversed())))
        #expect(run.completed.firstIndex(of: TaskID(23)) == 2)
    }

    @Test func fifoOnOneQueueFinishesEveryInputFirst() {
        var fixture = CoreFixture(Self.smq(sharedQueue: true), policy: .fifo)
        let run = fixture.runToEnd()
        #expect(run.dispatched == Self.ids(Array(0..<24)))
        // The first output arrives only after all eight A and B tasks.
        #expect(run.completed.firstIndex { $0.rawValue >= 8 } == 8)
    }

    @Test func outputFirstWithAnAcquireQueue() {
        var fixture = CoreFixture(Self.smq(sharedQueue: false), policy: .outputFirst)
        let run = fixture.runToEnd()
        #expect(
            run.dispatched == Self.ids([3, 7, 2, 23, 1, 6, 0, 22, 5, 21, 4, 20] + Array((8...19).reversed()))
        )
        // The first C completes after only the one B it needs.
        let firstC = run.completed.firstIndex { $0.rawValue >= 8 }!
        #expect(run.completed[firstC] == TaskID(23))
        #expect(run.completed[..<firstC].filter { (4...7).contains($0.rawValue) } == [TaskID(7)])
    }

    @Test func fifoWithAnAcquireQueue() {
        var fixture = CoreFixture(Self.smq(sharedQueue: false), policy: .fifo)
        let run = fixture.runToEnd()
        // Acquisitions in submission order; the compute queue takes the lowest ready id.
        #expect(run.dispatched.filter { $0.rawValue < 4 } == Self.ids([0, 1, 2, 3]))
        #expect(run.dispatched.filter { (4...7).contains($0.rawValue) } == Self.ids([4, 5, 6, 7]))
        #expect(run.completed.first { $0.rawValue >= 8 } == TaskID(8))
        #expect(fixture.core.counts.succeeded == 24)
    }

    @Test func waveHoldsNewlyReadyTasksUntilTheWaveEnds() {
        //   a   b   c        wave 1
        //   │   │
        //   d   e            wave 2
        var fixture = CoreFixture(policy: .wave)
        let q = fixture.queue(width: 3)
        let a = fixture.submit(TaskSpec(queue: q))
        let b = fixture.submit(TaskSpec(queue: q))
        let c = fixture.submit(TaskSpec(queue: q))
        let d = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(a)]))
        let e = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(b)]))
        #expect(fixture.start().dispatched == [a, b, c])
        #expect(fixture.succeed(a).dispatched.isEmpty)
        #expect(fixture.core.state(of: d) == .ready)
        #expect(fixture.core.checkInvariants().isEmpty)
        #expect(fixture.succeed(b).dispatched.isEmpty)
        #expect(fixture.succeed(c).dispatched == [d, e])
        #expect(fixture.core.checkInvariants().isEmpty)
    }

    @Test func fifoDoesNotWaitForTheWave() {
        // Same graph as the wave test: d starts as soon as a is done.
        var fixture = CoreFixture(policy: .fifo)
        let q = fixture.queue(width: 3)
        let a = fixture.submit(TaskSpec(queue: q))
        fixture.submit(TaskSpec(queue: q))
        fixture.submit(TaskSpec(queue: q))
        let d = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(a)]))
        fixture.start()
        #expect(fixture.succeed(a).dispatched == [d])
    }

    @Test func thresholdCutsWavesIntoChunks() {
        // t0 … t4 independent, queue width 3, chunks of 2.
        var fixture = CoreFixture(.independent(count: 5, width: 3), policy: .threshold(2))
        #expect(fixture.start().dispatched == Self.ids([0, 1]))
        #expect(fixture.succeed(TaskID(0)).dispatched.isEmpty)
        #expect(fixture.succeed(TaskID(1)).dispatched == Self.ids([2, 3]))
        #expect(fixture.succeed(TaskID(3)).dispatched.isEmpty)
        #expect(fixture.succeed(TaskID(2)).dispatched == Self.ids([4]))
        #expect(fixture.core.checkInvariants().isEmpty)
    }

    @Test func thresholdFinishesTheOlderWaveFirst() {
        //   a   b   c       wave 1, chunks {a, b} then {c}
        //   │
        //   d               wave 2: ready after a, but runs after c
        var fixture = CoreFixture(policy: .threshold(2))
        let q = fixture.queue(width: 4)
        let a = fixture.submit(TaskSpec(queue: q))
        let b = fixture.submit(TaskSpec(queue: q))
        let c = fixture.submit(TaskSpec(queue: q))
        let d = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(a)]))
        #expect(fixture.start().dispatched == [a, b])
        #expect(fixture.succeed(a).dispatched.isEmpty)
        #expect(fixture.succeed(b).dispatched == [c])
        #expect(fixture.succeed(c).dispatched == [d])
    }

    @Test func thresholdKeepsAWaveTogetherAcrossChunks() {
        //   a   b   c   d       wave 1, chunks {a, b} then {c, d}
        //   │       │
        //   e       f           wave 2: e is ready during chunk 1, f during chunk 2; they share one chunk
        var fixture = CoreFixture(policy: .threshold(2))
        let q = fixture.queue(width: 4)
        let a = fixture.submit(TaskSpec(queue: q))
        let b = fixture.submit(TaskSpec(queue: q))
        let c = fixture.submit(TaskSpec(queue: q))
        let d = fixture.submit(TaskSpec(queue: q))
        let e = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(a)]))
        let f = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(c)]))
        #expect(fixture.start().dispatched == [a, b])
        #expect(fixture.succeed(a).dispatched.isEmpty)
        #expect(fixture.succeed(b).dispatched == [c, d])
        #expect(fixture.succeed(c).dispatched.isEmpty)
        #expect(Set(fixture.succeed(d).dispatched) == [e, f])
        #expect(fixture.core.checkInvariants().isEmpty)
    }

    @Test func thresholdOfZeroActsAsOne() {
        var fixture = CoreFixture(.independent(count: 3, width: 3), policy: .threshold(0))
        #expect(fixture.start().dispatched == Self.ids([0]))
        #expect(fixture.succeed(TaskID(0)).dispatched == Self.ids([1]))
    }

    @Test func criticalPathRunsTheLongestRemainingPathFirst() {
        //   a(1) ──► b(5)                    rank a = 6, b = 5
        //   c(4)                             rank 4
        //   d(1) ──► e(1) ──► f(3.5)         rank d = 5.5, e = 4.5, f = 3.5
        var fixture = CoreFixture(policy: .criticalPath)
        let q = fixture.queue(width: 1)
        let a = fixture.submit(TaskSpec(queue: q, estimate: 1))
        let b = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(a)], estimate: 5))
        let c = fixture.submit(TaskSpec(queue: q, estimate: 4))
        let d = fixture.submit(TaskSpec(queue: q, estimate: 1))
        let e = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(d)], estimate: 1))
        let f = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(e)], estimate: 3.5))
        #expect(fixture.runToEnd().dispatched == [a, d, b, e, c, f])
    }

    @Test func criticalPathCountsMissingEstimatesAsOne() {
        //   x(–) ──► y(–)      rank 2
        //   z(1.5)             rank 1.5
        //   w(2.5)             rank 2.5
        var fixture = CoreFixture(policy: .criticalPath)
        let q = fixture.queue(width: 1)
        let x = fixture.submit(TaskSpec(queue: q))
        let y = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(x)]))
        let z = fixture.submit(TaskSpec(queue: q, estimate: 1.5))
        let w = fixture.submit(TaskSpec(queue: q, estimate: 2.5))
        #expect(fixture.runToEnd().dispatched == [w, x, z, y])
    }

    @Test func fifoIgnoresEstimates() {
        var fixture = CoreFixture(policy: .fifo)
        let q = fixture.queue(width: 1)
        let a = fixture.submit(TaskSpec(queue: q, estimate: 1))
        let b = fixture.submit(TaskSpec(queue: q, estimate: 9))
        #expect(fixture.runToEnd().dispatched == [a, b])
    }

    @Test(arguments: [SchedulingPolicy.outputFirst, .criticalPath])
    func lateSuccessorRaisesTheRankOfAQueuedTask(policy: SchedulingPolicy) {
        // blocker runs; x and y wait for the slot. A new sink s on x (long estimate) must pull x ahead of y.
        //   blocker      x ──► s(9)      y(2)
        var fixture = CoreFixture(policy: policy)
        let q = fixture.queue(width: 1)
        let blocker = fixture.submit(TaskSpec(queue: q, priority: 1))
        let x = fixture.submit(TaskSpec(queue: q, estimate: 1))
        let y = fixture.submit(TaskSpec(queue: q, estimate: 2))
        #expect(fixture.start().dispatched == [blocker])
        let s = fixture.submit(TaskSpec(queue: q, dependencies: [Dependency(x)], estimate: 9))
        #expect(fixture.core.checkInvariants().isEmpty)
        #expect(fixture.succeed(blocker).dispatched == [x])
        #expect(fixture.succeed(x).dispatched == [s])
        #expect(fixture.succeed(s).dispatched == [y])
        #expect(fixture.core.checkInvariants().isEmpty)
    }

    @Test(arguments: allPolicies)
    func priorityComesFirst(policy: SchedulingPolicy) {
        // Independent tasks a(0), b(5), c(1), d(-3) on one slot: priority order whatever the policy.
        var fixture = CoreFixture(policy: policy)
        let q = fixture.queue(width: 1)
        let a = fixture.submit(TaskSpec(queue: q, estimate: 50))
        let b = fixture.submit(TaskSpec(queue: q, priority: 5))
        let c = fixture.submit(TaskSpec(queue: q, priority: 1))
        let d = fixture.submit(TaskSpec(queue: q, priority: -3, estimate: 100))
        #expect(fixture.runToEnd().dispatched == [b, c, a, d])
    }

    @Test(arguments: allPolicies)
    func priorityNeverOverridesDependencies(policy: SchedulingPolicy) {
        //   low(0) ──► high(9)
        var fixture = CoreFixture(policy: policy)
        let q = fixture.queue(width: 2)
        let low = fixture.submit(TaskSpec(queue: q))
        let high = fixture.submit(TaskSpec(queue: q, priority: 9, dependencies: [Dependency(low)]))
        #expect(fixture.start().dispatched == [low])
        #expect(fixture.succeed(low).dispatched == [high])
    }

    @Test(arguments: allPolicies)
    func queuesFillIndependently(policy: SchedulingPolicy) {
        // Two queues of width 1, two tasks each: each queue runs one at a time, both queues at once.
        var fixture = CoreFixture(policy: policy)
        let q0 = fixture.queue(width: 1)
        let q1 = fixture.queue(width: 1)
        let tasks = [q0, q1, q0, q1].map { fixture.submit(TaskSpec(queue: $0)) }
        let first = fixture.start().dispatched
        #expect(first.count == 2)
        #expect(Set(first.map { fixture.specs[$0.rawValue].queue }) == [q0, q1])
        let onQ1 = first.first { fixture.specs[$0.rawValue].queue == q1 }!
        let otherOnQ1 = onQ1 == tasks[1] ? tasks[3] : tasks[1]
        // Only a chunked barrier holds the second q1 task back: the first chunk must finish first.
        #expect(fixture.succeed(onQ1).dispatched == (policy == .threshold(2) ? [] : [otherOnQ1]))
        #expect(fixture.core.checkInvariants().isEmpty)
    }

    @Test func policyDescriptions() {
        #expect(
            Self.allPolicies.map(\.description) == ["output-first", "fifo", "wave", "threshold:2", "critical-path"])
    }
}
