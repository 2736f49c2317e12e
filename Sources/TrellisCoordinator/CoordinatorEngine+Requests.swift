internal import TrellisCore
internal import TrellisEngine
internal import TrellisJournal
internal import TrellisProtocol

/// What operators ask of the coordinator: adding tasks, and changing them (play, pause, resume, cancel, kill).
extension CoordinatorEngine {
    /// Adds a request's tasks to `job` (0: a new job). Returns the job and the ids of the request's tasks in
    /// its order, or why nothing was added.
    mutating func add(
        _ request: IncomingJob, to job: UInt64, policy: SchedulingPolicy, now: Duration
    ) throws(JobRequestError) -> (job: UInt64, ids: [UInt64]) {
        var named = request
        if job != 0, request.job.queues.isEmpty, let existing = jobs[job] {
            // Tasks added to a job may name its queues; their widths are the job's.
            for name in existing.queues.keys where name != JobRequest.defaultQueue { named.job.queues[name] = 1 }
        }
        let converted = try JobRequest(named, policy: policy) { id in
            self.task(wire: id).map { ExistingTask(id: $0, outputs: self.tasks[$0.rawValue].outputs) }
        }
        var target: JobID?
        var submission = converted.submission
        if job != 0 {
            guard let existing = jobs[job] else { throw JobRequestError(unknownJob(job)) }
            target = existing.core
            // More tasks join the job's own queues.
            guard request.job.queues.isEmpty else {
                throw JobRequestError("job \(job) has its queues; a job's queues are set when it is created")
            }
            submission.queues = []
            for index in submission.tasks.indices {
                guard case .new(let position) = submission.tasks[index].queue,
                    let queue = existing.queues[converted.queueNames[position]]
                else { throw JobRequestError("job \(job) has no such queue") }
                submission.tasks[index].queue = .existing(queue)
            }
        }
        let added: (job: JobID, ids: [TaskID])
        do {
            added = try state.submit(submission, to: target, now: now, into: &actions)
        } catch {
            throw JobRequestError(error.message)
        }
        var wireJob = job
        save()
        if target == nil {
            let first = QueueID(state.core.queueCount - converted.queueNames.count)
            var queues: [String: QueueID] = [:]
            for (offset, name) in converted.queueNames.enumerated() { queues[name] = QueueID(first.rawValue + offset) }
            wireJob = addJob(Job(core: added.job, name: converted.jobName, queues: queues))
            unsaved.append(.jobNamed(added.job, converted.jobName, queues: converted.queueNames, firstQueue: first))
        }
        // In id order: a task may need one written after it, which the core took first.
        for (index, id) in added.ids.enumerated().sorted(by: { $0.element.rawValue < $1.element.rawValue }) {
            let parents = submission.tasks[index].needs.map { need -> TaskID in
                switch need.target {
                case .batch(let other): added.ids[other]
                case .existing(let existing): existing
                }
            }
            let spec = converted.specs[index]
            remember(
                id, job: wireJob, name: converted.names[index], spec: spec, outputs: converted.outputs[index],
                parents: parents)
            unsaved.append(
                .taskAdded(
                    id, job: wireJob, name: converted.names[index], spec: spec, outputs: converted.outputs[index],
                    parents: parents))
            if converted.play || submission.tasks[index].spec.role != .main {
                tasks[id.rawValue].played = true
                unsaved.append(.played(id))
            }
            effects.append(.changed(job: wireJob, task: wire(id), output: nil))
        }
        perform(now: now)
        return (wireJob, added.ids.prefix(request.job.tasks.count).map { wire($0) })
    }

    /// Applies an operator's change to the tasks `ids` and to those of `job`; returns how many it changed.
    /// Cancelling a job stops its main work and spares its clean-up, as under `trellis run`; cancelling again
    /// stops the clean-up.
    mutating func change(_ change: RemoteChange, ids: [TaskID], job: UInt64? = nil, now: Duration) -> Int {
        var changed = 0
        var selected = ids
        if let job, let target = jobs[job] {
            if change == .cancel || change == .kill {
                let open = target.tasks.filter { state.core.outcome(of: $0) == nil }
                // Killed: stopped at once (grace 0). Only the tasks this cancel stops are marked; the clean-up it
                // spares is not.
                let wasKilled = Set(open.filter { tasks[$0.rawValue].killed })
                if change == .kill { for id in open { tasks[id.rawValue].killed = true } }
                let start = effects.count
                apply(.jobCancelled(target.core), now: now)
                perform(now: now)
                let stopping = Set(
                    effects[start...].compactMap { effect -> TaskID? in
                        if case .cancel(_, let ref, _) = effect { return task(wire: ref.task) }
                        return nil
                    })
                for id in open {
                    let stopped = state.core.outcome(of: id) != nil || stopping.contains(id)
                    if change == .kill, !wasKilled.contains(id) {
                        tasks[id.rawValue].killed = false
                        if stopped { kill(id) }
                    }
                    guard stopped else { continue }
                    changed += 1
                    effects.append(.changed(job: job, task: wire(id), output: nil))
                }
            } else {
                selected += target.tasks
            }
        }
        // Every selected task changes before anything is dispatched, so the policy picks what starts first.
        let holdsDispatch = selected.count > 1 && !state.core.isPaused
        if holdsDispatch { apply(.paused, now: now) }
        defer {
            if holdsDispatch {
                apply(.resumed, now: now)
                perform(now: now)
            }
        }
        for id in selected where state.core.outcome(of: id) == nil {
            switch change {
            case .play:
                // A paused task is not played: once resumed it is created again, and play starts it.
                guard !tasks[id.rawValue].played, !tasks[id.rawValue].paused else { continue }
                tasks[id.rawValue].played = true
                unsaved.append(.played(id))
                apply(.released(id), now: now)
            case .pause:
                // A running attempt goes on; pausing holds what has not started.
                guard !tasks[id.rawValue].paused, !isRunning(id) else { continue }
                tasks[id.rawValue].paused = true
                unsaved.append(.paused(id, true))
                if !state.core.isHeld(id) { apply(.held(id), now: now) }
            case .resume:
                guard tasks[id.rawValue].paused else { continue }
                tasks[id.rawValue].paused = false
                unsaved.append(.paused(id, false))
                if tasks[id.rawValue].played { apply(.released(id), now: now) }
            case .cancel, .kill:
                if change == .kill { kill(id) }
                guard apply(.cancelled(id), now: now) == .accepted else {
                    // Already asked to stop: a kill escalates to stopping it at once.
                    guard change == .kill, case .running(let attempt) = state.core.state(of: id),
                        let holder = state.core.holder(of: id)
                    else { continue }
                    effects.append(
                        .cancel(holder, WireAttempt(task: wire(id), epoch: epoch, attempt: attempt), grace: .zero))
                    changed += 1
                    continue
                }
            }
            changed += 1
            effects.append(.changed(job: tasks[id.rawValue].job, task: wire(id), output: nil))
        }
        perform(now: now)
        return changed
    }

