internal import ArgumentParser
internal import Foundation
internal import TrellisProtocol
internal import TrellisWorkflow

/// `trellis submit FILE`: a workflow file becomes a job on the coordinator.
struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit", abstract: "Submit a workflow file to a coordinator as a job.")

    @OptionGroup var remote: RemoteOptions
    @Argument(help: "The workflow file (YAML).") var file: String
    @OptionGroup var limitOptions: WorkflowLimitOptions
    @Flag(inversion: .prefixedNo, help: "Make the tasks ready at once (--no-play leaves them created).")
    var play = true
    @Option(help: "output-first, fifo, wave, threshold:N or critical-path (default: the workflow's `policy:`).")
    var policy: String?
    @Flag(help: "Follow the job's progress until it ends.") var watch = false
    @Flag(help: "With --watch: print what the tasks print too, each line prefixed by its task.") var logs = false

    func run() async throws {
        let plan = try WorkflowInput.plan(file: file, limits: try limitOptions.limits, policy: policy)
        let directory = URL(fileURLWithPath: file).standardizedFileURL.deletingLastPathComponent().path
        let request = RemoteJob(plan: plan, play: play, directory: directory)
        let added = try await remote.withClient { client in try await client.submit(request) }
        let count = request.tasks.count + request.onSuccess.count + request.onFailure.count
        Console.line(
            "job \(added.job): \(count) tasks from \(file)\(play ? "" : " (created; `trellis task play --job \(added.job)` starts them)")"
        )
        if watch { try await JobWatch(remote: remote).follow(added.job, json: false, logs: logs) }
    }
}
