import Foundation
import Testing
import TrellisCore
import TrellisTestKit
import TrellisWorkflow

/// The simulator runs a plan through the scheduling core on a virtual clock.
@Suite("Simulator")
struct SimulatorTests {
    static func smallFixture(width: Int) throws -> WorkflowPlan {
        let url = try #require(
            Bundle.module.url(forResource: "small-wfformat", withExtension: "json", subdirectory: "Fixtures"))
        var workflow = try WorkflowLoader.load(path: url.path)
        workflow.setWidth(width, of: WorkflowQueue.defaultName)
        return try workflow.plan()
    }

    @Test func oneSlotRunsTasksBackToBack() throws {
        let result = Simulator.run(try Self.smallFixture(width: 1))
        #expect(result.makespan == 97.5)
        #expect(result.totalWork == 97.5)
        #expect(result.taskCount == 6)
        #expect(result.withoutEstimate == 0)
        #expect(result.queues.map(\.name) == ["default"])
        #expect(result.queues.map(\.busy) == [97.5])
        #expect(result.queues.map(\.utilisation) == [1])
    }

    @Test func twoSlotsReachTheCriticalPath() throws {
        let result = Simulator.run(try Self.smallFixture(width: 2))
        #expect(result.makespan == 77.5)
        #expect(result.criticalPathSeconds == 77.5)
        #expect(result.criticalPath == ["ID0000001", "ID0000003", "ID0000004", "ID0000005", "ID0000006"])
        let utilisation: Double = 97.5 / (2 * 77.5)
        #expect(result.queues.map(\.utilisation) == [utilisation])
    }

    @Test func estimatesAndTwoQueuesGiveExactMakespanAndUtilisation() throws {
        // io (1 slot):   fetch-1 [0, 10)  fetch-2 [10, 20)
        // cpu (2 slots): crunch-1 [10, 40)  crunch-2 [20, 50)  report [50, 55)
        let workflow = try WorkflowLoader.parse(
            yaml: """
                name: two-queues
                queues:
                  cpu: 2
                  io: 1
                tasks:
                  - id: fetch-${n}
                    matrix: {n: [1, 2]}
                    queue: io
                    estimate: 10s
                    run: fetch ${n}
                  - id: crunch-${n}
                    matrix: {n: [1, 2]}
                    queue: cpu
                    needs: ["fetch-${n}"]
                    estimate: 30s
                    run: crunch ${n}
                  - id: report
                    queue: cpu
                    needs: ["crunch-${n}"]
                    estimate: 5s
                    run: report
                  - id: note
                    run: echo no estimate
                """, file: "two-queues.yaml")
        let result = Simulator.run(try workflow.plan())
        #expect(result.makespan == 55)
        #expect(result.totalWork == 85)
        #expect(result.taskCount == 6)
        #expect(result.withoutEstimate == 1)
        #expect(result.queues.map(\.name) == ["default", "cpu", "io"])
        #expect(result.queues.map(\.width) == [4, 2, 1])
        #expect(result.queues.map(\.busy) == [0, 65, 20])
        let utilisation: [Double] = [0, 65.0 / 110.0, 20.0 / 55.0]
        #expect(result.queues.map(\.utilisation) == utilisation)
        #expect(result.criticalPathSeconds == 45)
        #expect(result.criticalPath == ["fetch-1", "crunch-1", "report"])
    }

    @Test func namedOutputsReleaseDependantsOnlyWhenTheProducerEnds() throws {
        // The simulator signals outputs when their task ends: the pessimistic reading. A real run could start
        // `preview` as soon as `coarse` is printed.
        let workflow = try WorkflowLoader.parse(
            yaml: """
                tasks:
                  - id: simulate
                    outputs: [coarse, fine]
                    estimate: 100s
                    run: simulate
                  - id: preview
                    needs: [simulate.coarse]
                    estimate: 10s
                    run: preview
                """, file: "outputs.yaml")
        let plan = try workflow.plan()
        #expect(plan.nodes[1].dependencies == [Dependency(TaskID(0), item: 0)])
        let result = Simulator.run(plan)
        #expect(result.makespan == 110)
        #expect(result.criticalPath == ["simulate", "preview"])
        #expect(result.criticalPathSeconds == 110)
    }

    @Test func triggersHoldAtOnceAndOnSuccessTasksRunAfterTheMainGraph() throws {
        let workflow = try WorkflowLoader.parse(
            yaml: """
                triggers:
                  ready:
                    file: ready.flag
                tasks:
                  - id: a
                    needs: ["@ready"]
                    estimate: 4s
                    run: a
                  - id: b
                    estimate: 6s
                    run: b
                on_success:
                  - id: notify
                    estimate: 1s
                    run: notify
                on_failure:
                  - id: alert
                    estimate: 100s
                    run: alert
                """, file: "finale.yaml")
        let result = Simulator.run(try workflow.plan())
        #expect(result.makespan == 7)
        #expect(result.criticalPath == ["b"])
        #expect(result.taskCount == 4)
    }

    // MARK: - Random layered DAGs

    struct LayeredDAG {
        var tasks: [WorkflowTask] = []
        var seconds: [String: Double] = [:]
        var needs: [String: [String]] = [:]
        var width = 1
        var policy = SchedulingPolicy.outputFirst

        /// 2–6 layers of 1–6 tasks; each task needs some tasks of earlier layers, mostly the previous one.
        init(seed: UInt64) {
            var rng = SplitMix64(seed: seed)
            width = Int.random(in: 1...4, using: &rng)
            let policies: [SchedulingPolicy] = [.outputFirst, .fifo, .criticalPath, .wave]
            policy = policies[Int.random(in: 0..<policies.count, using: &rng)]
            var layers: [[String]] = []
            for layer in 0..<Int.random(in: 2...6, using: &rng) {
                var current: [String] = []
                for member in 0..<Int.random(in: 1...6, using: &rng) {
                    let id = "t\(layer)-\(member)"
                    var chosen: [String] = []
                    for (depth, earlier) in layers.reversed().enumerated() {
                        for source in earlier where rng.chance(depth == 0 ? 0.5 : 0.1) { chosen.append(source) }
                    }
                    let duration = Double(Int.random(in: 0...20, using: &rng))
                    seconds[id] = duration
                    needs[id] = chosen
                    tasks.append(
                        WorkflowTask(
                            id: id, action: .wait(seconds: duration), needs: chosen.map { WorkflowNeed(.task($0)) }))
                    current.append(id)
                }
                layers.append(current)
            }
        }

        /// The longest chain by duration, computed directly from the layers (tasks are in dependency order).
        var longestPath: Double {
            var finish: [String: Double] = [:]
            for task in tasks {
                finish[task.id] = (needs[task.id]!.map { finish[$0]! }.max() ?? 0) + seconds[task.id]!
            }
            return finish.values.max() ?? 0
        }

        var workflow: Workflow {
            var workflow = Workflow(name: "random", file: "random.yaml", policy: policy, tasks: tasks)
            workflow.setWidth(width, of: WorkflowQueue.defaultName)
            return workflow
        }
    }

    @Test(arguments: 1...20 as ClosedRange<UInt64>)
    func randomLayeredDAGsRespectTheBounds(seed: UInt64) throws {
        let dag = LayeredDAG(seed: seed)
        let plan = try dag.workflow.plan()
        let result = Simulator.run(plan)
        let totalWork = dag.seconds.values.reduce(0, +)
        let width = Double(dag.width)

        #expect(result.totalWork == totalWork)
        #expect(result.criticalPathSeconds == dag.longestPath)
        // The reported critical path is a chain of dependencies whose durations add up to its length.
        let path = result.criticalPath
        #expect(path.map { dag.seconds[$0]! }.reduce(0, +) == result.criticalPathSeconds)
        for (earlier, later) in zip(path, path.dropFirst()) {
            #expect(dag.needs[later]!.contains(earlier), "\(later) does not need \(earlier)")
        }
        #expect(path.first.map { dag.needs[$0]!.isEmpty } ?? true)

        #expect(result.makespan >= max(result.criticalPathSeconds, totalWork / width) - 1e-9)
        #expect(result.makespan <= totalWork + 1e-9)
        if dag.policy != .wave {
            // Any schedule that never leaves a slot idle while a task is ready meets Graham's bound.
            #expect(result.makespan <= totalWork / width + (1 - 1 / width) * result.criticalPathSeconds + 1e-9)
        }
    }
}
