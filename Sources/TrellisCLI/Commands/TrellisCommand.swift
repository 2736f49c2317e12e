package import ArgumentParser

/// `trellis`: run task graphs from workflow files on this machine, with durable state.
///
/// ```
/// trellis run Examples/quickstart.yaml          # run (or resume) with a live progress display
/// trellis run flow.yaml --simulate --workers 16 # predict the makespan; runs nothing
/// trellis validate flow.yaml                     # every problem with file:line:column
/// trellis graph flow.yaml --format mermaid       # the graph, coloured by state after a run
/// trellis status                                 # what the recorded runs look like
/// trellis logs TASK --follow                     # a task's output
///
/// trellis server --db trellis.db                 # a coordinator (writes ./trellis.token)
/// trellis worker --slots 4                       # a worker for it, on any machine
/// trellis submit flow.yaml --watch               # a workflow as a job, followed live
/// ```
package struct TrellisCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "trellis",
        abstract: "Run task graphs from workflow files, visibly, and resume them after a crash; or across machines.",
        subcommands: [
            RunCommand.self, ValidateCommand.self, GraphCommand.self, StatusCommand.self, LogsCommand.self,
            ServerCommand.self, WorkerCommand.self, SubmitCommand.self, TaskCommand.self, JobCommand.self,
            BroadcastCommand.self,
        ]
    )

    package init() {}

    /// Parses the process's arguments and runs the chosen subcommand (the executable's entry point).
    package static func start() async {
        await main(nil)
    }
}
