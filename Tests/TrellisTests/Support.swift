import Synchronization
import Trellis
import TrellisCore

/// Records what tasks do, from inside their closures, for invariant checks after a run.
final class RunLog: Sendable {
    struct Entry: Sendable {
        var task: Int
        var started: Int
        var finished: Int
    }

    private struct State {
        var clock = 0
        var starts: [Int: [Int]] = [:]
        var finishes: [Int: Int] = [:]
        var running: [String: Int] = [:]
        var peak: [String: Int] = [:]
    }

    private let state = Mutex(State())

    /// Marks `task` as started on `queue`; returns a logical timestamp.
    func start(_ task: Int, queue: String) {
        state.withLock { state in
            state.clock += 1
            state.starts[task, default: []].append(state.clock)
            state.running[queue, default: 0] += 1
            state.peak[queue] = max(state.peak[queue] ?? 0, state.running[queue]!)
        }
    }

    func finish(_ task: Int, queue: String) {
        state.withLock { state in
            state.clock += 1
            state.finishes[task] = state.clock
            state.running[queue, default: 0] -= 1
        }
    }

    func runs(of task: Int) -> Int { state.withLock { $0.starts[task]?.count ?? 0 } }
    func peak(of queue: String) -> Int { state.withLock { $0.peak[queue] ?? 0 } }
    func startTime(of task: Int) -> Int? { state.withLock { $0.starts[task]?.first } }
    func finishTime(of task: Int) -> Int? { state.withLock { $0.finishes[task] } }
}

/// A one-shot signal a test can await; no polling.
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }
}

struct TestFailure: Error, Equatable {
    var label: String
}

extension AsyncStream where Element == TaskEvent {
    /// Collects events until `predicate` holds for one of them (that one included).
    func collect(until predicate: (TaskEvent) -> Bool) async -> [TaskEvent] {
        var events: [TaskEvent] = []
        for await event in self {
            events.append(event)
            if predicate(event) { break }
        }
        return events
    }
}
