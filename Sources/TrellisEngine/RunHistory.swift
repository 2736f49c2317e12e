public import TrellisCore
public import TrellisJournal

/// A run as its journal tells it: the header, the core facts to replay, the name of every core task and the
/// run as people see it (`snapshot`). Built by folding entries in order, so a reader that follows a live
/// journal applies only the new ones.
public struct RunHistory: Sendable {
    public private(set) var header: RunHeader?
    /// The core facts, in order.
    public private(set) var facts: [TimedFact] = []
    /// The name of each core task, by id.
    public private(set) var names: [String] = []
    /// For each core task, how many attempts its name had before it: attempt `n` of the task is shown as
    /// attempt `attemptBase + n`, so numbers keep growing when a later session runs the task again.
    public private(set) var attemptBase: [Int] = []
    /// The run as recorded; `nil` until the header is read.
    public private(set) var snapshot: RunSnapshot?
    /// The sequence of the last entry folded in.
    public private(set) var lastSequence: UInt64 = 0
    /// The latest core task of each name.
    public private(set) var latestTask: [String: TaskID] = [:]
    private var index: [String: Int] = [:]

    public init() {}

    public mutating func apply(_ entry: JournalEntry<EngineRecord>) {
        lastSequence = entry.sequence
        apply(entry.record)
    }

    /// Folds one record in (a writer keeps its own history current this way).
    public mutating func apply(_ record: EngineRecord) {
        switch record {
        case .header(let header):
            self.header = header
            if snapshot == nil { snapshot = RunSnapshot(identity: header.identity) }
        case .fact(let fact):
            facts.append(fact)
        case .named(let task, let name):
            if task.rawValue >= names.count {
                names.append(contentsOf: repeatElement("", count: task.rawValue + 1 - names.count))
                attemptBase.append(contentsOf: repeatElement(0, count: task.rawValue + 1 - attemptBase.count))
            }
            names[task.rawValue] = name
            latestTask[name] = task
            attemptBase[task.rawValue] = index[name].map { snapshot!.tasks[$0].attempts.map(\.number).max() ?? 0 } ?? 0
            if index[name] == nil, snapshot != nil {
                index[name] = snapshot!.tasks.count
                snapshot!.tasks.append(StoredTask(id: name))
            }
        case .run(let fact):
            snapshot?.apply(fact, index: &index)
        }
    }

    /// Folds every entry of `journal` after the last one folded in.
    public mutating func read(from journal: some Journal<EngineRecord>) async throws(JournalError) {
        for entry in try await journal.allEntries(after: lastSequence) { apply(entry) }
    }

    /// The name of a core task, or a placeholder for one never named.
    public func name(of task: TaskID) -> String {
        task.rawValue < names.count && !names[task.rawValue].isEmpty ? names[task.rawValue] : "\(task)"
    }
}
