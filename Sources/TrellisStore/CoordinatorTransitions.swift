import TrellisCore

/// Row access a coordinator store gives the shared transition rules: the in-memory store over dictionaries,
/// the SQLite store over statements inside one transaction.
package protocol CoordinatorTables {
    mutating func task(_ id: UInt64) throws -> RemoteTask?
    mutating func save(_ task: RemoteTask) throws
    mutating func insert(_ task: RemoteTask) throws
    /// Records that `child` needs `parent` (a named output of it, or the whole task when `output` is nil).
    mutating func insertNeed(parent: UInt64, child: UInt64, output: String?) throws
    /// The tasks that need `parent` (or its output `output`).
    mutating func dependants(of parent: UInt64, output: String?) throws -> [UInt64]
    /// The next task id and job id, each advanced as used.
    mutating func nextTaskID() throws -> UInt64
    mutating func nextJobID() throws -> UInt64
    mutating func job(_ id: UInt64) throws -> JobProgress?
    mutating func saveJob(_ job: JobProgress) throws
    /// The job's `on_success` and `on_failure` tasks.
    mutating func finales(ofJob job: UInt64) throws -> [UInt64]
    mutating func appendLog(task: UInt64, attempt: Int, _ record: LogRecord) throws
}

/// How far a job's main tasks have come; when all have ended, one group of finales runs, once.
package struct JobProgress: Hashable, Sendable {
    package var id: UInt64
    package var name: String
    package var main: Int = 0
    package var ended: Int = 0
    package var failed: Int = 0
    package var decided: Bool = false

    package init(id: UInt64, name: String, main: Int = 0, ended: Int = 0, failed: Int = 0, decided: Bool = false) {
        self.id = id
        self.name = name
        self.main = main
        self.ended = ended
        self.failed = failed
        self.decided = decided
    }
}

