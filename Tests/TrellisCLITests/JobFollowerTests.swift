import Testing
import TrellisCLI
import TrellisEngine
import TrellisProtocol

/// A followed job is told in `trellis run`'s events: what the display shows must be true.
@Suite("Following a job")
struct JobFollowerTests {
    /// Events as the coordinator sends them, read as the command line reads them.
    static func header(_ name: String, tasks: Int, at ms: UInt64 = 1_000_000) -> RemoteJobEvent {
        var event = Trellis_V1_JobEvent()
        event.jobName = name
        event.jobTasks = UInt32(tasks)
        event.timeMs = ms
        return RemoteJobEvent(event)
    }

    static func event(
        _ id: UInt64, _ name: String, _ state: Trellis_V1_TaskState, attempt: UInt32 = 0, worker: String = "",
        message: String = "", output: String = "", at ms: UInt64 = 1_000_000
    ) -> RemoteJobEvent {
        var event = Trellis_V1_JobEvent()
        event.taskID = id
        event.taskName = name
        event.state = state
        event.attempt = attempt
        event.worker = worker
        event.message = message
        event.output = output
        event.timeMs = ms
        return RemoteJobEvent(event)
    }

    static var end: RemoteJobEvent {
        var event = Trellis_V1_JobEvent()
        event.jobEnded = true
        event.timeMs = 1_004_000
        return RemoteJobEvent(event)
    }

    @Test func aJobIsToldAsARunIs() {
        var follower = JobFollower(job: 7, now: 1_000)
        var events: [RunEvent] = []
        for event in [
            Self.header("etl", tasks: 3),
            Self.event(1, "extract", .succeeded, attempt: 1),
            Self.event(2, "load", .waiting),
            Self.event(3, "report", .waiting),
            Self.event(2, "load", .assigned, attempt: 1, worker: "w1", at: 1_001_000),
            Self.event(2, "load", .running, attempt: 1, worker: "w1", at: 1_001_100),
            Self.event(2, "load", .ready, attempt: 1, message: "exit status 1", at: 1_002_000),
            Self.event(2, "load", .assigned, attempt: 2, worker: "w2", at: 1_002_500),
            Self.event(2, "load", .running, attempt: 2, output: "rows", at: 1_002_600),
            Self.event(2, "load", .failed, attempt: 2, message: "exit status 1", at: 1_003_000),
            Self.event(3, "report", .upstreamFailed, message: "upstream task load failed", at: 1_003_000),
            Self.end,
        ] {
            events += follower.take(event)
        }
        #expect(
            events == [
                .began(workflow: "etl", total: 3, done: 0, session: 0),
                .settled(task: "extract", state: .succeeded, message: nil),
                .started(task: "load", attempt: 1, queue: "default", worker: "w1"),
                .finished(
                    task: "load", attempt: 1, state: .retrying, exitCode: nil, message: "exit status 1", seconds: 1),
                .started(task: "load", attempt: 2, queue: "default", worker: "w2"),
                .output(task: "load", name: "rows"),
                .finished(
                    task: "load", attempt: 2, state: .failed, exitCode: nil, message: "exit status 1", seconds: 0.5),
                .settled(task: "report", state: .upstreamFailed, message: "upstream task load failed"),
                .ended(status: "failed", seconds: 4),
            ])
        let summary = follower.summary(interrupted: false, now: 1_004)
        #expect(summary.exitStatus == 1)
        #expect(summary.snapshot.identity.workflow == "etl")
        #expect(summary.snapshot.counts == [.succeeded: 1, .failed: 1, .upstreamFailed: 1])
        #expect(summary.snapshot.task("load")?.attempts.map(\.number) == [1, 2])
        #expect(summary.snapshot.task("load")?.outputs == ["rows"])
        // An attempt that ended before the watch began is counted, though not seen.
        #expect(summary.snapshot.task("extract")?.attempts.count == 1)
    }

    @Test func aSkippedFinaleIsSuccessAndAnInterruptIs130() {
        var follower = JobFollower(job: 1, now: 1_000)
        _ = follower.take(Self.header("f", tasks: 2))
        _ = follower.take(Self.event(1, "a", .running, attempt: 1))
        var interrupted = follower.summary(interrupted: true, now: 1_001)
        #expect(interrupted.exitStatus == 130)
        #expect(interrupted.snapshot.status == "running")
        _ = follower.take(Self.event(1, "a", .succeeded, attempt: 1))
        _ = follower.take(Self.event(2, "clean", .skipped))
        #expect(follower.take(Self.end) == [.ended(status: "succeeded", seconds: 4)])
        // Once the job has ended, the watch was not interrupted.
        interrupted = follower.summary(interrupted: true, now: 1_004)
        #expect(interrupted.exitStatus == 0)
        #expect(interrupted.snapshot.status == "succeeded")
    }

    @Test func tasksAddedWhileWatchingGrowTheTotalAndRepeatedNamesStayApart() {
        var follower = JobFollower(job: 1, now: 1_000)
        #expect(follower.take(Self.header("adhoc", tasks: 1)).count == 1)
        #expect(follower.take(Self.event(1, "task", .running, attempt: 1)).count == 1)
        let added = follower.take(Self.event(2, "task", .ready))
        #expect(added == [.began(workflow: "adhoc", total: 2, done: 0, session: 0)])
        let started = follower.take(Self.event(2, "task", .assigned, attempt: 1))
        #expect(started == [.started(task: "task (task 2)", attempt: 1, queue: "default", worker: nil)])
        // A killed task is shown killed, and is not a success.
        _ = follower.take(Self.event(1, "task", .killed, attempt: 1))
        #expect(follower.summary(interrupted: false).snapshot.task("task")?.state == .killed)
        #expect(follower.summary(interrupted: false).exitStatus == 1)
    }
}
