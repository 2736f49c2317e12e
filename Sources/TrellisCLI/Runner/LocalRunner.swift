internal import Foundation
import Synchronization
internal import TrellisCore
package import TrellisEngine
internal import TrellisExecution
internal import TrellisJournal
internal import TrellisSQLite
package import TrellisWorkflow

/// A local run's journal.
typealias SQLiteRunJournal = SQLiteJournal<EngineRecord>

/// Where and how a local run keeps its state.
package struct RunOptions: Sendable {
    /// The run's own directory: the database and the task logs.
    package var stateDirectory: String
    /// Discard an earlier run's state, even of a changed workflow.
    package var restart: Bool
    /// Between SIGTERM and SIGKILL when a running task is stopped.
    package var gracePeriod: Duration
    /// Relative working directories and trigger files are resolved against this (the workflow's directory).
    package var baseDirectory: String

    package init(
        stateDirectory: String, restart: Bool = false, gracePeriod: Duration = .seconds(5), baseDirectory: String
    ) {
        self.stateDirectory = stateDirectory
        self.restart = restart
        self.gracePeriod = gracePeriod
        self.baseDirectory = baseDirectory
    }

    package var logDirectory: String { stateDirectory + "/logs" }

    /// The run's journal.
    package var journalPath: String { StateLocation.journal(in: stateDirectory) }

    /// The log files of one attempt.
    package func logPaths(task: String, attempt: Int) -> (stdout: String, stderr: String) {
        let name = task.replacingOccurrences(of: "/", with: "%2F")
        return ("\(logDirectory)/\(name).\(attempt).out", "\(logDirectory)/\(name).\(attempt).err")
    }
}

/// How a run ended.
package struct RunSummary: Sendable {
    package var snapshot: RunSnapshot
    package var elapsed: Duration
    package var interrupted: Bool
    /// Tasks that succeeded in an earlier session and were not run again.
    package var alreadyDone: Int

    /// 0 when every task that had to run succeeded, 130 after an interrupt, 1 otherwise.
    package var exitStatus: Int32 {
        if interrupted { return 130 }
        let bad = snapshot.tasks.contains { task in
            switch task.state {
            case .succeeded, .skipped: false
            default: true
            }
        }
        return bad ? 1 : 0
    }
}

