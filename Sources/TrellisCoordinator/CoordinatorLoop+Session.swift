internal import Foundation
internal import Logging
internal import TrellisCore
internal import TrellisJournal
internal import TrellisProtocol

/// A session of the loop and its journal: opening it from the latest snapshot and the entries after it,
/// appending each turn's records, and saving snapshots off the loop.
extension CoordinatorLoop {
    /// Begins a session (the journal's epoch goes up) and rebuilds the state earlier sessions recorded.
    static func open(
        journal: any Journal<CoordinatorRecord>, configuration: CoordinatorConfiguration, logger: Logger,
        elapsed: @escaping () -> Duration, launch: @escaping TriggerChecks.Launch
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
        // The embedded executor joins after the earlier sessions are held back, taking over what its
        // predecessor checked (those checks run again).
        let executor = try engine.hello(
            name: TriggerChecks.name, spec: WorkerSpec(type: JobRequest.coordinatorType, slots: TriggerChecks.slots),
            running: [], now: timeBase)
        var loop = CoordinatorLoop(
            journal: journal, configuration: configuration, logger: logger, epoch: epoch, timeBase: timeBase,
            elapsed: elapsed, engine: engine, checks: TriggerChecks(worker: executor.worker, launch: launch),
            origin: origin ?? wall)
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

    /// Appends whatever records still wait for an append (when the loop stops).
    mutating func flush() async throws {
        await snapshotting?.value
        guard !pending.isEmpty else { return }
        try await append(pending)
        pending.removeAll()
    }

    mutating func append(_ records: [CoordinatorRecord]) async throws {
        if let range = try await journal.append(records, epoch: epoch) { lastSequence = range.upperBound }
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
}
