import Testing
import TrellisCore
import TrellisEngine
import TrellisProtocol

@Suite("Requests as the engine takes them")
struct JobRequestTests {
    static func spec(
        _ name: String, needs: [(String, String)] = [], outputs: [String] = [], type: String = ""
    ) -> Trellis_V1_TaskSpec {
        var spec = Trellis_V1_TaskSpec()
        spec.name = name
        spec.outputs = outputs
        spec.workerType = type
        spec.needs = needs.map { target, output in
            var need = Trellis_V1_Need()
            need.name = target
            need.output = output
            return need
        }
        return spec
    }

    @Test func aRequestBecomesASubmissionWithItsFinalesNeedsAndPlacement() throws {
        var request = Trellis_V1_AddTasksRequest()
        request.jobName = "nightly"
        request.policy = "threshold:4"
        var simulate = Self.spec("simulate", outputs: ["coarse", "fine"], type: "gpu")
        simulate.tags = ["cuda"]
        simulate.resources = ["gpu": 1, "none": 0]
        simulate.priority = 7
        simulate.retries = 3
        simulate.retryDelayMs = 1_500
        simulate.timeoutMs = 60_000
        simulate.estimateSeconds = 12.5
        var byID = Trellis_V1_Need()
        byID.taskID = 42
        byID.output = "table"
        var plot = Self.spec("plot", needs: [("simulate", "fine")])
        plot.needs.append(byID)
        request.tasks = [plot, simulate]
        request.onSuccess = [Self.spec("publish", needs: [("report", "")])]
        request.onFailure = [Self.spec("clean")]
        request.onSuccess.append(Self.spec("report"))
        let converted = try JobRequest(request, policy: .fifo) { id in
            id == 42 ? ExistingTask(id: TaskID(41), outputs: ["rows", "table"]) : nil
        }
        #expect(converted.jobName == "nightly")
        #expect(converted.play == false)
        #expect(converted.names == ["plot", "simulate", "publish", "report", "clean"])
        #expect(converted.specs.map(\.name) == converted.names)
        let submission = converted.submission
        #expect(submission.policy == .threshold(4))
        #expect(submission.queues == [JobSubmission.Queue(name: "default", width: SchedulerCore.maxWorkerSlots)])
        #expect(submission.tasks.map(\.spec.role) == [.main, .main, .onSuccess, .onSuccess, .onFailure])
        #expect(submission.tasks.map(\.spec.held) == [true, true, false, false, false], "main tasks wait for play")
        #expect(
            submission.tasks[0].needs == [
                JobSubmission.Need(.batch(1), item: 1), JobSubmission.Need(.existing(TaskID(41)), item: 1),
            ])
        #expect(submission.tasks[2].needs == [JobSubmission.Need(.batch(3))])
        let core = submission.tasks[1].spec
        #expect(core.placement == Placement(type: "gpu", tags: ["cuda"], resources: ["gpu": 1]))
        #expect(core.priority == 7)
        #expect(core.partialCount == 2)
        #expect(core.estimate == 12.5)
        #expect(core.timeout == .seconds(60))
        #expect(core.retry.maxAttempts == 4)
        #expect(core.retry.backoff(afterAttempt: 1) == .milliseconds(1_500))
        #expect(core.retry.backoff(afterAttempt: 20) == .seconds(300), "back-off is capped as in workflow files")
        #expect(submission.tasks[0].spec.placement == Placement(type: JobRequest.defaultWorkerType))
    }

    @Test func whatTheEngineCannotResolveIsRefusedClearly() {
        func refusal(_ request: Trellis_V1_AddTasksRequest) -> String? {
            do {
                _ = try JobRequest(request, policy: .fifo) { _ in nil }
                return nil
            } catch {
                return error.message
            }
        }
        var request = Trellis_V1_AddTasksRequest()
        request.tasks = [Self.spec("a")]
        request.policy = "fastest"
        #expect(refusal(request)?.contains("unknown policy 'fastest'") == true)
        request.policy = ""
        request.tasks = [Self.spec("a", needs: [("ghost", "")])]
        #expect(refusal(request) == "'a' needs unknown task 'ghost'")
        request.tasks = [Self.spec("a", needs: [("b", "nope")]), Self.spec("b", outputs: ["yes"])]
        #expect(refusal(request) == "'a' needs output 'nope' of 'b', which does not declare it")
        var byID = Trellis_V1_Need()
        byID.taskID = 9
        var spec = Self.spec("a")
        spec.needs = [byID]
        request.tasks = [spec]
        #expect(refusal(request) == "'a' needs task 9, which does not exist")
        request.tasks = [Self.spec("a")]
        request.play = true
        #expect(refusal(request) == nil)
    }

    @Test func queuesAndTheFailurePolicyComeFromTheRequest() throws {
        var request = Trellis_V1_AddTasksRequest()
        request.failurePolicy = "fail-fast"
        request.queues = ["io": 2, "default": 8]
        var reader = Self.spec("read")
        reader.queue = "io"
        request.tasks = [Self.spec("plain"), reader]
        let converted = try JobRequest(request, policy: .fifo) { _ in nil }
        #expect(converted.submission.failurePolicy == .failFast)
        #expect(converted.queueNames == ["default", "io"])
        #expect(converted.submission.queues.map(\.width) == [8, 2])
        #expect(converted.submission.tasks.map(\.queue) == [.new(0), .new(1)])

        func refusal(_ change: (inout Trellis_V1_AddTasksRequest) -> Void) -> String? {
            var bad = request
            change(&bad)
            do {
                _ = try JobRequest(bad, policy: .fifo) { _ in nil }
                return nil
            } catch {
                return error.message
            }
        }
        #expect(refusal { $0.failurePolicy = "panic" }?.contains("unknown failure policy 'panic'") == true)
        #expect(refusal { $0.queues["io"] = 0 }?.contains("queue 'io' needs a width") == true)
        #expect(refusal { $0.tasks[1].queue = "net" } == "'read' is in queue 'net', which the request does not name")
    }

    @Test func wireIDsCountFromOne() {
        #expect(JobRequest.wireID(TaskID(0)) == 1)
        #expect(JobRequest.taskID(wire: 1) == TaskID(0))
        #expect(JobRequest.taskID(wire: 0) == nil)
        #expect(JobRequest.taskID(wire: UInt64.max) == nil)
    }

    /// A converted request goes through the engine: the held main tasks wait, the finale is gated.
    @Test func theEngineTakesAConvertedRequest() throws {
        var request = Trellis_V1_AddTasksRequest()
        request.tasks = [Self.spec("b", needs: [("a", "")]), Self.spec("a")]
        request.onFailure = [Self.spec("clean")]
        let converted = try JobRequest(request, policy: .outputFirst) { _ in nil }
        var state = EngineState(SchedulerCore(execution: .workers(leaseTimeout: .seconds(5))))
        var actions: [SchedulerAction] = []
        let (job, ids) = try state.submit(converted.submission, now: .zero, into: &actions)
        #expect(ids == [TaskID(1), TaskID(0), TaskID(2)])
        #expect(state.core.policy(of: job) == .outputFirst)
        #expect(ids.allSatisfy { state.core.job(of: $0) == job })
        #expect(state.core.isHeld(ids[1]))
    }
}
