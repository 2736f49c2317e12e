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
            let error = RPCError(code: .notFound, message: "there is no job \(job)")
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
            var header = Trellis_V1_JobEvent()
            header.jobName = record.name
            header.jobTasks = UInt32(clamping: record.tasks.count)
            header.timeMs = UInt64(Date().timeIntervalSince1970 * 1000)
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
                var end = Trellis_V1_JobEvent()
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

    func event(_ id: TaskID) -> Trellis_V1_JobEvent {
        let task = engine.tasks[id.rawValue]
        var event = Trellis_V1_JobEvent()
        event.taskID = CoordinatorEngine.wire(id)
        event.taskName = task.name
        event.state = Trellis_V1_TaskState(engine.view(of: id))
        event.attempt = UInt32(clamping: engine.state.core.attemptCount(of: id))
        event.worker = holderName(id) ?? ""
        event.message = message(id) ?? ""
        event.timeMs = UInt64(Date().timeIntervalSince1970 * 1000)
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
            let spec = try? Trellis_V1_TaskSpec(serializedBytes: task.spec)
            let limit = spec.map { DurationText.spelled(.milliseconds(Int64(clamping: $0.timeoutMs))) } ?? "its limit"
            return "timed out after \(limit)"
        case .failed(.missingPartialResults)?:
            return "ended without signalling every declared output (\(task.outputs.joined(separator: ", ")))"
        default:
            return task.message
        }
    }

    func info(_ id: TaskID) -> Trellis_V1_TaskInfo {
        let task = engine.tasks[id.rawValue]
        var info = Trellis_V1_TaskInfo()
        info.id = CoordinatorEngine.wire(id)
        info.jobID = task.job
        info.name = task.name
        info.state = Trellis_V1_TaskState(engine.view(of: id))
        if let spec = try? Trellis_V1_TaskSpec(serializedBytes: task.spec) { info.spec = spec }
        info.attempts = UInt32(clamping: engine.state.core.attemptCount(of: id))
        info.worker = holderName(id) ?? ""
        if let code = task.exitCode { info.exitCode = code }
        info.message = message(id) ?? ""
        info.outputsSignalled = task.outputs.indices.filter { engine.state.core.hasEmitted(id, item: $0) }.map {
            task.outputs[$0]
        }
        if let value = task.value { info.value = Data(value) }
        return info
    }

    /// Tasks by id from `afterID` on, of one job or all, in the states asked for (all when none is).
    func listTasks(_ request: Trellis_V1_ListTasksRequest) -> Trellis_V1_ListTasksResponse {
        let states = Set(request.states)
        let limit = request.limit == 0 ? 1_000 : min(Int(request.limit), 10_000)
        var response = Trellis_V1_ListTasksResponse()
        let ids: [TaskID]
        if request.jobID != 0 {
            ids = engine.jobs[request.jobID]?.tasks ?? []
        } else {
            ids = engine.tasks.indices.map { TaskID($0) }
        }
        for id in ids where CoordinatorEngine.wire(id) > request.afterID {
            guard response.tasks.count < limit else { break }
            let state = Trellis_V1_TaskState(engine.view(of: id))
            guard states.isEmpty || states.contains(state) else { continue }
            response.tasks.append(info(id))
        }
        return response
    }

    func workerInfos() -> [Trellis_V1_WorkerInfo] {
        // The latest session of each name; the embedded executor that checks triggers is the coordinator's own.
        var latest: [String: WorkerID] = [:]
        for (worker, name) in engine.workerNames
        where name != TriggerChecks.name && latest[name].map({ $0 < worker }) ?? true {
            latest[name] = worker
        }
        return latest.sorted { $0.value < $1.value }.map { name, worker in
            var info = Trellis_V1_WorkerInfo()
            info.id = UInt64(worker.rawValue) + 1
            info.name = name
            info.running = UInt32(clamping: engine.state.core.runningCount(of: worker))
            info.status =
                workerConnection[worker] != nil
                ? "connected" : engine.state.core.isConnected(worker) ? "disconnected" : "lost"
            info.lastSeenMs = UInt64((lastSeen[name] ?? 0) * 1000)
            if let connection = workerConnection[worker].flatMap({ connections[$0] }) {
                info.type = connection.type
                info.tags = connection.tags
                info.slots = UInt32(clamping: connection.slots)
                info.resources = connection.resources
            }
            return info
        }
    }
}
