internal import Foundation
internal import GRPCCore
internal import HeapModule
internal import SwiftProtobuf
internal import TrellisCore
internal import TrellisProtocol
internal import TrellisStore

/// The coordinator's state and its transitions, owned by `Coordinator.run`'s task alone.
struct CoordinatorLoop {
    /// What the loop keeps of an unfinished task.
    struct Entry {
        var job: UInt64
        var name: String
        var spec: [UInt8]
        var placement: DispatchCore.ReadyTask
        var hasNeeds: Bool
        var retryDelay: Double
        var epoch: UInt64
        var attempt: Int
        var failures: Int
        /// The worker of the current attempt while it is assigned or running.
        var worker: UInt64?
        var notBefore: Double = 0
        /// A finale task whose job's main tasks have not all ended: a job cancel spares it, so the clean-up
        /// runs.
        var finaleWaiting = false
    }

    struct Connection {
        var id: UInt64
        var worker: UInt64
        var name: String
        var type: String
        var slots: Int
        var tags: [String]
        var resources: [String: Double]
        var outbox: WorkerOutbox
    }

    /// Where an event of the current batch came from, to answer stale reports and count changes.
    enum Origin {
        case worker(connection: UInt64, Trellis_V1_AttemptRef)
        case request(Int)
        case internalEvent
    }

    struct Due: Comparable {
        var time: Double
        var task: UInt64
        static func < (a: Due, b: Due) -> Bool { (a.time, a.task) < (b.time, b.task) }
    }

    let store: any CoordinatorStore
    let configuration: CoordinatorConfiguration
    let now: () -> Double
    let epoch: UInt64
    var core: DispatchCore
    var entries: [UInt64: Entry] = [:]
    var jobOpen: [UInt64: Int] = [:]
    var connections: [UInt64: Connection] = [:]
    /// The live connection of each worker.
    var workerConnection: [UInt64: UInt64] = [:]
    var nextConnection: UInt64 = 0
    /// Attempts left in flight by an earlier session, unclaimed by any worker yet, with their deadline.
    var orphans: [UInt64: Double] = [:]
    var delayed = Heap<Due>()
    var watchers: [UInt64: [JobWatcher]] = [:]

    // The batch being built.
    private var events: [CoordinatorEvent] = []
    private var origins: [Origin] = []
    private var outgoing: [UInt64: [Trellis_V1_CoordinatorMessage]] = [:]
    private var requests: [(count: Int, reply: CoordinatorInput.Reply<Int>)] = []
    private var cancels: [(task: UInt64, grace: Duration)] = []

    init(store: any CoordinatorStore, configuration: CoordinatorConfiguration, now: @escaping () -> Double) throws {
        self.store = store
        self.configuration = configuration
        self.now = now
        core = DispatchCore(leaseTimeout: configuration.leaseTimeout.seconds)
        let session = try store.beginSession(at: Date().timeIntervalSince1970)
        epoch = session.epoch
        let open = Set(RemoteTaskState.allCases.filter { !$0.isFinal })
        // An attempt left in flight stays held by the worker it was assigned to: only that worker may adopt it
        // or report on it.
        let workerIDs = Dictionary(
            try store.workers().map { ($0.name, $0.id) }, uniquingKeysWith: { first, _ in first })
        var after: UInt64 = 0
        while true {
            let page = try store.tasks(states: open, job: nil, afterID: after, limit: 10_000)
            for task in page {
                try remember(task)
                if task.state == .assigned || task.state == .running, let name = task.worker {
                    entries[task.id]?.worker = workerIDs[name]
                }
            }
            guard let last = page.last else { break }
            after = last.id
        }
        let deadline = now() + configuration.leaseTimeout.seconds
        for id in session.inFlight { orphans[id] = deadline }
        for id in session.ready { enqueue(id) }
        for worker in try store.workers() where worker.status == .connected {
            var lost = worker
            lost.status = .lost
            _ = try store.saveWorker(lost)
        }
    }

