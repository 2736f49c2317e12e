internal import Foundation
internal import GRPCCore
internal import Logging
internal import TrellisCore
internal import TrellisProtocol

/// The loop's worker streams: hellos (a reconnect keeps what the worker still runs; a newer connection of the
/// same name replaces the older), reports fenced by holder and attempt, lost leases, stale answers.
extension CoordinatorLoop {
    /// What a worker stream replaced by a newer one of the same name is told.
    static func replaced(_ name: String) -> String {
        "another worker named '\(name)' connected; a name belongs to one worker at a time, so this one stops"
    }

    mutating func connect(
        _ hello: WorkerHello, outbox: WorkerOutbox, reply: @escaping CoordinatorInput.Reply<UInt64>
    ) {
        let type = hello.type.isEmpty ? JobRequest.defaultWorkerType : hello.type
        let spec = WorkerSpec(type: type, tags: Set(hello.tags), slots: hello.slots, resources: hello.resources)
        let running = hello.running
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
            id: nextConnection, worker: joined.worker, name: hello.name, type: type, slots: hello.slots,
            tags: hello.tags, resources: hello.resources, outbox: outbox)
        connections[connection.id] = connection
        workerConnection[joined.worker] = connection.id
        lastSeen[hello.name] = wallMs

        let welcome = SentInstruction.welcome(
            worker: UInt64(joined.worker.rawValue) + 1, epoch: epoch, heartbeat: configuration.heartbeatInterval,
            lease: configuration.leaseTimeout, abandon: joined.abandon)
        // The welcome goes first: the assignments of this turn follow it on the same stream.
        outgoing[connection.id, default: []].insert(welcome, at: 0)
        let id = connection.id
        replies.append { reply(.success(id)) }
        let kept = running.count - joined.abandon.count
        logger.info(
            "worker \(hello.name) connected: type \(type), \(hello.slots) slots, \(kept) attempts kept, \(joined.abandon.count) abandoned"
        )
    }

    mutating func report(_ report: WorkerReport, from link: Connection) {
        switch report {
        case .started(let attempt, _, _):
            engine.started(attempt, by: link.worker, now: now)
        case .output(let attempt, let name, _):
            engine.output(attempt, name: name, by: link.worker, now: now)
        case .finished(let attempt, let result, _):
            if let assigned = assignedAt.removeValue(forKey: attempt) {
                metrics.runTime.record(now - assigned)
            } else if assignedAt.count > 100_000 {
                // Attempts that never reported their end (their worker was lost) are let go of now and then.
                assignedAt = assignedAt.filter { ref, _ in engine.task(wire: ref.task).map(engine.isRunning) ?? false }
            }
            if let logs, let id = engine.holds(link.worker, attempt) {
                logs.ended(
                    AttemptLogs.Key(job: engine.tasks[id.rawValue].job, task: attempt.task, attempt: attempt.attempt))
            }
            engine.finished(attempt, result: result, by: link.worker, now: now)
        case .log(let attempt, let stream, let data):
            // Fenced like every report: only the attempt's holder is heard.
            guard let id = engine.holds(link.worker, attempt) else { return stale(attempt, to: link.id) }
            let key = AttemptLogs.Key(job: engine.tasks[id.rawValue].job, task: attempt.task, attempt: attempt.attempt)
            logs?.append(key, stream, data)
        case .drain:
            engine.drained(link.worker, now: now)
        case .heartbeat:
            break  // heard, which renews the worker's lease
        }
    }

    /// A worker whose lease ran out: its stream ends with the reason, its attempts run again elsewhere.
    mutating func dropLost(_ worker: WorkerID) {
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

    mutating func stale(_ ref: WireAttempt, to connection: UInt64) {
        metrics.staleReports.increment()
        outgoing[connection, default: []].append(.stale(ref))
    }
}
