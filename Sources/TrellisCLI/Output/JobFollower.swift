internal import Foundation
package import TrellisEngine
package import TrellisProtocol
internal import TrellisWorkflow

/// A job on a coordinator, told as `trellis run` tells a local run: its watch stream becomes the same run
/// events for the same renderers, and its end the same summary and exit status.
package struct JobFollower: Sendable {
    private struct Followed {
        var name: String
        var state: TaskStatus? = .created
        /// The attempt seen starting and not yet ended.
        var open: (number: Int, since: Double)?
        var attempts: [StoredAttempt] = []
        /// The attempt count the coordinator gave last.
        var attemptCount = 0
        var outputs: [String] = []
        var message: String?
        var finishedAt: Double?
    }

    package let job: UInt64
    package private(set) var jobName: String
    package private(set) var ended = false
    private var order: [UInt64] = []
    private var tasks: [UInt64: Followed] = [:]
    private var names: Set<String> = []
    /// Tasks of the first snapshot still to come; tasks seen after it were added to the job while it ran.
    private var snapshotLeft: Int?
    private let began: Double

    package init(job: UInt64, now: Double = Date().timeIntervalSince1970) {
        self.job = job
        jobName = "job \(job)"
        began = now
    }

    /// The name a task is shown by, once the watch has shown it.
    package func name(of task: UInt64) -> String? { tasks[task]?.name }

    /// The run events one watch event means (none, one, or a began with the new total when tasks were added).
    package mutating func take(_ event: RemoteJobEvent) -> [RunEvent] {
        let time = Double(event.timeMs) / 1000
        if event.jobEnded {
            ended = true
            return [.ended(status: verdict, seconds: max(0, time - began))]
        }
        if event.isHeader {
            if !event.jobName.isEmpty { jobName = event.jobName }
            snapshotLeft = Int(event.jobTasks)
            return [.began(workflow: jobName, total: Int(event.jobTasks), done: 0, session: 0)]
        }
        var events: [RunEvent] = []
        var task: Followed
        if let known = tasks[event.task] {
            task = known
        } else {
            let unique = names.insert(event.taskName).inserted
            task = Followed(name: unique ? event.taskName : "\(event.taskName) (task \(event.task))")
            order.append(event.task)
            if let left = snapshotLeft, left > 0 {
                snapshotLeft = left - 1
            } else {
                events.append(.began(workflow: jobName, total: order.count, done: 0, session: 0))
            }
        }
        defer { tasks[event.task] = task }
        let attempt = Int(event.attempt)
        task.attemptCount = max(task.attemptCount, attempt)
        if let output = event.output {
            if !task.outputs.contains(output) { task.outputs.append(output) }
            events.append(.output(task: task.name, name: output))
            return events
        }
        task.state = event.status
        task.message = event.message
        let worker = event.worker
        switch event.status {
        case .assigned, .running:
            if task.open?.number != attempt {
                if let open = task.open { events.append(end(&task, open, as: .retrying, at: time)) }
                task.open = (attempt, time)
                task.attempts.append(StoredAttempt(number: attempt, startedAt: time))
                events.append(
                    .started(task: task.name, attempt: attempt, queue: WorkflowQueue.defaultName, worker: worker))
            }
        case .created, .paused, .waiting, .ready, .retrying:
            // An attempt that ended with the task back in line: it failed and is retried, or its worker was lost.
            if let open = task.open { events.append(end(&task, open, as: .retrying, at: time)) }
        default:
            let state = Self.stored(event.status)
            task.finishedAt = time
            if let open = task.open {
                events.append(end(&task, open, as: state, at: time))
            } else {
                events.append(.settled(task: task.name, state: state, message: task.message))
            }
        }
        return events
    }

    private func end(
        _ task: inout Followed, _ open: (number: Int, since: Double), as state: TaskStatus, at time: Double
    )
        -> RunEvent
    {
        task.open = nil
        if let last = task.attempts.indices.last {
            task.attempts[last].endedAt = time
            task.attempts[last].state = state
        }
        return .finished(
            task: task.name, attempt: open.number, state: state, exitCode: nil, message: task.message,
            seconds: max(0, time - open.since))
    }

    /// How the watch display names a coordinator's task state: as it is, but an attempt on its way to a worker
    /// already counts as running, and a state this Trellis does not know as waiting.
    package static func stored(_ state: TaskStatus?) -> TaskStatus {
        switch state {
        case .assigned: .running
        case let status?: status
        case nil: .waiting
        }
    }

    private var verdict: String {
        tasks.values.allSatisfy { $0.state == .succeeded || $0.state == .skipped } ? "succeeded" : "failed"
    }

    /// The job as it stands, for the summary; `interrupted` when the watch stopped before the job ended.
    package func summary(interrupted: Bool, now: Double = Date().timeIntervalSince1970) -> RunSummary {
        var snapshot = RunSnapshot(
            identity: RunIdentity(workflow: jobName, file: "job \(job)", contentHash: ""), sessions: 1,
            status: ended ? verdict : "running", startedAt: began, endedAt: ended ? now : nil)
        snapshot.tasks = order.compactMap { id in
            guard let task = tasks[id] else { return nil }
            var attempts = task.attempts
            // Attempts that ended before the watch began are counted, not timed.
            while attempts.count < task.attemptCount {
                attempts.insert(StoredAttempt(number: task.attemptCount - attempts.count, startedAt: began), at: 0)
            }
            return StoredTask(
                id: task.name, state: Self.stored(task.state), attempts: attempts, outputs: task.outputs,
                message: task.message, finishedAt: task.finishedAt)
        }
        return RunSummary(
            snapshot: snapshot, elapsed: .seconds(max(0, now - began)), interrupted: interrupted && !ended,
            alreadyDone: 0)
    }
}
