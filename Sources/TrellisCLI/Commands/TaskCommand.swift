internal import ArgumentParser
internal import Foundation
internal import TrellisCore
internal import TrellisProtocol

/// `trellis task …`: add, inspect and steer tasks on a coordinator.
struct TaskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "task", abstract: "Add, list, show and steer tasks on a coordinator.",
        subcommands: [
            TaskAddCommand.self, TaskListCommand.self, TaskShowCommand.self, TaskPlayCommand.self,
            TaskCancelCommand.self, TaskKillCommand.self, TaskPauseCommand.self, TaskResumeCommand.self,
            TaskLogsCommand.self,
        ])
}

struct TaskAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Add one task: a shell command, or a call of a handler a worker registered.")

    @OptionGroup var remote: RemoteOptions
    @Option(help: "The shell command.") var run: String?
    @Option(help: "Call this registered handler instead of running a command.") var handler: String?
    @Option(help: "The handler's payload (JSON by convention).") var payload = ""
    @Option(help: "A name (default: task-<time>).") var name: String?
    @Option(help: "A task id this one needs (repeatable).") var after: [UInt64] = []
    @Option(help: "The worker type that runs it.") var type = ""
    @Option(help: "Tags the worker must carry (comma-separated).") var tags = ""
    @Option(help: "Higher runs first.") var priority: Int32 = 0
    @Option(help: "Extra attempts after a failure.") var retries: UInt32 = 0
    @Option(help: "Add to this job (default: a new job).") var job: UInt64 = 0
    @Flag(help: "Make it ready at once instead of leaving it created.") var play = false

    func validate() throws {
        guard (run == nil) != (handler == nil) else { throw ValidationError("give either --run CMD or --handler NAME") }
    }

    func run() async throws {
        let taskName = name ?? "task-\(Int(Date().timeIntervalSince1970 * 1000))"
        let work: RemoteWork =
            if let run { .shell(command: run) } else { .handler(name: handler ?? "", payload: Array(payload.utf8)) }
        var spec = RemoteTaskSpec(name: taskName, work: work)
        spec.needs = after.map { RemoteNeed(.id($0)) }
        spec.placement = Placement(type: type.isEmpty ? nil : type, tags: tags.split(separator: ",").map(String.init))
        spec.priority = Int(priority)
        spec.retries = Int(retries)
        var request = RemoteJob(name: taskName, play: play)
        request.job = job
        request.tasks = [spec]
        let submitted = request
        let added = try await remote.withClient { client in try await client.submit(submitted) }
        let id = added.tasks.first ?? 0
        print(
            "task \(id) in job \(added.job)\(play ? "" : " (created; `trellis task play \(id)` starts it)")"
        )
    }
}

struct TaskListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List tasks.")

    @OptionGroup var remote: RemoteOptions
    @Option(help: "Only tasks in this state (repeatable): \(RemoteJSON.stateNames.joined(separator: ", ")).")
    var state: [String] = []
    @Option(help: "Only this job's tasks.") var job: UInt64 = 0
    @Option(help: "At most this many.") var limit: UInt32 = 1_000
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let states = try state.map { name in
            guard let status = RemoteJSON.status(named: name) else {
                throw ValidationError(
                    "--state: unknown state '\(name)' (one of \(RemoteJSON.stateNames.joined(separator: ", ")))")
            }
            return status
        }
        let tasks = try await remote.withClient { client in
            try await client.tasks(
                RemoteTaskQuery(
                    job: job == 0 ? nil : job, statuses: states.isEmpty ? nil : Set(states),
                    limit: limit == 0 ? nil : Int(limit)))
        }
        if json {
            print(JSONOutput.encode(.array(tasks.map(RemoteJSON.task))))
            return
        }
        var rows = [["ID", "JOB", "NAME", "STATE", "ATTEMPTS", "WORKER", "MESSAGE"]]
        for task in tasks {
            rows.append([
                String(task.id), String(task.job), task.name, RemoteJSON.name(of: task.status), String(task.attempts),
                task.worker ?? "", task.message ?? "",
            ])
        }
        print(Table.render(rows, rightAligned: [0, 1, 4]))
    }
}

