public import TrellisCore

/// Core facts in the journal's binary form: a tag byte per case, then its fields in order.
extension TimedFact: JournalRecord {
    public func journalBytes() -> [UInt8] {
        var writer = JournalWriter()
        write(to: &writer)
        return writer.bytes
    }

    public init(journalBytes: [UInt8]) throws(JournalError) {
        var reader = JournalReader(journalBytes)
        self = try Self.read(from: &reader)
        guard reader.isAtEnd else { throw reader.corrupt("bytes after the fact") }
    }

    /// Writes the fact in its binary form, for records that embed one.
    public func write(to writer: inout JournalWriter) {
        writer.duration(at)
        fact.write(to: &writer)
    }

    /// Reads a fact written by `write(to:)`.
    public static func read(from reader: inout JournalReader) throws(JournalError) -> TimedFact {
        let at = try reader.duration()
        return TimedFact(at: at, try CoreFact.read(from: &reader))
    }
}

extension CoreFact {
    func write(to writer: inout JournalWriter) {
        switch self {
        case .jobAdded(let policy, let failurePolicy):
            writer.byte(1)
            policy.write(to: &writer)
            failurePolicy.write(to: &writer)
        case .queueAdded(let width, let job):
            writer.byte(2)
            writer.int(width)
            writer.int(job.rawValue)
        case .widthChanged(let queue, let width):
            writer.byte(3)
            writer.int(queue.rawValue)
            writer.int(width)
        case .submitted(let spec):
            writer.byte(4)
            spec.write(to: &writer)
        case .started: writer.byte(5)
        case .paused: writer.byte(6)
        case .resumed: writer.byte(7)
        case .succeeded(let task, let attempt, let worker):
            writer.byte(8)
            writer.int(task.rawValue)
            writer.int(attempt)
            writer.int(worker.map { $0.rawValue + 1 } ?? 0)
        case .failed(let task, let attempt, let retryable, let worker):
            writer.byte(9)
            writer.int(task.rawValue)
            writer.int(attempt)
            writer.byte(retryable ? 1 : 0)
            writer.int(worker.map { $0.rawValue + 1 } ?? 0)
        case .partialResult(let task, let index, let attempt, let worker):
            writer.byte(10)
            writer.int(task.rawValue)
            writer.int(index)
            writer.int(attempt)
            writer.int(worker.map { $0.rawValue + 1 } ?? 0)
        case .timedOut(let task, let attempt):
            writer.byte(11)
            writer.int(task.rawValue)
            writer.int(attempt)
        case .retryDue(let task):
            writer.byte(12)
            writer.int(task.rawValue)
        case .cancelled(let task):
            writer.byte(13)
            writer.int(task.rawValue)
        case .cancelledAll: writer.byte(14)
        case .jobCancelled(let job):
            writer.byte(15)
            writer.int(job.rawValue)
        case .held(let task):
            writer.byte(16)
            writer.int(task.rawValue)
        case .released(let task):
            writer.byte(17)
            writer.int(task.rawValue)
        case .workerJoined(let spec):
            writer.byte(18)
            spec.write(to: &writer)
        case .workerRejoined(let old, let spec, let keeping):
            writer.byte(21)
            writer.int(old.rawValue)
            spec.write(to: &writer)
            writer.unsigned(UInt64(keeping.count))
            for kept in keeping {
                writer.int(kept.task.rawValue)
                writer.int(kept.attempt)
            }
        case .workerDrained(let worker):
            writer.byte(19)
            writer.int(worker.rawValue)
        case .workerLeft(let worker):
            writer.byte(20)
            writer.int(worker.rawValue)
        case .jobsForgotten(let jobs):
            writer.byte(22)
            writer.unsigned(UInt64(jobs.count))
            for job in jobs { writer.int(job.rawValue) }
        case .crashLimitSet(let limit):
            writer.byte(23)
            writer.int(limit ?? 0)
        }
    }

