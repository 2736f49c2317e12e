internal import Foundation
import Synchronization
internal import TrellisCore
internal import TrellisExecution
package import TrellisStore
package import TrellisWorkflow

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

/// Runs a workflow plan on this machine: a shell process (or a timed wait) per task, triggers checked
/// in-process, every fact recorded in a `RunStore` so that a killed run resumes where it stopped.
///
/// One loop owns the scheduling core: process exits, output markers, timers and interrupts arrive as inputs
/// on one stream, so nothing polls and an idle run costs nothing.
package final class LocalRunner<C: Clock>: Sendable where C.Duration == Duration {
    enum Input: Sendable {
        case started(node: Int, attempt: Int, pid: Int32)
        case output(node: Int, attempt: Int, name: String)
        case ended(node: Int, attempt: Int, AttemptEnd)
        case timeout(node: Int, attempt: Int)
        case retryDue(node: Int)
        case interrupt
    }

    enum AttemptEnd: Sendable, Hashable {
        case exited(Int32)
        case signalled(Int32)
        case failed(String, retryable: Bool)
        case stopped
    }

    let plan: WorkflowPlan
    let store: any RunStore
    let options: RunOptions
    let clock: C
    let inputs: AsyncStream<Input>
    let continuation: AsyncStream<Input>.Continuation

    package init(plan: WorkflowPlan, store: any RunStore, options: RunOptions, clock: C) {
        self.plan = plan
        self.store = store
        self.options = options
        self.clock = clock
        (inputs, continuation) = AsyncStream.makeStream(of: Input.self)
    }

    /// Stop: the first call stops starting tasks and asks running ones to end (SIGTERM, then SIGKILL after
    /// the grace period); a second call kills them at once.
    package func interrupt() {
        continuation.yield(.interrupt)
    }

    /// Runs until every task has ended or the run is interrupted.
    package func run(events: @escaping @Sendable (RunEvent) -> Void) async throws(RunStoreError) -> RunSummary {
        try FileManager.default.createDirectory(atPath: options.logDirectory, withIntermediateDirectories: true)
        let identity = RunIdentity(
            workflow: plan.workflow.name, file: plan.workflow.file, contentHash: plan.workflow.contentHash)
        let earlier = try store.open(identity, tasks: plan.nodes.map(\.id), restart: options.restart)
        if earlier.sessions > 0 { OrphanReaper.reap(OrphanReaper.runKey, options.stateDirectory) }
        let writer = FactWriter(store: store)
        let start = clock.now
        var loop = RunLoop(runner: self, earlier: earlier, writer: writer, events: events, origin: start)
        writer.append([.sessionStarted(at: Date().timeIntervalSince1970, pid: getpid())])
        loop.begin()
        if !loop.isFinished {
            for await input in inputs {
                loop.handle(input)
                loop.flushFacts()
                // State that cannot be recorded must not pile up: stop starting tasks, as on Ctrl-C.
                if writer.failure != nil, !loop.interrupted { loop.handle(.interrupt) }
                if loop.isFinished { break }
            }
        }
        let status = loop.finish()
        let elapsed = start.duration(to: clock.now)
        writer.append([.sessionEnded(status: status, at: Date().timeIntervalSince1970)])
        events(.ended(status: status, seconds: elapsed.seconds))
        if let failure = await writer.finish() { throw failure }
        guard let snapshot = try store.snapshot() else {
            throw RunStoreError(.notOpen, "the run vanished from its store")
        }
        return RunSummary(
            snapshot: snapshot, elapsed: elapsed, interrupted: loop.interrupted, alreadyDone: loop.alreadyDone)
    }
}

extension FileManager {
    /// `createDirectory` that reports failure as a store error (the state directory is the store's home).
    fileprivate func createDirectory(
        atPath path: String, withIntermediateDirectories: Bool
    ) throws(RunStoreError) -> Void {
        do {
            try createDirectory(atPath: path, withIntermediateDirectories: withIntermediateDirectories, attributes: nil)
        } catch {
            throw RunStoreError(.storage, "cannot create the state directory '\(path)'", cause: "\(error)")
        }
    }
}
