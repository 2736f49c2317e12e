internal import TrellisCore
internal import TrellisEngine
internal import TrellisJournal
internal import TrellisProtocol

/// The coordinator's decisions, around the engine state and with no I/O: requests, worker reports and
/// deadlines go in with `now`; effects and the records to make durable come out. Every scheduling decision
/// is the core's; this type translates the wire's vocabulary (played, paused, killed, values, names) and
/// keeps what operators read.
struct CoordinatorEngine {
    /// What the coordinator keeps of a task beside the core. A task waiting in a queue of a million holds
    /// only the first fields; the rest lives in `more`, allocated when first set.
    struct Task {
        var job: UInt64
        var name: String
        var spec: [UInt8]
        /// Empty, or one element: what few queued tasks have.
        private var more: [More] = []
        /// The attempt its worker said has started.
        var startedAttempt: Int32 = 0
        var played = false
        var paused = false
        var killed = false

        struct More {
            var outputs: [String] = []
            var parents: [TaskID] = []
            var worker: String?
            var exitCode: Int32?
            var message: String?
            var value: [UInt8]?
        }

        init(job: UInt64, name: String, spec: [UInt8], outputs: [String], parents: [TaskID]) {
            self.job = job
            self.name = name
            self.spec = spec
            if !outputs.isEmpty || !parents.isEmpty { more = [More(outputs: outputs, parents: parents)] }
        }

        private mutating func setMore(_ change: (inout More) -> Void) {
            if more.isEmpty { more = [More()] }
            change(&more[0])
        }

        /// Its named outputs, in the order items are numbered.
        var outputs: [String] { more.first?.outputs ?? [] }
        /// The tasks whose values it receives.
        var parents: [TaskID] { more.first?.parents ?? [] }
        /// The worker of the latest attempt.
        var worker: String? {
            get { more.first?.worker }
            set { setMore { $0.worker = newValue } }
        }
        var exitCode: Int32? {
            get { more.first?.exitCode }
            set { setMore { $0.exitCode = newValue } }
        }
        var message: String? {
            get { more.first?.message }
            set { setMore { $0.message = newValue } }
        }
        var value: [UInt8]? {
            get { more.first?.value }
            set { setMore { $0.value = newValue } }
        }
    }

    struct Job {
        var core: JobID
        var name: String
        /// The job's queues by name (`default` is bounded only by worker slots unless set).
        var queues: [String: QueueID]
        var tasks: [TaskID] = []
    }

    let epoch: UInt64
    let cancelGrace: Duration
    var state: EngineState
    var tasks: [Task] = []
    /// Jobs by wire id (the core's id; the core's first job is never a wire job).
    private(set) var jobs: [UInt64: Job] = [:]
    var workerNames: [WorkerID: String] = [:]
    /// The live session of each worker name.
    var sessions: [String: WorkerID] = [:]
    var unsaved: [CoordinatorRecord] = []
    var effects: [CoordinatorEffect] = []
    var actions: [SchedulerAction] = []
    /// Jobs a task of which ended this turn: the turn tells which of them have no task left.
    private var endingJobs: Set<UInt64> = []

    /// A new coordinator: its core starts at once (the start is the first fact to journal).
    init(epoch: UInt64, leaseTimeout: Duration, cancelGrace: Duration) {
        self.init(epoch: epoch, cancelGrace: cancelGrace, state: EngineState(Self.freshCore(leaseTimeout)))
        apply(.started, now: .zero)
    }

    init(epoch: UInt64, cancelGrace: Duration, state: EngineState) {
        self.epoch = epoch
        self.cancelGrace = cancelGrace
        self.state = state
    }

    static func freshCore(_ leaseTimeout: Duration) -> SchedulerCore {
        SchedulerCore(policy: .fifo, execution: .workers(leaseTimeout: leaseTimeout))
    }

    /// Rebuilds a coordinator from what earlier sessions recorded, as of `now`, for the session `epoch`: from
    /// the journal's snapshot, if any, and the records after it. The core comes from its facts (leases of the
    /// workers it knew re-armed from `now`, retry delays and timeouts kept), names, payloads, flags and values
    /// from the rest. A worker of an earlier session that says hello again keeps the attempts it still runs;
    /// one that stays away is lost when its lease runs out.
    static func restore(
        snapshot: CoordinatorSnapshotParts? = nil, _ records: some Sequence<CoordinatorRecord>, epoch: UInt64,
        leaseTimeout: Duration, cancelGrace: Duration, now: Duration
    ) throws -> CoordinatorEngine {
        var engine =
            snapshot?.engine
            ?? CoordinatorEngine(epoch: epoch, cancelGrace: cancelGrace, state: EngineState(freshCore(leaseTimeout)))
        var facts: [TimedFact] = []
        for record in records {
            switch record {
            case .origin: break
            case .fact(let fact): facts.append(fact)
            case .jobNamed(let job, let name, let names, let first):
                var queues: [String: QueueID] = [:]
                for (offset, queue) in names.enumerated() { queues[queue] = QueueID(first.rawValue + offset) }
                engine.jobs[UInt64(job.rawValue)] = Job(core: job, name: name, queues: queues)
            case .taskAdded(let id, let job, let name, let spec, let outputs, let parents):
                engine.remember(id, job: job, name: name, spec: spec, outputs: outputs, parents: parents)
            case .workerNamed(let worker, let name):
                engine.workerNames[worker] = name
                engine.sessions[name] = worker
            case .played(let id): engine.tasks[id.rawValue].played = true
            case .paused(let id, let paused): engine.tasks[id.rawValue].paused = paused
            case .killed(let id): engine.tasks[id.rawValue].killed = true
            case .attemptStarted(let id, let attempt):
                engine.tasks[id.rawValue].startedAttempt = Int32(clamping: attempt)
            case .assigned(let id, let worker): engine.tasks[id.rawValue].worker = engine.workerNames[worker]
            case .attemptEnded(let id, _, let exitCode, let message, let value):
                engine.tasks[id.rawValue].exitCode = exitCode
                engine.tasks[id.rawValue].message = message
                engine.tasks[id.rawValue].value = value
            }
        }
        var ignored: [SchedulerAction] = []
        if let snapshot {
            engine.state = try EngineState.restore(
                snapshot: snapshot.state, from: facts, now: now, leaseTimeout: leaseTimeout, into: &ignored)
        } else {
            engine.state = try EngineState.restore(freshCore(leaseTimeout), from: facts, now: now, into: &ignored)
        }
        guard engine.tasks.count == engine.state.core.taskCount else {
            throw JournalError(
                .corrupt,
                "the journal knows \(engine.tasks.count) tasks by name and its core \(engine.state.core.taskCount)")
        }
        engine.sessions = engine.sessions.filter { engine.state.core.isConnected($0.value) }
        return engine
    }

