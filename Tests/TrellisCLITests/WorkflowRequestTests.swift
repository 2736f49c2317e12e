import Foundation
import SwiftProtobuf
import Testing
import TrellisProtocol
import TrellisWorkflow

@testable import TrellisCLI

@Suite("Wire requests")
struct SubmissionTests {
    static func plan(_ yaml: String) throws -> WorkflowPlan {
        try WorkflowLoader.parse(yaml: yaml, file: "flow.yaml").plan()
    }

    @Test func aWorkflowBecomesOneRequestThatSurvivesTheWire() throws {
        let plan = try Self.plan(
            """
            queues: {default: 2, gpu: 1}
            tasks:
              - id: fetch
                run: ./fetch.sh
                outputs: [first]
                env: {MODE: fast}
                cwd: data
              - id: train
                queue: gpu
                type: cuda
                tags: [a100]
                resources: {gpu: 1, memory_gib: 40}
                needs: [fetch.first]
                priority: 3
                retries: 2
                retry_delay: 500ms
                timeout: 1m
                estimate: 30s
                run: ./train.sh
            on_success:
              - {id: publish, run: ./publish.sh}
            on_failure:
              - {id: clean, run: ./clean.sh}
            """)
        let request = Trellis_V1_AddTasksRequest(RemoteJob(plan: plan, play: true, directory: "/flows"))
        let decoded = try Trellis_V1_AddTasksRequest(serializedBytes: try request.serializedBytes() as [UInt8])
        #expect(decoded == request)
        #expect(decoded.play)
        #expect(decoded.tasks.map(\.name) == ["fetch", "train"])
        #expect(decoded.onSuccess.map(\.name) == ["publish"])
        #expect(decoded.onFailure.map(\.name) == ["clean"])
        let fetch = decoded.tasks[0]
        guard case .shell(let shell) = fetch.work else {
            Issue.record("fetch is not a shell task")
            return
        }
        #expect(shell.command == "./fetch.sh")
        #expect(shell.environment == ["MODE": "fast"])
        #expect(shell.workingDirectory == "data")
        #expect(fetch.outputs == ["first"])
        #expect(fetch.workerType == "")
        #expect(fetch.queue == "")
        // A queue is a concurrency limit with its width; where a task runs is its own property.
        #expect(decoded.queues == ["default": 2, "gpu": 1])
        #expect(decoded.policy == "output-first")
        #expect(decoded.failurePolicy == "continue")
        let train = decoded.tasks[1]
        #expect(train.queue == "gpu")
        #expect(train.workerType == "cuda")
        #expect(train.tags == ["a100"])
        #expect(train.resources == ["gpu": 1, "memory_gib": 40])
        #expect(train.needs.map(\.name) == ["fetch"])
        #expect(train.needs.map(\.output) == ["first"])
        #expect(train.priority == 3)
        #expect(train.retries == 2)
        #expect(train.retryDelayMs == 500)
        #expect(train.timeoutMs == 60_000)
        #expect(train.estimateSeconds == 30)
        #expect(RequestValidation.problems(decoded, taskExists: { _ in false }).isEmpty)
    }

