import Testing
import TrellisCore
import TrellisWorkflow

/// Task arrays: `matrix` and `for_each` expand one entry into several tasks, substituting `${param}`.
@Suite("Task array expansion")
struct ExpansionTests {
    static let yaml = """
        name: array
        tasks:
          - id: prep-${fold}
            for_each:
              - {fold: a, seed: 7}
              - {fold: b, seed: 9}
            run: prep --fold ${fold} --seed ${seed}

          - id: train-${model}-${fold}
            matrix:
              model: [linear, forest]
              fold: [a, b]
            needs: ["prep-${fold}"]
            queue: default
            env:
              MODEL: ${model}
              DATA: ${HOME}/data/${fold}
            cwd: runs/${model}
            outputs: ["checkpoint-${fold}"]
            run: fit --model ${model} --fold ${fold} --out ${HOME}/${model}

          - id: compare
            needs: ["train-${model}-${fold}"]
            run: echo compared
        """

    static func workflow() throws -> Workflow {
        try WorkflowLoader.parse(yaml: yaml, file: "array.yaml")
    }

    static func task(_ id: String, in workflow: Workflow) throws -> WorkflowTask {
        try #require(workflow.tasks.first { $0.id == id })
    }

    @Test func matrixIsACartesianProductFirstParameterSlowest() throws {
        let workflow = try Self.workflow()
        #expect(
            workflow.tasks.map(\.id) == [
                "prep-a", "prep-b",
                "train-linear-a", "train-linear-b", "train-forest-a", "train-forest-b",
                "compare",
            ])
        #expect(
            workflow.arrays["train-${model}-${fold}"] == [
                "train-linear-a", "train-linear-b", "train-forest-a", "train-forest-b",
            ])
        #expect(workflow.arrays["prep-${fold}"] == ["prep-a", "prep-b"])
        #expect(workflow.arrays["compare"] == nil)
    }

    @Test func matrixSubstitutesRunEnvCwdAndOutputs() throws {
        let task = try Self.task("train-forest-b", in: Self.workflow())
        // `${HOME}` is no parameter: it is left for the shell.
        #expect(task.action == .shell("fit --model forest --fold b --out ${HOME}/forest"))
        #expect(task.workingDirectory == "runs/forest")
        #expect(task.outputs == ["checkpoint-b"])
        #expect(
            task.environment == [
                EnvironmentVariable(name: "MODEL", value: "forest"),
                EnvironmentVariable(name: "DATA", value: "${HOME}/data/b"),
                EnvironmentVariable(name: "TRELLIS_PARAM_fold", value: "b"),
                EnvironmentVariable(name: "TRELLIS_PARAM_model", value: "forest"),
            ])
    }

    @Test func everyMatrixMemberGetsItsOwnParameters() throws {
        let workflow = try Self.workflow()
        for model in ["linear", "forest"] {
            for fold in ["a", "b"] {
                let task = try Self.task("train-\(model)-\(fold)", in: workflow)
                #expect(task.action == .shell("fit --model \(model) --fold \(fold) --out ${HOME}/\(model)"))
                let parameters = task.environment.filter { $0.name.hasPrefix("TRELLIS_PARAM_") }
                #expect(
                    parameters == [
                        EnvironmentVariable(name: "TRELLIS_PARAM_fold", value: fold),
                        EnvironmentVariable(name: "TRELLIS_PARAM_model", value: model),
                    ])
            }
        }
    }

    @Test func forEachExpandsOneTaskPerEntry() throws {
        let workflow = try Self.workflow()
        let prepA = try Self.task("prep-a", in: workflow)
        let prepB = try Self.task("prep-b", in: workflow)
        #expect(prepA.action == .shell("prep --fold a --seed 7"))
        #expect(prepB.action == .shell("prep --fold b --seed 9"))
        #expect(
            prepB.environment == [
                EnvironmentVariable(name: "TRELLIS_PARAM_fold", value: "b"),
                EnvironmentVariable(name: "TRELLIS_PARAM_seed", value: "9"),
            ])
    }

    @Test func plainTasksGetNoParameterVariables() throws {
        let compare = try Self.task("compare", in: Self.workflow())
        #expect(compare.environment.isEmpty)
    }

    @Test func needWithAParameterResolvesToTheMatchingMember() throws {
        let workflow = try Self.workflow()
        #expect(try Self.task("train-linear-a", in: workflow).needs.map(\.target) == [.task("prep-a")])
        #expect(try Self.task("train-forest-b", in: workflow).needs.map(\.target) == [.task("prep-b")])

        let plan = try workflow.plan()
        for id in ["train-linear-a", "train-forest-a"] {
            let node = try #require(plan.index[id])
            #expect(plan.nodes[node].dependencies == [Dependency(TaskID(try #require(plan.index["prep-a"])))])
        }
    }

    @Test func needOnAnArraysWrittenIDDependsOnEveryMember() throws {
        let workflow = try Self.workflow()
        #expect(try Self.task("compare", in: workflow).needs.map(\.target) == [.task("train-${model}-${fold}")])

        let plan = try workflow.plan()
        let compare = try #require(plan.index["compare"])
        let sources = plan.nodes[compare].dependencies.map { plan.nodes[$0.task.rawValue].id }
        #expect(sources == ["train-linear-a", "train-linear-b", "train-forest-a", "train-forest-b"])
        #expect(plan.nodes[compare].dependencies.allSatisfy { $0.item == nil })
    }

    @Test func needOnAnArraysOutputDependsOnThatOutputOfEveryMember() throws {
        let workflow = try WorkflowLoader.parse(
            yaml: """
                tasks:
                  - id: sim-${n}
                    matrix: {n: [1, 2, 3]}
                    outputs: [coarse, fine]
                    run: simulate ${n}
                  - id: preview
                    needs: ["sim-${n}.fine"]
                    run: echo preview
                """, file: "outputs.yaml")
        let plan = try workflow.plan()
        let preview = try #require(plan.index["preview"])
        let expected = try ["sim-1", "sim-2", "sim-3"].map { Dependency(TaskID(try #require(plan.index[$0])), item: 1) }
        #expect(plan.nodes[preview].dependencies == expected)
    }

    @Test func unknownParametersInRunAreLeftForTheShell() throws {
        let workflow = try WorkflowLoader.parse(
            yaml: """
                tasks:
                  - id: greet-${who}
                    matrix: {who: [ann]}
                    run: echo "${GREETING:-hello} ${who} from ${HOME}"
                  - id: plain
                    run: echo ${USER}
                """, file: "shell.yaml")
        #expect(
            workflow.tasks.map(\.action) == [
                .shell("echo \"${GREETING:-hello} ann from ${HOME}\""),
                .shell("echo ${USER}"),
            ])
    }

    @Test func parametersAreSubstitutedEverywhereTheyAppear() throws {
        let workflow = try WorkflowLoader.parse(
            yaml: """
                tasks:
                  - id: copy-${n}-${n}
                    matrix: {n: [x]}
                    run: cp ${n} ${n}.bak
                """, file: "twice.yaml")
        #expect(workflow.tasks.map(\.id) == ["copy-x-x"])
        #expect(workflow.tasks.map(\.action) == [.shell("cp x x.bak")])
    }
}
