internal import ArgumentParser
internal import Foundation
import Synchronization
internal import TrellisEngine
internal import TrellisProtocol

/// `trellis job list|show|watch|cancel|forget`: jobs on a coordinator.
struct JobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job", abstract: "List, follow, cancel and forget jobs on a coordinator.",
        subcommands: [
            JobListCommand.self, JobShowCommand.self, JobWatchCommand.self, JobCancelCommand.self,
            JobForgetCommand.self,
        ])
}

struct JobListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List jobs, each with how its tasks stand.")

    @OptionGroup var remote: RemoteOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let jobs = try await remote.withClient { client in try await client.jobs() }
        if json {
            print(JSONOutput.encode(.array(jobs.map(RemoteJSON.job))))
            return
        }
        var rows = [["ID", "NAME", "STATE", "TASKS", "DONE", "SUCCEEDED", "FAILED", "CANCELLED", "POLICY"]]
        for job in jobs {
            rows.append([
                String(job.id), job.name, job.state.rawValue, String(job.tasks), String(job.tasks - job.unfinished),
                String(job.counts.succeeded + job.counts.skipped),
                String(job.counts.failed + job.counts.upstreamFailed),
                String(job.counts.cancelled), job.policy,
            ])
        }
        print(Table.render(rows, rightAligned: [0, 3, 4, 5, 6, 7]))
    }
}

struct JobShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one job and its tasks.")

    @OptionGroup var remote: RemoteOptions
    @Argument(help: "The job id.") var id: UInt64
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let (job, tasks) = try await remote.withClient { client in
            let job = try await client.jobs(id).first
            let tasks = try await client.tasks(ofJob: id)
            return (job, tasks)
        }
        guard let job else { throw ValidationError("there is no job \(id)") }
        if json {
            var object = RemoteJSON.job(job)
            if case .object(var pairs) = object {
                pairs.append(("task_list", .array(tasks.map(RemoteJSON.task))))
                object = .object(pairs)
            }
            print(JSONOutput.encode(object))
            return
        }
        let counts = job.counts
        print(
            "job \(job.id) '\(job.name)': \(job.state.rawValue), \(job.tasks - job.unfinished) of \(job.tasks) tasks done (policy \(job.policy))"
        )
        print(
            "succeeded \(counts.succeeded), failed \(counts.failed), upstream-failed \(counts.upstreamFailed), "
                + "cancelled \(counts.cancelled), skipped \(counts.skipped), unfinished \(job.unfinished)")
        var rows = [["ID", "NAME", "STATE", "ATTEMPTS", "WORKER", "MESSAGE"]]
        for task in tasks {
            rows.append([
                String(task.id), task.name, RemoteJSON.name(of: task.status), String(task.attempts), task.worker ?? "",
                task.message ?? "",
            ])
        }
        print(Table.render(rows, rightAligned: [0, 3]))
    }
}

struct JobCancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel a job: its main tasks stop and its on_failure clean-up still runs (again: it stops too).")

    @OptionGroup var remote: RemoteOptions
    @Argument(help: "The job id.") var id: UInt64
    @Flag(help: "SIGKILL at once instead of SIGTERM and the grace period.") var kill = false

    func run() async throws {
        let changed = try await remote.withClient { client in
            try await client.change(kill ? .kill : .cancel, RemoteSelection(job: id))
        }
        print("\(kill ? "killed" : "cancelled") \(changed) task\(changed == 1 ? "" : "s") of job \(id)")
    }
}

struct JobForgetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forget",
        abstract: "Forget jobs that have ended: their tasks leave every listing and the coordinator's journal.",
        discussion: """
            All or none. A job with unfinished tasks is refused, and so is a job whose tasks a task of a job kept \
            still needs (forget both together). Forgotten ids are never given again.
            """)

    @OptionGroup var remote: RemoteOptions
    @Argument(help: "The job ids.") var ids: [UInt64]

    func validate() throws {
        guard !ids.isEmpty else { throw ValidationError("name at least one job") }
    }

    func run() async throws {
        let forgotten = try await remote.withClient { client in try await client.forget(jobs: ids) }
        let jobs = ids.count == 1 ? "job \(ids[0])" : "jobs " + ids.map(String.init).joined(separator: ", ")
        print("forgot \(jobs) and \(forgotten) task\(forgotten == 1 ? "" : "s")")
    }
}

