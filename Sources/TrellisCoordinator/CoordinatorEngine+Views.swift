internal import TrellisCore
internal import TrellisEngine
internal import TrellisJournal
internal import TrellisProtocol

/// What operators see of a task: its state in the one vocabulary, and why it waits.
extension CoordinatorEngine {
    func view(of id: TaskID) -> TaskStatus {
        let task = tasks[id.rawValue]
        if let outcome = state.core.outcome(of: id) {
            switch outcome {
            case .succeeded: return .succeeded
            case .failed: return .failed
            case .cancelled: return task.killed ? .killed : .cancelled
            case .upstreamFailed: return .upstreamFailed
            case .skipped: return .skipped
            }
        }
        if task.paused { return .paused }
        if !task.played { return .created }
        switch state.core.state(of: id) {
        case .waiting: return .waiting
        case .ready: return .ready
        case .retrying: return .retrying
        case .running(let attempt): return task.startedAttempt == attempt ? .running : .assigned
        default: return .waiting
        }
    }
}
