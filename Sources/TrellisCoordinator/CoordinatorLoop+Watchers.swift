internal import Foundation
internal import GRPCCore
internal import SwiftProtobuf
internal import TrellisCore
internal import TrellisProtocol

/// What operators see of the loop's state: job watchers, task listings, workers.
extension CoordinatorLoop {
    /// Takes a watcher of a job, which is shown the job as the turn leaves it (`startWatches`).
    mutating func watch(_ job: UInt64, _ watcher: JobWatcher) {
        guard engine.jobs[job] != nil else {
            let error = RPCError(code: .notFound, message: engine.unknownJob(job))
            later { watcher.finish(throwing: error) }
            return
        }
        newWatchers.append((job, watcher))
    }

    /// Sends each new watcher its job's name and task count, then every task as it is after this turn, then
    /// (from the next turn on) the changes; a job that has ended gets its end at once.
    mutating func startWatches() {
        for (job, watcher) in newWatchers {
            guard let record = engine.jobs[job] else { continue }
            // The first picture of the job goes out whole, however large the job.
            watcher.allow(record.tasks.count + 2)
            var header = RemoteJobEvent()
            header.jobName = record.name
            header.jobTasks = record.tasks.count
            header.timeMs = wallMs
            watcher.yield(header)
            for id in record.tasks {
                watcher.yield(event(id))
                // Outputs signalled before the watch began (or in this turn, before it was taken).
                let task = engine.tasks[id.rawValue]
                for (item, name) in task.outputs.enumerated() where engine.state.core.hasEmitted(id, item: item) {
                    var output = event(id)
                    output.output = name
                    watcher.yield(output)
                }
            }
            if engine.state.core.unfinishedCount(of: record.core) == 0 {
                var end = RemoteJobEvent()
                end.jobEnded = true
                end.timeMs = header.timeMs
                watcher.yield(end)
                watcher.finish()
            } else {
                watchers[job, default: []].append(watcher)
            }
        }
        newWatchers.removeAll()
    }

    /// Forgets watchers whose client went away (their outbox closed), so nothing is kept for them.
    mutating func dropGoneWatchers() {
        guard !watchers.isEmpty else { return }
        for (job, list) in watchers where list.contains(where: \.isFinished) {
            let open = list.filter { !$0.isFinished }
            watchers[job] = open.isEmpty ? nil : open
        }
    }

    func event(_ id: TaskID) -> RemoteJobEvent {
        let task = engine.tasks[id.rawValue]
        var event = RemoteJobEvent()
        event.task = engine.wire(id)
        event.taskName = task.name
        event.status = engine.view(of: id)
        event.attempt = engine.state.core.attemptCount(of: id)
        event.worker = holderName(id)
        event.message = message(id)
        event.timeMs = wallMs
        return event
    }

    /// The worker running the task, or the one that ran its latest attempt.
    func holderName(_ id: TaskID) -> String? {
        engine.state.core.holder(of: id).flatMap { engine.workerNames[$0] } ?? engine.tasks[id.rawValue].worker
    }

    /// Why a task ended as it did, in words.
    func message(_ id: TaskID) -> String? {
        let task = engine.tasks[id.rawValue]
        switch engine.state.core.outcome(of: id) {
        case .upstreamFailed(let root)?:
            return "upstream task \(engine.tasks[root.rawValue].name) failed"
        case .cancelled(let cause?)?:
            return "cancelled (because of \(engine.tasks[cause.rawValue].name))"
        case .skipped?:
            return engine.state.core.finaleDecision(of: engine.state.core.job(of: id)) == .onSuccess
                ? "not needed: every task succeeded" : "not needed: a task did not succeed"
        case .failed(.timedOut)?:
            let limit = RemoteTaskSpec(stored: task.spec)?.timeout.map(DurationText.spelled) ?? "its limit"
            return "timed out after \(limit)"
        case .failed(.missingPartialResults)?:
            return "ended without signalling every declared output (\(task.outputs.joined(separator: ", ")))"
        case .failed(.crashed(let losses))?:
            return "lost its worker \(losses) times, the crash limit (trellis server --crash-limit)"
        default:
            return task.message
        }
    }

    func info(_ id: TaskID) -> RemoteTask {
        let task = engine.tasks[id.rawValue]
        return RemoteTask(
            id: engine.wire(id), job: task.job, name: task.name, status: engine.view(of: id),
            attempts: engine.state.core.attemptCount(of: id), worker: holderName(id), exitCode: task.exitCode,
            message: message(id),
            outputs: task.outputs.indices.filter { engine.state.core.hasEmitted(id, item: $0) }.map {
                task.outputs[$0]
            },
            value: task.value, storedSpec: task.spec, needs: task.parents.map { engine.wire($0) })
    }

    /// Tasks by id after `afterID`, of one job or all, in the states asked for (any when none is).
    func listTasks(_ query: RemoteTaskQuery) -> [RemoteTask] {
        let limit = query.limit.map { min($0, 10_000) } ?? 1_000
        var tasks: [RemoteTask] = []
        let ids: [TaskID]
        if let job = query.job {
            ids = engine.jobs[job]?.tasks ?? []
        } else {
            ids = engine.tasks.indices.map { TaskID($0) }
        }
        for id in ids where engine.wire(id) > query.afterID {
            guard tasks.count < limit else { break }
            guard query.statuses?.contains(engine.view(of: id)) ?? true else { continue }
            tasks.append(info(id))
        }
        return tasks
    }

    func workerInfos() -> [RemoteWorker] {
        // The latest session of each name; the embedded executor that checks triggers is the coordinator's own.
        var latest: [String: WorkerID] = [:]
        for (worker, name) in engine.workerNames
        where name != TriggerChecks.name && latest[name].map({ $0 < worker }) ?? true {
            latest[name] = worker
        }
        return latest.sorted { $0.value < $1.value }.map { name, worker in
            let connection = workerConnection[worker].flatMap { connections[$0] }
            return RemoteWorker(
                id: UInt64(worker.rawValue) + 1, name: name, type: connection?.type ?? "", tags: connection?.tags ?? [],
                slots: connection?.slots ?? 0, running: engine.state.core.runningCount(of: worker),
                resources: connection?.resources ?? [:],
                status: workerConnection[worker] != nil
                    ? "connected" : engine.state.core.isConnected(worker) ? "disconnected" : "lost",
                lastSeen: lastSeen[name].map { Date(timeIntervalSince1970: Double($0) / 1000) })
        }
    }
}