struct JobWatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Print a job's events as they happen until it ends; exit status 1 if any task did not succeed.")

    @OptionGroup var remote: RemoteOptions
    @Argument(help: "The job id.") var id: UInt64
    @Flag(help: "One JSON object per event.") var json = false
    @Flag(help: "Print what the tasks print too, each line prefixed by its task.") var logs = false

    func run() async throws {
        try await JobWatch(remote: remote).follow(id, json: json, logs: logs)
    }
}

/// Follows a job until it ends, as `trellis run` shows a local run: the live display on a terminal, a line
/// per event otherwise, or the job's events as JSON lines. Exit status 0 when every task succeeded (a finale
/// that did not run is skipped), 1 when any did not, 130 after Ctrl-C (which stops the watch, not the job).
struct JobWatch {
    var remote: RemoteOptions

    func follow(_ job: UInt64, json: Bool, logs: Bool = false) async throws {
        let renderer: (any RunRenderer)? =
            if json { nil } else if isatty(STDOUT_FILENO) == 1 && !logs { ProgressDisplay() } else { LineRenderer() }
        let followed = Locked(JobFollower(job: job))
        let remote = remote
        let watching = Task {
            try await remote.withClient { client in
                try await withThrowingTaskGroup { group in
                    if logs {
                        // What the tasks print, a line at a time, prefixed by the task.
                        group.addTask {
                            let lines = Locked(LogLines())
                            try await client.logs(job: job) { task, stream, data in
                                let whole = lines.withLock { $0.take(task: task, stream: stream, data) }
                                Self.print(whole, of: task, on: stream, names: followed)
                            }
                            for (task, stream, line) in lines.withLock({ $0.rest() }) {
                                Self.print([line], of: task, on: stream, names: followed)
                            }
                        }
                    }
                    try await client.watch(job: job) { event in
                        let events = followed.withLock { $0.take(event) }
                        if let renderer {
                            for shown in events { renderer.handle(shown) }
                        } else {
                            Console.line(JSONOutput.encode(RemoteJSON.event(event)))
                        }
                    }
                    try await group.waitForAll()
                }
            }
        }
        let signals = SignalForwarder(signals: [SIGINT, SIGTERM]) { watching.cancel() }
        defer { signals.cancel() }
        let result = await watching.result
        let interrupted = watching.isCancelled
        if case .failure(let error) = result, !interrupted { throw error }
        let (summary, ended) = followed.withLock { ($0.summary(interrupted: interrupted), $0.ended) }
        // A watch that ended before its job did says nothing about how the job ends.
        let cutShort = !interrupted && !ended
        if cutShort { printError("error: the coordinator closed the watch before job \(job) ended") }
        if let renderer {
            renderer.finish(
                summary, at: .job(job, coordinator: (try? remote.endpoint.description) ?? "the coordinator"))
        } else {
            Console.line(
                JSONOutput.encode(
                    .object([
                        ("event", .string("summary")), ("status", .string(summary.snapshot.status)),
                        ("exit_status", .int(Int(summary.exitStatus))), ("job", .int(Int(job))),
                    ])))
        }
        if summary.exitStatus != 0 { throw ExitCode(summary.exitStatus) }
        if cutShort { throw ExitCode(1) }
    }
}

extension JobWatch {
    /// Lines a task printed, each prefixed by its name: stdout's to stdout, stderr's to stderr.
    static func print(
        _ lines: [String], of task: UInt64, on stream: WorkerReport.LogStream, names: Locked<JobFollower>
    ) {
        guard !lines.isEmpty else { return }
        let name = names.withLock { $0.name(of: task) } ?? "task \(task)"
        let text = lines.map { "\(name) | \($0)\n" }.joined()
        (stream == .stdout ? FileHandle.standardOutput : FileHandle.standardError).write(Data(text.utf8))
    }
}

