import Testing
import TrellisCore
import TrellisWorkflow

/// `Workflow.plan()`: the order, dependencies, queues and roles the scheduling core receives.
@Suite("Workflow plans")
struct PlanTests {
    static func plan(_ yaml: String) throws -> WorkflowPlan {
        try WorkflowLoader.parse(yaml: yaml, file: "plan.yaml").plan()
    }

    /// The ids of the nodes each node depends on, with the output name for item dependencies.
    static func edges(_ plan: WorkflowPlan) -> [String: [String]] {
        var edges: [String: [String]] = [:]
        for node in plan.nodes {
            edges[node.id] = node.dependencies.map { dependency in
                let source = plan.nodes[dependency.task.rawValue]
                return source.id + (dependency.item.map { "." + source.outputs[$0] } ?? "")
            }
        }
        return edges
    }

    @Test func nodesComeInTopologicalOrderKeepingFileOrderOtherwise() throws {
        //   fetch ──► parse ──► report
        //     └─────► lint ─────┘
        let plan = try Self.plan(
            """
            tasks:
              - id: report
                needs: [parse, lint]
                run: echo report
              - id: parse
                needs: [fetch]
                run: echo parse
              - id: lint
                needs: [fetch]
                run: echo lint
              - id: fetch
                run: echo fetch
            """)
        #expect(plan.nodes.map(\.id) == ["fetch", "parse", "lint", "report"])
        for (position, node) in plan.nodes.enumerated() {
            #expect(plan.index[node.id] == position)
            #expect(node.dependencies.allSatisfy { $0.task.rawValue < position })
        }
        #expect(Self.edges(plan) == ["fetch": [], "parse": ["fetch"], "lint": ["fetch"], "report": ["parse", "lint"]])
    }

