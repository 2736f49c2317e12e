import Foundation
import Synchronization
import Testing
import TrellisCLI
import TrellisExecution
import TrellisTestKit
import TrellisWorkflow

@Suite("Triggers on a manual clock")
struct TriggerTests {
    @Test func aFileTriggerHoldsAtTheFirstCheckAfterTheFileAppears() async throws {
        let scratch = try Scratch()
        let clock = ManualClock()
        let trigger = WorkflowTrigger(
            name: "ready", condition: .fileExists("ready"), interval: .seconds(5), timeout: .seconds(60))
        let watch = TriggerWatch(
            interval: trigger.interval, timeout: trigger.timeout, clock: clock,
            check: TriggerWatch<ManualClock>.condition(trigger.condition, directory: scratch.path))
        let outcome = Task { await watch.run() }
        try await clock.waitForSleepers(count: 1)  // first check failed; asleep until t+5s
        clock.advance(by: .seconds(5))
        try await clock.waitForSleepers(count: 1)  // second check failed
        _ = try scratch.write("ready", "")
        clock.advance(by: .seconds(5))
        #expect(await outcome.value == .satisfied(checks: 3))
    }

    @Test func aTriggerGivesUpAtItsTimeoutWithALastCheckThere() async throws {
        let clock = ManualClock()
        let trigger = WorkflowTrigger(
            name: "never", condition: .fileExists("/nonexistent/x"), interval: .seconds(4), timeout: .seconds(10))
        let checks = Counter()
        let watch = TriggerWatch(interval: trigger.interval, timeout: trigger.timeout, clock: clock) {
            checks.increment()
            return false
        }
        let outcome = Task { await watch.run() }
        for _ in 0..<3 {  // checks at t=0, 4, 8; then a last one at the deadline t=10
            try await clock.waitForSleepers(count: 1)
            clock.advance(to: clock.nextDeadline!)
        }
        #expect(await outcome.value == .timedOut(checks: 4))
        #expect(clock.now == ManualClock.Instant(offset: .seconds(10)))
        #expect(checks.value == 4)
    }

    @Test func aWallClockTriggerReadsTheInjectedTime() async throws {
        let now = Counter()
        let check = TriggerWatch<ManualClock>.condition(.wallClock(secondsSince1970: 100), directory: "/") {
            Double(now.value)
        }
        #expect(await check() == false)
        now.set(100)
        #expect(await check() == true)
    }

    @Test func aCommandTriggerHoldsWhenTheCommandSucceeds() async throws {
        let scratch = try Scratch()
        let check = TriggerWatch<ManualClock>.condition(.command("test -f flag"), directory: scratch.path)
        #expect(await check() == false)
        _ = try scratch.write("flag", "")
        #expect(await check() == true)
    }

    @Test func cancellingAWatchStopsIt() async throws {
        let clock = ManualClock()
        let trigger = WorkflowTrigger(name: "x", condition: .fileExists("/nonexistent"), interval: .seconds(1))
        let watch = TriggerWatch(interval: trigger.interval, timeout: trigger.timeout, clock: clock) { false }
        let outcome = Task { await watch.run() }
        try await clock.waitForSleepers(count: 1)
        outcome.cancel()
        #expect(await outcome.value == .stopped)
    }
}

final class Counter: Sendable {
    private let storage = Mutex(0)
    var value: Int { storage.withLock { $0 } }
    func increment() { storage.withLock { $0 += 1 } }
    func set(_ value: Int) { storage.withLock { $0 = value } }
}
