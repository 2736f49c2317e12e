import Foundation
import Testing
import TrellisCLI
import TrellisEngine
import TrellisTestKit

/// Seeded random workflows through the real runner and real processes: queue widths hold, no task starts
/// before what it needs, every task runs exactly once.
@Suite("Random workflows")
struct RandomWorkflowTests {
    struct Generated {
        var yaml: String
        var widths: [String: Int]
        var queueOf: [String: String]
        /// For each task: the tasks it needs whole, and the (task, output) pairs it needs.
        var needs: [String: (tasks: [String], outputs: [(String, String)])]
    }

    static func generate(seed: UInt64) -> Generated {
        var random = SplitMix64(seed: seed)
        let queueCount = Int.random(in: 1...3, using: &random)
        var widths: [String: Int] = ["default": Int.random(in: 1...3, using: &random)]
        for q in 1..<queueCount { widths["q\(q)"] = Int.random(in: 1...3, using: &random) }
        let queues = widths.keys.sorted()
        let policies = ["output-first", "fifo", "wave", "threshold:2", "critical-path"]
        var yaml = "policy: \(policies[Int(seed % UInt64(policies.count))])\nqueues:\n"
        for queue in queues { yaml += "  \(queue): \(widths[queue]!)\n" }
        yaml += "tasks:\n"
        var queueOf: [String: String] = [:]
        var needs: [String: (tasks: [String], outputs: [(String, String)])] = [:]
        var outputsOf: [String: [String]] = [:]
        let count = Int.random(in: 5...16, using: &random)
        for i in 0..<count {
            let id = "t\(i)"
            let queue = queues[Int.random(in: 0..<queues.count, using: &random)]
            queueOf[id] = queue
            var outputs: [String] = []
            if random.chance(0.3) { outputs = (0..<Int.random(in: 1...3, using: &random)).map { "o\($0)" } }
            outputsOf[id] = outputs
            var wholes: [String] = []
            var items: [(String, String)] = []
            if i > 0 {
                for _ in 0..<Int.random(in: 0...3, using: &random) {
                    let source = "t\(Int.random(in: 0..<i, using: &random))"
                    if let outputs = outputsOf[source], !outputs.isEmpty, random.chance(0.6) {
                        let output = outputs[Int.random(in: 0..<outputs.count, using: &random)]
                        if !items.contains(where: { $0 == (source, output) }) { items.append((source, output)) }
                    } else if !wholes.contains(source) {
                        wholes.append(source)
                    }
                }
            }
            needs[id] = (wholes, items)
            let markers = outputs.shuffled(using: &random).map { "echo '::trellis output \($0)'; " }.joined()
            yaml += "  - id: \(id)\n    queue: \(queue)\n"
            if !outputs.isEmpty { yaml += "    outputs: [\(outputs.joined(separator: ", "))]\n" }
            let entries = wholes + items.map { "\($0.0).\($0.1)" }
            if !entries.isEmpty { yaml += "    needs: [\(entries.joined(separator: ", "))]\n" }
            yaml += "    run: \"echo \(id) >> trace; \(markers)true\"\n"
        }
        return Generated(yaml: yaml, widths: widths, queueOf: queueOf, needs: needs)
    }

    @Test(arguments: 0..<24)
    func invariantsHold(seed: Int) async throws {
        let generated = Self.generate(seed: UInt64(seed))
        let scratch = try Scratch()
        let log = EventLog()
        let summary = try await runWorkflow(generated.yaml, in: scratch, log: log)
        #expect(summary.exitStatus == 0, "\(generated.yaml)")

        var running: [String: Int] = [:]
        var finished: Set<String> = []
        var signalled: Set<String> = []
        var startedOnce: Set<String> = []
        for event in log.all {
            switch event {
            case .started(let task, _, let queue, _):
                #expect(startedOnce.insert(task).inserted, "\(task) started twice")
                running[queue, default: 0] += 1
                #expect(running[queue]! <= generated.widths[queue]!, "queue \(queue) over its width")
                let needs = generated.needs[task]!
                for source in needs.tasks {
                    #expect(finished.contains(source), "\(task) started before \(source) ended")
                }
                for (source, output) in needs.outputs {
                    #expect(signalled.contains("\(source).\(output)"), "\(task) started before \(source).\(output)")
                }
            case .output(let task, let name):
                signalled.insert("\(task).\(name)")
            case .finished(let task, _, let state, _, _, _):
                running[generated.queueOf[task]!, default: 0] -= 1
                #expect(state == .succeeded)
                finished.insert(task)
            case .began, .settled, .stopping, .ended:
                break
            }
        }
        #expect(finished.count == generated.needs.count)
        #expect(scratch.lines("trace").sorted() == generated.needs.keys.sorted(), "each task ran exactly once")
    }
}
