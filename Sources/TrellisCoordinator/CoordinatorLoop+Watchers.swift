internal import Foundation
internal import GRPCCore
internal import TrellisCore
internal import TrellisProtocol
internal import TrellisStore

/// Job watchers and worker listings: what operators see of the loop's state.
extension CoordinatorLoop {
    mutating func watch(_ job: UInt64, _ continuation: JobWatcher) throws {
        var after: UInt64 = 0
        while true {
            let page = try store.tasks(states: [], job: job, afterID: after, limit: 10_000)
            if after == 0 && page.isEmpty && jobOpen[job] == nil {
                continuation.finish(throwing: RPCError(code: .notFound, message: "there is no job \(job)"))
                return
            }
            for task in page { continuation.yield(Self.event(task)) }
            guard let last = page.last else { break }
            after = last.id
        }
        if (jobOpen[job] ?? 0) == 0 {
            var end = Trellis_V1_JobEvent()
            end.jobEnded = true
            continuation.yield(end)
            continuation.finish()
        } else {
            watchers[job, default: []].append(continuation)
        }
    }

    /// Tells the watchers of the changed tasks' jobs. A change whose new state is known is described from
    /// memory; one that is not (a failure, a cancellation, an end passed on from a needed task) is read.
    mutating func notifyWatchers(
        _ changes: [(UInt64, RemoteTaskState?)], outputs: [(UInt64, String)], ended gone: [UInt64: Entry]
    ) {
        guard !watchers.isEmpty else { return }
        var finished = Set<UInt64>()
        let time = UInt64(Date().timeIntervalSince1970 * 1000)
        func describe(_ id: UInt64, _ state: RemoteTaskState?) -> (UInt64, Trellis_V1_JobEvent)? {
            guard let entry = entries[id] ?? gone[id], watchers[entry.job] != nil else { return nil }
            if let state {
                var event = Trellis_V1_JobEvent()
                event.taskID = id
                event.taskName = entry.name
                event.state = Trellis_V1_TaskState(state)
                event.attempt = UInt32(entry.attempt)
                if let worker = entry.worker, let link = workerConnection[worker].flatMap({ connections[$0] }) {
                    event.worker = link.name
                }
                event.timeMs = time
                return (entry.job, event)
            }
            guard let task = try? store.task(id) else { return nil }
            return (task.job, Self.event(task))
        }
        for (id, state) in changes {
            guard let (job, event) = describe(id, state) else { continue }
            for watcher in watchers[job] ?? [] { watcher.yield(event) }
            if (jobOpen[job] ?? 0) == 0 { finished.insert(job) }
        }
        for (id, name) in outputs {
            guard let (job, described) = describe(id, .running) else { continue }
            var event = described
            event.output = name
            for watcher in watchers[job] ?? [] { watcher.yield(event) }
        }
        for job in finished {
            var end = Trellis_V1_JobEvent()
            end.jobEnded = true
            end.timeMs = time
            for watcher in watchers.removeValue(forKey: job) ?? [] {
                watcher.yield(end)
                watcher.finish()
            }
        }
    }

    static func event(_ task: RemoteTask) -> Trellis_V1_JobEvent {
        var event = Trellis_V1_JobEvent()
        event.taskID = task.id
        event.taskName = task.name
        event.state = Trellis_V1_TaskState(task)
        event.attempt = UInt32(task.attempt)
        event.worker = task.worker ?? ""
        event.message = task.message ?? ""
        event.timeMs = UInt64(((task.finishedAt ?? task.startedAt ?? task.createdAt) * 1000).rounded())
        return event
    }

    func workerInfos() throws -> [Trellis_V1_WorkerInfo] {
        try store.workers().map { worker in
            var info = Trellis_V1_WorkerInfo()
            info.id = worker.id
            info.name = worker.name
            info.type = worker.type
            info.tags = worker.tags
            info.slots = UInt32(worker.slots)
            info.running = UInt32(core.runningCount(of: worker.id))
            info.status =
                workerConnection[worker.id] != nil
                ? "connected" : (core.workers[worker.id] != nil ? "disconnected" : worker.status.rawValue)
            info.lastSeenMs = UInt64(worker.lastSeen * 1000)
            if let connection = workerConnection[worker.id].flatMap({ connections[$0] }) {
                info.resources = connection.resources
            }
            return info
        }
    }
}
