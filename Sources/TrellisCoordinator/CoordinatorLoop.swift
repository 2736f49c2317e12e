internal import Foundation
internal import GRPCCore
internal import Logging
internal import SwiftProtobuf
internal import TrellisCore
internal import TrellisJournal
internal import TrellisProtocol

/// The coordinator's loop state, owned by `Coordinator.run`'s task alone: the engine (every decision), the
/// worker streams and the job watchers. One turn takes what arrived, lets the engine act on it, makes the
/// turn's records durable in one journal append (write-ahead: nothing leaves before), then sends.
struct CoordinatorLoop {
    struct Connection {
        var id: UInt64
        var worker: WorkerID
        var name: String
        var type: String
        var slots: Int
        var tags: [String]
        var resources: [String: Double]
        var outbox: WorkerOutbox
    }

    let journal: any Journal<CoordinatorRecord>
    let configuration: CoordinatorConfiguration
    let logger: Logger
    let epoch: UInt64
    /// Run time when this session began; `elapsed` counts on from there on the coordinator's clock.
    let timeBase: Duration
    let elapsed: () -> Duration
    var engine: CoordinatorEngine
    var connections: [UInt64: Connection] = [:]
    var workerConnection: [WorkerID: UInt64] = [:]
    var nextConnection: UInt64 = 0
    var watchers: [UInt64: [JobWatcher]] = [:]
    /// Watchers taken this turn, shown their job once the turn is durable.
    var newWatchers: [(UInt64, JobWatcher)] = []
    /// Wall-clock seconds each worker name was last heard from.
    var lastSeen: [String: Double] = [:]
    private var outgoing: [UInt64: [Trellis_V1_CoordinatorMessage]] = [:]
    private var replies: [() -> Void] = []
    private var pending: [CoordinatorRecord] = []
    /// How many tasks the latest turn added.
    private(set) var addedInTurn = 0

    var now: Duration { timeBase + elapsed() }

    /// Most records that may wait (`CoordinatorRecord.canWait`) kept back before an append of their own.
    static var mostWaiting: Int { 1_000 }

    /// Appends whatever records still wait for an append (when the loop stops).
    mutating func flush() async throws {
        guard !pending.isEmpty else { return }
        try await journal.append(pending, epoch: epoch)
        pending.removeAll()
    }

    /// Runs `action` after the turn's records are durable.
    mutating func later(_ action: @escaping () -> Void) { replies.append(action) }

    /// Begins a session (the journal's epoch goes up) and rebuilds the state earlier sessions recorded.
    static func open(
        journal: any Journal<CoordinatorRecord>, configuration: CoordinatorConfiguration, logger: Logger,
        elapsed: @escaping () -> Duration
    ) async throws -> CoordinatorLoop {
        let opened = ContinuousClock.now
        let epoch = try await journal.begin()
        let entries = try await journal.allEntries()
        var origin: Double?
        var last = Duration.zero
        for entry in entries {
            switch entry.record {
            case .origin(let seconds): origin = origin ?? seconds
            case .fact(let fact): last = fact.at
            default: break
            }
        }
        let wall = Date().timeIntervalSince1970
        let timeBase = max(last, .seconds(max(0, wall - (origin ?? wall))))
        let engine =
            entries.isEmpty
            ? CoordinatorEngine(
                epoch: epoch, leaseTimeout: configuration.leaseTimeout, cancelGrace: configuration.cancelGrace)
            : try CoordinatorEngine.restore(
                entries.lazy.map(\.record), epoch: epoch, leaseTimeout: configuration.leaseTimeout,
                cancelGrace: configuration.cancelGrace, now: timeBase)
        var loop = CoordinatorLoop(
            journal: journal, configuration: configuration, logger: logger, epoch: epoch, timeBase: timeBase,
            elapsed: elapsed, engine: engine)
        if origin == nil { loop.pending.append(.origin(wall)) }
        loop.engine.holdBackEarlierSessions(now: timeBase)
        let took = DurationText.format(opened.duration(to: .now))
        logger.info(
            "session \(epoch) began: \(entries.count) journal entries replayed in \(took), \(engine.tasks.count) tasks known"
        )
        return loop
    }

    var nextDeadline: Duration? { engine.nextDeadline }

    mutating func shutdown() {
        for connection in connections.values {
            connection.outbox.finish(
                throwing: RPCError(code: .unavailable, message: "the coordinator is shutting down; reconnect later"))
        }
        // A watch that ends without its job's end is told why, so it is never taken for a finished job.
        let stopping = RPCError(code: .unavailable, message: "the coordinator is shutting down; watch the job again")
        for list in watchers.values { for watcher in list { watcher.finish(throwing: stopping) } }
        for (_, watcher) in newWatchers { watcher.finish(throwing: stopping) }
    }

