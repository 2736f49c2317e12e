import HeapModule

/// A core's whole state in the journal's binary form, so a restart reads it and the facts after it instead of
/// replaying every fact since the first. Sets, dictionaries and heaps are written in sorted order, so a core
/// and the core read back from its snapshot write the same bytes.
extension SchedulerCore {
    /// Snapshots of another format are refused, never guessed at. 2 adds the crash limit (none in format 1).
    static let snapshotFormat: UInt64 = 2

    /// The state, between two events.
    public func snapshot() -> [UInt8] {
        var writer = JournalWriter(capacity: 64 + tasks.count * 24)
        writeSnapshot(to: &writer)
        return writer.sealed()
    }

    /// Reads a core back from `snapshot()`'s bytes; refuses bytes it does not recognise whole.
    public init(snapshot bytes: [UInt8]) throws(JournalError) {
        var reader = try JournalReader(sealed: bytes, what: "a core snapshot")
        try self.init(snapshotFrom: &reader)
        guard reader.isAtEnd else { throw reader.corrupt("bytes after the core's snapshot") }
    }

    /// Reads a core's snapshot where `reader` stands (written by `writeSnapshot(to:)`). Every id it holds is
    /// checked to point inside its tables; the bytes themselves are trusted, so they should come sealed.
    public init(snapshotFrom reader: inout JournalReader) throws(JournalError) {
        try self.init(decoding: &reader)
    }

    public func writeSnapshot(to w: inout JournalWriter) {
        w.unsigned(Self.snapshotFormat)
        policy.write(to: &w)
        failurePolicy.write(to: &w)
        switch execution {
        case .queueSlots: w.byte(0)
        case .workers(let leaseTimeout):
            w.byte(1)
            w.duration(leaseTimeout)
        }
        w.unsigned(UInt64(tasks.count))
        for task in tasks {
            w.byte(task.phase.rawValue)
            w.unsigned(UInt64(task.flags.rawValue))
            w.byte(task.reason)
            for value in [
                task.attempt, task.queue, task.priority, task.remaining, task.partialCount, task.emitted,
                task.firstSuccessor, task.firstPredecessor, task.cause,
            ] {
                w.signed(Int64(value))
            }
            w.double(task.rank)
            w.double(task.cost)
        }
        w.unsigned(UInt64(queues.count))
        for queue in queues {
            w.int(queue.width)
            w.signed(Int64(queue.job))
            w.int(queue.running)
            w.int(queue.admitted)
            w.byte(queue.isDirty ? 1 : 0)
            Self.write(queue.ready, to: &w)
        }
        w.unsigned(UInt64(jobs.count))
        for job in jobs {
            job.policy.write(to: &w)
            job.failurePolicy.write(to: &w)
            Self.write(job.tasks, to: &w)
            w.int(job.firstUnfinished)
            w.int(job.unfinished)
            job.counts.write(to: &w)
            w.int(job.mainUnfinished)
            w.byte(job.mainAllSucceeded ? 1 : 0)
            w.byte(job.decision.map { $0.code + 1 } ?? 0)
            Self.write(job.gated, to: &w)
            Self.write(job.pending, to: &w)
            w.signed(Int64(job.currentWave))
            w.int(job.batchRemaining)
        }
        w.byte(anyJobUsesRanks ? 1 : 0)
        Self.write(barrierJobs, to: &w)
        Self.write(jobsToDecide, to: &w)
        w.unsigned(UInt64(extras.count))
        for (task, extra) in extras.sorted(by: { $0.key < $1.key }) {
            w.signed(Int64(task))
            extra.retry.write(to: &w)
            w.byte(extra.timeout == nil ? 0 : 1)
            if let timeout = extra.timeout { w.duration(timeout) }
            w.signed(Int64(extra.placementClass))
            w.signed(Int64(extra.lostAttempts))
            w.byte(extra.role.code)
        }
        pool.write(to: &w)
        for arena in [successorTarget, successorNext, predecessorSource, predecessorItem, predecessorNext] {
            Self.write(arena, to: &w)
        }
        let waiting = itemSuccessors.sorted { ($0.key.task, $0.key.item) < ($1.key.task, $1.key.item) }
        w.unsigned(UInt64(waiting.count))
        for (key, head) in waiting {
            w.signed(Int64(key.task))
            w.signed(Int64(key.item))
            w.signed(Int64(head))
        }
        let ahead = itemsAhead.sorted { ($0.task, $0.item) < ($1.task, $1.item) }
        w.unsigned(UInt64(ahead.count))
        for key in ahead {
            w.signed(Int64(key.task))
            w.signed(Int64(key.item))
        }
        Self.write(newlyReady, to: &w)
        Self.write(dirtyQueues, to: &w)
        w.int(rankWatermark)
        w.int(firstUnfinished)
        w.byte((isStarted ? 1 : 0) | (isPaused ? 2 : 0))
        w.int(unfinishedCount)
        counts.write(to: &w)
        w.int(staleReports)
        w.int(crashLimit ?? 0)
    }