/// Why a local run could not run.
package struct RunError: Error, Hashable, Sendable, CustomStringConvertible {
    package enum Code: Hashable, Sendable {
        /// The recorded run belongs to a different version of the workflow file.
        case workflowChanged
        /// The state directory was written by a Trellis this one does not read.
        case unsupportedState
        /// The journal's entries cannot be replayed.
        case corrupt
        /// The disk or the database failed.
        case storage
    }

    package var code: Code
    package var message: String
    package var cause: String?

    package init(_ code: Code, _ message: String, cause: String? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    package var description: String { message + (cause.map { " (\($0))" } ?? "") }

    init(_ error: JournalError) {
        self.init(error.code == .unsupportedVersion ? .unsupportedState : .storage, error.description)
    }
}

/// Runs a workflow plan on this machine: the engine with an embedded executor of shell processes (or timed
/// waits), triggers checked in-process. Every fact goes to the run's journal, so a killed run resumes where
/// it stopped: the journal is replayed into a fresh core.
///
/// One loop owns the scheduling core: process exits, output markers, timers and interrupts arrive as inputs
/// on one stream, so nothing polls and an idle run costs nothing.
package final class LocalRunner<C: Clock>: Sendable where C.Duration == Duration {
    enum Input: Sendable {
        case started(task: Int, attempt: Int, group: ProcessGroup)
        case output(task: Int, attempt: Int, name: String)
        case ended(task: Int, attempt: Int, AttemptEnd)
        case timeout(task: Int, attempt: Int)
        case retryDue(task: Int)
        /// `force`: kill what runs at once, whatever came before.
        case interrupt(force: Bool)
    }

    enum AttemptEnd: Sendable, Hashable {
        case exited(Int32)
        case signalled(Int32)
        case failed(String, retryable: Bool)
        case stopped
    }

    let plan: WorkflowPlan
    let options: RunOptions
    let clock: C
    let inputs: AsyncStream<Input>
    let continuation: AsyncStream<Input>.Continuation

    package init(plan: WorkflowPlan, options: RunOptions, clock: C) {
        self.plan = plan
        self.options = options
        self.clock = clock
        (inputs, continuation) = AsyncStream.makeStream(of: Input.self)
    }

    /// Stop: the first call stops starting tasks and asks running ones to end (SIGTERM, then SIGKILL after
    /// the grace period); a second call kills them at once.
    package func interrupt(force: Bool = false) {
        continuation.yield(.interrupt(force: force))
    }

    var identity: RunIdentity {
        RunIdentity(workflow: plan.workflow.name, file: plan.workflow.file, contentHash: plan.workflow.contentHash)
    }

    /// Runs until every task has ended or the run is interrupted.
    package func run(events: @escaping @Sendable (RunEvent) -> Void) async throws(RunError) -> RunSummary {
        try FileManager.default.createDirectory(atPath: options.logDirectory, withIntermediateDirectories: true)
        let journal = try openJournal()
        var history = RunHistory()
        do {
            try await history.read(from: journal)
        } catch {
            throw RunError(error)
        }
        if let recorded = history.header?.identity, recorded.contentHash != identity.contentHash {
            throw RunError(
                .workflowChanged,
                "the workflow '\(identity.file)' changed since its recorded run (hash \(recorded.contentHash), now "
                    + "\(identity.contentHash)); run again with --restart to start over")
        }
        if !history.facts.isEmpty { OrphanReaper.reap(OrphanReaper.runKey, options.stateDirectory) }
        let epoch: UInt64
        do {
            epoch = try await journal.begin()
        } catch {
            throw RunError(error)
        }
        let pump = JournalPump(journal: journal, epoch: epoch)
        let start = clock.now
        var loop = RunLoop(runner: self, history: history, pump: pump, events: events, origin: start)
        try loop.begin()
        if !loop.isFinished {
            for await input in inputs {
                loop.handle(input)
                loop.flush()
                // State that cannot be recorded must not pile up: stop starting tasks, as on Ctrl-C.
                if pump.failure != nil, !loop.interrupted { loop.handle(.interrupt(force: false)) }
                loop.advanceIfIdle()
                if loop.isFinished { break }
            }
        }
        let status = loop.finish()
        let elapsed = start.duration(to: clock.now)
        events(.ended(status: status, seconds: elapsed.seconds))
        if let failure = await pump.finish() { throw RunError(failure) }
        guard let snapshot = loop.history.snapshot else {
            preconditionFailure("Internal inconsistency: a run's history has no header after its session")
        }
        return RunSummary(
            snapshot: snapshot, elapsed: elapsed, interrupted: loop.interrupted, alreadyDone: loop.alreadyDone)
    }

    /// Opens the run's journal: `restart` discards the recorded run first. A state directory of an earlier
    /// Trellis (its `state.sqlite`) is refused, or discarded with `restart`.
    func openJournal() throws(RunError) -> SQLiteRunJournal {
        let legacy = StateLocation.legacyDatabase(in: options.stateDirectory)
        if options.restart {
            SQLiteRunJournal.remove(at: options.journalPath)
            SQLiteRunJournal.remove(at: legacy)
        } else if access(legacy, F_OK) == 0 {
            throw RunError(
                .unsupportedState,
                "the state directory '\(options.stateDirectory)' holds a run recorded by an earlier Trellis "
                    + "(state.sqlite, run store format 1), which this version does not read; run again with "
                    + "--restart to discard it")
        }
        do {
            return try SQLiteRunJournal(path: options.journalPath)
        } catch {
            throw RunError(error)
        }
    }
}

extension FileManager {
    /// `createDirectory` that reports failure as a run error.
    fileprivate func createDirectory(
        atPath path: String, withIntermediateDirectories: Bool
    ) throws(RunError) -> Void {
        do {
            try createDirectory(atPath: path, withIntermediateDirectories: withIntermediateDirectories, attributes: nil)
        } catch {
            throw RunError(.storage, "cannot create the state directory '\(path)'", cause: "\(error)")
        }
    }
}
