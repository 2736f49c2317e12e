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
        var parents: [TaskID] {
            get { more.first?.parents ?? [] }
            set { setMore { $0.parents = newValue } }
        }
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
    /// The tasks' wire ids.
    private(set) var wires = WireNumbering()
    /// Jobs by wire id (from 1, never given twice; the core's first job is never a wire job).
    private(set) var jobs: [UInt64: Job] = [:]
    /// The wire id the next job gets.
    private(set) var nextJob: UInt64 = 1
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
            case .fact(let fact):
                facts.append(fact)
                // The tables follow the forgetting where it stands; the core replays it with the other facts.
                if case .jobsForgotten(let jobs) = fact.fact { engine.forgetTables(jobs) }
            case .jobNamed(let job, let name, let names, let first):
                var queues: [String: QueueID] = [:]
                for (offset, queue) in names.enumerated() { queues[queue] = QueueID(first.rawValue + offset) }
                engine.addJob(Job(core: job, name: name, queues: queues))
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

    /// Keeps a new task's entry beside the core's, and lists it with its job.
    mutating func remember(
        _ id: TaskID, job: UInt64, name: String, spec: [UInt8], outputs: [String], parents: [TaskID]
    ) {
        precondition(id.rawValue == tasks.count, "Internal inconsistency: task \(id) added out of order")
        tasks.append(Task(job: job, name: name, spec: spec, outputs: outputs, parents: parents))
        wires.add()
        jobs[job]?.tasks.append(id)
    }

    /// Lists a new job under the next wire id; returns the id.
    @discardableResult
    mutating func addJob(_ job: Job) -> UInt64 {
        let wire = nextJob
        jobs[wire] = job
        nextJob += 1
        return wire
    }

    /// Sets a job's entry as a snapshot kept it.
    mutating func setJob(_ job: Job, wire: UInt64) {
        jobs[wire] = job
        nextJob = max(nextJob, wire + 1)
    }

    /// Sets the wire numbering a snapshot kept.
    mutating func setNumbering(_ wires: WireNumbering, nextJob: UInt64) {
        self.wires = wires
        self.nextJob = max(self.nextJob, nextJob)
    }

    /// The tables beside the core follow its forgetting of the jobs `cores`, as the core does: those jobs' tasks
    /// and queues leave, and what is kept is numbered again in order, wire ids unchanged.
    mutating func forgetTables(_ cores: [JobID]) {
        let forgotten = Set(cores)
        let forgottenWires = Set(jobs.filter { forgotten.contains($0.value.core) }.keys)
        let goneCores = forgotten.map(\.rawValue).sorted()
        let goneQueues = jobs.filter { forgottenWires.contains($0.key) }.flatMap {
            $0.value.queues.values.map(\.rawValue)
        }
        .sorted()
        func below(_ value: Int, in sorted: [Int]) -> Int {
            var low = 0
            var high = sorted.count
            while low < high {
                let middle = (low + high) / 2
                if sorted[middle] < value { low = middle + 1 } else { high = middle }
            }
            return low
        }
        var numbers = [Int](repeating: -1, count: tasks.count)
        var kept: [Task] = []
        for (index, task) in tasks.enumerated() where !forgottenWires.contains(task.job) {
            numbers[index] = kept.count
            kept.append(task)
        }
        for index in kept.indices where !kept[index].parents.isEmpty {
            kept[index].parents = kept[index].parents.map { TaskID(numbers[$0.rawValue]) }
        }
        wires.renumber(keeping: numbers.map { $0 >= 0 })
        tasks = kept
        for wire in forgottenWires { jobs[wire] = nil }
        for (wire, job) in jobs {
            var moved = job
            moved.core = JobID(job.core.rawValue - below(job.core.rawValue, in: goneCores))
            moved.queues = job.queues.mapValues { QueueID($0.rawValue - below($0.rawValue, in: goneQueues)) }
            moved.tasks = job.tasks.map { TaskID(numbers[$0.rawValue]) }
            jobs[wire] = moved
        }
    }

    /// The records and effects of the turn so far; the engine keeps no copy.
    mutating func takeTurn() -> (records: [CoordinatorRecord], effects: [CoordinatorEffect]) {
        for job in endingJobs.sorted() {
            if let core = jobs[job]?.core, state.core.unfinishedCount(of: core) == 0 { effects.append(.jobEnded(job)) }
        }
        endingJobs.removeAll()
        return (unsaved.takeAll(), effects.takeAll())
    }

    func wire(_ task: TaskID) -> UInt64 { wires.wire(of: task) }

    func task(wire id: UInt64) -> TaskID? { wires.task(wire: id) }

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
                            worker, WireAttempt(task: wire(id), epoch: epoch, attempt: attempt), job: task.job,
                            spec: task.spec, inputs: inputs))
                    effects.append(.changed(job: task.job, task: wire(id), output: nil))
                case .cancelRunning(let id, let attempt):
                    guard let worker = state.core.holder(of: id) else { continue }
                    effects.append(
                        .cancel(
                            worker, WireAttempt(task: wire(id), epoch: epoch, attempt: attempt),
                            grace: tasks[id.rawValue].killed ? .zero : cancelGrace))
                case .completed(let id, _):
                    let job = tasks[id.rawValue].job
                    effects.append(.changed(job: job, task: wire(id), output: nil))
                    endingJobs.insert(job)
                case .scheduleTimeout, .scheduleRetry, .scheduleLease:
                    break  // kept by the engine state's timers
                case .dispatch:
                    preconditionFailure("Internal inconsistency: a coordinator's core sent \(action)")
                }
            }
        }
    }
}
