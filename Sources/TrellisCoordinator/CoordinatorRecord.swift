public import TrellisCore
public import TrellisJournal

/// One entry of a coordinator's journal: the facts its core consumed and, beside them, what a restart needs to
/// rebuild what people see and what workers need (names, payloads, operator flags, attempts as reported,
/// handler values).
public enum CoordinatorRecord: Hashable, Sendable {
    /// The first entry: wall-clock seconds since 1970 at run time zero, so deadlines outlive restarts.
    case origin(Double)
    case fact(TimedFact)
    /// A new job's name and its queues' names, whose ids count up from `firstQueue`.
    case jobNamed(JobID, String, queues: [String], firstQueue: QueueID)
    /// A task's name, its wire spec (what a worker receives), its named outputs and the tasks it needs.
    case taskAdded(TaskID, job: UInt64, name: String, spec: [UInt8], outputs: [String], parents: [TaskID])
    case workerNamed(WorkerID, String)
    case played(TaskID)
    case paused(TaskID, Bool)
    case killed(TaskID)
    case attemptStarted(TaskID, attempt: Int)
    /// The core handed the task's next attempt to this worker session.
    case assigned(TaskID, WorkerID)
    case attemptEnded(TaskID, attempt: Int, exitCode: Int32?, message: String?, value: [UInt8]?)
}

extension CoordinatorRecord {
    /// Whether the record may wait for the next turn's append instead of holding this turn's effects back:
    /// what only operators read and what a restart learns again anyway. That an attempt started is shown as
    /// `running`; after a restart, the worker's hello names the attempts it still runs.
    var canWait: Bool {
        if case .attemptStarted = self { true } else { false }
    }
}

extension CoordinatorRecord: JournalRecord {
    public func journalBytes() -> [UInt8] {
        var writer = JournalWriter()
        switch self {
        case .origin(let seconds):
            writer.byte(1)
            writer.double(seconds)
        case .fact(let fact):
            writer.byte(2)
            fact.write(to: &writer)
        case .jobNamed(let job, let name, let queues, let firstQueue):
            writer.byte(3)
            writer.int(job.rawValue)
            writer.string(name)
            writer.unsigned(UInt64(queues.count))
            for queue in queues { writer.string(queue) }
            writer.int(firstQueue.rawValue)
        case .taskAdded(let task, let job, let name, let spec, let outputs, let parents):
            writer.byte(4)
            writer.int(task.rawValue)
            writer.unsigned(job)
            writer.string(name)
            Self.write(spec, to: &writer)
            writer.unsigned(UInt64(outputs.count))
            for output in outputs { writer.string(output) }
            writer.unsigned(UInt64(parents.count))
            for parent in parents { writer.int(parent.rawValue) }
        case .workerNamed(let worker, let name):
            writer.byte(5)
            writer.int(worker.rawValue)
            writer.string(name)
        case .played(let task):
            writer.byte(6)
            writer.int(task.rawValue)
        case .paused(let task, let paused):
            writer.byte(7)
            writer.int(task.rawValue)
            writer.byte(paused ? 1 : 0)
        case .killed(let task):
            writer.byte(8)
            writer.int(task.rawValue)
        case .attemptStarted(let task, let attempt):
            writer.byte(9)
            writer.int(task.rawValue)
            writer.int(attempt)
        case .assigned(let task, let worker):
            writer.byte(11)
            writer.int(task.rawValue)
            writer.int(worker.rawValue)
        case .attemptEnded(let task, let attempt, let exitCode, let message, let value):
            writer.byte(10)
            writer.int(task.rawValue)
            writer.int(attempt)
            writer.byte((exitCode == nil ? 0 : 1) | (message == nil ? 0 : 2) | (value == nil ? 0 : 4))
            if let exitCode { writer.int(Int(exitCode)) }
            if let message { writer.string(message) }
            if let value { Self.write(value, to: &writer) }
        }
        return writer.bytes
    }

    public init(journalBytes: [UInt8]) throws(JournalError) {
        var reader = JournalReader(journalBytes)
        switch try reader.byte() {
        case 1: self = .origin(try reader.double())
        case 2: self = .fact(try TimedFact.read(from: &reader))
        case 3:
            let job = JobID(try reader.id())
            let name = try reader.string()
            var queues: [String] = []
            for _ in 0..<(try reader.count(atMost: 1 << 24)) { queues.append(try reader.string()) }
            self = .jobNamed(job, name, queues: queues, firstQueue: QueueID(try reader.id()))
        case 4:
            let task = TaskID(try reader.id())
            let job = try reader.unsigned()
            let name = try reader.string()
            let spec = try Self.bytes(&reader)
            var outputs: [String] = []
            for _ in 0..<(try reader.count(atMost: 1 << 24)) { outputs.append(try reader.string()) }
            var parents: [TaskID] = []
            for _ in 0..<(try reader.count(atMost: 1 << 24)) { parents.append(TaskID(try reader.id())) }
            self = .taskAdded(task, job: job, name: name, spec: spec, outputs: outputs, parents: parents)
        case 5: self = .workerNamed(WorkerID(try reader.id()), try reader.string())
        case 6: self = .played(TaskID(try reader.id()))
        case 7:
            let task = TaskID(try reader.id())
            let flag = try reader.byte()
            guard flag < 2 else { throw reader.corrupt("unknown pause flag \(flag)") }
            self = .paused(task, flag == 1)
        case 8: self = .killed(TaskID(try reader.id()))
        case 9: self = .attemptStarted(TaskID(try reader.id()), attempt: try reader.int())
        case 10:
            let task = TaskID(try reader.id())
            let attempt = try reader.int()
            let flags = try reader.byte()
            guard flags < 8 else { throw reader.corrupt("unknown flags \(flags)") }
            let exitCode = flags & 1 != 0 ? try reader.int32("exit code") : nil
            let message = flags & 2 != 0 ? try reader.string() : nil
            let value = flags & 4 != 0 ? try Self.bytes(&reader) : nil
            self = .attemptEnded(task, attempt: attempt, exitCode: exitCode, message: message, value: value)
        case 11: self = .assigned(TaskID(try reader.id()), WorkerID(try reader.id()))
        case let other:
            throw reader.corrupt("unknown coordinator record \(other)")
        }
        guard reader.isAtEnd else { throw reader.corrupt("bytes after the record") }
    }

    static func write(_ bytes: [UInt8], to writer: inout JournalWriter) {
        writer.blob(bytes)
    }

    static func bytes(_ reader: inout JournalReader) throws(JournalError) -> [UInt8] {
        try reader.blob()
    }
}