    init(decoding r: inout JournalReader) throws(JournalError) {
        let format = try r.unsigned()
        guard format == 1 || format == Self.snapshotFormat else {
            throw JournalError(
                .unsupportedVersion,
                "a core snapshot of format \(format); this Trellis reads format \(Self.snapshotFormat)")
        }
        policy = try SchedulingPolicy.read(from: &r)
        failurePolicy = try FailurePolicy.read(from: &r)
        switch try r.byte() {
        case 0: execution = .queueSlots
        case 1: execution = .workers(leaseTimeout: try r.duration())
        case let other: throw r.corrupt("an execution of kind \(other)")
        }
        let taskCount = try r.count()
        tasks.reserveCapacity(min(taskCount, 1 << 20))
        for _ in 0..<taskCount {
            guard let phase = TaskRecord.Phase(rawValue: try r.byte()) else { throw r.corrupt("a task phase") }
            let flags = TaskRecord.Flags(rawValue: UInt16(try r.count(atMost: Int(UInt16.max))))
            let reason = try r.byte()
            var numbers: [Int32] = []
            for _ in 0..<9 { numbers.append(try r.int32("a task field")) }
            var record = TaskRecord(
                phase: phase, queue: numbers[1], priority: numbers[2], partialCount: numbers[4],
                rank: try r.double(), cost: try r.double())
            record.flags = flags
            record.reason = reason
            record.attempt = numbers[0]
            record.remaining = numbers[3]
            record.emitted = numbers[5]
            record.firstSuccessor = numbers[6]
            record.firstPredecessor = numbers[7]
            record.cause = numbers[8]
            tasks.append(record)
        }
        for _ in 0..<(try r.count()) {
            var queue = QueueState(width: try r.int(), job: try r.int32("a queue's job"))
            queue.running = try r.int()
            queue.admitted = try r.int()
            queue.isDirty = try r.byte() == 1
            queue.ready = try Self.readHeap(&r)
            queues.append(queue)
        }
        jobs = []
        for _ in 0..<(try r.count()) {
            var job = JobState(
                policy: try SchedulingPolicy.read(from: &r), failurePolicy: try FailurePolicy.read(from: &r))
            job.tasks = try Self.readIDs(&r)
            job.firstUnfinished = try r.int()
            job.unfinished = try r.int()
            job.counts = try OutcomeCounts.read(from: &r)
            job.mainUnfinished = try r.int()
            job.mainAllSucceeded = try r.byte() == 1
            let decision = try r.byte()
            job.decision = decision == 0 ? nil : try TaskRole.read(code: decision - 1, from: &r)
            job.gated = try Self.readIDs(&r)
            job.pending = try Self.readHeap(&r)
            job.currentWave = try r.int32("a job's wave")
            job.batchRemaining = try r.int()
            jobs.append(job)
        }
        anyJobUsesRanks = try r.byte() == 1
        barrierJobs = try Self.readIDs(&r)
        jobsToDecide = try Self.readIDs(&r)
        for _ in 0..<(try r.count()) {
            let task = try r.int32("a task id")
            var extra = TaskExtras()
            extra.retry = try RetryPolicy.read(from: &r)
            extra.timeout = try r.byte() == 1 ? try r.duration() : nil
            extra.placementClass = try r.int32("a placement class")
            extra.lostAttempts = try r.int32("a count of lost attempts")
            extra.role = try TaskRole.read(code: try r.byte(), from: &r)
            extras[task] = extra
        }
        pool = try WorkerPool.read(from: &r)
        successorTarget = try Self.readIDs(&r)
        successorNext = try Self.readIDs(&r)
        predecessorSource = try Self.readIDs(&r)
        predecessorItem = try Self.readIDs(&r)
        predecessorNext = try Self.readIDs(&r)
        for _ in 0..<(try r.count()) {
            let key = ItemKey(task: try r.int32("a producer"), item: try r.int32("an item"))
            itemSuccessors[key] = try r.int32("a successor list")
        }
        for _ in 0..<(try r.count()) {
            itemsAhead.insert(ItemKey(task: try r.int32("a producer"), item: try r.int32("an item")))
        }
        newlyReady = try Self.readIDs(&r)
        dirtyQueues = try Self.readIDs(&r)
        rankWatermark = try r.int()
        firstUnfinished = try r.int()
        let flags = try r.byte()
        isStarted = flags & 1 != 0
        isPaused = flags & 2 != 0
        unfinishedCount = try r.int()
        counts = try OutcomeCounts.read(from: &r)
        staleReports = try r.int()
        if format >= 2 {
            let limit = try r.int()
            guard limit >= 0, limit <= Int(Int32.max) else { throw r.corrupt("a crash limit of \(limit)") }
            crashLimit = limit == 0 ? nil : limit
        }
        try checkSnapshotReferences(&r)
    }

