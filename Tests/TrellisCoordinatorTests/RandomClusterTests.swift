import Foundation
import Synchronization
import Testing
import TrellisCoordinator
import TrellisProtocol
import TrellisTestKit
import TrellisWorker

/// What the handlers of a random job saw: starts and ends in one order, and each worker's busiest moment.
final class Trace: Sendable {
    struct State {
        var log: [(event: String, task: String)] = []
        var running: [String: Int] = [:]
        var busiest: [String: Int] = [:]
    }
    let state = Mutex(State())

    func start(_ task: String, on worker: String) {
        state.withLock { state in
            state.log.append(("start", task))
            state.running[worker, default: 0] += 1
            state.busiest[worker] = max(state.busiest[worker] ?? 0, state.running[worker]!)
        }
    }

    func end(_ task: String, on worker: String) {
        state.withLock { state in
            state.log.append(("end", task))
            state.running[worker, default: 0] -= 1
        }
    }
}

@Suite("Random jobs on a cluster", .timeLimit(.minutes(1)))
struct RandomClusterTests {
    @Test("slots are never exceeded, no task starts before its needs, every task runs once", arguments: 1...8)
    func invariants(seed: UInt64) async throws {
        var random = SplitMix64(seed: seed)
        let count = 30 + Int(random.next() % 30)
        var specs: [Trellis_V1_TaskSpec] = []
        var needs: [String: [String]] = [:]
        for index in 0..<count {
            let name = "t\(index)"
            let parents = (0..<index).filter { _ in random.chance(0.12) }.map { "t\($0)" }
            needs[name] = parents
            var spec = Trellis_V1_TaskSpec.handler(name, "step", needs: parents)
            spec.priority = Int32(random.next() % 3)
            specs.append(spec)
        }
        let slots = (0..<3).map { _ in 1 + Int(random.next() % 3) }
        let policies = ["fifo", "critical-path", "output-first"]
        var request = Trellis_V1_AddTasksRequest.job(specs)
        request.policy = policies[Int(seed) % policies.count]
        let trace = Trace()
        try await Cluster.with(clock: ContinuousClock()) { cluster in
            for (index, slots) in slots.enumerated() {
                let name = "w\(index)"
                let step: TaskHandler = { call in
                    let task = String(decoding: call.payload, as: UTF8.self)
                    trace.start(task, on: name)
                    for _ in 0..<Int(call.task % 4) { await Task.yield() }
                    trace.end(task, on: name)
                    return []
                }
                try await cluster.startWorker(WorkerOptions(name: name, slots: slots), handlers: ["step": step])
            }
            for index in request.tasks.indices {
                request.tasks[index].handler.payload = Data(request.tasks[index].name.utf8)
            }
            let job = try await cluster.add(request)
            _ = try await cluster.watch(job.jobID)
            let tasks = try await cluster.tasks(job: job.jobID)
            #expect(tasks.count == count)
            #expect(tasks.allSatisfy { $0.state == .succeeded && $0.attempts == 1 })
        }
        let state = trace.state.withLock { $0 }
        for (index, slots) in slots.enumerated() {
            #expect((state.busiest["w\(index)"] ?? 0) <= slots, "worker w\(index) exceeded its \(slots) slots")
        }
        var started: [String: Int] = [:]
        var ended: [String: Int] = [:]
        for (position, entry) in state.log.enumerated() {
            if entry.event == "start" {
                #expect(started.updateValue(position, forKey: entry.task) == nil, "\(entry.task) started twice")
            } else {
                ended[entry.task] = position
            }
        }
        #expect(started.count == count)
        for (task, parents) in needs {
            for parent in parents {
                #expect((ended[parent] ?? .max) < (started[task] ?? -1), "\(task) started before \(parent) ended")
            }
        }
    }
}
