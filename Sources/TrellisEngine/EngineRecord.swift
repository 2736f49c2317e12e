public import TrellisCore
public import TrellisJournal

/// What a run's journal starts with: which workflow it runs and how its core was made.
public struct RunHeader: Hashable, Sendable {
    public var identity: RunIdentity
    /// The policies of the run's first job (the core's initial job).
    public var policy: SchedulingPolicy
    public var failurePolicy: FailurePolicy
    /// Wall-clock seconds since 1970 at run time zero: the times of facts count from here, across sessions.
    public var origin: Double

    public init(identity: RunIdentity, policy: SchedulingPolicy, failurePolicy: FailurePolicy, origin: Double) {
        self.identity = identity
        self.policy = policy
        self.failurePolicy = failurePolicy
        self.origin = origin
    }

    /// A fresh core as this run's first session made it.
    public func makeCore(leaseTimeout: Duration) -> SchedulerCore {
        SchedulerCore(policy: policy, failurePolicy: failurePolicy, execution: .workers(leaseTimeout: leaseTimeout))
    }
}

/// One entry of an engine's journal: the facts its core consumed, in order, and what the engine records beside
/// them for people (names, attempts as they are shown, processes, messages).
///
/// Replaying the `.fact` entries rebuilds the core; folding the rest gives the run as `status` shows it.
public enum EngineRecord: Hashable, Sendable {
    /// The first entry.
    case header(RunHeader)
    case fact(TimedFact)
    /// The name of a core task. A task submitted again in a later session takes the name over.
    case named(TaskID, String)
    /// What happened, as people see it.
    case run(RunFact)
}

extension EngineRecord: JournalRecord {
    public func journalBytes() -> [UInt8] {
        var writer = JournalWriter()
        switch self {
        case .header(let header):
            writer.byte(1)
            writer.string(header.identity.workflow)
            writer.string(header.identity.file)
            writer.string(header.identity.contentHash)
            header.policy.write(to: &writer)
            writer.byte(header.failurePolicy == .failFast ? 1 : 0)
            writer.double(header.origin)
        case .fact(let fact):
            writer.byte(2)
            fact.write(to: &writer)
        case .named(let task, let name):
            writer.byte(3)
            writer.int(task.rawValue)
            writer.string(name)
        case .run(let fact):
            writer.byte(4)
            fact.write(to: &writer)
        }
        return writer.bytes
    }

    public init(journalBytes: [UInt8]) throws(JournalError) {
        var reader = JournalReader(journalBytes)
        switch try reader.byte() {
        case 1:
            let identity = RunIdentity(
                workflow: try reader.string(), file: try reader.string(), contentHash: try reader.string())
            let policy = try SchedulingPolicy.read(from: &reader)
            let failurePolicy: FailurePolicy = try reader.byte() == 1 ? .failFast : .continueIndependent
            self = .header(
                RunHeader(identity: identity, policy: policy, failurePolicy: failurePolicy, origin: try reader.double())
            )
        case 2: self = .fact(try TimedFact.read(from: &reader))
        case 3: self = .named(TaskID(try reader.id()), try reader.string())
        case 4: self = .run(try RunFact.read(from: &reader))
        case let other: throw reader.corrupt("unknown engine record \(other)")
        }
        guard reader.isAtEnd else { throw reader.corrupt("bytes after the record") }
    }
}

extension RunFact {
    func write(to writer: inout JournalWriter) {
        switch self {
        case .sessionStarted(let at, let pid):
            writer.byte(1)
            writer.double(at)
            writer.int(Int(pid))
        case .attemptStarted(let task, let attempt, let at):
            writer.byte(2)
            writer.string(task)
            writer.int(attempt)
            writer.double(at)
        case .processStarted(let task, let attempt, let pid):
            writer.byte(3)
            writer.string(task)
            writer.int(attempt)
            writer.int(Int(pid))
        case .outputSignalled(let task, let name, let at):
            writer.byte(4)
            writer.string(task)
            writer.string(name)
            writer.double(at)
        case .attemptEnded(let task, let attempt, let state, let exitCode, let message, let at):
            writer.byte(5)
            writer.string(task)
            writer.int(attempt)
            writer.string(state.rawValue)
            writeOptional(exitCode.map(Int.init), message, to: &writer)
            writer.double(at)
        case .settled(let task, let state, let message, let at):
            writer.byte(6)
            writer.string(task)
            writer.string(state.rawValue)
            writeOptional(nil, message, to: &writer)
            writer.double(at)
        case .sessionEnded(let status, let at):
            writer.byte(7)
            writer.string(status)
            writer.double(at)
        }
    }

    static func read(from reader: inout JournalReader) throws(JournalError) -> RunFact {
        switch try reader.byte() {
        case 1:
            return .sessionStarted(at: try reader.double(), pid: try pid(&reader))
        case 2:
            return .attemptStarted(task: try reader.string(), attempt: try reader.int(), at: try reader.double())
        case 3:
            return .processStarted(task: try reader.string(), attempt: try reader.int(), pid: try pid(&reader))
        case 4:
            return .outputSignalled(task: try reader.string(), name: try reader.string(), at: try reader.double())
        case 5:
            let task = try reader.string()
            let attempt = try reader.int()
            let state = try storedState(&reader)
            let (code, message) = try readOptional(&reader)
            return .attemptEnded(
                task: task, attempt: attempt, state: state, exitCode: code, message: message, at: try reader.double())
        case 6:
            let task = try reader.string()
            let state = try storedState(&reader)
            let (_, message) = try readOptional(&reader)
            return .settled(task: task, state: state, message: message, at: try reader.double())
        case 7:
            return .sessionEnded(status: try reader.string(), at: try reader.double())
        case let other:
            throw reader.corrupt("unknown run fact \(other)")
        }
    }

    private static func pid(_ reader: inout JournalReader) throws(JournalError) -> Int32 {
        try reader.int32("process id")
    }

    private static func storedState(_ reader: inout JournalReader) throws(JournalError) -> TaskStatus {
        let text = try reader.string()
        guard let state = TaskStatus(rawValue: text) else { throw reader.corrupt("unknown task state '\(text)'") }
        return state
    }

    /// An exit code and a message, either of which may be missing: a flag byte, then those present.
    private func writeOptional(_ code: Int?, _ message: String?, to writer: inout JournalWriter) {
        writer.byte((code == nil ? 0 : 1) | (message == nil ? 0 : 2))
        if let code { writer.int(code) }
        if let message { writer.string(message) }
    }

    private static func readOptional(_ reader: inout JournalReader) throws(JournalError) -> (Int32?, String?) {
        let flags = try reader.byte()
        guard flags < 4 else { throw reader.corrupt("unknown flags \(flags)") }
        let code = flags & 1 != 0 ? try reader.int32("exit code") : nil
        let message = flags & 2 != 0 ? try reader.string() : nil
        return (code, message)
    }
}