    // MARK: One turn

    mutating func handle(_ inputs: [CoordinatorInput]) async throws {
        addedInTurn = 0
        for input in inputs { take(input) }
        for lost in engine.expire(now: now) { dropLost(lost) }
        let turn = engine.takeTurn()
        let records = pending + turn.records
        pending.removeAll()
        // Write-ahead for what effects depend on; a turn whose records may all wait (a task reported started,
        // the commonest turn of shell tasks) sends at once, and its records go with the next append.
        if records.contains(where: { !$0.canWait }) || records.count >= Self.mostWaiting {
            try await journal.append(records, epoch: epoch)
        } else {
            pending = records
        }
        route(turn.effects)
        dropGoneWatchers()
        startWatches()
        for reply in replies { reply() }
        replies.removeAll(keepingCapacity: true)
        for (connection, messages) in outgoing {
            guard let outbox = connections[connection]?.outbox else { continue }
            for message in messages { outbox.yield(message) }
        }
        outgoing.removeAll(keepingCapacity: true)
    }

    private mutating func take(_ input: CoordinatorInput) {
        switch input {
        case .hello(let hello, let outbox, let reply):
            connect(hello, outbox: outbox, reply: reply)
        case .report(let connection, let message):
            guard let link = connections[connection] else { return }
            lastSeen[link.name] = Date().timeIntervalSince1970
            engine.heard(from: link.worker, now: now)
            report(message, from: link)
        case .disconnected(let connection):
            guard let link = connections.removeValue(forKey: connection) else { return }
            link.outbox.finish()  // the worker closed it
            if workerConnection[link.worker] == connection {
                workerConnection[link.worker] = nil
                logger.info(
                    "worker \(link.name) disconnected; its attempts stay its own until it is back or its lease ends")
                // It keeps its attempts until it says hello again or its lease runs out.
                engine.drained(link.worker, now: now)
            }
        case .add(let request, let reply):
            add(request, reply: reply)
        case .change(let change, let selection, let reply):
            apply(change, to: selection, reply: reply)
        case .watch(let job, let watcher):
            watch(job, watcher)
        case .broadcast(let type, let message, let reply):
            var sent = 0
            for (id, connection) in connections where type.isEmpty || connection.type == type {
                var broadcast = Trellis_V1_Broadcast()
                broadcast.message = message
                var wire = Trellis_V1_CoordinatorMessage()
                wire.broadcast = broadcast
                outgoing[id, default: []].append(wire)
                sent += 1
            }
            replies.append { reply(.success(sent)) }
        case .listWorkers(let reply):
            let infos = workerInfos()
            replies.append { reply(.success(infos)) }
        case .listTasks(let request, let reply):
            let response = listTasks(request)
            replies.append { reply(.success(response)) }
        case .showTask(let id, let reply):
            guard let task = engine.task(wire: id) else {
                replies.append { reply(.failure(RPCError(code: .notFound, message: "there is no task \(id)"))) }
                return
            }
            let info = info(task)
            replies.append { reply(.success(info)) }
        case .timer:
            break
        }
    }

    // MARK: Workers

    /// What a worker stream replaced by a newer one of the same name is told.
    static func replaced(_ name: String) -> String {
        "another worker named '\(name)' connected; a name belongs to one worker at a time, so this one stops"
    }