    static func read(from reader: inout JournalReader) throws(JournalError) -> CoreFact {
        let tag = try reader.byte()
        switch tag {
        case 1:
            let policy = try SchedulingPolicy.read(from: &reader)
            return .jobAdded(policy: policy, failurePolicy: try FailurePolicy.read(from: &reader))
        case 2: return .queueAdded(width: try reader.int(), job: JobID(try reader.id()))
        case 3: return .widthChanged(QueueID(try reader.id()), width: try reader.int())
        case 4: return .submitted(try TaskSpec.read(from: &reader))
        case 5: return .started
        case 6: return .paused
        case 7: return .resumed
        case 8: return .succeeded(TaskID(try reader.id()), attempt: try reader.int(), worker: try readWorker(&reader))
        case 9:
            return .failed(
                TaskID(try reader.id()), attempt: try reader.int(), retryable: try reader.byte() == 1,
                worker: try readWorker(&reader))
        case 10:
            return .partialResult(
                TaskID(try reader.id()), index: try reader.int(), attempt: try reader.int(),
                worker: try readWorker(&reader))
        case 11: return .timedOut(TaskID(try reader.id()), attempt: try reader.int())
        case 12: return .retryDue(TaskID(try reader.id()))
        case 13: return .cancelled(TaskID(try reader.id()))
        case 14: return .cancelledAll
        case 15: return .jobCancelled(JobID(try reader.id()))
        case 16: return .held(TaskID(try reader.id()))
        case 17: return .released(TaskID(try reader.id()))
        case 18: return .workerJoined(try WorkerSpec.read(from: &reader))
        case 21:
            let old = WorkerID(try reader.id())
            let spec = try WorkerSpec.read(from: &reader)
            var keeping: [AttemptRef] = []
            for _ in 0..<(try reader.count(atMost: 1 << 20)) {
                keeping.append(AttemptRef(TaskID(try reader.id()), attempt: try reader.int()))
            }
            return .workerRejoined(old, spec, keeping: keeping)
        case 19: return .workerDrained(WorkerID(try reader.id()))
        case 20: return .workerLeft(WorkerID(try reader.id()))
        case 22:
            var jobs: [JobID] = []
            for _ in 0..<(try reader.count(atMost: 1 << 24)) { jobs.append(JobID(try reader.id())) }
            return .jobsForgotten(jobs)
        case 23:
            let limit = try reader.int()
            return .crashLimitSet(limit == 0 ? nil : limit)
        default: throw reader.corrupt("unknown fact \(tag)")
        }
    }

    static func readWorker(_ reader: inout JournalReader) throws(JournalError) -> WorkerID? {
        let raw = try reader.id()
        return raw == 0 ? nil : WorkerID(raw - 1)
    }
}

extension TaskSpec {
    func write(to writer: inout JournalWriter) {
        writer.int(queue.rawValue)
        writer.int(priority)
        writer.unsigned(UInt64(dependencies.count))
        for dependency in dependencies {
            writer.int(dependency.task.rawValue)
            writer.int(dependency.item.map { $0 + 1 } ?? 0)
        }
        writer.int(partialCount)
        if let estimate {
            writer.byte(1)
            writer.double(estimate)
        } else {
            writer.byte(0)
        }
        retry.write(to: &writer)
        if let timeout {
            writer.byte(1)
            writer.duration(timeout)
        } else {
            writer.byte(0)
        }
        if placement.isAnywhere {
            writer.byte(0)
        } else {
            writer.byte(1)
            placement.write(to: &writer)
        }
        writer.byte(role.code)
        writer.byte(held ? 1 : 0)
    }

    static func read(from reader: inout JournalReader) throws(JournalError) -> TaskSpec {
        let queue = QueueID(try reader.id())
        let priority = try reader.int()
        var dependencies: [Dependency] = []
        let count = try reader.count(atMost: 10_000_000)
        dependencies.reserveCapacity(min(count, 1024))
        for _ in 0..<count {
            let task = TaskID(try reader.id())
            let item = try reader.id()
            dependencies.append(Dependency(task, item: item == 0 ? nil : item - 1))
        }
        let partialCount = try reader.int()
        let estimate = try reader.byte() == 1 ? try reader.double() : nil
        let retry = try RetryPolicy.read(from: &reader)
        let timeout = try reader.byte() == 1 ? try reader.duration() : nil
        let placement = try reader.byte() == 1 ? try Placement.read(from: &reader) : Placement.anywhere
        let role = try TaskRole.read(code: try reader.byte(), from: &reader)
        let held = try reader.byte() == 1
        return TaskSpec(
            queue: queue, priority: priority, dependencies: dependencies, partialCount: partialCount,
            estimate: estimate, retry: retry, timeout: timeout, placement: placement, role: role, held: held)
    }
}