    private mutating func kill(_ id: TaskID) {
        guard !tasks[id.rawValue].killed else { return }
        tasks[id.rawValue].killed = true
        unsaved.append(.killed(id))
    }

    func isRunning(_ id: TaskID) -> Bool {
        if case .running = state.core.state(of: id) { return true }
        return false
    }
}

/// Forgetting finished jobs: they leave the core, the tables and every listing; their ids are never given again.
extension CoordinatorEngine {
    /// Forgets the jobs `wireJobs` (wire ids), all or none; returns how many tasks went with them, or why none.
    mutating func forget(_ wireJobs: [UInt64], now: Duration) throws(JobRequestError) -> Int {
        var cores: [JobID] = []
        for wire in Set(wireJobs).sorted() {
            guard let job = jobs[wire] else { throw JobRequestError(unknownJob(wire)) }
            let unfinished = state.core.unfinishedCount(of: job.core)
            guard unfinished == 0 else {
                throw JobRequestError(
                    "job \(wire) (\(job.name)) has \(unfinished) unfinished task\(unfinished == 1 ? "" : "s"); "
                        + "only a job that has ended can be forgotten")
            }
            cores.append(job.core)
        }
        if let blocker = state.core.forgetBlockers(cores, limit: 1).first {
            let task = tasks[blocker.task.rawValue]
            let needed = tasks[blocker.needs.rawValue]
            throw JobRequestError(
                "job \(needed.job) cannot be forgotten: task \(wire(blocker.task)) '\(task.name)' of job \(task.job) "
                    + "needs its task \(wire(blocker.needs)) '\(needed.name)'; forget job \(task.job) with it")
        }
        let before = tasks.count
        do {
            _ = try state.forget(cores, now: now)
        } catch {
            throw JobRequestError(error.message)
        }
        save()
        forgetTables(cores)
        precondition(
            tasks.count == state.core.taskCount,
            "Internal inconsistency: the core kept \(state.core.taskCount) tasks, the tables \(tasks.count)")
        return before - tasks.count
    }
}

extension CoordinatorEngine {
    /// Forgets what retention found due: the jobs that still exist and have ended, less those a job kept still
    /// needs (returned as blocked), all at once.
    mutating func forgetEnded(
        _ candidates: [UInt64], now: Duration
    ) -> (forgotten: [UInt64], tasks: Int, blocked: [UInt64]) {
        var chosen = Set(candidates.filter { jobs[$0].map { state.core.unfinishedCount(of: $0.core) == 0 } ?? false })
        var blocked: [UInt64] = []
        while !chosen.isEmpty,
            let blocker = state.core.forgetBlockers(chosen.compactMap { jobs[$0]?.core }, limit: 1).first
        {
            let needed = tasks[blocker.needs.rawValue].job
            chosen.remove(needed)
            blocked.append(needed)
        }
        let forgotten = chosen.sorted()
        guard !forgotten.isEmpty else { return ([], 0, blocked) }
        do {
            return (forgotten, try forget(forgotten, now: now), blocked)
        } catch {
            preconditionFailure("Internal inconsistency: ended jobs \(forgotten) not forgotten: \(error.message)")
        }
    }

    /// Why there is no job `wire`: it was forgotten, or never was.
    func unknownJob(_ wire: UInt64) -> String {
        wire >= 1 && wire < nextJob ? "job \(wire) has been forgotten" : "there is no job \(wire)"
    }

    /// Why there is no task `wire`: it was forgotten with its job, or never was.
    func unknownTask(_ wire: UInt64) -> String {
        wires.wasForgotten(wire) ? "task \(wire) has been forgotten with its job" : "there is no task \(wire)"
    }
}
