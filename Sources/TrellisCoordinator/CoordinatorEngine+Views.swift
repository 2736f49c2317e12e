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

extension CoordinatorEngine {
    /// Every job in id order, or the one `job` names: O(jobs), the counts being the core's.
    func summaries(of job: UInt64? = nil) -> [RemoteJobSummary] {
        let selected = job.map { [$0] } ?? jobs.keys.sorted()
        return selected.compactMap { wire in
            guard let entry = jobs[wire] else { return nil }
            return RemoteJobSummary(
                id: wire, name: entry.name, policy: state.core.policy(of: entry.core).description,
                tasks: entry.tasks.count, unfinished: state.core.unfinishedCount(of: entry.core),
                counts: state.core.counts(of: entry.core))
        }
    }
}