    private mutating func connect(
        _ hello: Trellis_V1_Hello, outbox: WorkerOutbox, reply: @escaping CoordinatorInput.Reply<UInt64>
    ) {
        let type = hello.type.isEmpty ? JobRequest.defaultWorkerType : hello.type
        let spec = WorkerSpec(type: type, tags: Set(hello.tags), slots: Int(hello.slots), resources: hello.resources)
        let running = hello.running.map { WireAttempt(task: $0.taskID, epoch: $0.epoch, attempt: Int($0.attempt)) }
        let joined: (worker: WorkerID, abandon: [WireAttempt])
        do {
            joined = try engine.hello(name: hello.name, spec: spec, running: running, now: now)
        } catch {
            let refusal = RPCError(code: .invalidArgument, message: error.message)
            replies.append {
                reply(.failure(refusal))
                outbox.finish(throwing: refusal)
            }
            return
        }
        // A reconnect replaces the old stream. Should that stream still have a process behind it (two workers
        // given one name), that worker is told to stop rather than reconnect, so the two do not take turns
        // replacing each other (and losing each other's attempts) for ever.
        for (id, link) in connections where link.name == hello.name {
            connections[id] = nil
            if workerConnection[link.worker] == id { workerConnection[link.worker] = nil }
            logger.notice("worker \(link.name): a newer connection of the same name replaces the one it had")
            link.outbox.finish(throwing: RPCError(code: .alreadyExists, message: Self.replaced(hello.name)))
        }
        nextConnection += 1
        let connection = Connection(
            id: nextConnection, worker: joined.worker, name: hello.name, type: type, slots: Int(hello.slots),
            tags: hello.tags, resources: hello.resources, outbox: outbox)
        connections[connection.id] = connection
        workerConnection[joined.worker] = connection.id
        lastSeen[hello.name] = Date().timeIntervalSince1970

        var welcome = Trellis_V1_Welcome()
        welcome.workerID = UInt64(joined.worker.rawValue) + 1
        welcome.epoch = epoch
        welcome.heartbeatIntervalMs = UInt64(configuration.heartbeatInterval.seconds * 1000)
        welcome.leaseTimeoutMs = UInt64(configuration.leaseTimeout.seconds * 1000)
        welcome.abandon = joined.abandon.map(Self.wire)
        var message = Trellis_V1_CoordinatorMessage()
        message.welcome = welcome
        // The welcome goes first: the assignments of this turn follow it on the same stream.
        outgoing[connection.id, default: []].insert(message, at: 0)
        let id = connection.id
        replies.append { reply(.success(id)) }
        let kept = running.count - joined.abandon.count
        logger.info(
            "worker \(hello.name) connected: type \(type), \(hello.slots) slots, \(kept) attempts kept, \(joined.abandon.count) abandoned"
        )
    }

    private mutating func report(_ message: Trellis_V1_WorkerMessage, from link: Connection) {
        func attempt(_ ref: Trellis_V1_AttemptRef) -> WireAttempt {
            WireAttempt(task: ref.taskID, epoch: ref.epoch, attempt: Int(ref.attempt))
        }
        switch message.kind {
        case .started(let started):
            engine.started(attempt(started.attempt), by: link.worker, now: now)
        case .output(let output):
            engine.output(attempt(output.attempt), name: output.name, by: link.worker, now: now)
        case .finished(let finished):
            let result: AttemptResult =
                switch finished.result {
                case .exitCode(let code): .exited(code)
                case .value(let value): .value([UInt8](value))
                case .signal(let signal): .signalled(signal)
                case .error(let error): .error(error)
                case nil: .missing
                }
            engine.finished(attempt(finished.attempt), result: result, by: link.worker, now: now)
        case .log(let chunk):
            // Fenced like every report; what a task printed is not kept by the coordinator yet.
            if engine.holds(link.worker, attempt(chunk.attempt)) == nil {
                stale(attempt(chunk.attempt), to: link.id)
            }
        case .drain:
            engine.drained(link.worker, now: now)
        case .heartbeat, .hello, nil:
            break
        }
    }

    /// A worker whose lease ran out: its stream ends with the reason, its attempts run again elsewhere.
    private mutating func dropLost(_ worker: WorkerID) {
        guard let connection = workerConnection.removeValue(forKey: worker),
            let link = connections.removeValue(forKey: connection)
        else { return }
        let lease = DurationText.format(configuration.leaseTimeout)
        logger.warning("worker \(link.name) lost: nothing heard from it for \(lease); its attempts run again elsewhere")
        let error = RPCError(
            code: .unavailable,
            message: "worker '\(link.name)' is lost: nothing heard from it for \(lease) (the lease); "
                + "its tasks run again elsewhere")
        // Told once its leaving is durable.
        later { link.outbox.finish(throwing: error) }
    }

    private mutating func stale(_ ref: WireAttempt, to connection: UInt64) {
        var stale = Trellis_V1_StaleReport()
        stale.attempt = Self.wire(ref)
        var message = Trellis_V1_CoordinatorMessage()
        message.stale = stale
        outgoing[connection, default: []].append(message)
    }

    static func wire(_ ref: WireAttempt) -> Trellis_V1_AttemptRef {
        var wire = Trellis_V1_AttemptRef()
        wire.taskID = ref.task
        wire.epoch = ref.epoch
        wire.attempt = UInt32(clamping: ref.attempt)
        return wire
    }

    // MARK: Requests

