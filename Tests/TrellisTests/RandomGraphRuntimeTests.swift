import Testing
import Trellis
import TrellisCore

/// Real closures on real workers over seeded random graphs: a queue's width is never exceeded, no task starts
/// before its inputs finished, nothing runs twice, and every value is right.
@Suite("Runtime invariants over random graphs")
struct RandomGraphRuntimeTests {
    static let policies: [SchedulingPolicy] = [.outputFirst, .fifo, .wave, .threshold(3), .criticalPath]

    @Test(arguments: 0..<100)
    func randomGraph(seed: Int) async throws {
        var random = Xorshift(seed: UInt64(seed) &+ 1)
        let policy = Self.policies[seed % Self.policies.count]
        let scheduler = Scheduler(policy: policy)
        let widths = [1, 1 + Int(random.next() % 3), 1 + Int(random.next() % 4)]
        let queues = try widths.enumerated().map { try scheduler.queue("q\($0.offset)", width: $0.element) }
        let log = RunLog()
        let count = 20 + Int(random.next() % 40)
        var futures: [Future<Int>] = []
        var expected: [Int] = []
        var inputsOf: [[Int]] = []
        if seed % 2 == 0 { scheduler.start() }
        for task in 0..<count {
            let inputs = task == 0 ? [] : (0..<Int(random.next() % 4)).map { _ in Int(random.next() % UInt64(task)) }
            let queueIndex = Int(random.next() % 3)
            let queue = queues[queueIndex]
            let name = queue.name
            let future = queue.submit(
                all: inputs.map { futures[$0] }, priority: Int(random.next() % 3), estimate: Double(random.next() % 5)
            ) { values in
                log.start(task, queue: name)
                await Task.yield()
                log.finish(task, queue: name)
                return values.reduce(task, +)
            }
            futures.append(future)
            expected.append(inputs.reduce(task) { $0 + expected[$1] })
            inputsOf.append(inputs)
            if task == count / 2 { scheduler.start() }
        }
        try await scheduler.wait()

        for (index, queue) in queues.enumerated() {
            #expect(log.peak(of: queue.name) <= widths[index], "queue \(queue.name) exceeded width \(widths[index])")
        }
        for task in 0..<count {
            #expect(log.runs(of: task) == 1, "task \(task) ran \(log.runs(of: task)) times")
            #expect(try await futures[task].value == expected[task])
            for input in inputsOf[task] {
                let started = try #require(log.startTime(of: task))
                let inputFinished = try #require(log.finishTime(of: input))
                #expect(inputFinished < started, "task \(task) started before its input \(input) finished")
            }
        }
        let stats = scheduler.stats
        #expect(stats.counts.succeeded == count)
        #expect(stats.peakConcurrency <= widths.reduce(0, +))
    }
}

struct Xorshift {
    var state: UInt64
    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9 : seed }
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}