    mutating func remember(_ task: RemoteTask) throws {
        let spec = try Trellis_V1_TaskSpec(serializedBytes: task.spec)
        remember(
            id: task.id, job: task.job, spec: spec, bytes: task.spec, rank: task.rank, epoch: task.epoch,
            attempt: task.attempt, failures: task.failures)
        entries[task.id]?.finaleWaiting = task.role != .main && !task.played
    }

    mutating func remember(
        id: UInt64, job: UInt64, spec: Trellis_V1_TaskSpec, bytes: [UInt8], rank: Double, epoch: UInt64 = 0,
        attempt: Int = 0, failures: Int = 0
    ) {
        entries[id] = Entry(
            job: job, name: spec.name, spec: bytes,
            placement: DispatchCore.ReadyTask(
                id: id, type: spec.workerType.isEmpty ? "blocking" : spec.workerType, tags: spec.tags,
                resources: spec.resources, priority: spec.priority, rank: rank),
            hasNeeds: !spec.needs.isEmpty, retryDelay: Double(spec.retryDelayMs) / 1000, epoch: epoch,
            attempt: attempt, failures: failures)
        jobOpen[job, default: 0] += 1
    }

    var nextDeadline: Double? {
        [core.nextLeaseDeadline, orphans.values.min(), delayed.min?.time].compactMap { $0 }.min()
    }

    mutating func shutdown() {
        for connection in connections.values {
            connection.outbox.finish(
                throwing: RPCError(code: .unavailable, message: "the coordinator is shutting down; reconnect later"))
        }
        for list in watchers.values { for watcher in list { watcher.finish() } }
    }

    // MARK: One turn

    mutating func handle(_ inputs: [CoordinatorInput]) throws {
        let time = now()
        for input in inputs { try take(input, at: time) }
        expire(at: time)
        try commit()
        try dispatch()
        for (connection, messages) in outgoing {
            guard let outbox = connections[connection]?.outbox else { continue }
            for message in messages { outbox.yield(message) }
        }
        outgoing.removeAll(keepingCapacity: true)
    }

    private mutating func record(_ event: CoordinatorEvent, _ origin: Origin) {
        events.append(event)
        origins.append(origin)
    }

    private mutating func take(_ input: CoordinatorInput, at time: Double) throws {
        switch input {
        case .hello(let hello, let outbox, let reply):
            try connect(hello, outbox: outbox, reply: reply, at: time)
        case .report(let connection, let message):
            guard let link = connections[connection] else { return }
            core.heard(from: link.worker, now: time)
            report(message, from: link)
        case .disconnected(let connection):
            guard let link = connections.removeValue(forKey: connection) else { return }
            link.outbox.finish()  // the worker closed it
            if workerConnection[link.worker] == connection {
                workerConnection[link.worker] = nil
                core.stopAccepting(link.worker)
            }
        case .add(let request, let reply):
            do {
                let batch = try TaskIntake.batch(request)
                let added = try store.addTasks(batch, at: Date().timeIntervalSince1970)
                let specs = request.tasks + request.onSuccess + request.onFailure
                let ended = Set(added.ended)
                for (position, id) in added.taskIDs.enumerated() where !ended.contains(id) {
                    let new = batch.tasks[position]
                    remember(id: id, job: added.job, spec: specs[position], bytes: new.spec, rank: new.rank)
                    entries[id]?.finaleWaiting = new.role != .main
                }
                for id in added.ready { enqueue(id) }
                var response = Trellis_V1_AddTasksResponse()
                response.jobID = added.job
                response.taskIds = Array(added.taskIDs.prefix(request.tasks.count))
                reply(.success(response))
                if watchers[added.job] != nil {
                    notifyWatchers(added.taskIDs.map { ($0, nil) }, outputs: [], ended: [:])
                }
            } catch let error as RunStoreError where error.code == .noSuchJob {
                reply(.failure(RPCError(code: .notFound, message: error.message)))
            } catch {
                reply(.failure(RPCError(code: .internalError, message: "cannot add the tasks: \(error)")))
            }
        case .change(let change, let selection, let reply):
            try apply(change, to: selection, reply: reply)
        case .watch(let job, let continuation):
            try watch(job, continuation)
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
            reply(.success(sent))
        case .listWorkers(let reply):
            reply(Result { try workerInfos() }.mapError { RPCError(code: .internalError, message: "\($0)") })
        case .timer:
            break
        }
    }