    /// Every id the snapshot holds points inside its tables, so no later event can trap on a bad index.
    private func checkSnapshotReferences(_ r: inout JournalReader) throws(JournalError) {
        let taskCount = Int32(tasks.count)
        let edges = Int32(successorTarget.count)
        let inEdges = Int32(predecessorSource.count)
        guard successorNext.count == successorTarget.count,
            predecessorItem.count == predecessorSource.count, predecessorNext.count == predecessorSource.count,
            !jobs.isEmpty
        else { throw r.corrupt("edge tables of different lengths") }
        for task in tasks {
            guard task.queue >= 0, Int(task.queue) < queues.count, task.firstSuccessor >= -1,
                task.firstSuccessor < edges, task.firstPredecessor >= -1, task.firstPredecessor < inEdges,
                task.cause >= -1, task.cause < taskCount
            else { throw r.corrupt("a task that points outside the snapshot") }
        }
        for target in successorTarget + predecessorSource where target < 0 || target >= taskCount {
            throw r.corrupt("an edge to a task that does not exist")
        }
        for next in successorNext where next < -1 || next >= edges { throw r.corrupt("an edge list out of range") }
        for next in predecessorNext where next < -1 || next >= inEdges {
            throw r.corrupt("an edge list out of range")
        }
        for queue in queues where queue.job < 0 || Int(queue.job) >= jobs.count {
            throw r.corrupt("a queue of a job that does not exist")
        }
        let heaps = queues.map(\.ready) + jobs.map(\.pending) + pool.classes.map(\.ready)
        for heap in heaps {
            for entry in heap.unordered where entry.task < 0 || entry.task >= taskCount {
                throw r.corrupt("a ready task that does not exist")
            }
        }
        let lists = jobs.flatMap { $0.tasks + $0.gated } + newlyReady + Array(extras.keys) + Array(pool.holders.keys)
        for task in lists where task < 0 || task >= taskCount { throw r.corrupt("a task id out of range") }
        for (_, head) in itemSuccessors where head < -1 || head >= edges {
            throw r.corrupt("an item list out of range")
        }
        for job in barrierJobs + jobsToDecide where job < 0 || Int(job) >= jobs.count {
            throw r.corrupt("a job id out of range")
        }
        for queue in dirtyQueues where queue < 0 || Int(queue) >= queues.count {
            throw r.corrupt("a queue id out of range")
        }
        for extra in extras.values where extra.placementClass < 0 || Int(extra.placementClass) >= pool.classes.count {
            throw r.corrupt("a placement class out of range")
        }
        try pool.checkReferences(taskCount: taskCount, &r)
    }

    static func write(_ ids: [Int32], to w: inout JournalWriter) {
        w.unsigned(UInt64(ids.count))
        for id in ids { w.signed(Int64(id)) }
    }

    static func readIDs(_ r: inout JournalReader) throws(JournalError) -> [Int32] {
        let count = try r.count()
        var ids: [Int32] = []
        ids.reserveCapacity(min(count, 1 << 20))
        for _ in 0..<count { ids.append(try r.int32("an id")) }
        return ids
    }

    static func write(_ heap: Heap<ReadyEntry>, to w: inout JournalWriter) {
        let entries = heap.unordered.sorted()
        w.unsigned(UInt64(entries.count))
        for entry in entries {
            w.signed(Int64(entry.level))
            w.signed(Int64(entry.priority))
            w.double(entry.rank)
            w.signed(Int64(entry.task))
            w.signed(Int64(entry.job))
        }
    }

    static func readHeap(_ r: inout JournalReader) throws(JournalError) -> Heap<ReadyEntry> {
        var entries: [ReadyEntry] = []
        for _ in 0..<(try r.count()) {
            entries.append(
                ReadyEntry(
                    level: try r.int32("a wave"), priority: try r.int32("a priority"), rank: try r.double(),
                    task: try r.int32("a task id"), job: try r.int32("a job id")))
        }
        return Heap(entries)
    }
}

