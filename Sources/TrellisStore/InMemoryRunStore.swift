import Synchronization

/// A run store that keeps everything in memory: for tests, and runs that need no durability.
public final class InMemoryRunStore: RunStore {
    private struct State {
        var snapshot: RunSnapshot?
        var index: [String: Int] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public func open(_ identity: RunIdentity, tasks: [String], restart: Bool) throws(RunStoreError) -> RunSnapshot {
        try state.withLock { (state) throws(RunStoreError) -> RunSnapshot in
            if let existing = state.snapshot, existing.identity.contentHash != identity.contentHash, !restart {
                throw RunStoreError.changed(stored: existing.identity, now: identity)
            }
            if restart || state.snapshot?.identity.contentHash != identity.contentHash {
                state = State(snapshot: RunSnapshot(identity: identity))
            }
            state.snapshot!.identity = identity
            for id in tasks where state.index[id] == nil {
                state.index[id] = state.snapshot!.tasks.count
                state.snapshot!.tasks.append(StoredTask(id: id))
            }
            return state.snapshot!
        }
    }

    public func record(_ facts: [RunFact]) throws(RunStoreError) {
        try state.withLock { (state) throws(RunStoreError) in
            guard var snapshot = state.snapshot else { throw RunStoreError(.notOpen, "record before open") }
            state.snapshot = nil  // keep the copy unique while it is changed
            for fact in facts { snapshot.apply(fact, index: &state.index) }
            state.snapshot = snapshot
        }
    }

    public func snapshot() throws(RunStoreError) -> RunSnapshot? {
        state.withLock { $0.snapshot }
    }
}

extension RunStoreError {
    package static func changed(stored: RunIdentity, now: RunIdentity) -> RunStoreError {
        RunStoreError(
            .workflowChanged,
            "the workflow '\(now.file)' changed since its recorded run (hash \(stored.contentHash), now \(now.contentHash)); "
                + "run again with --restart to start over")
    }
}

extension RunSnapshot {
    /// The effect of one fact: the reference semantics every store implements.
    mutating func apply(_ fact: RunFact, index: inout [String: Int]) {
        func position(_ id: String) -> Int {
            if let position = index[id] { return position }
            index[id] = tasks.count
            tasks.append(StoredTask(id: id))
            return tasks.count - 1
        }
        switch fact {
        case .sessionStarted(let at, let pid):
            sessions += 1
            self.pid = pid
            status = "running"
            if startedAt == nil { startedAt = at }
            endedAt = nil
            for i in tasks.indices where tasks[i].state == .running || tasks[i].state == .retrying {
                tasks[i].state = .interrupted
                if let last = tasks[i].attempts.indices.last, tasks[i].attempts[last].state == nil {
                    tasks[i].attempts[last].state = .interrupted
                }
            }
        case .attemptStarted(let task, let attempt, let at):
            let i = position(task)
            tasks[i].state = .running
            tasks[i].message = nil
            tasks[i].exitCode = nil
            tasks[i].finishedAt = nil
            tasks[i].attempts.append(StoredAttempt(number: attempt, startedAt: at))
        case .processStarted(let task, let attempt, let pid):
            let i = position(task)
            if let a = tasks[i].attempts.lastIndex(where: { $0.number == attempt }) { tasks[i].attempts[a].pid = pid }
        case .outputSignalled(let task, let name, _):
            let i = position(task)
            if !tasks[i].outputs.contains(name) { tasks[i].outputs.append(name) }
        case .attemptEnded(let task, let attempt, let state, let exitCode, let message, let at):
            let i = position(task)
            if let a = tasks[i].attempts.lastIndex(where: { $0.number == attempt }) {
                tasks[i].attempts[a].endedAt = at
                tasks[i].attempts[a].state = state
                tasks[i].attempts[a].exitCode = exitCode
            }
            tasks[i].state = state
            tasks[i].exitCode = exitCode
            tasks[i].message = message
            tasks[i].finishedAt = state.isFinal ? at : nil
        case .settled(let task, let state, let message, let at):
            let i = position(task)
            tasks[i].state = state
            tasks[i].message = message
            tasks[i].finishedAt = at
        case .sessionEnded(let status, let at):
            self.status = status
            endedAt = at
        }
    }
}