    // MARK: Workers

    private mutating func connect(
        _ hello: Trellis_V1_Hello, outbox: WorkerOutbox,
        reply: CoordinatorInput.Reply<UInt64>, at time: Double
    ) throws {
        let type = hello.type.isEmpty ? "blocking" : hello.type
        let saved = try store.saveWorker(
            RemoteWorker(
                name: hello.name, type: type, tags: hello.tags, slots: Int(hello.slots), status: .connected,
                lastSeen: Date().timeIntervalSince1970))
        // A reconnect replaces the old stream; what the worker no longer runs goes back to the queue.
        if let old = workerConnection[saved.id], let link = connections.removeValue(forKey: old) {
            link.outbox.finish(
                throwing: RPCError(
                    code: .aborted, message: "worker '\(hello.name)' connected again; this older stream is replaced"))
        }
        let stillRunning = Set(hello.running.map(\.taskID))
        for task in core.remove(saved.id) where !stillRunning.contains(task) { requeue(task) }
        core.join(
            id: saved.id, type: type, tags: hello.tags, slots: Int(hello.slots), resources: hello.resources, now: time)
        nextConnection += 1
        let connection = Connection(
            id: nextConnection, worker: saved.id, name: hello.name, type: type, slots: Int(hello.slots),
            tags: hello.tags, resources: hello.resources, outbox: outbox)
        connections[connection.id] = connection
        workerConnection[saved.id] = connection.id

        var welcome = Trellis_V1_Welcome()
        welcome.workerID = saved.id
        welcome.epoch = epoch
        welcome.heartbeatIntervalMs = UInt64(configuration.heartbeatInterval.seconds * 1000)
        welcome.leaseTimeoutMs = UInt64(configuration.leaseTimeout.seconds * 1000)
        for ref in hello.running {
            if var entry = entries[ref.taskID], entry.epoch == ref.epoch, entry.attempt == Int(ref.attempt),
                entry.worker == saved.id, !core.isWaiting(ref.taskID)
            {
                orphans[ref.taskID] = nil
                entry.worker = saved.id
                entries[ref.taskID] = entry
                core.adopt(ref.taskID, by: saved.id, resources: entry.placement.resources)
            } else {
                welcome.abandon.append(ref)
            }
        }
        var message = Trellis_V1_CoordinatorMessage()
        message.welcome = welcome
        outgoing[connection.id, default: []].append(message)
        reply(.success(connection.id))
    }

