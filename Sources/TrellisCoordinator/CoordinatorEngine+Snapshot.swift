internal import TrellisCore
internal import TrellisEngine
internal import TrellisJournal

/// What a coordinator's journal snapshot holds: the engine state (core and deadlines) and every table beside
/// it, with the session's clock origin, so a restart reads it and only the entries after it.
struct CoordinatorSnapshot {
    /// 2 keeps the tasks' wire ids and the next job's (1: wire ids were the core's plus one).
    static let format: UInt64 = 2

    /// Wall-clock seconds since 1970 at run time zero (the journal's `origin` entry, compacted away).
    var origin: Double
    /// Run time when it was taken; a restart's clock never goes back before it.
    var time: Duration
    var engine: CoordinatorEngine

    func bytes() -> [UInt8] {
        var w = JournalWriter(capacity: 64 + engine.tasks.count * 64)
        w.unsigned(Self.format)
        w.double(origin)
        w.duration(time)
        w.blob(engine.state.snapshot())
        engine.writeTables(to: &w)
        return w.sealed()
    }

    /// The parts of a snapshot; the engine state is read with the entries after it (`CoordinatorEngine.restore`).
    static func read(
        _ bytes: [UInt8], epoch: UInt64, cancelGrace: Duration
    ) throws(JournalError) -> CoordinatorSnapshotParts {
        var r = try JournalReader(sealed: bytes, what: "the journal's snapshot")
        let format = try r.unsigned()
        guard format == 1 || format == Self.format else {
            throw JournalError(
                .unsupportedVersion,
                "the journal's snapshot is of format \(format); this Trellis reads format \(Self.format)")
        }
        let origin = try r.double()
        let time = try r.duration()
        let state = try r.blob(atMost: Int(Int32.max))
        var engine = CoordinatorEngine(
            epoch: epoch, cancelGrace: cancelGrace, state: EngineState(SchedulerCore()))
        try engine.readTables(from: &r, format: format)
        guard r.isAtEnd else { throw r.corrupt("bytes after the coordinator's snapshot") }
        return CoordinatorSnapshotParts(origin: origin, time: time, state: state, engine: engine)
    }
}

/// A snapshot as read: the tables in an engine, the engine state's bytes still to read with the facts after.
struct CoordinatorSnapshotParts {
    var origin: Double
    var time: Duration
    var state: [UInt8]
    var engine: CoordinatorEngine
}

extension CoordinatorEngine {
    func writeTables(to w: inout JournalWriter) {
        w.unsigned(UInt64(tasks.count))
        for task in tasks {
            w.unsigned(task.job)
            w.string(task.name)
            w.blob(task.spec)
            w.int(Int(task.startedAttempt))
            w.byte((task.played ? 1 : 0) | (task.paused ? 2 : 0) | (task.killed ? 4 : 0))
            w.unsigned(UInt64(task.outputs.count))
            for output in task.outputs { w.string(output) }
            w.unsigned(UInt64(task.parents.count))
            for parent in task.parents { w.int(parent.rawValue) }
            let present: UInt8 =
                (task.worker == nil ? 0 : 1) | (task.exitCode == nil ? 0 : 2) | (task.message == nil ? 0 : 4)
                | (task.value == nil ? 0 : 8)
            w.byte(present)
            if let worker = task.worker { w.string(worker) }
            if let exitCode = task.exitCode { w.int(Int(exitCode)) }
            if let message = task.message { w.string(message) }
            if let value = task.value { w.blob(value) }
        }
        w.unsigned(UInt64(jobs.count))
        for (wire, job) in jobs.sorted(by: { $0.key < $1.key }) {
            w.unsigned(wire)
            w.int(job.core.rawValue)
            w.string(job.name)
            w.unsigned(UInt64(job.queues.count))
            for (name, queue) in job.queues.sorted(by: { $0.key < $1.key }) {
                w.string(name)
                w.int(queue.rawValue)
            }
            w.unsigned(UInt64(job.tasks.count))
            for task in job.tasks { w.int(task.rawValue) }
        }
        w.unsigned(UInt64(workerNames.count))
        for (worker, name) in workerNames.sorted(by: { $0.key < $1.key }) {
            w.int(worker.rawValue)
            w.string(name)
        }
        w.unsigned(UInt64(sessions.count))
        for (name, worker) in sessions.sorted(by: { $0.key < $1.key }) {
            w.string(name)
            w.int(worker.rawValue)
        }
        wires.write(to: &w)
        w.unsigned(nextJob)
    }

    mutating func readTables(from r: inout JournalReader, format: UInt64) throws(JournalError) {
        let taskCount = try r.count()
        tasks.reserveCapacity(min(taskCount, 1 << 20))
        for _ in 0..<taskCount {
            let job = try r.unsigned()
            let name = try r.string()
            let spec = try r.blob()
            let started = try r.int32("an attempt")
            let flags = try r.byte()
            var outputs: [String] = []
            for _ in 0..<(try r.count()) { outputs.append(try r.string()) }
            var parents: [TaskID] = []
            for _ in 0..<(try r.count()) { parents.append(TaskID(try r.id())) }
            var task = Task(job: job, name: name, spec: spec, outputs: outputs, parents: parents)
            task.startedAttempt = started
            task.played = flags & 1 != 0
            task.paused = flags & 2 != 0
            task.killed = flags & 4 != 0
            let present = try r.byte()
            if present & 1 != 0 { task.worker = try r.string() }
            if present & 2 != 0 { task.exitCode = try r.int32("an exit code") }
            if present & 4 != 0 { task.message = try r.string() }
            if present & 8 != 0 { task.value = try r.blob() }
            tasks.append(task)
        }
        for _ in 0..<(try r.count()) {
            let wire = try r.unsigned()
            let core = JobID(try r.id())
            let name = try r.string()
            var queues: [String: QueueID] = [:]
            for _ in 0..<(try r.count()) { queues[try r.string()] = QueueID(try r.id()) }
            var job = Job(core: core, name: name, queues: queues)
            for _ in 0..<(try r.count()) {
                let task = try r.id()
                guard task < taskCount else { throw r.corrupt("job \(wire) lists a task that does not exist") }
                job.tasks.append(TaskID(task))
            }
            setJob(job, wire: wire)
        }
        for _ in 0..<(try r.count()) { workerNames[WorkerID(try r.id())] = try r.string() }
        for _ in 0..<(try r.count()) { sessions[try r.string()] = WorkerID(try r.id()) }
        if format >= 2 {
            let wires = try WireNumbering.read(from: &r)
            guard wires.count == taskCount else { throw r.corrupt("wire ids for \(wires.count) of \(taskCount) tasks") }
            setNumbering(wires, nextJob: try r.unsigned())
        } else {
            setNumbering(.dense(taskCount), nextJob: 1)
        }
        for task in tasks {
            for parent in task.parents where parent.rawValue >= taskCount {
                throw r.corrupt("a task needs one that does not exist")
            }
        }
    }
}
