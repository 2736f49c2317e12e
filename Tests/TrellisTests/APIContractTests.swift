import Testing
import Trellis

@Suite("API contract")
struct APIContractTests {
    /// The snippet from the library's contract, verbatim, with its results checked.
    @Test func contractSnippetCompilesAndBehaves() async throws {
        let scheduler = Scheduler(policy: .outputFirst)  // a SchedulingPolicy
        let acquire = try scheduler.queue("acquire", width: 1)
        let compute = try scheduler.queue("compute", width: 2)
        let a = acquire.submit { [Double](repeating: 1, count: 4) }  // Future<[Double]>
        let b = compute.submit(a) { m in m.map { $0 * 2 } }  // depends on a
        let c = compute.submit(a, b, priority: 5) { x, y in zip(x, y).map(+) }  // depends on a and b
        scheduler.start()
        let first = try await c.value  // awaitable long before the whole graph finishes
        scheduler.pause()
        let late = compute.submit(c) { $0.count }  // submitting while running or paused is fine
        scheduler.resume()
        let parts = compute.submitProducer(count: 3) { emit in
            for i in 0..<3 { try await emit(i * i) }  // yields results one by one
        }
        let second = compute.submit(parts[1]) { $0 + 1 }  // starts as soon as item 1 exists
        let n = compute.submit(all: [a, b]) { arrays in arrays.count }  // inputs counted at run time
        try await scheduler.wait()  // all submitted work done; throws per the failure policy
        let stats = scheduler.stats  // PerformanceStats

        #expect(first == [3, 3, 3, 3])
        #expect(try await late.value == 4)
        #expect(try await second.value == 2)
        #expect(try await n.value == 2)
        #expect(try await parts[2].value == 4)
        #expect(stats.counts.succeeded == 7)
        #expect(stats.counts.failed == 0)
        #expect(stats.submitted == 7)
    }
}