    private mutating func report(_ message: Trellis_V1_WorkerMessage, from link: Connection) {
        func current(_ ref: Trellis_V1_AttemptRef) -> Origin { .worker(connection: link.id, ref) }
        // A report counts only from the worker that holds the attempt: any other is answered stale and changes
        // nothing, whatever (epoch, attempt) it names.
        let attempt: Trellis_V1_AttemptRef? =
            switch message.kind {
            case .started(let started): started.attempt
            case .output(let output): output.attempt
            case .finished(let finished): finished.attempt
            case .log(let chunk): chunk.attempt
            case .drain, .heartbeat, .hello, nil: nil
            }
        if let attempt, !holds(link.worker, attempt) {
            // The process of an attempt that ended without it (a killed task) has stopped: its slot is free. A
            // worker that holds a newer attempt of the task keeps that one's slot.
            if case .finished = message.kind, entries[attempt.taskID]?.worker != link.worker {
                core.release(attempt.taskID, from: link.worker)
            }
            var stale = Trellis_V1_StaleReport()
            stale.attempt = attempt
            var reply = Trellis_V1_CoordinatorMessage()
            reply.stale = stale
            outgoing[link.id, default: []].append(reply)
            return
        }
        switch message.kind {
        case .started(let started):
            let ref = started.attempt
            record(.started(ref.taskID, epoch: ref.epoch, attempt: Int(ref.attempt)), current(ref))
        case .output(let output):
            let ref = output.attempt
            record(
                .outputSignalled(ref.taskID, name: output.name, epoch: ref.epoch, attempt: Int(ref.attempt)),
                current(ref))
        case .finished(let finished):
            let ref = finished.attempt
            entries[ref.taskID]?.worker = nil  // the holder, as checked above
            core.release(ref.taskID, from: link.worker)
            let attempt = Int(ref.attempt)
            switch finished.result {
            case .exitCode(0):
                record(.succeeded(ref.taskID, epoch: ref.epoch, attempt: attempt, exitCode: 0), current(ref))
            case .value(let value):
                record(
                    .succeeded(ref.taskID, epoch: ref.epoch, attempt: attempt, exitCode: nil, value: [UInt8](value)),
                    current(ref))
            case .exitCode(let code):
                record(
                    .failed(
                        ref.taskID, epoch: ref.epoch, attempt: attempt, exitCode: code, message: "exited with \(code)"),
                    current(ref))
            case .signal(let signal):
                record(
                    .failed(
                        ref.taskID, epoch: ref.epoch, attempt: attempt, exitCode: nil,
                        message: "killed by signal \(signal)"), current(ref))
            case .error(let error):
                record(
                    .failed(ref.taskID, epoch: ref.epoch, attempt: attempt, exitCode: nil, message: error), current(ref)
                )
            case nil:
                record(
                    .failed(
                        ref.taskID, epoch: ref.epoch, attempt: attempt, exitCode: nil,
                        message: "the worker reported no result"), current(ref))
            }
        case .log(let chunk):
            let ref = chunk.attempt
            record(
                .log(
                    ref.taskID, epoch: ref.epoch, attempt: Int(ref.attempt),
                    LogRecord(stream: chunk.stream == .stderr ? .stderr : .stdout, data: [UInt8](chunk.data))),
                .internalEvent)
        case .drain:
            core.stopAccepting(link.worker)
        case .heartbeat, .hello, nil:
            break
        }
    }

    /// Whether `worker` holds the current attempt `ref` of a task.
    private func holds(_ worker: UInt64, _ ref: Trellis_V1_AttemptRef) -> Bool {
        guard let entry = entries[ref.taskID] else { return false }
        return entry.worker == worker && entry.epoch == ref.epoch && entry.attempt == Int(ref.attempt)
    }

    /// Workers past their lease are lost; attempts of an earlier session nobody claimed run again.
    private mutating func expire(at time: Double) {
        for worker in core.expired(now: time) {
            for task in core.remove(worker) { requeue(task) }
            if let connection = workerConnection.removeValue(forKey: worker),
                let link = connections.removeValue(forKey: connection)
            {
                let lease = DurationText.format(configuration.leaseTimeout)
                link.outbox.finish(
                    throwing: RPCError(
                        code: .unavailable,
                        message: "worker '\(link.name)' is lost: nothing heard from it for \(lease) (the lease); "
                            + "its tasks run again elsewhere"))
            }
            if var record = try? store.workers().first(where: { $0.id == worker }) {
                record.status = .lost
                record.lastSeen = Date().timeIntervalSince1970
                _ = try? store.saveWorker(record)
            }
        }
        for (task, deadline) in orphans where deadline <= time {
            orphans[task] = nil
            requeue(task)
        }
        while let due = delayed.min, due.time <= time {
            _ = delayed.removeMin()
            if entries[due.task] != nil { core.enqueue(entries[due.task]!.placement) }
        }
    }

    private mutating func requeue(_ task: UInt64) {
        guard var entry = entries[task] else { return }
        entry.worker = nil
        entries[task] = entry
        record(.requeued(task, epoch: entry.epoch, attempt: entry.attempt), .internalEvent)
    }

    // MARK: Operators