/// The rules every coordinator store applies: readiness, fencing, retries and propagation. Written once,
/// over `CoordinatorTables`.
package enum CoordinatorTransitions {
    package static func add<T: CoordinatorTables>(
        _ batch: NewTasks, at time: Double, to tables: inout T
    ) throws -> AddedTasks {
        var progress: JobProgress
        if batch.job == 0 {
            progress = JobProgress(id: try tables.nextJobID(), name: batch.jobName)
        } else if let existing = try tables.job(batch.job) {
            progress = existing
        } else {
            throw RunStoreError(.noSuchJob, "there is no job \(batch.job)")
        }
        let job = progress.id
        var ids: [UInt64] = []
        for _ in batch.tasks { ids.append(try tables.nextTaskID()) }
        var ready: [UInt64] = []
        var ended: [UInt64] = []
        for (position, new) in batch.tasks.enumerated() {
            let played = batch.play && new.role == .main
            var task = RemoteTask(
                id: ids[position], job: job, name: new.name, state: played ? .ready : .created, spec: new.spec,
                outputs: new.outputs, maxAttempts: max(1, new.maxAttempts), role: new.role, rank: new.rank,
                unmet: 0, played: played, createdAt: time)
            var doomedBy: RemoteTask?
            for need in new.needs {
                switch need.target {
                case .position(let index):
                    task.unmet += 1
                    try tables.insertNeed(parent: ids[index], child: task.id, output: need.output)
                case .id(let parentID):
                    guard let parent = try tables.task(parentID) else { continue }
                    let met = need.output.map { parent.signalled.contains($0) } ?? (parent.state == .succeeded)
                    if met { continue }
                    if parent.state.isFinal { doomedBy = parent }
                    task.unmet += 1
                    try tables.insertNeed(parent: parentID, child: task.id, output: need.output)
                }
            }
            if let parent = doomedBy {
                task.state =
                    switch parent.state {
                    case .skipped: .skipped
                    case .cancelled, .killed: .cancelled
                    default: .upstreamFailed
                    }
                task.message = "\(parent.name) (task \(parent.id)) ended \(parent.state.rawValue)"
                task.finishedAt = time
            }
            try tables.insert(task)
            if task.state == .ready && task.unmet == 0 { ready.append(task.id) }
            if task.state.isFinal { ended.append(task.id) }
            if task.role == .main {
                progress.main += 1
                if task.state.isFinal {
                    progress.ended += 1
                    progress.failed += 1
                }
            }
        }
        try tables.saveJob(progress)
        var result = AppliedEvents(ready: ready, ended: ended)
        try decideFinales(of: job, at: time, tables: &tables, result: &result)
        return AddedTasks(job: job, taskIDs: ids, ready: result.ready, ended: result.ended)
    }

    package static func apply<T: CoordinatorTables>(
        _ events: [CoordinatorEvent], at time: Double, to tables: inout T
    ) throws -> AppliedEvents {
        var result = AppliedEvents()
        for (position, event) in events.enumerated() {
            if try !apply(event, at: time, to: &tables, result: &result) { result.ignored.append(position) }
        }
        return result
    }

    /// Applies one event; false when it was stale or did not fit the task's state.
    static func apply<T: CoordinatorTables>(
        _ event: CoordinatorEvent, at time: Double, to tables: inout T, result: inout AppliedEvents
    ) throws -> Bool {
        func current(_ task: RemoteTask, _ epoch: UInt64, _ attempt: Int) -> Bool {
            task.epoch == epoch && task.attempt == attempt && (task.state == .assigned || task.state == .running)
        }
        switch event {
        case .played(let id):
            guard var task = try tables.task(id), task.state == .created, task.role == .main else { return false }
            task.played = true
            task.state = .ready
            try tables.save(task)
            if task.unmet == 0 { result.ready.append(id) }
        case .assigned(let id, let worker, let epoch, let attempt):
            guard var task = try tables.task(id), task.state == .ready, task.unmet == 0, attempt == task.attempt + 1
            else {
                return false
            }
            task.state = .assigned
            task.attempt = attempt
            task.epoch = epoch
            task.worker = worker
            try tables.save(task)
        case .started(let id, let epoch, let attempt):
            guard var task = try tables.task(id), task.state == .assigned, current(task, epoch, attempt) else {
                return false
            }
            task.state = .running
            task.startedAt = task.startedAt ?? time
            try tables.save(task)
        case .outputSignalled(let id, let name, let epoch, let attempt):
            guard var task = try tables.task(id), current(task, epoch, attempt), task.outputs.contains(name),
                !task.signalled.contains(name)
            else { return false }
            task.signalled.append(name)
            try tables.save(task)
            try release(try tables.dependants(of: id, output: name), tables: &tables, result: &result)
        case .succeeded(let id, let epoch, let attempt, let exitCode, let value):
            guard var task = try tables.task(id), current(task, epoch, attempt) else { return false }
            let missing = task.outputs.filter { !task.signalled.contains($0) }
            guard missing.isEmpty else {
                return try apply(
                    .failed(
                        id, epoch: epoch, attempt: attempt, exitCode: exitCode,
                        message: "ended without signalling \(missing.joined(separator: ", "))"),
                    at: time, to: &tables, result: &result)
            }
            task.state = .succeeded
            task.exitCode = exitCode
            task.value = value
            task.message = nil
            task.finishedAt = time
            try tables.save(task)
            try release(try tables.dependants(of: id, output: nil), tables: &tables, result: &result)
            try ended(task, at: time, tables: &tables, result: &result)
        case .failed(let id, let epoch, let attempt, let exitCode, let message):
            guard var task = try tables.task(id), current(task, epoch, attempt) else { return false }
            task.failures += 1
            task.exitCode = exitCode
            task.message = message
            if task.failures < task.maxAttempts {
                task.state = .ready
                try tables.save(task)
                result.ready.append(id)
            } else {
                task.state = .failed
                task.finishedAt = time
                try tables.save(task)
                try ended(task, at: time, tables: &tables, result: &result)
                try propagate(from: task, state: .upstreamFailed, at: time, tables: &tables, result: &result)
            }
        case .requeued(let id, let epoch, let attempt):
            guard var task = try tables.task(id), current(task, epoch, attempt) else { return false }
            task.state = .ready
            task.worker = nil
            try tables.save(task)
            result.ready.append(id)
        case .cancelled(let id, let killed):
            guard var task = try tables.task(id), !task.state.isFinal else { return false }
            task.state = killed ? .killed : .cancelled
            task.message = killed ? "killed by an operator" : "cancelled by an operator"
            task.finishedAt = time
            try tables.save(task)
            try ended(task, at: time, tables: &tables, result: &result)
            try propagate(from: task, state: .cancelled, at: time, tables: &tables, result: &result)
        case .paused(let id):
            guard var task = try tables.task(id), task.state == .created || task.state == .ready else { return false }
            task.state = .paused
            try tables.save(task)
        case .resumed(let id):
            guard var task = try tables.task(id), task.state == .paused else { return false }
            task.state = task.played ? .ready : .created
            try tables.save(task)
            if task.state == .ready && task.unmet == 0 { result.ready.append(id) }
        case .log(let id, let epoch, let attempt, let record):
            guard let task = try tables.task(id), task.epoch == epoch, task.attempt == attempt else { return false }
            try tables.appendLog(task: id, attempt: attempt, record)
        }
        return true
    }

    /// Counts a main task's end; when it is the job's last, releases one group of finales and skips the other.
    static func ended<T: CoordinatorTables>(
        _ task: RemoteTask, at time: Double, tables: inout T, result: inout AppliedEvents
    ) throws {
        result.ended.append(task.id)
        guard task.role == .main, var job = try tables.job(task.job) else { return }
        job.ended += 1
        if task.state != .succeeded { job.failed += 1 }
        try tables.saveJob(job)
        try decideFinales(of: job.id, at: time, tables: &tables, result: &result)
    }

    static func decideFinales<T: CoordinatorTables>(
        of jobID: UInt64, at time: Double, tables: inout T, result: inout AppliedEvents
    ) throws {
        guard var job = try tables.job(jobID), !job.decided, job.ended == job.main else { return }
        let finales = try tables.finales(ofJob: jobID)
        guard !finales.isEmpty || job.main > 0 else { return }
        job.decided = true
        try tables.saveJob(job)
        let chosen: TaskRole = job.failed == 0 ? .onSuccess : .onFailure
        for id in finales {
            guard var finale = try tables.task(id), finale.state == .created || finale.state == .paused else {
                continue
            }
            if finale.role == chosen {
                finale.played = true
                if finale.state == .created { finale.state = .ready }
                try tables.save(finale)
                if finale.state == .ready && finale.unmet == 0 { result.ready.append(id) }
            } else {
                finale.state = .skipped
                finale.message = job.failed == 0 ? "skipped: the job succeeded" : "skipped: the job did not succeed"
                finale.finishedAt = time
                try tables.save(finale)
                result.ended.append(id)
            }
        }
    }

    /// One need of each of `children` is met; those left with none, and played, become ready.
    static func release<T: CoordinatorTables>(_ children: [UInt64], tables: inout T, result: inout AppliedEvents) throws
    {
        for child in children {
            guard var task = try tables.task(child), !task.state.isFinal else { continue }
            task.unmet -= 1
            try tables.save(task)
            if task.unmet == 0 && task.state == .ready { result.ready.append(child) }
        }
    }

    /// Ends every unfinished task that needs `root`, directly or not.
    static func propagate<T: CoordinatorTables>(
        from root: RemoteTask, state: RemoteTaskState, at time: Double, tables: inout T, result: inout AppliedEvents
    ) throws {
        var stack = [root]
        while let parent = stack.popLast() {
            // A need on an output the parent already signalled is met for good: that dependant goes on, as in
            // the scheduling core. Needs on the whole task, or on an output never signalled, can no longer be.
            var doomed = try tables.dependants(of: parent.id, output: nil)
            for output in parent.outputs where !parent.signalled.contains(output) {
                doomed += try tables.dependants(of: parent.id, output: output)
            }
            var seen = Set<UInt64>()
            for child in doomed where seen.insert(child).inserted {
                guard var task = try tables.task(child), !task.state.isFinal, task.state != .assigned,
                    task.state != .running
                else { continue }
                task.state = state
                task.message = "\(root.name) (task \(root.id)) ended \(root.state.rawValue)"
                task.finishedAt = time
                try tables.save(task)
                try ended(task, at: time, tables: &tables, result: &result)
                stack.append(task)
            }
        }
    }
}