/// A value shared between tasks, behind a lock: `Mutex` as a reference that closures can share.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    func withLock<R: Sendable>(_ body: (inout sending Value) throws -> sending R) rethrows -> R {
        try mutex.withLock(body)
    }
}

/// `trellis broadcast`: a message to every worker of a type.
struct BroadcastCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broadcast", abstract: "Send a message to every connected worker of a type (e.g. drain).")

    @OptionGroup var remote: RemoteOptions
    @Option(help: "Only workers of this type (default: all).") var type = ""
    @Argument(help: "The message; `drain` makes workers finish their tasks and exit.") var message: String

    func run() async throws {
        let delivered = try await remote.withClient { client in try await client.broadcast(message, type: type) }
        print("sent to \(delivered) worker\(delivered == 1 ? "" : "s")")
    }
}

/// Remote tasks, workers and events as JSON, and state names as the CLI spells them.
enum RemoteJSON {
    static func name(of status: TaskStatus?) -> String {
        status?.rawValue ?? "unknown"
    }

    /// A state a coordinator's tasks can be in, by its name.
    static func status(named name: String) -> TaskStatus? {
        guard let status = TaskStatus(rawValue: name), status != .interrupted else { return nil }
        return status
    }

    /// Every state a coordinator's tasks can be in, as they are spelled.
    static var stateNames: [String] { TaskStatus.allCases.filter { $0 != .interrupted }.map(\.rawValue) }

    static func task(_ task: RemoteTask) -> JSONOutput.Value {
        var pairs: [(String, JSONOutput.Value)] = [
            ("id", .int(Int(task.id))), ("job", .int(Int(task.job))), ("name", .string(task.name)),
            ("state", .string(name(of: task.status))), ("attempts", .int(task.attempts)),
            ("worker", JSONOutput.optional(task.worker)),
            ("exit_code", JSONOutput.optional(task.exitCode)),
            ("message", JSONOutput.optional(task.message)),
            ("outputs", .array(task.outputs.map { .string($0) })),
        ]
        if let value = task.value { pairs.append(("value", .string(String(decoding: value, as: UTF8.self)))) }
        if case .shell(let command, _, _)? = task.work { pairs.append(("run", .string(command))) }
        return .object(pairs)
    }

    static func job(_ job: RemoteJobSummary) -> JSONOutput.Value {
        .object([
            ("id", .int(Int(job.id))), ("name", .string(job.name)), ("state", .string(job.state.rawValue)),
            ("policy", .string(job.policy)), ("tasks", .int(job.tasks)), ("unfinished", .int(job.unfinished)),
            ("succeeded", .int(job.counts.succeeded)), ("failed", .int(job.counts.failed)),
            ("cancelled", .int(job.counts.cancelled)), ("upstream_failed", .int(job.counts.upstreamFailed)),
            ("skipped", .int(job.counts.skipped)),
        ])
    }

    static func worker(_ worker: RemoteWorker) -> JSONOutput.Value {
        .object([
            ("id", .int(Int(worker.id))), ("name", .string(worker.name)), ("type", .string(worker.type)),
            ("tags", .array(worker.tags.map { .string($0) })), ("slots", .int(worker.slots)),
            ("running", .int(worker.running)), ("status", .string(worker.status)),
        ])
    }

    static func event(_ event: RemoteJobEvent) -> JSONOutput.Value {
        if event.isHeader {
            return .object([
                ("event", .string("began")), ("name", .string(event.jobName)), ("tasks", .int(event.jobTasks)),
                ("time_ms", .int(Int(event.timeMs))),
            ])
        }
        if event.jobEnded { return .object([("event", .string("ended")), ("time_ms", .int(Int(event.timeMs)))]) }
        return .object([
            ("task", .int(Int(event.task))), ("name", .string(event.taskName)),
            ("state", .string(name(of: event.status))), ("attempt", .int(event.attempt)),
            ("output", JSONOutput.optional(event.output)),
            ("worker", JSONOutput.optional(event.worker)),
            ("message", JSONOutput.optional(event.message)),
            ("time_ms", .int(Int(event.timeMs))),
        ])
    }
}