    private mutating func apply(
        _ change: TaskChange, to selection: Trellis_V1_TaskSelection, reply: @escaping CoordinatorInput.Reply<Int>
    ) throws {
        // Unknown ids are an error before anything changes; a task that ended is known (and changes nothing).
        let unknown = selection.taskIds.filter { id in entries[id] == nil && (try? store.task(id)) == nil }
        if !unknown.isEmpty {
            let list = unknown.prefix(10).map(String.init).joined(separator: ", ")
            reply(.failure(RPCError(code: .notFound, message: "there is no task \(list)")))
            return
        }
        if selection.jobID != 0, jobOpen[selection.jobID] == nil,
            (try store.tasks(states: [], job: selection.jobID, afterID: 0, limit: 1)).isEmpty
        {
            reply(.failure(RPCError(code: .notFound, message: "there is no job \(selection.jobID)")))
            return
        }
        var ids = selection.taskIds
        // Cancelling a job (or everything) stops the main work; a finale still waiting for it is spared, so
        // the job's on_failure clean-up runs, as under `trellis run`. Cancelling again stops the clean-up.
        let sparesFinales = change == .cancel || change == .kill
        if selection.all {
            ids += entries.filter { !(sparesFinales && $0.value.finaleWaiting) }.keys.sorted()
        } else if selection.jobID != 0 {
            ids += entries.filter { $0.value.job == selection.jobID && !(sparesFinales && $0.value.finaleWaiting) }
                .keys.sorted()
        }
        let start = events.count
        for id in ids {
            switch change {
            case .play: record(.played(id), .request(requests.count))
            case .pause:
                core.withdraw(id)
                record(.paused(id), .request(requests.count))
            case .resume: record(.resumed(id), .request(requests.count))
            case .cancel, .kill:
                core.withdraw(id)
                record(.cancelled(id, killed: change == .kill), .request(requests.count))
                if entries[id]?.worker != nil {
                    cancels.append((id, change == .kill ? .zero : configuration.cancelGrace))
                }
            }
        }
        requests.append((events.count - start, reply))
    }

    // MARK: Commit and dispatch

    private mutating func commit() throws {
        guard !events.isEmpty || !requests.isEmpty || !cancels.isEmpty else { return }
        let batch = events
        let batchOrigins = origins
        events.removeAll(keepingCapacity: true)
        origins.removeAll(keepingCapacity: true)
        let applied = try store.apply(batch, at: Date().timeIntervalSince1970)
        let ignored = Set(applied.ignored)
        var changed = Array(repeating: 0, count: requests.count)
        var touched: [(UInt64, RemoteTaskState?)] = []
        var outputs: [(UInt64, String)] = []
        var released: [UInt64] = []
        for (position, event) in batch.enumerated() {
            if ignored.contains(position) {
                if case .worker(let connection, let ref) = batchOrigins[position] {
                    var stale = Trellis_V1_StaleReport()
                    stale.attempt = ref
                    var message = Trellis_V1_CoordinatorMessage()
                    message.stale = stale
                    outgoing[connection, default: []].append(message)
                }
                continue
            }
            if case .request(let index) = batchOrigins[position] { changed[index] += 1 }
            switch event {
            case .failed(let id, _, _, _, _):
                if var entry = entries[id] {
                    entry.failures += 1
                    entry.worker = nil
                    if entry.retryDelay > 0 {
                        // Doubling from the task's delay, capped as a local run caps it.
                        let backoff = entry.retryDelay * pow(2, Double(min(entry.failures - 1, 62)))
                        entry.notBefore = now() + min(backoff, RetryPolicy.longestWorkflowBackoff.seconds)
                    }
                    entries[id] = entry
                }
                touched.append((id, nil))
            case .outputSignalled(let id, let name, _, _):
                outputs.append((id, name))
            case .log:
                break
            case .started(let id, _, _): touched.append((id, .running))
            case .succeeded(let id, _, _, _, _): touched.append((id, .succeeded))
            case .paused(let id): touched.append((id, .paused))
            case .assigned(let id, _, _, _): touched.append((id, .assigned))
            case .played(let id), .resumed(let id):
                // Ready ones are reported below; one still waiting for its needs is read, to show it waiting.
                released.append(id)
            case .requeued:
                break  // reported below: it is ready again
            case .cancelled(let id, _):
                touched.append((id, nil))
            }
        }
        for (task, grace) in cancels {
            guard let entry = entries[task], let worker = entry.worker,
                let connection = workerConnection[worker]
            else { continue }
            var cancel = Trellis_V1_CancelAttempt()
            cancel.attempt = ref(task, entry)
            cancel.graceMs = UInt64(grace.seconds * 1000)
            var message = Trellis_V1_CoordinatorMessage()
            message.cancel = cancel
            outgoing[connection, default: []].append(message)
        }
        cancels.removeAll()
        for id in applied.ready { enqueue(id) }
        var gone: [UInt64: Entry] = [:]
        for id in applied.ended {
            guard let entry = entries.removeValue(forKey: id) else { continue }
            core.withdraw(id)
            orphans[id] = nil
            jobOpen[entry.job, default: 1] -= 1
            if watchers[entry.job] != nil { gone[id] = entry }
        }
        for (index, request) in requests.enumerated() { request.reply(.success(changed[index])) }
        requests.removeAll()
        if !watchers.isEmpty {
            let direct = Set(touched.map(\.0))
            let propagated = applied.ended.filter { !direct.contains($0) }.map { ($0, RemoteTaskState?.none) }
            let nowReady = Set(applied.ready)
            let waiting = released.filter { !nowReady.contains($0) }.map { ($0, RemoteTaskState?.none) }
            notifyWatchers(
                touched + waiting + applied.ready.map { ($0, .ready) } + propagated, outputs: outputs, ended: gone)
        }
    }

