internal import ArgumentParser
internal import Foundation
import Synchronization
internal import TrellisEngine
internal import TrellisProtocol

/// `trellis job watch ID`: a job's progress, live, until it ends.
struct JobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job", abstract: "Follow jobs on a coordinator.", subcommands: [JobWatchCommand.self])
}

struct JobWatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Print a job's events as they happen until it ends; exit status 1 if any task did not succeed.")

    @OptionGroup var remote: RemoteOptions
    @Argument(help: "The job id.") var id: UInt64
    @Flag(help: "One JSON object per event.") var json = false

    func run() async throws {
        try await JobWatch(remote: remote).follow(id, json: json)
    }
}

/// Follows a job until it ends, as `trellis run` shows a local run: the live display on a terminal, a line
/// per event otherwise, or the job's events as JSON lines. Exit status 0 when every task succeeded (a finale
/// that did not run is skipped), 1 when any did not, 130 after Ctrl-C (which stops the watch, not the job).
struct JobWatch {
    var remote: RemoteOptions

    func follow(_ job: UInt64, json: Bool) async throws {
        let renderer: (any RunRenderer)? =
            if json { nil } else if isatty(STDOUT_FILENO) == 1 { ProgressDisplay() } else { LineRenderer() }
        let followed = Mutex(JobFollower(job: job))
        let watching = Task {
            var request = Trellis_V1_WatchJobRequest()
            request.jobID = job
            try await remote.withClient { client, metadata in
                try await client.watchJob(request, metadata: metadata) { response in
                    for try await event in response.messages {
                        let events = followed.withLock { $0.take(event) }
                        if let renderer {
                            for shown in events { renderer.handle(shown) }
                        } else {
                            Console.line(JSONOutput.encode(RemoteJSON.event(event)))
                        }
                        if event.jobEnded { break }
                    }
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

/// `trellis broadcast`: a message to every worker of a type.
struct BroadcastCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broadcast", abstract: "Send a message to every connected worker of a type (e.g. drain).")

    @OptionGroup var remote: RemoteOptions
    @Option(help: "Only workers of this type (default: all).") var type = ""
    @Argument(help: "The message; `drain` makes workers finish their tasks and exit.") var message: String

    func run() async throws {
        var request = Trellis_V1_BroadcastRequest()
        request.workerType = type
        request.message = message
        let response = try await remote.withClient { client, metadata in
            try await client.broadcast(request, metadata: metadata)
        }
        print("sent to \(response.delivered) worker\(response.delivered == 1 ? "" : "s")")
    }
}

/// Remote tasks, workers and events as JSON, and state names as the CLI spells them.
enum RemoteJSON {
    static func name(of state: Trellis_V1_TaskState) -> String {
        state.status?.rawValue ?? "unknown"
    }

    /// A state a coordinator's tasks can be in, by its name.
    static func state(named name: String) -> Trellis_V1_TaskState? {
        guard let status = TaskStatus(rawValue: name), status != .interrupted else { return nil }
        return Trellis_V1_TaskState(status)
    }

    /// Every state a coordinator's tasks can be in, as they are spelled.
    static var stateNames: [String] { TaskStatus.allCases.filter { $0 != .interrupted }.map(\.rawValue) }

    static func task(_ task: Trellis_V1_TaskInfo) -> JSONOutput.Value {
        var pairs: [(String, JSONOutput.Value)] = [
            ("id", .int(Int(task.id))), ("job", .int(Int(task.jobID))), ("name", .string(task.name)),
            ("state", .string(name(of: task.state))), ("attempts", .int(Int(task.attempts))),
            ("worker", task.worker.isEmpty ? .null : .string(task.worker)),
            ("exit_code", task.hasExitCode ? .int(Int(task.exitCode)) : .null),
            ("message", task.message.isEmpty ? .null : .string(task.message)),
            ("outputs", .array(task.outputsSignalled.map { .string($0) })),
        ]
        if !task.value.isEmpty { pairs.append(("value", .string(String(decoding: task.value, as: UTF8.self)))) }
        if case .shell(let shell) = task.spec.work { pairs.append(("run", .string(shell.command))) }
        return .object(pairs)
    }

    static func worker(_ worker: Trellis_V1_WorkerInfo) -> JSONOutput.Value {
        .object([
            ("id", .int(Int(worker.id))), ("name", .string(worker.name)), ("type", .string(worker.type)),
            ("tags", .array(worker.tags.map { .string($0) })), ("slots", .int(Int(worker.slots))),
            ("running", .int(Int(worker.running))), ("status", .string(worker.status)),
        ])
    }

    static func event(_ event: Trellis_V1_JobEvent) -> JSONOutput.Value {
        if event.taskID == 0 && !event.jobEnded {
            return .object([
                ("event", .string("began")), ("name", .string(event.jobName)), ("tasks", .int(Int(event.jobTasks))),
                ("time_ms", .int(Int(event.timeMs))),
            ])
        }
        if event.jobEnded { return .object([("event", .string("ended")), ("time_ms", .int(Int(event.timeMs)))]) }
        return .object([
            ("task", .int(Int(event.taskID))), ("name", .string(event.taskName)),
            ("state", .string(name(of: event.state))), ("attempt", .int(Int(event.attempt))),
            ("output", event.output.isEmpty ? .null : .string(event.output)),
            ("worker", event.worker.isEmpty ? .null : .string(event.worker)),
            ("message", event.message.isEmpty ? .null : .string(event.message)),
            ("time_ms", .int(Int(event.timeMs))),
        ])
    }
}
