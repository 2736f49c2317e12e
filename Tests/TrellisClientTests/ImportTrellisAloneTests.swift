import Testing
import Trellis

// This file imports `Trellis` and nothing else: it compiles only if every type the library's API takes or
// returns is visible through that one import.

@Suite struct ImportTrellisAloneTests {
    @Test func everyTypeOfTheAPIIsNameable() async throws {
        let policy: SchedulingPolicy = .threshold(2)
        let failure: FailurePolicy = .failFast
        let scheduler = Scheduler(policy: policy, failurePolicy: failure)
        let queue = try scheduler.queue("work", width: 2)
        let retry = RetryPolicy(maxAttempts: 2, initialBackoff: .zero)
        let a = queue.submit(name: "a", retry: retry) { 20 }
        let b = queue.submit(a, name: "b", priority: 1) { $0 + 1 }
        let dependency: Dependency = b.dependency
        let id: TaskID = dependency.task
        scheduler.start()
        #expect(try await b.value == 21)
        try await scheduler.wait()
        let state: TaskState = scheduler.state(of: id)
        #expect(state == .finished(.succeeded))
    }

    @Test(arguments: [0, -1, Scheduler.maxQueueWidth + 1])
    func aQueueWithAnImpossibleWidthIsAnError(width: Int) {
        let scheduler = Scheduler()
        #expect(throws: TrellisError.self) { try scheduler.queue("q", width: width) }
        do {
            _ = try scheduler.queue("q", width: width)
        } catch {
            #expect(error.code == .invalidQueue)
            #expect(error.message.contains("\(width)"))
        }
    }
}