    /// Sets a job's table entry as a snapshot has it.
    mutating func setJob(_ job: Job, wire: UInt64) { jobs[wire] = job }

    /// The records and effects of the turn so far; the engine keeps no copy.
    mutating func takeTurn() -> (records: [CoordinatorRecord], effects: [CoordinatorEffect]) {
        for job in endingJobs.sorted() {
            if let core = jobs[job]?.core, state.core.unfinishedCount(of: core) == 0 { effects.append(.jobEnded(job)) }
        }
        endingJobs.removeAll()
        return (unsaved.takeAll(), effects.takeAll())
    }

    static func wire(_ task: TaskID) -> UInt64 { JobRequest.wireID(task) }

    func task(wire id: UInt64) -> TaskID? {
        guard let task = JobRequest.taskID(wire: id), task.rawValue < tasks.count else { return nil }
        return task
    }

    // MARK: - Requests

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
            guard let existing = jobs[job] else { throw JobRequestError("there is no job \(job)") }
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
        let wireJob = UInt64(added.job.rawValue)
        save()
        if target == nil {
            let first = QueueID(state.core.queueCount - converted.queueNames.count)
            var queues: [String: QueueID] = [:]
            for (offset, name) in converted.queueNames.enumerated() { queues[name] = QueueID(first.rawValue + offset) }
            jobs[wireJob] = Job(core: added.job, name: converted.jobName, queues: queues)
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
            effects.append(.changed(job: wireJob, task: Self.wire(id), output: nil))
        }
        perform(now: now)
        return (wireJob, added.ids.prefix(request.job.tasks.count).map(Self.wire))
    }

    private mutating func remember(
        _ id: TaskID, job: UInt64, name: String, spec: [UInt8], outputs: [String], parents: [TaskID]
    ) {
        precondition(id.rawValue == tasks.count, "Internal inconsistency: task \(id) added out of order")
        tasks.append(Task(job: job, name: name, spec: spec, outputs: outputs, parents: parents))
        jobs[job]?.tasks.append(id)
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
                    effects.append(.changed(job: job, task: Self.wire(id), output: nil))
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
                        .cancel(holder, WireAttempt(task: Self.wire(id), epoch: epoch, attempt: attempt), grace: .zero))
                    changed += 1
                    continue
                }
            }
            changed += 1
            effects.append(.changed(job: tasks[id.rawValue].job, task: Self.wire(id), output: nil))
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

    // MARK: - The core

    @discardableResult
    mutating func apply(_ fact: CoreFact, now: Duration) -> EventDisposition {
        do {
            let disposition = try state.apply(fact, now: now, into: &actions)
            save()
            return disposition
        } catch {
            preconditionFailure("Internal inconsistency: the core refused \(fact), which was checked: \(error)")
        }
    }

    /// Moves the facts the core accepted into the turn's records, in order.
    mutating func save() {
        for fact in state.takeUnsaved() { unsaved.append(.fact(fact)) }
    }

    /// Turns the core's actions into effects.
    mutating func perform(now: Duration) {
        while !actions.isEmpty {
            for action in actions.takeAll() {
                switch action {
                case .assign(let id, let worker, let attempt):
                    tasks[id.rawValue].worker = workerNames[worker]
                    unsaved.append(.assigned(id, worker))
                    let task = tasks[id.rawValue]
                    var inputs: [String: [UInt8]] = [:]
                    for parent in task.parents {
                        if let value = tasks[parent.rawValue].value { inputs[tasks[parent.rawValue].name] = value }
                    }
                    effects.append(
                        .assign(
                            worker, WireAttempt(task: Self.wire(id), epoch: epoch, attempt: attempt), job: task.job,
                            spec: task.spec, inputs: inputs))
                    effects.append(.changed(job: task.job, task: Self.wire(id), output: nil))
                case .cancelRunning(let id, let attempt):
                    guard let worker = state.core.holder(of: id) else { continue }
                    effects.append(
                        .cancel(
                            worker, WireAttempt(task: Self.wire(id), epoch: epoch, attempt: attempt),
                            grace: tasks[id.rawValue].killed ? .zero : cancelGrace))
                case .completed(let id, _):
                    let job = tasks[id.rawValue].job
                    effects.append(.changed(job: job, task: Self.wire(id), output: nil))
                    endingJobs.insert(job)
                case .scheduleTimeout, .scheduleRetry, .scheduleLease:
                    break  // kept by the engine state's timers
                case .dispatch:
                    preconditionFailure("Internal inconsistency: a coordinator's core sent \(action)")
                }
            }
        }
    }

    // MARK: - What operators see

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