    @Test func aTriggerBecomesACheckTheCoordinatorRunsInTheTriggerQueue() throws {
        let plan = try Self.plan(
            """
            triggers:
              ready: {file: data/ready.flag, interval: 250ms, timeout: 1m}
              noon: {after: "2026-12-01T12:00:00Z"}
            tasks:
              - {id: a, run: "true", needs: ["@ready", "@noon"]}
            """)
        let request = Trellis_V1_AddTasksRequest(RemoteJob(plan: plan, play: false, directory: "/flows"))
        #expect(Set(request.tasks.map(\.name)) == ["@ready", "@noon", "a"])
        #expect(request.queues[WorkflowPlan.triggerQueue] == 2, "each trigger has a slot of its own")
        let ready = try #require(request.tasks.first { $0.name == "@ready" })
        guard case .trigger(let check) = ready.work else {
            Issue.record("@ready is not a trigger check")
            return
        }
        #expect(check.file == "/flows/data/ready.flag", "a relative file is the workflow directory's")
        #expect(check.intervalMs == 250)
        #expect(check.timeoutMs == 60_000)
        #expect(ready.timeoutMs == 0, "the trigger's own timeout ends its checks")
        #expect(ready.workerType == "" && ready.queue == WorkflowPlan.triggerQueue)
        let noon = try #require(request.tasks.first { $0.name == "@noon" })
        guard case .trigger(let time) = noon.work else {
            Issue.record("@noon is not a trigger check")
            return
        }
        #expect(time.afterUnixSeconds == 1_796_126_400)
        #expect(time.timeoutMs == 0)
        let a = try #require(request.tasks.first { $0.name == "a" })
        #expect(Set(a.needs.map(\.name)) == ["@ready", "@noon"])
        #expect(RequestValidation.problems(request, taskExists: { _ in false }).isEmpty)
        // What the coordinator makes of it: a check only its embedded executor may take.
        let checked = try #require(IncomingJob(checking: request).allTasks.first { $0.name == "@ready" })
        #expect(JobRequest.placement(of: checked).type == JobRequest.coordinatorType)
        var posing = ready
        posing.workerType = "gpu"
        #expect(
            RequestValidation.problems(
                Trellis_V1_AddTasksRequest.with { $0.tasks = [posing] }, taskExists: { _ in false }
            ).contains { $0.contains("takes no worker type") })
        var shell = a
        shell.needs = []
        shell.workerType = JobRequest.coordinatorType
        #expect(
            RequestValidation.problems(
                Trellis_V1_AddTasksRequest.with { $0.tasks = [shell] }, taskExists: { _ in false }
            ).contains { $0.contains("reserved") })
    }

    @Test func theFilesPoliciesAndQueuesGoWithIt() throws {
        let plan = try Self.plan(
            "policy: threshold:3\nfailure: fail-fast\nqueues: {io: 2}\ntasks:\n  - {id: a, run: \"true\"}\n")
        let request = Trellis_V1_AddTasksRequest(RemoteJob(plan: plan, play: false, directory: "/flows"))
        #expect(request.policy == "threshold:3")
        #expect(request.failurePolicy == "fail-fast")
        #expect(request.queues == ["io": 2], "the default queue's width is a local run's unless the file sets it")
    }

    @Test func everyProblemOfABadRequestIsReported() {
        func task(
            _ name: String, _ command: String = "true", needs: [String] = [], outputs: [String] = []
        ) -> Trellis_V1_TaskSpec {
            var spec = Trellis_V1_TaskSpec()
            spec.name = name
            var shell = Trellis_V1_ShellCommand()
            shell.command = command
            spec.work = .shell(shell)
            spec.outputs = outputs
            spec.needs = needs.map { text in
                var need = Trellis_V1_Need()
                let parts = text.split(separator: ".", maxSplits: 1).map(String.init)
                need.name = parts[0]
                if parts.count == 2 { need.output = parts[1] }
                return need
            }
            return spec
        }
        var request = Trellis_V1_AddTasksRequest()
        var byID = Trellis_V1_Need()
        byID.taskID = 42
        var old = task("old")
        old.needs = [byID]
        var bare = Trellis_V1_TaskSpec()
        bare.name = "bare"
        request.tasks = [
            task("a", needs: ["c"]), task("b", needs: ["a"]), task("c", needs: ["b"]),
            task("d", needs: ["ghost", "a.nope"]), task("a"), task("empty", ""), old, bare,
        ]
        request.onSuccess = [task("commit", needs: ["a"])]
        let problems = RequestValidation.problems(request, taskExists: { $0 == 7 })
        #expect(problems.contains("duplicate task name 'a' (in tasks and tasks)"))
        #expect(problems.contains("'d' needs unknown task 'ghost'"))
        #expect(problems.contains("'d' needs output 'nope' of 'a', which does not declare it"))
        #expect(problems.contains("'empty' has an empty command"))
        #expect(problems.contains("'old' needs task 42, which does not exist"))
        #expect(problems.contains("'bare' has neither a shell command, a handler nor a trigger"))
        #expect(problems.contains { $0.hasPrefix("'commit' needs unknown task 'a' (it is in tasks;") })
        #expect(problems.contains { $0.hasPrefix("dependency cycle: ") && $0.contains("'") == false })
    }

    @Test func malformedBytesAreRejectedByTheDecoder() throws {
        var request = Trellis_V1_AddTasksRequest()
        request.jobName = "job"
        var spec = Trellis_V1_TaskSpec()
        spec.name = "a"
        request.tasks = [spec]
        let bytes: [UInt8] = try request.serializedBytes()
        #expect(throws: (any Error).self) {
            _ = try Trellis_V1_AddTasksRequest(serializedBytes: Array(bytes.dropLast()))
        }
        #expect(throws: (any Error).self) {
            _ = try Trellis_V1_AddTasksRequest(serializedBytes: [0xFF, 0xFF, 0xFF, 0xFF])
        }
    }
}
