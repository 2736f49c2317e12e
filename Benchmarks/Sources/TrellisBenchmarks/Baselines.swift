import Synchronization

/// Raw Swift baselines measured in the same run as Trellis.
enum Baseline {
    /// `n` no-op children of one task group: create, run, complete. Seconds per child.
    static func taskGroupChild(_ n: Int) async -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<n { group.addTask {} }
        }
        return seconds(start.duration(to: clock.now)) / Double(n)
    }

    /// A baton passed `n` times between two tasks: each step resumes the parked partner's continuation and
    /// parks itself. Seconds per hand-off.
    static func continuationHandOff(_ n: Int) async -> Double {
        let baton = Baton(handOffs: n)
        let clock = ContinuousClock()
        let start = clock.now
        async let other: Void = baton.run()
        await baton.run()
        await other
        return seconds(start.duration(to: clock.now)) / Double(n)
    }

    /// Fan-out/fan-in with a task group: one value, `n` children reading it, one sum. Seconds per task.
    static func taskGroupFan(_ n: Int) async -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        let root = await Task { 1 }.value
        let sum = await withTaskGroup(of: Int.self) { group in
            for i in 0..<n { group.addTask { root + i } }
            return await group.reduce(0, +)
        }
        precondition(sum > 0)
        return seconds(start.duration(to: clock.now)) / Double(n + 2)
    }
}

/// Two tasks taking turns: the one holding the baton wakes the parked one and parks itself.
final class Baton: Sendable {
    private struct State {
        var parked: UnsafeContinuation<Bool, Never>?
        var remaining: Int
    }

    private let state: Mutex<State>

    init(handOffs: Int) {
        state = Mutex(State(remaining: handOffs))
    }

    func run() async {
        while true {
            let finished = await withUnsafeContinuation { (me: UnsafeContinuation<Bool, Never>) in
                let (partner, finished) = state.withLock { state -> (UnsafeContinuation<Bool, Never>?, Bool) in
                    let partner = state.parked
                    if state.remaining == 0 {
                        state.parked = nil
                        return (partner, true)
                    }
                    if partner != nil { state.remaining -= 1 }
                    state.parked = me
                    return (partner, false)
                }
                if finished {
                    partner?.resume(returning: true)
                    me.resume(returning: true)
                } else {
                    partner?.resume(returning: false)
                }
            }
            if finished { return }
        }
    }
}
