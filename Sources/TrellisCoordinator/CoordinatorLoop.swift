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
    let metrics: CoordinatorMetrics
    let epoch: UInt64
    /// Run time when this session began; `elapsed` counts on from there on the coordinator's clock.
    let timeBase: Duration
    let elapsed: () -> Duration
    var engine: CoordinatorEngine
    /// The embedded executor that checks triggers.
    var checks: TriggerChecks
    /// Ended jobs waiting to be forgotten.
    var retention: JobRetention
    /// What attempts print, if kept.
    let logs: AttemptLogs?
    /// Attempts a log reader follows: each is told its end.
    var followed: [AttemptLogs.Key] = []
    /// When each running attempt was assigned, for its run time once it ends.
    var assignedAt: [WireAttempt: Duration] = [:]
    var connections: [UInt64: Connection] = [:]
    var workerConnection: [WorkerID: UInt64] = [:]
    var nextConnection: UInt64 = 0
    var watchers: [UInt64: [JobWatcher]] = [:]
    /// Watchers taken this turn, shown their job once the turn is durable.
    var newWatchers: [(UInt64, JobWatcher)] = []
    /// Wall-clock milliseconds when each worker name was last heard from.
    var lastSeen: [String: UInt64] = [:]
    /// Messages for each worker connection, sent after the turn's append.
    var outgoing: [UInt64: [SentInstruction]] = [:]
    /// Answers and other actions that wait for the turn's append (`later`).
    var replies: [() -> Void] = []
    private var pending: [CoordinatorRecord] = []
    /// How many tasks the latest turn added.
    private(set) var addedInTurn = 0
    /// Wall-clock seconds since 1970 at run time zero.
    let origin: Double
    /// The newest entry appended, and the one the latest snapshot stands for.
    var lastSequence: UInt64 = 0
    var snapshotSequence: UInt64 = 0
    /// The snapshot being written, if one is.
    private var snapshotting: Task<Void, Never>?

    var now: Duration { timeBase + elapsed() }
    /// Wall-clock milliseconds now, on the coordinator's clock: the first session's start plus the run time
    /// since (the wall clock itself is read once, when a session opens).
    var wallMs: UInt64 { UInt64(max(0, (origin + now.seconds) * 1000)) }

    /// Most records that may wait (`CoordinatorRecord.canWait`) kept back before an append of their own.
    static var mostWaiting: Int { 1_000 }

    /// Appends whatever records still wait for an append (when the loop stops).
    mutating func flush() async throws {
        await snapshotting?.value
        guard !pending.isEmpty else { return }
        try await append(pending)
        pending.removeAll()
    }

    private mutating func append(_ records: [CoordinatorRecord]) async throws {
        let started = ContinuousClock.now
        if let range = try await journal.append(records, epoch: epoch) { lastSequence = range.upperBound }
        metrics.commitTime.record(started.duration(to: .now))
        metrics.commitBatch.record(records.count)
    }

    /// Entries appended since the latest snapshot before the next one: the configured interval, and at least
    /// twice the tasks known, so writing snapshots costs a constant share of the work and a restart reads the
    /// snapshot and at most that many entries.
    func snapshotInterval() -> UInt64 { UInt64(max(configuration.snapshotInterval, 2 * engine.tasks.count)) }

    /// Saves a snapshot and drops the entries it stands for, once enough entries followed the last one. The
    /// engine's state is copied (copy-on-write) and written by a task of its own while the loop goes on.
    mutating func snapshotIfDue() async {
        guard lastSequence - snapshotSequence >= snapshotInterval() else { return }
        await snapshotting?.value
        let snapshot = CoordinatorSnapshot(origin: origin, time: now, engine: engine)
        let sequence = lastSequence
        snapshotSequence = sequence
        snapshotting = Task.detached(priority: .utility) { [journal, epoch, logger] in
            let started = ContinuousClock.now
            let bytes = snapshot.bytes()
            do {
                try await journal.saveSnapshot(JournalSnapshot(sequence: sequence, epoch: epoch, state: bytes))
                try await journal.compact(through: sequence, epoch: epoch)
                let took = DurationText.format(started.duration(to: .now))
                logger.debug("snapshot through entry \(sequence): \(bytes.count) bytes in \(took)")
            } catch {
                logger.warning("the snapshot through entry \(sequence) was not saved: \(error)")
            }
        }
    }

    /// Runs `action` after the turn's records are durable.
    mutating func later(_ action: @escaping () -> Void) { replies.append(action) }

    /// Begins a session (the journal's epoch goes up) and rebuilds the state earlier sessions recorded.
    static func open(
        journal: any Journal<CoordinatorRecord>, configuration: CoordinatorConfiguration, logger: Logger,
        metrics: CoordinatorMetrics, elapsed: @escaping () -> Duration, launch: @escaping TriggerChecks.Launch
    ) async throws -> CoordinatorLoop {
        let opened = ContinuousClock.now
        let epoch = try await journal.begin()
        let snapshot = try await journal.latestSnapshot()
        let parts = try snapshot.map { saved throws(JournalError) in
            try CoordinatorSnapshot.read(saved.state, epoch: epoch, cancelGrace: configuration.cancelGrace)
        }
        let entries = try await journal.allEntries(after: snapshot?.sequence ?? 0)
        var origin = parts?.origin
        var last = parts?.time ?? .zero
        for entry in entries {
            switch entry.record {
            case .origin(let seconds): origin = origin ?? seconds
            case .fact(let fact): last = fact.at
            default: break
            }
        }
        let wall = Date().timeIntervalSince1970
        let timeBase = max(last, .seconds(max(0, wall - (origin ?? wall))))
        var engine =
            entries.isEmpty && parts == nil
            ? CoordinatorEngine(
                epoch: epoch, leaseTimeout: configuration.leaseTimeout, cancelGrace: configuration.cancelGrace)
            : try CoordinatorEngine.restore(
                snapshot: parts, entries.lazy.map(\.record), epoch: epoch, leaseTimeout: configuration.leaseTimeout,
                cancelGrace: configuration.cancelGrace, now: timeBase)
        engine.holdBackEarlierSessions(now: timeBase)
        if engine.state.core.crashLimit != configuration.crashLimit {
            engine.apply(.crashLimitSet(configuration.crashLimit), now: timeBase)
        }
        // The embedded executor joins after the earlier sessions are held back and takes over the attempts its
        // predecessor was checking, as a worker that reconnects keeps its own: their checks start again under
        // the same attempts (a restart is no loss of the check's, and counts nothing against the crash limit).
        let previous = engine.sessions[TriggerChecks.name].map { engine.state.core.attempts(of: $0) } ?? []
        let resumed = previous.map { WireAttempt(task: engine.wire($0.task), epoch: epoch, attempt: $0.attempt) }
        let executor = try engine.hello(
            name: TriggerChecks.name, spec: WorkerSpec(type: JobRequest.coordinatorType, slots: TriggerChecks.slots),
            running: resumed, now: timeBase)
        var checks = TriggerChecks(worker: executor.worker, launch: launch)
        for ref in resumed where !executor.abandon.contains(ref) {
            guard let id = engine.task(wire: ref.task), !engine.state.core.isStopping(id) else { continue }
            checks.start(ref, spec: engine.tasks[id.rawValue].spec)
        }
        var loop = CoordinatorLoop(
            journal: journal, configuration: configuration, logger: logger, metrics: metrics, epoch: epoch,
            timeBase: timeBase,
            elapsed: elapsed, engine: engine, checks: checks,
            retention: JobRetention(period: configuration.forgetAfter),
            logs: configuration.logDirectory.map { AttemptLogs(directory: $0, limit: configuration.logLimit) },
            origin: origin ?? wall)
        // Jobs that had ended count their retention from the journal's last entry.
        for (wire, job) in loop.engine.jobs.sorted(by: { $0.key < $1.key })
        where loop.engine.state.core.unfinishedCount(of: job.core) == 0 {
            loop.retention.jobEnded(wire, at: last)
        }
        loop.lastSequence = entries.last?.sequence ?? snapshot?.sequence ?? 0
        loop.snapshotSequence = snapshot?.sequence ?? 0
        if origin == nil { loop.pending.append(.origin(wall)) }
        let took = DurationText.format(opened.duration(to: .now))
        let from = snapshot.map { "a snapshot through entry \($0.sequence) and " } ?? ""
        logger.info(
            "session \(epoch) began: \(from)\(entries.count) journal entries replayed in \(took), \(engine.tasks.count) tasks known"
        )
        return loop
    }

    var nextDeadline: Duration? {
        switch (engine.nextDeadline, retention.nextDeadline) {
        case (let a?, let b?): min(a, b)
        case (let a, let b): a ?? b
        }
    }

    /// Forgets the ended jobs whose retention ran out.
    private mutating func forgetDueJobs() {
        let due = retention.due(now: now)
        guard !due.isEmpty else { return }
        let result = engine.forgetEnded(due, now: now)
        retention.stillNeeded(result.blocked)
        guard !result.forgotten.isEmpty else { return }
        metrics.forgottenTasks.increment(by: result.tasks)
        for job in result.forgotten { logs?.remove(job: job) }
        let jobs = result.forgotten.map(String.init).joined(separator: ", ")
        logger.info("jobs \(jobs) forgotten after --forget-after, with \(result.tasks) tasks")
    }

    mutating func shutdown() {
        checks.stopAll()
        logs?.stop(RPCError(code: .unavailable, message: "the coordinator is shutting down; ask for the logs again"))
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
        let started = ContinuousClock.now
        defer { metrics.turnTime.record(started.duration(to: .now)) }
        addedInTurn = 0
        for input in inputs { take(input) }
        // The embedded executor is as alive as the loop.
        engine.heard(from: checks.worker, now: now)
        for lost in engine.expire(now: now) { dropLost(lost) }
        forgetDueJobs()
        let turn = engine.takeTurn()
        metrics.count(turn.records)
        let records = pending + turn.records
        pending.removeAll()
        // Write-ahead for what effects depend on; a turn whose records may all wait (a task reported started,
        // the commonest turn of shell tasks) sends at once, and its records go with the next append.
        if records.contains(where: { !$0.canWait }) || records.count >= Self.mostWaiting {
            try await append(records)
        } else {
            pending = records
        }
        route(turn.effects)
        endFollowedLogs()
        dropGoneWatchers()
        startWatches()
        for reply in replies { reply() }
        replies.removeAll(keepingCapacity: true)
        for (connection, messages) in outgoing {
            guard let outbox = connections[connection]?.outbox else { continue }
            for message in messages { outbox.yield(message) }
        }
        outgoing.removeAll(keepingCapacity: true)
        await snapshotIfDue()
    }

    private mutating func take(_ input: CoordinatorInput) {
        switch input {
        case .hello(let hello, let outbox, let reply):
            connect(hello, outbox: outbox, reply: reply)
        case .report(let connection, let message):
            guard let link = connections[connection] else { return }
            lastSeen[link.name] = wallMs
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
                outgoing[id, default: []].append(.broadcast(message))
                sent += 1
            }
            replies.append { reply(.success(sent)) }
        case .listWorkers(let reply):
            let infos = workerInfos()
            replies.append { reply(.success(infos)) }
        case .listTasks(let query, let reply):
            let tasks = listTasks(query)
            replies.append { reply(.success(tasks)) }
        case .showTask(let id, let reply):
            guard let task = engine.task(wire: id) else {
                let error = RPCError(code: .notFound, message: engine.unknownTask(id))
                replies.append { reply(.failure(error)) }
                return
            }
            let info = info(task)
            replies.append { reply(.success(info)) }
        case .listJobs(let job, let reply):
            if let job, engine.jobs[job] == nil {
                let error = RPCError(code: .notFound, message: engine.unknownJob(job))
                replies.append { reply(.failure(error)) }
                return
            }
            let summaries = engine.summaries(of: job)
            replies.append { reply(.success(summaries)) }
        case .metrics(let reply):
            let text = metrics.scrape(engine, workers: workerInfos())
            replies.append { reply(.success(text)) }
        case .taskLogs(let job, let task, let attempt, let follow, let follower):
            if job != 0 {
                followLogs(of: job, into: follower)
            } else {
                readLogs(task: task, attempt: attempt, follow: follow, into: follower)
            }
        case .forget(let jobs, let reply):
            if let unknown = jobs.first(where: { engine.jobs[$0] == nil }) {
                let error = RPCError(code: .notFound, message: engine.unknownJob(unknown))
                replies.append { reply(.failure(error)) }
                return
            }
            do {
                let forgotten = try engine.forget(jobs, now: now)
                retention.jobsForgotten()
                metrics.forgottenTasks.increment(by: forgotten)
                for job in jobs { logs?.remove(job: job) }
                logger.info("jobs \(jobs.map(String.init).joined(separator: ", ")) forgotten, with \(forgotten) tasks")
                replies.append { reply(.success(forgotten)) }
            } catch {
                let refusal = RPCError(code: .failedPrecondition, message: error.message)
                replies.append { reply(.failure(refusal)) }
            }
        case .checked(let ref, .started):
            engine.started(ref, by: checks.worker, now: now)
        case .checked(let ref, .ended(let result)):
            checks.ended(ref)
            engine.finished(ref, result: result, by: checks.worker, now: now)
        case .timer:
            break
        }
    }

    // MARK: Requests

    private mutating func add(
        _ incoming: IncomingJob, reply: @escaping CoordinatorInput.Reply<(job: UInt64, tasks: [UInt64])>
    ) {
        if !configuration.commandTriggers,
            let trigger = incoming.allTasks.first(where: {
                if case .trigger(.command, _, _, _) = $0.work { return true }
                return false
            })
        {
            let error = RPCError(
                code: .invalidArgument,
                message: "'\(trigger.name)' is a trigger that runs a command on the coordinator's host, which this "
                    + "coordinator does not allow (start it with --command-triggers to allow it)")
            replies.append { reply(.failure(error)) }
            return
        }
        let job = incoming.job.job
        if job != 0, engine.jobs[job] == nil {
            let error = RPCError(code: .notFound, message: engine.unknownJob(job))
            replies.append { reply(.failure(error)) }
            return
        }
        do {
            let added = try engine.add(incoming, to: job, policy: .fifo, now: now)
            logger.debug("job \(added.job): \(added.ids.count) tasks added")
            addedInTurn += added.ids.count
            replies.append { reply(.success((added.job, added.ids))) }
        } catch {
            let refusal = RPCError(code: .invalidArgument, message: error.message)
            replies.append { reply(.failure(refusal)) }
        }
    }

    private mutating func apply(
        _ change: RemoteChange, to selection: RemoteSelection, reply: @escaping CoordinatorInput.Reply<Int>
    ) {
        // Unknown ids are an error before anything changes; a task that ended is known (and changes nothing).
        let unknown = selection.ids.filter { engine.task(wire: $0) == nil }
        if let first = unknown.first {
            let more = unknown.count > 1 ? " (and \(unknown.count - 1) more unknown)" : ""
            let error = RPCError(code: .notFound, message: engine.unknownTask(first) + more)
            replies.append { reply(.failure(error)) }
            return
        }
        if let job = selection.job, engine.jobs[job] == nil {
            let error = RPCError(code: .notFound, message: engine.unknownJob(job))
            replies.append { reply(.failure(error)) }
            return
        }
        let ids = selection.ids.compactMap(engine.task(wire:))
        let job = selection.all ? nil : selection.job
        var changed = engine.change(change, ids: ids, job: job, now: now)
        if selection.all {
            for job in engine.jobs.keys.sorted() { changed += engine.change(change, ids: [], job: job, now: now) }
        }
        replies.append { reply(.success(changed)) }
    }

    // MARK: Logs

    private mutating func readLogs(task wire: UInt64, attempt: Int, follow: Bool, into follower: LogFollower) {
        guard let logs else {
            follower.finish(
                throwing: RPCError(
                    code: .failedPrecondition,
                    message: "this coordinator keeps no logs (start it with --logs DIR)"))
            return
        }
        guard let id = engine.task(wire: wire) else {
            follower.finish(throwing: RPCError(code: .notFound, message: engine.unknownTask(wire)))
            return
        }
        let count = engine.state.core.attemptCount(of: id)
        let number = attempt == 0 ? count : attempt
        guard number >= 1, number <= count else {
            let message =
                count == 0
                ? "task \(wire) has not started yet" : "task \(wire) has no attempt \(number) (it has had \(count))"
            follower.finish(throwing: RPCError(code: .notFound, message: message))
            return
        }
        let key = AttemptLogs.Key(job: engine.tasks[id.rawValue].job, task: wire, attempt: number)
        let live = follow && engine.state.core.state(of: id) == .running(attempt: number)
        logs.read(key, into: follower, follow: live)
        if live { followed.append(key) }
    }

    private func followLogs(of job: UInt64, into follower: LogFollower) {
        guard let logs else {
            follower.finish(
                throwing: RPCError(
                    code: .failedPrecondition, message: "this coordinator keeps no logs (start it with --logs DIR)"))
            return
        }
        guard let entry = engine.jobs[job] else {
            follower.finish(throwing: RPCError(code: .notFound, message: engine.unknownJob(job)))
            return
        }
        logs.follow(job: job, into: follower)
        // A job that has ended sends what it printed, and ends there.
        if engine.state.core.unfinishedCount(of: entry.core) == 0 { logs.jobEnded(job) }
    }

    /// Tells the log readers of attempts that ended, whatever ended them (a report, a lost worker, a cancel).
    private mutating func endFollowedLogs() {
        guard let logs, !followed.isEmpty else { return }
        followed.removeAll { key in
            guard let id = engine.task(wire: key.task),
                engine.state.core.state(of: id) == .running(attempt: key.attempt)
            else {
                logs.ended(key)
                return true
            }
            return false
        }
    }

    // MARK: Effects

    private mutating func route(_ effects: [CoordinatorEffect]) {
        var batches: [UInt64: [WorkerAssignment<[UInt8]>]] = [:]
        var order: [UInt64] = []
        var shown = Set<UInt64>()
        for effect in effects {
            switch effect {
            case .assign(checks.worker, let ref, _, let spec, _):
                checks.start(ref, spec: spec)
            case .cancel(checks.worker, let ref, _):
                checks.cancel(ref)
            case .stale(checks.worker, _):
                break
            case .assign(let worker, let ref, let job, let spec, let inputs):
                assignedAt[ref] = now
                guard let connection = workerConnection[worker] else { continue }
                if batches[connection] == nil { order.append(connection) }
                batches[connection, default: []].append(
                    WorkerAssignment(attempt: ref, job: job, spec: spec, inputs: inputs))
            case .cancel(let worker, let ref, let grace):
                guard let connection = workerConnection[worker] else { continue }
                outgoing[connection, default: []].append(.cancel(ref, grace: grace))
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
                retention.jobEnded(job, at: now)
                logs?.jobEnded(job)
                var end = RemoteJobEvent()
                end.jobEnded = true
                end.timeMs = wallMs
                for watcher in watchers.removeValue(forKey: job) ?? [] {
                    watcher.yield(end)
                    watcher.finish()
                }
            }
        }
        for connection in order {
            outgoing[connection, default: []].append(.assign(batches[connection]!))
        }
    }
}