struct TaskShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one task.")

    @OptionGroup var remote: RemoteOptions
    @Argument(help: "The task id.") var id: UInt64
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let task = try await remote.withClient { client in try await client.task(id) }
        if json {
            print(JSONOutput.encode(RemoteJSON.task(task)))
            return
        }
        var lines = [
            "task \(task.id) '\(task.name)' in job \(task.job): \(RemoteJSON.name(of: task.status))",
            "attempts: \(task.attempts)" + (task.worker.map { ", last on \($0)" } ?? ""),
        ]
        switch task.work {
        case .shell(let command, _, _)?: lines.append("run: \(command)")
        case .handler(let name, _)?: lines.append("handler: \(name)")
        case .trigger(let condition, let interval, let timeout, _)?:
            let every = "checked every \(DurationText.spelled(interval))"
            let until = timeout.map { ", for \(DurationText.spelled($0))" } ?? ""
            switch condition {
            case .fileExists(let path): lines.append("trigger: file \(path) exists (\(every)\(until))")
            case .wallClock(let seconds):
                lines.append(
                    "trigger: after \(Date(timeIntervalSince1970: seconds).formatted(.iso8601)) (\(every)\(until))")
            case .command(let command): lines.append("trigger: `\(command)` succeeds (\(every)\(until))")
            }
        case nil: break
        }
        if let exitCode = task.exitCode { lines.append("exit code: \(exitCode)") }
        if let message = task.message { lines.append("message: \(message)") }
        if !task.outputs.isEmpty { lines.append("outputs: \(task.outputs.joined(separator: ", "))") }
        print(lines.joined(separator: "\n"))
    }
}

/// Which tasks a change applies to.
struct SelectionOptions: ParsableArguments {
    @Argument(help: "Task ids.") var ids: [UInt64] = []
    @Option(help: "Every task of this job.") var job: UInt64 = 0
    @Flag(help: "Every task.") var all = false

    func validate() throws {
        guard !ids.isEmpty || job != 0 || all else { throw ValidationError("name task ids, --job ID or --all") }
    }
}

extension RemoteOptions {
    func change(_ change: RemoteChange, _ options: SelectionOptions, verb: String) async throws {
        let changed = try await withClient { client in
            try await client.change(
                change, RemoteSelection(ids: options.ids, job: options.job == 0 ? nil : options.job, all: options.all))
        }
        print("\(verb) \(changed) task\(changed == 1 ? "" : "s")")
    }
}

struct TaskPlayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "play", abstract: "Make created tasks ready.")
    @OptionGroup var remote: RemoteOptions
    @OptionGroup var tasks: SelectionOptions
    func run() async throws { try await remote.change(.play, tasks, verb: "played") }
}

struct TaskCancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel", abstract: "Cancel tasks and what needs them (running ones get SIGTERM, then SIGKILL).")
    @OptionGroup var remote: RemoteOptions
    @OptionGroup var tasks: SelectionOptions
    func run() async throws { try await remote.change(.cancel, tasks, verb: "cancelled") }
}

struct TaskKillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kill", abstract: "Like cancel, with SIGKILL at once.")
    @OptionGroup var remote: RemoteOptions
    @OptionGroup var tasks: SelectionOptions
    func run() async throws { try await remote.change(.kill, tasks, verb: "killed") }
}

struct TaskPauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause", abstract: "Hold tasks that are not running.")
    @OptionGroup var remote: RemoteOptions
    @OptionGroup var tasks: SelectionOptions
    func run() async throws { try await remote.change(.pause, tasks, verb: "paused") }
}

struct TaskResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Release paused tasks.")
    @OptionGroup var remote: RemoteOptions
    @OptionGroup var tasks: SelectionOptions
    func run() async throws { try await remote.change(.resume, tasks, verb: "resumed") }
}

struct TaskLogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print what a task's attempt printed: its stdout to stdout, its stderr to stderr.")

    @OptionGroup var remote: RemoteOptions
    @Argument(help: "The task id.") var id: UInt64
    @Option(help: "Which attempt (default: the latest).") var attempt: Int = 0
    @Flag(help: "Go on printing what the attempt prints until it ends.") var follow = false

    func validate() throws {
        guard attempt >= 0 else { throw ValidationError("--attempt counts from 1") }
    }

    func run() async throws {
        try await remote.withClient { client in
            try await client.logs(task: id, attempt: attempt, follow: follow) { stream, data, _ in
                (stream == .stdout ? FileHandle.standardOutput : FileHandle.standardError).write(Data(data))
            }
        }
    }
}
