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
        var spec = Trellis_V1_TaskSpec()
        spec.name = name ?? "task-\(Int(Date().timeIntervalSince1970 * 1000))"
        if let run {
            var shell = Trellis_V1_ShellCommand()
            shell.command = run
            spec.shell = shell
        } else if let handler {
            var call = Trellis_V1_HandlerCall()
            call.name = handler
            call.payload = Data(payload.utf8)
            spec.handler = call
        }
        spec.needs = after.map { id in
            var need = Trellis_V1_Need()
            need.taskID = id
            return need
        }
        spec.workerType = type
        spec.tags = tags.split(separator: ",").map(String.init)
        spec.priority = priority
        spec.retries = retries
        var request = Trellis_V1_AddTasksRequest()
        request.jobID = job
        request.jobName = spec.name
        request.tasks = [spec]
        request.play = play
        let response = try await remote.withClient { client, metadata in
            try await client.addTasks(request, metadata: metadata)
        }
        print(
            "task \(response.taskIds[0]) in job \(response.jobID)\(play ? "" : " (created; `trellis task play \(response.taskIds[0])` starts it)")"
        )
    }
}

struct TaskListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List tasks.")

    @OptionGroup var remote: RemoteOptions
    @Option(
        help:
            "Only tasks in this state (repeatable): created, ready, assigned, running, succeeded, failed, cancelled, killed, paused, upstream-failed."
    )
    var state: [String] = []
    @Option(help: "Only this job's tasks.") var job: UInt64 = 0
    @Option(help: "At most this many.") var limit: UInt32 = 1_000
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        var request = Trellis_V1_ListTasksRequest()
        request.states = try state.map { name in
            guard let state = RemoteJSON.state(named: name) else {
                throw ValidationError(
                    "--state: unknown state '\(name)' (one of \(RemoteJSON.stateNames.joined(separator: ", ")))")
            }
            return state
        }
        request.jobID = job
        request.limit = limit
        let tasks = try await remote.withClient { client, metadata in
            try await client.listTasks(request, metadata: metadata).tasks
        }
        if json {
            print(JSONOutput.encode(.array(tasks.map(RemoteJSON.task))))
            return
        }
        var rows = [["ID", "JOB", "NAME", "STATE", "ATTEMPTS", "WORKER", "MESSAGE"]]
        for task in tasks {
            rows.append([
                String(task.id), String(task.jobID), task.name, RemoteJSON.name(of: task.state), String(task.attempts),
                task.worker, task.message,
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
        var request = Trellis_V1_ShowTaskRequest()
        request.taskID = id
        let task = try await remote.withClient { client, metadata in
            try await client.showTask(request, metadata: metadata)
        }
        if json {
            print(JSONOutput.encode(RemoteJSON.task(task)))
            return
        }
        var lines = [
            "task \(task.id) '\(task.name)' in job \(task.jobID): \(RemoteJSON.name(of: task.state))",
            "attempts: \(task.attempts)" + (task.worker.isEmpty ? "" : ", last on \(task.worker)"),
        ]
        switch task.spec.work {
        case .shell(let shell): lines.append("run: \(shell.command)")
        case .handler(let call): lines.append("handler: \(call.name)")
        case .trigger(let check):
            let every = DurationText.spelled(.milliseconds(Int64(clamping: check.intervalMs)))
            let until =
                check.timeoutMs == 0
                ? "" : ", for \(DurationText.spelled(.milliseconds(Int64(clamping: check.timeoutMs))))"
            switch check.condition {
            case .file(let path): lines.append("trigger: file \(path) exists (checked every \(every)\(until))")
            case .afterUnixSeconds(let seconds):
                lines.append(
                    "trigger: after \(Date(timeIntervalSince1970: seconds).formatted(.iso8601)) (checked every \(every)\(until))"
                )
            case .command(let command): lines.append("trigger: `\(command)` succeeds (checked every \(every)\(until))")
            case nil: break
            }
        case nil: break
        }
        if task.hasExitCode { lines.append("exit code: \(task.exitCode)") }
        if !task.message.isEmpty { lines.append("message: \(task.message)") }
        if !task.outputsSignalled.isEmpty { lines.append("outputs: \(task.outputsSignalled.joined(separator: ", "))") }
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

    var selection: Trellis_V1_TaskSelection {
        var selection = Trellis_V1_TaskSelection()
        selection.taskIds = ids
        selection.jobID = job
        selection.all = all
        return selection
    }
}

enum TaskChangeKind { case play, cancel, kill, pause, resume }

extension RemoteOptions {
    func change(_ kind: TaskChangeKind, _ options: SelectionOptions, verb: String) async throws {
        let selection = options.selection
        let response = try await withClient { client, metadata in
            switch kind {
            case .play: try await client.play(selection, metadata: metadata)
            case .cancel: try await client.cancel(selection, metadata: metadata)
            case .kill: try await client.kill(selection, metadata: metadata)
            case .pause: try await client.pause(selection, metadata: metadata)
            case .resume: try await client.resume(selection, metadata: metadata)
            }
        }
        print("\(verb) \(response.changed) task\(response.changed == 1 ? "" : "s")")
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
