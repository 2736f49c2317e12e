internal import ArgumentParser
internal import Dispatch
internal import Foundation
internal import Logging
internal import ServiceLifecycle
internal import TrellisCore
internal import TrellisWorkflow

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a workflow on this machine, or resume its recorded run.",
        discussion: """
            State lives in .trellis/<name> beside the workflow file (or --state DIR): the run's journal (SQLite) \
            and each task's stdout and stderr. Running the same command again after a crash or Ctrl-C resumes: succeeded \
            tasks are not run again. Exit status: 0 when everything succeeded, 1 when a task did not, 2 when the \
            workflow is invalid or changed since its recorded run, 130 after an interrupt.
            """)

    @Argument(help: "A YAML workflow or a WfFormat JSON instance.") var file: String
    @OptionGroup var limitOptions: WorkflowLimitOptions
    @Option(help: "output-first, fifo, wave, threshold:N or critical-path (default: the workflow's).") var policy:
        String?
    @Option(help: "Width of the default queue.") var workers: Int?
    @Option(name: .customLong("width"), help: "Width of a named queue, as QUEUE=N (repeatable).") var widths: [String] =
        []
    @Option(help: "The run's state directory.") var state: String?
    @Option(name: .customLong("time-scale"), help: "Replay WfFormat tasks as waits of runtime × this many seconds.")
    var timeScale: Double = 1
    @Option(help: "Between SIGTERM and SIGKILL when running tasks are stopped (5, 500ms, 1m).") var grace = "5s"
    @Flag(help: "Print events as JSON lines.") var json = false
    @Flag(help: "Predict the makespan on a virtual clock; runs nothing.") var simulate = false
    @Flag(help: "Discard the recorded run and start over.") var restart = false

    func run() async throws {
        let gracePeriod = try Duration.option(grace, name: "--grace", allowingZero: true)
        let plan = try WorkflowInput.plan(
            file: file, limits: try limitOptions.limits, timeScale: timeScale, policy: policy, workers: workers,
            widths: widths)
        if simulate {
            printSimulation(plan)
            return
        }
        let directory = state.map(StateLocation.absolute) ?? StateLocation.directory(forWorkflow: file)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            printError("error: cannot create the state directory '\(directory)': \(error)")
            throw ExitCode(invalidInputStatus)
        }
        let base = URL(fileURLWithPath: file).standardizedFileURL.deletingLastPathComponent().path
        let runner = LocalRunner(
            plan: plan,
            options: RunOptions(
                stateDirectory: directory, restart: restart, gracePeriod: gracePeriod,
                baseDirectory: base),
            clock: ContinuousClock())
        let renderer: any RunRenderer =
            if json { JSONRenderer() } else if isatty(STDOUT_FILENO) == 1 { ProgressDisplay() } else { LineRenderer() }
        // The first SIGINT or SIGTERM interrupts the run, the second kills what still runs.
        let service = LocalRunService(runner: runner, events: renderer.handle)
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
                logger: Logger(label: "trellis.run") { _ in SwiftLogNoOpLogHandler() }))
        try await group.runStoppedBySignals()
        let summary: RunSummary
        switch service.result {
        case .success(let ended):
            summary = ended
        case .failure(let error):
            printError("error: \(error)")
            let invalid = error.code == .workflowChanged || error.code == .unsupportedState
            throw ExitCode(invalid ? invalidInputStatus : 1)
        case nil:
            printError("error: the run stopped before it began")
            throw ExitCode(1)
        }
        renderer.finish(summary, at: .local(stateDirectory: directory))
        if summary.exitStatus != 0 { throw ExitCode(summary.exitStatus) }
    }

    func printSimulation(_ plan: WorkflowPlan) {
        let clock = ContinuousClock()
        let start = clock.now
        let result = Simulator.run(plan)
        let took = start.duration(to: clock.now)
        if json {
            print(
                JSONOutput.encode(
                    .object([
                        ("makespan", .number(result.makespan)),
                        ("critical_path_seconds", .number(result.criticalPathSeconds)),
                        ("critical_path", .array(result.criticalPath.map { .string($0) })),
                        ("total_work", .number(result.totalWork)),
                        ("tasks", .int(result.taskCount)), ("without_estimate", .int(result.withoutEstimate)),
                        (
                            "queues",
                            .array(
                                result.queues.map {
                                    .object([
                                        ("name", .string($0.name)), ("width", .int($0.width)),
                                        ("busy", .number($0.busy)), ("utilisation", .number($0.utilisation)),
                                    ])
                                })
                        ),
                        ("simulated_in", .number(took.seconds)),
                    ])))
            return
        }
        print(
            "\(plan.workflow.name): \(result.taskCount) tasks, policy \(plan.workflow.policy) (simulated in \(DurationText.format(took)))"
        )
        print("predicted makespan  \(DurationText.format(seconds: result.makespan))")
        print(
            "critical path       \(DurationText.format(seconds: result.criticalPathSeconds)) over \(result.criticalPath.count) tasks"
        )
        let path =
            result.criticalPath.count > 8
            ? Array(result.criticalPath.prefix(4)) + ["…"] + Array(result.criticalPath.suffix(3)) : result.criticalPath
        print("                    " + path.joined(separator: " → "))
        print("total work          \(DurationText.format(seconds: result.totalWork))")
        if result.withoutEstimate > 0 {
            print("note: \(result.withoutEstimate) tasks have no estimate and count as 0 s")
        }
        print("")
        var rows = [["queue", "width", "busy", "utilisation"]]
        for queue in result.queues {
            rows.append([
                queue.name, String(queue.width), DurationText.format(seconds: queue.busy),
                String(format: "%.1f%%", queue.utilisation * 100),
            ])
        }
        print(Table.render(rows, rightAligned: [1, 2, 3]))
    }
}

/// Turns SIGINT and SIGTERM into calls, so the runner can stop gracefully (and kill on the second one).
final class SignalForwarder {
    private let sources: [any DispatchSourceSignal]

    init(signals: [Int32], handler: @escaping @Sendable () -> Void) {
        sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler(handler: handler)
            source.resume()
            return source
        }
    }

    func cancel() {
        for source in sources { source.cancel() }
    }
}
