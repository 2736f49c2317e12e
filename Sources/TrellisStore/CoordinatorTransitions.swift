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
    /// Every task that needs `parent` in any way.
    mutating func allDependants(of parent: UInt64) throws -> [UInt64]
    /// The next task id and job id, each advanced as used.
    mutating func nextTaskID() throws -> UInt64
    mutating func nextJobID() throws -> UInt64
}

/// The rules every coordinator store applies: readiness, fencing, retries and propagation. Written once,
/// over `CoordinatorTables`.
package enum CoordinatorTransitions {
    package static func add<T: CoordinatorTables>(
        _ batch: NewTasks, at time: Double, to tables: inout T
    ) throws -> AddedTasks {
        let job = batch.job == 0 ? try tables.nextJobID() : batch.job
        var ids: [UInt64] = []
        for _ in batch.tasks { ids.append(try tables.nextTaskID()) }
        var ready: [UInt64] = []
        for (position, new) in batch.tasks.enumerated() {
            var task = RemoteTask(
                id: ids[position], job: job, name: new.name, state: batch.play ? .ready : .created, spec: new.spec,
                outputs: new.outputs, maxAttempts: max(1, new.maxAttempts), unmet: 0, played: batch.play,
                createdAt: time)
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
                task.state = parent.state == .cancelled || parent.state == .killed ? .cancelled : .upstreamFailed
                task.message = "\(parent.name) (task \(parent.id)) ended \(parent.state.rawValue)"
                task.finishedAt = time
            }
            try tables.insert(task)
            if task.state == .ready && task.unmet == 0 { ready.append(task.id) }
        }
        return AddedTasks(job: job, taskIDs: ids, ready: ready)
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
            guard var task = try tables.task(id), task.state == .created else { return false }
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
        case .succeeded(let id, let epoch, let attempt, let exitCode):
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
            task.message = nil
            task.finishedAt = time
            try tables.save(task)
            try release(try tables.dependants(of: id, output: nil), tables: &tables, result: &result)
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
                try propagate(from: task, state: .upstreamFailed, at: time, tables: &tables)
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
            try propagate(from: task, state: .cancelled, at: time, tables: &tables)
        case .paused(let id):
            guard var task = try tables.task(id), task.state == .created || task.state == .ready else { return false }
            task.state = .paused
            try tables.save(task)
        case .resumed(let id):
            guard var task = try tables.task(id), task.state == .paused else { return false }
            task.state = task.played ? .ready : .created
            try tables.save(task)
            if task.state == .ready && task.unmet == 0 { result.ready.append(id) }
        }
        return true
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
        from root: RemoteTask, state: RemoteTaskState, at time: Double, tables: inout T
    ) throws {
        var stack = [root.id]
        while let parent = stack.popLast() {
            for child in try tables.allDependants(of: parent) {
                guard var task = try tables.task(child), !task.state.isFinal, task.state != .assigned,
                    task.state != .running
                else { continue }
                task.state = state
                task.message = "\(root.name) (task \(root.id)) ended \(root.state.rawValue)"
                task.finishedAt = time
                try tables.save(task)
                stack.append(child)
            }
        }
    }
}