    @Test func outputNeedsBecomeItemDependencies() throws {
        let plan = try Self.plan(
            """
            tasks:
              - id: simulate
                outputs: [coarse, fine]
                run: simulate
              - id: preview
                needs: [simulate.coarse]
                run: echo preview
              - id: plot
                needs: [simulate.fine]
                run: echo plot
              - id: archive
                needs: [simulate, simulate.fine, simulate]
                run: echo archive
            """)
        let simulate = TaskID(try #require(plan.index["simulate"]))
        func dependencies(_ id: String) throws -> [Dependency] {
            plan.nodes[try #require(plan.index[id])].dependencies
        }
        #expect(try dependencies("preview") == [Dependency(simulate, item: 0)])
        #expect(try dependencies("plot") == [Dependency(simulate, item: 1)])
        // A repeated need is kept once; a need on an output and on the whole task are two dependencies.
        #expect(try dependencies("archive") == [Dependency(simulate), Dependency(simulate, item: 1)])
        #expect(plan.nodes[simulate.rawValue].outputs == ["coarse", "fine"])
        #expect(plan.nodes[simulate.rawValue].spec(queue: QueueID(0)).partialCount == 2)
    }

    @Test func usedTriggersBecomeNodesOnTheTriggerQueue() throws {
        let plan = try Self.plan(
            """
            queues:
              default: 2
            triggers:
              ready:
                file: ready.flag
                interval: 200ms
                timeout: 1m
              noon:
                after: "2020-01-01T12:00:00Z"
              unused:
                command: "true"
            tasks:
              - id: a
                run: echo a
              - id: process
                needs: ["@ready", "@noon", a]
                run: echo process
            """)
        #expect(plan.nodes.map(\.id) == ["a", "@ready", "@noon", "process"])
        #expect(plan.index["@unused"] == nil)
        let ready = plan.nodes[try #require(plan.index["@ready"])]
        #expect(ready.queue == WorkflowPlan.triggerQueue)
        #expect(ready.task == nil)
        #expect(ready.role == .main)
        #expect(ready.dependencies.isEmpty)
        guard case .trigger(let trigger) = ready.kind else {
            Issue.record("@ready is not a trigger node")
            return
        }
        #expect(trigger.name == "ready")
        #expect(trigger.condition == .fileExists("ready.flag"))
        #expect(trigger.interval == .milliseconds(200))
        #expect(trigger.timeout == .seconds(60))

        #expect(Self.edges(plan)["process"] == ["@ready", "@noon", "a"])
        // One slot per used trigger, after the declared queues.
        #expect(plan.queues.map(\.name) == ["default", WorkflowPlan.triggerQueue])
        #expect(plan.queues.map(\.width) == [2, 2])
        #expect(plan.mainCount == 4)
    }

    @Test func withoutUsedTriggersThereIsNoTriggerQueue() throws {
        let plan = try Self.plan(
            """
            triggers:
              unused:
                file: never.flag
            tasks:
              - id: a
                run: echo a
            """)
        #expect(plan.nodes.map(\.id) == ["a"])
        #expect(plan.queues.map(\.name) == ["default"])
    }

    @Test func finaleTasksComeAfterTheMainGraphWithTheirRole() throws {
        let plan = try Self.plan(
            """
            on_failure:
              - id: alert
                run: echo failed
            tasks:
              - id: build
                run: make
              - id: test
                needs: [build]
                run: make test
            on_success:
              - id: publish
                needs: [tag]
                run: echo publish
              - id: tag
                run: git tag
            """)
        #expect(plan.nodes.map(\.id) == ["build", "test", "tag", "publish", "alert"])
        #expect(plan.nodes.map(\.role) == [.main, .main, .onSuccess, .onSuccess, .onFailure])
        #expect(plan.mainCount == 2)
        #expect(Self.edges(plan)["publish"] == ["tag"])
    }

    @Test func queueWidthsComeFromTheFileWithADefaultOfFour() throws {
        let plan = try Self.plan(
            """
            queues:
              gpu: 1
              io:
                width: 3
            tasks:
              - id: a
                queue: gpu
                run: train
            """)
        #expect(plan.queues.map(\.name) == ["default", "gpu", "io"])
        #expect(plan.queues.map(\.width) == [4, 1, 3])
        #expect(plan.nodes.map(\.queue) == ["gpu"])
    }

    @Test func setWidthOverridesAndAddsQueues() throws {
        var workflow = try WorkflowLoader.parse(
            yaml: """
                queues:
                  cpu: 2
                tasks:
                  - id: a
                    queue: cpu
                    run: echo a
                  - id: b
                    queue: gpu
                    run: echo b
                """, file: "queues.yaml")
        #expect(throws: WorkflowValidationError.self) { try workflow.plan() }

        workflow.setWidth(8, of: "cpu")
        workflow.setWidth(1, of: "gpu")
        workflow.setWidth(16, of: WorkflowQueue.defaultName)
        let plan = try workflow.plan()
        #expect(plan.queues.map(\.name) == ["default", "cpu", "gpu"])
        #expect(plan.queues.map(\.width) == [16, 8, 1])
        #expect(plan.nodes.map(\.queue) == ["cpu", "gpu"])
    }

    @Test func widthBelowOneSetInCodeIsAPlanError() throws {
        var workflow = try WorkflowLoader.parse(
            yaml: """
                queues:
                  cpu: 2
                tasks:
                  - id: a
                    run: echo a
                """, file: "queues.yaml")
        workflow.setWidth(0, of: "cpu")
        do {
            _ = try workflow.plan()
            Issue.record("a queue of width 0 was accepted")
        } catch {
            #expect(error.errors.map(\.code) == [.invalidValue])
            #expect(error.errors.map(\.location) == [SourceLocation(file: "queues.yaml", line: 2, column: 3)])
            #expect(error.errors.first?.message == "queue 'cpu' needs a width of at least 1")
        }
    }

    @Test func specsCarryTheTasksSchedulingFields() throws {
        let plan = try Self.plan(
            """
            tasks:
              - id: a
                priority: 5
                retries: 2
                retry_delay: 3s
                timeout: 1m30s
                estimate: 250ms
                run: echo a
              - id: b
                needs: [a]
                wait: 1.5s
            """)
        let a = plan.nodes[0].spec(queue: QueueID(3))
        #expect(a.queue == QueueID(3))
        #expect(a.priority == 5)
        #expect(
            a.retry
                == RetryPolicy(maxAttempts: 3, initialBackoff: .seconds(3), multiplier: 2, maxBackoff: .seconds(300)))
        #expect(a.timeout == .seconds(90))
        #expect(a.estimate == 0.25)
        let b = plan.nodes[1].spec(queue: QueueID(0))
        #expect(b.dependencies == [Dependency(TaskID(0))])
        #expect(b.estimate == 1.5)
        #expect(plan.nodes[1].task?.action == .wait(seconds: 1.5))
    }

    @Test func planKeepsTheWorkflowAndItsContentHash() throws {
        let text = """
            name: hashed
            tasks:
              - id: a
                run: echo a
            """
        let first = try WorkflowLoader.parse(yaml: text, file: "h.yaml")
        let again = try WorkflowLoader.parse(yaml: text, file: "h.yaml")
        let changed = try WorkflowLoader.parse(yaml: text + "\n", file: "h.yaml")
        #expect(first.name == "hashed")
        #expect(first.contentHash.count == 16)
        #expect(first.contentHash == again.contentHash)
        #expect(first.contentHash != changed.contentHash)
        #expect(try first.plan().workflow.contentHash == first.contentHash)
    }

    @Test func nameDefaultsToTheFileStem() throws {
        let workflow = try WorkflowLoader.parse(yaml: "tasks: [{id: a, run: echo}]", file: "dir/nightly.build.yaml")
        #expect(workflow.name == "nightly")
    }
}
