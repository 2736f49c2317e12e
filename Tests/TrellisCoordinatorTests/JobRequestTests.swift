import Testing
import TrellisCore
import TrellisEngine
import TrellisProtocol

@Suite("Requests as the engine takes them")
struct JobRequestTests {
    static func spec(
        _ name: String, needs: [(String, String?)] = [], outputs: [String] = [], type: String? = nil
    ) -> RemoteTaskSpec {
        var spec = RemoteTaskSpec(name: name, work: .shell(command: "run \(name)"))
        spec.outputs = outputs
        spec.placement.type = type
        spec.needs = needs.map { RemoteNeed(.name($0), output: $1) }
        return spec
    }

    static func convert(
        _ job: RemoteJob, policy: SchedulingPolicy = .fifo, existing: (UInt64) -> ExistingTask? = { _ in nil }
    ) throws(JobRequestError) -> JobRequest {
        try JobRequest(IncomingJob(job), policy: policy, existing: existing)
    }

    @Test func aRequestBecomesASubmissionWithItsFinalesNeedsAndPlacement() throws {
        var request = RemoteJob(name: "nightly", play: false)
        request.policy = .threshold(4)
        var simulate = Self.spec("simulate", outputs: ["coarse", "fine"], type: "gpu")
        simulate.placement.tags = ["cuda"]
        simulate.placement.resources = ["gpu": 1, "none": 0]
        simulate.priority = 7
        simulate.retries = 3
        simulate.retryDelay = .milliseconds(1_500)
        simulate.timeout = .seconds(60)
        simulate.estimate = 12.5
        var plot = Self.spec("plot", needs: [("simulate", "fine")])
        plot.needs.append(RemoteNeed(.id(42), output: "table"))
        request.tasks = [plot, simulate]
        request.onSuccess = [Self.spec("publish", needs: [("report", nil)])]
        request.onFailure = [Self.spec("clean")]
        request.onSuccess.append(Self.spec("report"))
        let converted = try Self.convert(request) { id in
            id == 42 ? ExistingTask(id: TaskID(41), outputs: ["rows", "table"]) : nil
        }
        #expect(converted.jobName == "nightly")
        #expect(converted.play == false)
        #expect(converted.names == ["plot", "simulate", "publish", "report", "clean"])
        #expect(converted.specs.map { RemoteTaskSpec(stored: $0)?.name } == converted.names)
        #expect(converted.outputs == [[], ["coarse", "fine"], [], [], []])
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
        func refusal(_ request: RemoteJob) -> String? {
            do {
                _ = try Self.convert(request)
                return nil
            } catch {
                return error.message
            }
        }
        var request = RemoteJob(name: "", play: false)
        request.tasks = [Self.spec("a", needs: [("ghost", nil)])]
        #expect(refusal(request) == "'a' needs unknown task 'ghost'")
        request.tasks = [Self.spec("a", needs: [("b", "nope")]), Self.spec("b", outputs: ["yes"])]
        #expect(refusal(request) == "'a' needs output 'nope' of 'b', which does not declare it")
        var byID = Self.spec("a")
        byID.needs = [RemoteNeed(.id(9))]
        request.tasks = [byID]
        #expect(refusal(request) == "'a' needs task 9, which does not exist")
        request.tasks = [Self.spec("a")]
        request.play = true
        #expect(refusal(request) == nil)
    }

    @Test func queuesAndTheFailurePolicyComeFromTheRequest() throws {
        var request = RemoteJob(name: "", play: false)
        request.failurePolicy = .failFast
        request.queues = ["io": 2, "default": 8]
        var reader = Self.spec("read")
        reader.queue = "io"
        request.tasks = [Self.spec("plain"), reader]
        let converted = try Self.convert(request)
        #expect(converted.submission.failurePolicy == .failFast)
        #expect(converted.queueNames == ["default", "io"])
        #expect(converted.submission.queues.map(\.width) == [8, 2])
        #expect(converted.submission.tasks.map(\.queue) == [.new(0), .new(1)])

        func refusal(_ change: (inout RemoteJob) -> Void) -> String? {
            var bad = request
            change(&bad)
            do {
                _ = try Self.convert(bad)
                return nil
            } catch {
                return error.message
            }
        }
        #expect(refusal { $0.queues["io"] = 0 }?.contains("queue 'io' needs a width") == true)
        #expect(refusal { $0.tasks[1].queue = "net" } == "'read' is in queue 'net', which the request does not name")
    }

    /// The door reads the wire's policy names and refuses unknown ones, and every problem `RequestValidation`
    /// finds, before anything reaches the loop.
    @Test func theDoorReadsPoliciesAndRefusesWhatIsMalformed() throws {
        var wire = Trellis_V1_AddTasksRequest(RemoteJob(name: "j", play: true))
        wire.tasks = [Trellis_V1_TaskSpec(Self.spec("a"))]
        wire.policy = "critical-path"
        wire.failurePolicy = "fail-fast"
        wire.queues = ["io": 3]
        let incoming = try IncomingJob(checking: wire)
        #expect(incoming.job.policy == .criticalPath)
        #expect(incoming.job.failurePolicy == .failFast)
        #expect(incoming.job.queues == ["io": 3])
        #expect(incoming.job.tasks == [Self.spec("a")])
        #expect(incoming.stored.map { RemoteTaskSpec(stored: $0) } == [Self.spec("a")])

        func refusal(_ change: (inout Trellis_V1_AddTasksRequest) -> Void) -> String? {
            var bad = wire
            change(&bad)
            do {
                _ = try IncomingJob(checking: bad)
                return nil
            } catch {
                return error.message
            }
        }
        #expect(refusal { $0.policy = "fastest" }?.contains("unknown policy 'fastest'") == true)
        #expect(refusal { $0.failurePolicy = "panic" }?.contains("unknown failure policy 'panic'") == true)
        #expect(
            refusal { $0.tasks[0].work = nil }?.contains("neither a shell command, a handler nor a trigger") == true)
        let both = refusal {
            $0.tasks[0].work = nil
            $0.tasks.append($0.tasks[0])
        }
        #expect(both?.contains("duplicate task name 'a'") == true, "every problem at once")
    }

    /// A converted request goes through the engine: the held main tasks wait, the finale is gated.
    @Test func theEngineTakesAConvertedRequest() throws {
        var request = RemoteJob(name: "", play: false)
        request.tasks = [Self.spec("b", needs: [("a", nil)]), Self.spec("a")]
        request.onFailure = [Self.spec("clean")]
        let converted = try Self.convert(request, policy: .outputFirst)
        var state = EngineState(SchedulerCore(execution: .workers(leaseTimeout: .seconds(5))))
        var actions: [SchedulerAction] = []
        let (job, ids) = try state.submit(converted.submission, now: .zero, into: &actions)
        #expect(ids == [TaskID(1), TaskID(0), TaskID(2)])
        #expect(state.core.policy(of: job) == .outputFirst)
        #expect(ids.allSatisfy { state.core.job(of: $0) == job })
        #expect(state.core.isHeld(ids[1]))
    }
}
