import Foundation
import Synchronization
import Testing
import TrellisCLI
import TrellisEngine
import TrellisTestKit
import TrellisWorkflow

@Suite("Local runner")
struct RunnerTests {
    @Test func dependantsOfAnOutputRunWhileTheProducerStillRuns() async throws {
        let scratch = try Scratch()
        let log = EventLog()
        // The producer cannot end before `early` has run: it waits for the file `early` creates.
        let summary = try await runWorkflow(
            """
            queues: {default: 2}
            tasks:
              - id: producer
                outputs: [ready]
                run: echo "::trellis output ready"; while [ ! -f early.done ]; do sleep 0.01; done
              - id: early
                needs: [producer.ready]
                run: touch early.done
              - id: late
                needs: [producer]
                run: "true"
            """, in: scratch, log: log)
        #expect(summary.exitStatus == 0)
        #expect(summary.snapshot.task("producer")?.outputs == ["ready"])
        let startedEarly = try #require(log.started("early"))
        let producerDone = try #require(log.finished("producer"))
        let startedLate = try #require(log.started("late"))
        #expect(startedEarly < producerDone)
        #expect(producerDone < startedLate)
    }

    @Test func aFailedAttemptIsRetriedWithAGrowingAttemptNumber() async throws {
        let scratch = try Scratch()
        let summary = try await runWorkflow(
            """
            tasks:
              - id: flaky
                retries: 2
                retry_delay: 10ms
                run: echo $TRELLIS_ATTEMPT >> attempts; [ "$TRELLIS_ATTEMPT" -ge 2 ]
            """, in: scratch)
        #expect(summary.state("flaky") == .succeeded)
        #expect(scratch.lines("attempts") == ["1", "2"])
        #expect(summary.snapshot.task("flaky")?.attempts.map(\.state) == [.retrying, .succeeded])
    }

    @Test func aFailureStopsItsDependantsRunsOnFailureAndSkipsOnSuccess() async throws {
        let scratch = try Scratch()
        let summary = try await runWorkflow(
            """
            tasks:
              - id: broken
                run: echo boom >&2; exit 3
              - id: after-broken
                needs: [broken]
                run: touch should-not-exist
              - id: independent
                run: "true"
            on_success:
              - id: commit
                run: touch committed
            on_failure:
              - id: clean
                run: touch cleaned
            """, in: scratch)
        #expect(summary.exitStatus == 1)
        #expect(summary.state("broken") == .failed)
        #expect(summary.snapshot.task("broken")?.exitCode == 3)
        #expect(summary.snapshot.task("broken")?.message == "exit status 3")
        #expect(summary.state("after-broken") == .upstreamFailed)
        #expect(summary.state("independent") == .succeeded)
        #expect(summary.state("clean") == .succeeded)
        #expect(summary.state("commit") == .skipped)
        #expect(summary.snapshot.task("commit")?.message == "not needed: a task did not succeed")
        #expect(scratch.read("cleaned") != nil)
        #expect(scratch.read("committed") == nil)
        #expect(scratch.read("should-not-exist") == nil)
        let stderr = scratch.path + "/.trellis/flow/logs/broken.1.err"
        #expect(try String(contentsOfFile: stderr, encoding: .utf8) == "boom\n")
    }

    @Test func aTimeoutStopsTheProcessGroup() async throws {
        let scratch = try Scratch()
        let summary = try await runWorkflow(
            """
            tasks:
              - id: slow
                timeout: 200ms
                run: sleep 30 & echo $! > child.pid; wait
            """, in: scratch)
        #expect(summary.state("slow") == .failed)
        #expect(summary.snapshot.task("slow")?.message?.hasPrefix("timed out") == true)
        let pid = try #require(summary.snapshot.task("slow")?.attempts.first?.pid)
        #expect(!isRunning(pid), "the timed-out task's shell is gone")
        // Its background child, in the same process group, is gone too: the run did not wait for it.
        let child = try #require(
            scratch.read("child.pid").flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        #expect(processEnds(child), "the timed-out task's child is gone")
    }

