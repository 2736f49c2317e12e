internal import Foundation
import Synchronization
internal import TrellisCore
internal import TrellisEngine
internal import TrellisWorkflow

/// The live display on a terminal: a progress bar, counts per state, the running tasks, elapsed time and an
/// estimate of what is left. Failures and retries scroll above it. Redrawn at most ten times a second.
final class ProgressDisplay: RunRenderer {
    private struct State {
        var workflow = ""
        var total = 0
        var doneBefore = 0
        var finished: [TaskStatus: Int] = [:]
        var running: [String: Double] = [:]
        /// Where each running task runs, when not on this machine.
        var workers: [String: String] = [:]
        var runningOrder: [String] = []
        var retrying = 0
        var start = Date().timeIntervalSince1970
        var drawnLines = 0
        var dirty = true
        var ended = false
        var stopping = false
    }

    private let state = Mutex(State())
    private let ticker = Mutex<Task<Void, Never>?>(nil)

    init() {
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                self?.draw(force: false)
            }
        }
        ticker.withLock { $0 = task }
    }

    func handle(_ event: RunEvent) {
        let messages: [String] = state.withLock { state in
            state.dirty = true
            switch event {
            case .began(let workflow, let total, let done, _):
                state.workflow = workflow
                state.total = total
                state.doneBefore = done
                return done > 0 ? ["resuming \(workflow): \(done) of \(total) tasks already done"] : []
            case .started(let task, _, _, let worker):
                if state.running[task] == nil { state.runningOrder.append(task) }
                state.running[task] = Date().timeIntervalSince1970
                state.workers[task] = worker
                return []
            case .output:
                return []
            case .finished(let task, let attempt, let result, _, let message, _):
                state.running[task] = nil
                state.workers[task] = nil
                state.runningOrder.removeAll { $0 == task }
                if result == .retrying {
                    state.retrying += 1
                    return ["↻ \(task) attempt \(attempt) failed (\(message ?? "error")); retrying"]
                }
                state.finished[result, default: 0] += 1
                return result == .failed ? ["✗ \(task) failed: \(message ?? "error")"] : []
            case .settled(let task, let result, let message):
                state.finished[result, default: 0] += 1
                return result == .upstreamFailed || result == .cancelled
                    ? ["⊘ \(task): \(message ?? result.rawValue)"] : []
            case .stopping(let force):
                state.stopping = true
                return [
                    force
                        ? "killing running tasks"
                        : "stopping: no new tasks; running tasks get SIGTERM (Ctrl-C again to kill)"
                ]
            case .ended:
                state.ended = true
                return []
            }
        }
        if !messages.isEmpty { draw(force: true, messages: messages) }
    }

    func finish(_ summary: RunSummary, at place: RunPlace) {
        ticker.withLock { $0?.cancel() }
        draw(force: true)
        printSummary(summary, at: place)
    }

    private func draw(force: Bool, messages: [String] = []) {
        let output: String? = state.withLock { state in
            guard force || state.dirty || !state.ended else { return nil }
            state.dirty = false
            var out = ""
            if state.drawnLines > 0 { out += "\u{1B}[\(state.drawnLines)F\u{1B}[J" }
            for message in messages { out += message + "\n" }
            let lines = Self.block(state)
            for line in lines { out += line + "\n" }
            state.drawnLines = lines.count
            return out
        }
        guard let output else { return }
        FileHandle.standardOutput.write(Data(output.utf8))
    }

    private static func block(_ state: State) -> [String] {
        let done = state.doneBefore + state.finished.values.reduce(0, +)
        let fraction = state.total > 0 ? Double(done) / Double(state.total) : 1
        let width = 30
        let filled = Int((fraction * Double(width)).rounded(.down))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let now = Date().timeIntervalSince1970
        let elapsed = now - state.start
        let finishedNow = done - state.doneBefore
        var eta = ""
        if finishedNow > 0, done < state.total {
            let remaining = elapsed / Double(finishedNow) * Double(state.total - done)
            eta = "  eta \(DurationText.format(seconds: remaining))"
        }
        var lines = [
            "\(state.workflow)  \(bar)  \(done)/\(state.total)  \(Int(fraction * 100))%  elapsed \(DurationText.format(seconds: elapsed))\(eta)"
        ]
        var counts = ["▶ \(state.running.count) running"]
        for (symbol, key) in [
            ("✓", TaskStatus.succeeded), ("✗", .failed), ("⊘", .upstreamFailed), ("–", .cancelled), ("–", .killed),
            ("○", .skipped),
        ] {
            if let count = state.finished[key], count > 0 { counts.append("\(symbol) \(count) \(key.rawValue)") }
        }
        if state.doneBefore > 0 { counts.append("✓ \(state.doneBefore) done before") }
        if state.retrying > 0 { counts.append("↻ \(state.retrying) retries") }
        let waiting = state.total - done - state.running.count
        if waiting > 0 { counts.append("… \(waiting) waiting") }
        lines.append("  " + counts.joined(separator: "  "))
        for task in state.runningOrder.prefix(5) {
            let seconds = now - (state.running[task] ?? now)
            let place = state.workers[task].map { "  on \($0)" } ?? ""
            lines.append("  ▶ \(task)  \(DurationText.format(seconds: seconds))\(place)")
        }
        if state.runningOrder.count > 5 { lines.append("  … and \(state.runningOrder.count - 5) more running") }
        return lines
    }
}