extension WorkerPool {
    func write(to w: inout JournalWriter) {
        w.duration(leaseTimeout)
        w.unsigned(UInt64(workers.count))
        for worker in workers {
            worker.spec.write(to: &w)
            w.byte(worker.state.rawValue)
            w.int(worker.running)
            writeResources(worker.free, to: &w)
            w.duration(worker.leaseDeadline)
            SchedulerCore.write(worker.classes, to: &w)
            SchedulerCore.write(worker.tasks.sorted(), to: &w)
        }
        w.unsigned(UInt64(classes.count))
        for entry in classes {
            entry.placement.write(to: &w)
            SchedulerCore.write(entry.ready, to: &w)
            SchedulerCore.write(entry.admitting, to: &w)
            SchedulerCore.write(entry.candidates.sorted(), to: &w)
            w.int(entry.accepting)
            SchedulerCore.write(entry.parked, to: &w)
            w.byte((entry.isActive ? 1 : 0) | (entry.isBlocked ? 2 : 0))
        }
        let held = holders.sorted { $0.key < $1.key }
        w.unsigned(UInt64(held.count))
        for (task, worker) in held {
            w.signed(Int64(task))
            w.signed(Int64(worker))
        }
        SchedulerCore.write(active, to: &w)
        w.byte(isDirty ? 1 : 0)
    }

    static func read(from r: inout JournalReader) throws(JournalError) -> WorkerPool {
        var pool = WorkerPool()
        pool.leaseTimeout = try r.duration()
        for _ in 0..<(try r.count()) {
            let spec = try WorkerSpec.read(from: &r)
            guard let state = State(rawValue: try r.byte()) else { throw r.corrupt("a worker state") }
            let running = try r.int()
            var worker = Worker(spec: spec, free: try readResources(&r), leaseDeadline: try r.duration())
            worker.state = state
            worker.running = running
            worker.classes = try SchedulerCore.readIDs(&r)
            worker.tasks = Set(try SchedulerCore.readIDs(&r))
            pool.workers.append(worker)
        }
        pool.classes = []
        pool.classIndex = [:]
        for _ in 0..<(try r.count()) {
            var entry = PlacementClass(placement: try Placement.read(from: &r))
            entry.ready = try SchedulerCore.readHeap(&r)
            entry.admitting = try SchedulerCore.readIDs(&r)
            entry.candidates = Set(try SchedulerCore.readIDs(&r))
            entry.accepting = try r.int()
            entry.parked = try SchedulerCore.readIDs(&r)
            let flags = try r.byte()
            entry.isActive = flags & 1 != 0
            entry.isBlocked = flags & 2 != 0
            pool.classIndex[entry.placement] = Int32(pool.classes.count)
            pool.classes.append(entry)
        }
        for _ in 0..<(try r.count()) {
            pool.holders[try r.int32("a task id")] = try r.int32("a worker id")
        }
        pool.active = try SchedulerCore.readIDs(&r)
        pool.isDirty = try r.byte() == 1
        return pool
    }

    func checkReferences(taskCount: Int32, _ r: inout JournalReader) throws(JournalError) {
        let workerCount = Int32(workers.count)
        let classCount = Int32(classes.count)
        guard classCount >= 1 else { throw r.corrupt("no placement class") }
        for worker in workers {
            for id in worker.classes where id < 0 || id >= classCount { throw r.corrupt("a class out of range") }
            for task in worker.tasks where task < 0 || task >= taskCount { throw r.corrupt("a task out of range") }
        }
        for entry in classes {
            for worker in entry.admitting + Array(entry.candidates) where worker < 0 || worker >= workerCount {
                throw r.corrupt("a worker out of range")
            }
            for task in entry.parked where task < 0 || task >= taskCount { throw r.corrupt("a task out of range") }
        }
        for (_, worker) in holders where worker < 0 || worker >= workerCount {
            throw r.corrupt("a holder out of range")
        }
        for id in active where id < 0 || id >= classCount { throw r.corrupt("a class out of range") }
    }
}

extension OutcomeCounts {
    func write(to w: inout JournalWriter) {
        for count in [succeeded, failed, cancelled, upstreamFailed, skipped] { w.int(count) }
    }

    static func read(from r: inout JournalReader) throws(JournalError) -> OutcomeCounts {
        var counts = OutcomeCounts()
        counts.succeeded = try r.int()
        counts.failed = try r.int()
        counts.cancelled = try r.int()
        counts.upstreamFailed = try r.int()
        counts.skipped = try r.int()
        return counts
    }
}