    private mutating func add(
        _ request: Trellis_V1_AddTasksRequest, reply: @escaping CoordinatorInput.Reply<Trellis_V1_AddTasksResponse>
    ) {
        let problems = RequestValidation.problems(request) { id in engine.task(wire: id) != nil }
        guard problems.isEmpty else {
            let error = RPCError(code: .invalidArgument, message: problems.joined(separator: "\n"))
            replies.append { reply(.failure(error)) }
            return
        }
        if request.jobID != 0, engine.jobs[request.jobID] == nil {
            let error = RPCError(code: .notFound, message: "there is no job \(request.jobID)")
            replies.append { reply(.failure(error)) }
            return
        }
        do {
            let added = try engine.add(request, to: request.jobID, policy: .fifo, now: now)
            logger.debug("job \(added.job): \(added.ids.count) tasks added")
            addedInTurn += added.ids.count
            var response = Trellis_V1_AddTasksResponse()
            response.jobID = added.job
            response.taskIds = added.ids
            replies.append { reply(.success(response)) }
        } catch {
            let refusal = RPCError(code: .invalidArgument, message: error.message)
            replies.append { reply(.failure(refusal)) }
        }
    }

    private mutating func apply(
        _ change: TaskChange, to selection: Trellis_V1_TaskSelection, reply: @escaping CoordinatorInput.Reply<Int>
    ) {
        // Unknown ids are an error before anything changes; a task that ended is known (and changes nothing).
        let unknown = selection.taskIds.filter { engine.task(wire: $0) == nil }
        if !unknown.isEmpty {
            let list = unknown.prefix(10).map(String.init).joined(separator: ", ")
            replies.append { reply(.failure(RPCError(code: .notFound, message: "there is no task \(list)"))) }
            return
        }
        if selection.jobID != 0, engine.jobs[selection.jobID] == nil {
            let job = selection.jobID
            replies.append { reply(.failure(RPCError(code: .notFound, message: "there is no job \(job)"))) }
            return
        }
        let ids = selection.taskIds.compactMap(engine.task(wire:))
        let job = selection.jobID == 0 || selection.all ? nil : selection.jobID
        var changed = engine.change(change, ids: ids, job: job, now: now)
        if selection.all {
            for job in engine.jobs.keys.sorted() { changed += engine.change(change, ids: [], job: job, now: now) }
        }
        replies.append { reply(.success(changed)) }
    }

    // MARK: Effects

    private mutating func route(_ effects: [CoordinatorEffect]) {
        var batches: [UInt64: Trellis_V1_Assignments] = [:]
        var order: [UInt64] = []
        var shown = Set<UInt64>()
        for effect in effects {
            switch effect {
            case .assign(let worker, let ref, let job, let spec, let inputs):
                guard let connection = workerConnection[worker] else { continue }
                var assignment = Trellis_V1_Assignment()
                assignment.attempt = Self.wire(ref)
                assignment.jobID = job
                assignment.spec = (try? Trellis_V1_TaskSpec(serializedBytes: spec)) ?? Trellis_V1_TaskSpec()
                for (name, value) in inputs { assignment.inputs[name] = Data(value) }
                if batches[connection] == nil { order.append(connection) }
                batches[connection, default: Trellis_V1_Assignments()].assignments.append(assignment)
            case .cancel(let worker, let ref, let grace):
                guard let connection = workerConnection[worker] else { continue }
                var cancel = Trellis_V1_CancelAttempt()
                cancel.attempt = Self.wire(ref)
                cancel.graceMs = UInt64(grace.seconds * 1000)
                var message = Trellis_V1_CoordinatorMessage()
                message.cancel = cancel
                outgoing[connection, default: []].append(message)
            case .stale(let worker, let ref):
                guard let connection = workerConnection[worker] else { continue }
                stale(ref, to: connection)
            case .changed(let job, let task, let output):
                // A task changed several times in one turn is shown once, as it is now (outputs each time).
                guard let list = watchers[job], let id = engine.task(wire: task),
                    output != nil || shown.insert(task).inserted
                else { continue }
                var event = self.event(id)
                if let output { event.output = output }
                for watcher in list { watcher.yield(event) }
            case .jobEnded(let job):
                var end = Trellis_V1_JobEvent()
                end.jobEnded = true
                end.timeMs = UInt64(Date().timeIntervalSince1970 * 1000)
                for watcher in watchers.removeValue(forKey: job) ?? [] {
                    watcher.yield(end)
                    watcher.finish()
                }
            }
        }
        for connection in order {
            var message = Trellis_V1_CoordinatorMessage()
            message.assignments = batches[connection]!
            outgoing[connection, default: []].append(message)
        }
    }
}