    private mutating func enqueue(_ id: UInt64) {
        entries[id]?.finaleWaiting = false
        guard let entry = entries[id] else { return }
        if entry.notBefore > now() {
            delayed.insert(Due(time: entry.notBefore, task: id))
        } else {
            core.enqueue(entry.placement)
        }
    }

    private func ref(_ task: UInt64, _ entry: Entry) -> Trellis_V1_AttemptRef {
        var ref = Trellis_V1_AttemptRef()
        ref.taskID = task
        ref.epoch = entry.epoch
        ref.attempt = UInt32(entry.attempt)
        return ref
    }

    private mutating func dispatch() throws {
        let placed = core.dispatch()
        guard !placed.isEmpty else { return }
        var assigned: [CoordinatorEvent] = []
        assigned.reserveCapacity(placed.count)
        for (task, worker) in placed {
            entries[task]!.attempt += 1
            entries[task]!.epoch = epoch
            entries[task]!.worker = worker
            let name = workerConnection[worker].flatMap { connections[$0]?.name } ?? "worker \(worker)"
            assigned.append(.assigned(task, worker: name, epoch: epoch, attempt: entries[task]!.attempt))
        }
        let applied = try store.apply(assigned, at: Date().timeIntervalSince1970)
        let refused = Set(applied.ignored)
        var batches: [UInt64: Trellis_V1_Assignments] = [:]
        for (position, (task, worker)) in placed.enumerated() {
            guard !refused.contains(position) else {
                core.release(task, from: worker)
                entries[task]!.attempt -= 1
                entries[task]!.worker = nil
                continue
            }
            let entry = entries[task]!
            var assignment = Trellis_V1_Assignment()
            assignment.attempt = ref(task, entry)
            assignment.jobID = entry.job
            assignment.spec = try Trellis_V1_TaskSpec(serializedBytes: entry.spec)
            if entry.hasNeeds {
                for (name, value) in try store.inputs(of: task) { assignment.inputs[name] = Data(value) }
            }
            batches[worker, default: Trellis_V1_Assignments()].assignments.append(assignment)
        }
        for (worker, batch) in batches {
            guard let connection = workerConnection[worker] else { continue }
            var message = Trellis_V1_CoordinatorMessage()
            message.assignments = batch
            outgoing[connection, default: []].append(message)
        }
        if !watchers.isEmpty {
            let assignedTasks = placed.enumerated().filter { !refused.contains($0.offset) }.map(\.element.task)
            notifyWatchers(assignedTasks.map { ($0, .assigned) }, outputs: [], ended: [:])
        }
    }
}