    @Test func aTaskThatEndsWithoutItsOutputsFails() async throws {
        let scratch = try Scratch()
        let summary = try await runWorkflow(
            """
            tasks:
              - id: producer
                outputs: [a, b]
                run: echo "::trellis output b"
              - id: needs-a
                needs: [producer.a]
                run: "true"
              - id: needs-b
                needs: [producer.b]
                run: "true"
            """, in: scratch)
        #expect(summary.state("producer") == .failed)
        #expect(
            summary.snapshot.task("producer")?.message?.contains("without signalling every declared output") == true)
        #expect(summary.state("needs-b") == .succeeded, "output b was signalled, out of order")
        #expect(summary.state("needs-a") == .upstreamFailed)
    }

    @Test func aResumedRunSkipsSucceededTasksAndContinuesAttemptNumbers() async throws {
        let scratch = try Scratch()
        let flow = """
            tasks:
              - id: first
                run: echo x >> first.count
              - id: gate
                needs: [first]
                run: echo x >> gate.count; [ -f open ]
              - id: last
                needs: [gate]
                run: echo x >> last.count
            """
        let one = try await runWorkflow(flow, in: scratch)
        #expect(one.exitStatus == 1)
        #expect(one.state("gate") == .failed)
        #expect(one.state("last") == .upstreamFailed)
        _ = try scratch.write("open", "")
        let log = EventLog()
        let two = try await runWorkflow(flow, in: scratch, log: log)
        #expect(two.exitStatus == 0)
        #expect(two.alreadyDone == 1)
        #expect(two.snapshot.sessions == 2)
        #expect(scratch.lines("first.count").count == 1, "a succeeded task does not run again")
        #expect(scratch.lines("gate.count").count == 2)
        #expect(scratch.lines("last.count").count == 1)
        #expect(two.snapshot.task("gate")?.attempts.map(\.number) == [1, 2])
        #expect(log.started("first") == nil)
    }

    @Test func anInterruptedAttemptRunsAgainOnResumeWithoutUsingARetry() async throws {
        let scratch = try Scratch()
        // No retries: only an attempt that failed would end the task.
        let flow = """
            tasks:
              - id: long
                run: echo x >> long.count; if [ ! -f go ]; then sleep 30 & wait; fi
              - id: after
                needs: [long]
                run: echo x >> after.count
            """
        let runnerBox = RunnerBox()
        let log = EventLog { event in
            if case .started("long", _, _, _) = event { runnerBox.interrupt() }
        }
        let one = try await runWorkflow(flow, in: scratch, log: log, runnerReady: { runnerBox.set($0) })
        #expect(one.exitStatus == 130)
        #expect(one.state("long") == .interrupted)
        _ = try scratch.write("go", "")
        let two = try await runWorkflow(flow, in: scratch)
        #expect(two.exitStatus == 0)
        #expect(two.state("long") == .succeeded)
        #expect(two.snapshot.task("long")?.attempts.map(\.number) == [1, 2])
        #expect(two.snapshot.task("long")?.attempts.map(\.state) == [.interrupted, .succeeded])
        #expect(scratch.lines("after.count").count == 1)
    }

    @Test func aRetryDelayOutlivesTheSession() async throws {
        let scratch = try Scratch()
        let flow = """
            tasks:
              - id: flaky
                run: echo x >> flaky.count; [ -f fixed ]
                retries: 1
                retry_delay: 2m
            """
        let runnerBox = RunnerBox()
        let log = EventLog { event in
            if case .finished("flaky", _, .retrying, _, _, _) = event { runnerBox.interrupt() }
        }
        let one = try await runWorkflow(flow, in: scratch, log: log, runnerReady: { runnerBox.set($0) })
        #expect(one.exitStatus == 130)
        #expect(one.snapshot.task("flaky")?.message == "interrupted while waiting to retry")
        _ = try scratch.write("fixed", "")

        // The next session keeps the recorded back-off: on a manual clock, nothing runs until it has passed.
        let clock = ManualClock()
        let file = scratch.path + "/flow.yaml"
        let plan = try WorkflowLoader.load(path: file).plan()
        let runner = LocalRunner(
            plan: plan,
            options: RunOptions(
                stateDirectory: scratch.path + "/.trellis/flow", gracePeriod: .seconds(2), baseDirectory: scratch.path),
            clock: clock)
        let second = Task { try await runner.run(events: { _ in }) }
        try await clock.waitForSleepers(count: 1)
        let deadline = try #require(clock.nextDeadline)
        #expect(deadline.offset > .seconds(60) && deadline.offset <= .seconds(120), "\(deadline)")
        #expect(scratch.lines("flaky.count").count == 1, "the retry waits for its back-off")
        clock.advance(by: .seconds(120))
        let two = try await second.value
        #expect(two.exitStatus == 0)
        #expect(two.snapshot.task("flaky")?.attempts.map(\.number) == [1, 2])
        #expect(scratch.lines("flaky.count").count == 2)
    }

    @Test func aStateDirectoryOfAnEarlierTrellisIsRefusedUnlessRestarted() async throws {
        let scratch = try Scratch()
        let state = scratch.path + "/.trellis/flow"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        _ = try scratch.write(".trellis/flow/state.sqlite", "an old run store")
        let flow = "tasks:\n  - {id: a, run: echo x >> a.count}\n"
        await #expect {
            _ = try await runWorkflow(flow, in: scratch)
        } throws: { error in
            guard let error = error as? RunError else { return false }
            return error.code == .unsupportedState && error.message.contains("format 1")
                && error.message.contains("--restart")
        }
        #expect(scratch.lines("a.count").isEmpty, "nothing ran")
        let again = try await runWorkflow(flow, in: scratch, restart: true)
        #expect(again.exitStatus == 0)
        #expect(!FileManager.default.fileExists(atPath: state + "/state.sqlite"))
    }

    @Test func aChangedWorkflowIsRefusedUnlessRestarted() async throws {
        let scratch = try Scratch()
        _ = try await runWorkflow("tasks:\n  - {id: a, run: echo x >> a.count}\n", in: scratch)
        await #expect(throws: RunError.self) {
            _ = try await runWorkflow("tasks:\n  - {id: a, run: echo y >> a.count}\n", in: scratch)
        }
        let again = try await runWorkflow("tasks:\n  - {id: a, run: echo y >> a.count}\n", in: scratch, restart: true)
        #expect(again.exitStatus == 0)
        #expect(scratch.lines("a.count") == ["x", "y"])
    }

    @Test func anInterruptStopsRunningTasksAndRecordsThem() async throws {
        let scratch = try Scratch()
        let runnerBox = RunnerBox()
        let log = EventLog { event in
            if case .started("long", _, _, _) = event { runnerBox.interrupt() }
        }
        let summary = try await runWorkflow(
            """
            tasks:
              - id: long
                run: trap 'echo got TERM; exit 143' TERM; sleep 30 & wait
              - id: after
                needs: [long]
                run: "true"
            """, in: scratch, log: log, runnerReady: { runnerBox.set($0) })
        #expect(summary.interrupted)
        #expect(summary.exitStatus == 130)
        #expect(summary.state("long") == .interrupted)
        #expect(summary.state("after") == .waiting)
        #expect(summary.snapshot.status == "interrupted")
        #expect(log.all.contains(.stopping(force: false)))
    }
}

/// Lets an event callback reach the runner it belongs to.
final class RunnerBox: Sendable {
    private let runner = Mutex<LocalRunner<ContinuousClock>?>(nil)
    func set(_ value: LocalRunner<ContinuousClock>) { runner.withLock { $0 = value } }
    func interrupt() { runner.withLock { $0 }?.interrupt() }
}
