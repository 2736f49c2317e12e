import Testing
import TrellisTestKit

@Suite("Manual clock")
struct ManualClockTests {
    @Test func startsAtZeroAndAdvances() {
        let clock = ManualClock()
        #expect(clock.now == .zero)
        clock.advance(by: .seconds(2))
        #expect(clock.now == ManualClock.Instant(offset: .seconds(2)))
        clock.advance(to: ManualClock.Instant(offset: .seconds(5)))
        #expect(clock.now.offset == .seconds(5))
        // Time never goes back.
        clock.advance(to: ManualClock.Instant(offset: .seconds(1)))
        clock.advance(by: .seconds(-3))
        #expect(clock.now.offset == .seconds(5))
        #expect(clock.minimumResolution == .zero)
        #expect(clock.now.duration(to: .zero) == .seconds(-5))
    }

    @Test func sleeperWakesOnlyAtItsDeadline() async throws {
        let clock = ManualClock()
        let woke = Locked(false)
        try await withThrowingTaskGroup { group in
            group.addTask {
                try await clock.sleep(until: .zero.advanced(by: .seconds(10)))
                woke.mutate { $0 = true }
            }
            try await clock.waitForSleepers(count: 1)
            #expect(clock.sleeperCount == 1)
            #expect(clock.nextDeadline == ManualClock.Instant(offset: .seconds(10)))
            clock.advance(by: .seconds(9))
            #expect(clock.sleeperCount == 1)
            #expect(!woke.value)
            clock.advance(by: .seconds(1))
            #expect(clock.sleeperCount == 0)
            try await group.waitForAll()
        }
        #expect(woke.value)
        #expect(clock.nextDeadline == nil)
    }

    @Test func sleepUntilThePastReturnsAtOnce() async throws {
        let clock = ManualClock(start: ManualClock.Instant(offset: .seconds(3)))
        try await clock.sleep(until: ManualClock.Instant(offset: .seconds(3)))
        try await clock.sleep(for: .zero)
        #expect(clock.sleeperCount == 0)
    }

    @Test func sleepersWakeInDeadlineOrder() async throws {
        let clock = ManualClock()
        let order = Locked<[Int]>([])
        try await withThrowingTaskGroup { group in
            for seconds in [3, 1, 2] {
                group.addTask {
                    try await clock.sleep(until: .zero.advanced(by: .seconds(seconds)))
                    order.mutate { $0.append(seconds) }
                }
            }
            try await clock.waitForSleepers(count: 3)
            // One deadline at a time: each wake-up is observed before the next advance.
            for seconds in 1...3 {
                clock.advance(to: .zero.advanced(by: .seconds(seconds)))
                try await group.next()
            }
        }
        #expect(order.value == [1, 2, 3])
    }

    @Test func oneAdvanceWakesEveryDueSleeperAndNoOther() async throws {
        let clock = ManualClock()
        let woke = Locked<Set<Int>>([])
        try await withThrowingTaskGroup { group in
            for seconds in [1, 2, 5] {
                group.addTask {
                    try await clock.sleep(until: .zero.advanced(by: .seconds(seconds)))
                    woke.mutate { $0.insert(seconds) }
                }
            }
            try await clock.waitForSleepers(count: 3)
            clock.advance(by: .seconds(4))
            try await group.next()
            try await group.next()
            #expect(woke.value == [1, 2])
            #expect(clock.sleeperCount == 1)
            clock.advance(by: .seconds(1))
            try await group.waitForAll()
        }
        #expect(woke.value == [1, 2, 5])
    }

    @Test func cancellingASleeperThrowsAndRemovesIt() async throws {
        let clock = ManualClock()
        let sleeper = Task {
            try await clock.sleep(until: .zero.advanced(by: .seconds(60)))
        }
        try await clock.waitForSleepers(count: 1)
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(clock.sleeperCount == 0)
        // A later advance finds nothing to resume.
        clock.advance(by: .seconds(60))
        #expect(clock.sleeperCount == 0)
    }

    @Test func alreadyCancelledTaskDoesNotSleep() async {
        let clock = ManualClock()
        let sleeper = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await clock.sleep(until: .zero.advanced(by: .seconds(1)))
        }
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(clock.sleeperCount == 0)
    }

    @Test func waitForSleepersReturnsAtOnceWhenEnoughSleep() async throws {
        let clock = ManualClock()
        try await clock.waitForSleepers(count: 0)
        let sleeper = Task { try await clock.sleep(until: .zero.advanced(by: .seconds(1))) }
        try await clock.waitForSleepers(count: 1)
        try await clock.waitForSleepers(count: 1)
        clock.advance(by: .seconds(1))
        try await sleeper.value
    }

    @Test func waitForSleepersCanBeCancelled() async {
        let clock = ManualClock()
        let waiter = Task { try await clock.waitForSleepers(count: 5) }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
    }

    @Test func manySleepersFromManyTasks() async throws {
        let clock = ManualClock()
        let count = 200
        let woke = Locked(0)
        try await withThrowingTaskGroup { group in
            for index in 0..<count {
                group.addTask {
                    try await clock.sleep(until: .zero.advanced(by: .milliseconds(index % 10)))
                    woke.mutate { $0 += 1 }
                }
            }
            try await clock.waitForSleepers(count: count - count / 10)
            clock.advance(by: .milliseconds(9))
            try await group.waitForAll()
        }
        #expect(woke.value == count)
        #expect(clock.sleeperCount == 0)
    }

    @Test func worksAsAGenericClock() async throws {
        func nap(on clock: some Clock<Duration>) async throws {
            try await clock.sleep(for: .seconds(1))
        }
        let clock = ManualClock()
        async let napped: Void = nap(on: clock)
        try await clock.waitForSleepers(count: 1)
        clock.advance(by: .seconds(1))
        try await napped
        #expect(clock.now.offset == .seconds(1))
    }
}
