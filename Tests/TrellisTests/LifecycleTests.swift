import Testing
import Trellis
import TrellisCore
import TrellisTestKit

@Suite("Pause, cancellation, timeouts, retries", .timeLimit(.minutes(1)))
struct LifecycleTests {
    @Test func pausedSchedulerStartsNothingAndResumeRunsEachTaskOnce() async throws {
        let scheduler = Scheduler(policy: .fifo)
        let queue = try scheduler.queue("work", width: 2)
        let log = RunLog()
        scheduler.start()
        scheduler.pause()
        let futures = (0..<5).map { index in
            queue.submit { () -> Int in
                log.start(index, queue: "work")
                log.finish(index, queue: "work")
                return index
            }
        }
        for future in futures { #expect(scheduler.state(of: future.task) == .ready) }
        #expect(scheduler.stats.queues[0].attempts == 0)
        scheduler.resume()
        try await scheduler.wait()
        for (index, future) in futures.enumerated() {
            #expect(try await future.value == index)
            #expect(log.runs(of: index) == 1)
        }
    }

    /// Pausing while a task runs lets it finish but starts nothing else until resumed.
    @Test func pauseWhileRunningLetsRunningTasksFinish() async throws {
        let scheduler = Scheduler(policy: .fifo)
        let queue = try scheduler.queue("work", width: 1)
        let inside = Gate()
        let release = Gate()
        let first = queue.submit { () -> Int in
            inside.open()
            await release.wait()
            return 1
        }
        let second = queue.submit(first) { $0 + 1 }
        scheduler.start()
        await inside.wait()
        scheduler.pause()
        release.open()
        #expect(try await first.value == 1)
        #expect(scheduler.state(of: second.task) == .ready)
        scheduler.resume()
        #expect(try await second.value == 2)
    }

    @Test func cancellingARunningTaskCancelsItsClosureAndItsDependants() async throws {
        let clock = ManualClock()
        let scheduler = Scheduler(policy: .fifo, clock: clock)
        let queue = try scheduler.queue("work", width: 1)
        let inside = Gate()
        let slow = queue.submit { () -> Int in
            inside.open()
            try await clock.sleep(for: .seconds(3600))
            return 1
        }
        let dependant = queue.submit(slow) { $0 + 1 }
        let unrelated = queue.submit { 42 }
        scheduler.start()
        await inside.wait()
        slow.cancel()
        let error = await #expect(throws: TrellisError.self) { try await slow.value }
        #expect(error?.code == .cancelled)
        let dependantError = await #expect(throws: TrellisError.self) { try await dependant.value }
        #expect(dependantError?.code == .cancelled)
        #expect(scheduler.state(of: dependant.task) == .finished(.cancelled(cause: slow.task)))
        // The queue's only worker was cancelled to stop `slow`; a fresh one runs the rest.
        #expect(try await unrelated.value == 42)
        try await scheduler.wait()
        #expect(scheduler.stats.counts.cancelled == 2)
    }

    @Test func cancelAllEndsEverythingUnfinished() async throws {
        let scheduler = Scheduler(policy: .fifo)
        let queue = try scheduler.queue("work", width: 1)
        let futures = (0..<10).map { index in queue.submit { index } }
        scheduler.cancelAll()
        scheduler.start()
        try await scheduler.wait()
        for future in futures {
            let error = await #expect(throws: TrellisError.self) { try await future.value }
            #expect(error?.code == .cancelled)
        }
        #expect(scheduler.stats.counts.cancelled == 10)
    }

    @Test func timeoutCancelsTheAttemptAndRetriesIt() async throws {
        let clock = ManualClock()
        let scheduler = Scheduler(policy: .fifo, clock: clock)
        let queue = try scheduler.queue("work", width: 1)
        let attempts = Counter()
        let task = queue.submit(retry: RetryPolicy(maxAttempts: 2), timeout: .seconds(5)) { () -> String in
            if attempts.increment() == 1 { try await clock.sleep(for: .seconds(3600)) }
            return "second attempt"
        }
        scheduler.start()
        try await clock.waitForSleepers(count: 2)  // the task's sleep and its timeout
        clock.advance(by: .seconds(5))
        #expect(try await task.value == "second attempt")
        #expect(attempts.value == 2)
    }

    @Test func timeoutWithoutRetryFailsAsTimedOut() async throws {
        let clock = ManualClock()
        let scheduler = Scheduler(policy: .fifo, clock: clock)
        let queue = try scheduler.queue("work", width: 1)
        let task = queue.submit(timeout: .seconds(5)) { () -> Int in
            try await clock.sleep(for: .seconds(3600))
            return 0
        }
        scheduler.start()
        try await clock.waitForSleepers(count: 2)
        clock.advance(by: .seconds(4))
        #expect(scheduler.state(of: task.task) == .running(attempt: 1))
        clock.advance(by: .seconds(1))
        let error = await #expect(throws: TrellisError.self) { try await task.value }
        #expect(error?.code == .timedOut)
    }

    @Test func retriesWaitTheirBackOffOnTheClock() async throws {
        let clock = ManualClock()
        let scheduler = Scheduler(policy: .fifo, clock: clock)
        let queue = try scheduler.queue("work", width: 1)
        let events = scheduler.events
        let attempts = Counter()
        let retry = RetryPolicy(maxAttempts: 3, initialBackoff: .seconds(1), multiplier: 2)
        let flaky = queue.submit(retry: retry) { () -> Int in
            let attempt = attempts.increment()
            if attempt < 3 { throw TestFailure(label: "attempt \(attempt)") }
            return attempt
        }
        scheduler.start()
        try await clock.waitForSleepers(count: 1)
        #expect(scheduler.state(of: flaky.task) == .retrying(afterAttempt: 1))
        clock.advance(by: .seconds(1))
        try await clock.waitForSleepers(count: 1)
        #expect(scheduler.state(of: flaky.task) == .retrying(afterAttempt: 2))
        clock.advance(by: .milliseconds(1999))
        #expect(scheduler.state(of: flaky.task) == .retrying(afterAttempt: 2))
        clock.advance(by: .milliseconds(1))
        #expect(try await flaky.value == 3)
        let log = await events.collect { if case .succeeded = $0.kind { true } else { false } }
        let starts = log.compactMap { event -> Duration? in
            if case .started = event.kind { event.time } else { nil }
        }
        #expect(starts == [.zero, .seconds(1), .seconds(3)])
        let retried = log.filter { if case .failed(_, _, true) = $0.kind { true } else { false } }
        #expect(retried.count == 2)
    }

    @Test func continueIndependentRunsEveryBranchThatDoesNotDependOnTheFailure() async throws {
        let scheduler = Scheduler(policy: .fifo, failurePolicy: .continueIndependent)
        let queue = try scheduler.queue("work", width: 1)
        //  bad ─► child ─► grandchild        good ─► goodChild
        let bad = queue.submit(name: "bad") { () -> Int in throw TestFailure(label: "bad") }
        let child = queue.submit(bad) { $0 + 1 }
        let grandchild = queue.submit(child) { $0 + 1 }
        let good = queue.submit { 1 }
        let goodChild = queue.submit(good) { $0 + 1 }
        let error = await #expect(throws: TrellisError.self) { try await scheduler.wait() }
        #expect(error?.code == .tasksFailed)
        #expect(error?.failures.map(\.task) == [bad.task])
        #expect((error?.failures.first?.cause as? TestFailure) == TestFailure(label: "bad"))
        #expect(try await goodChild.value == 2)
        let upstream = await #expect(throws: TrellisError.self) { try await grandchild.value }
        #expect(upstream?.code == .upstreamFailed)
        #expect((upstream?.cause as? TestFailure) == TestFailure(label: "bad"))
        #expect(scheduler.state(of: child.task) == .finished(.upstreamFailed(root: bad.task)))
    }

    @Test func failFastCancelsTheRest() async throws {
        let scheduler = Scheduler(policy: .fifo, failurePolicy: .failFast)
        let queue = try scheduler.queue("work", width: 1)
        let bad = queue.submit { () -> Int in throw TestFailure(label: "bad") }
        let others = (0..<5).map { index in queue.submit { index } }
        let error = await #expect(throws: TrellisError.self) { try await scheduler.wait() }
        #expect(error?.failures.first?.task == bad.task)
        for other in others {
            #expect(scheduler.state(of: other.task) == .finished(.cancelled(cause: bad.task)))
        }
        // A wait after the failure was reported does not report it again.
        try await scheduler.wait()
    }
}
