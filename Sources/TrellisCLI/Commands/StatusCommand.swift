internal import ArgumentParser
internal import Foundation
internal import TrellisEngine

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show recorded runs: counts per state and every task that did not succeed.")

    @Argument(help: "A workflow file, to show its run.") var file: String?
    @Option(help: "A run's state directory (default: every run under ./.trellis).") var state: String?
    @Flag(help: "List every task, not only those that did not succeed.") var all = false
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let directories = StateLocation.find(state: state, file: file)
        var snapshots: [(String, RunSnapshot)] = []
        for directory in directories {
            guard let snapshot = try await StateLocation.recordedRun(in: directory) else {
                if directories.count == 1 { throw ValidationError("no run is recorded yet in '\(directory)'") }
                continue
            }
            snapshots.append((directory, snapshot))
        }
        guard !snapshots.isEmpty else {
            throw ValidationError("no runs found under ./.trellis; pass a workflow file or --state DIR")
        }
        if json {
            let objects = snapshots.map { JSONOutput.run($0.1, directory: $0.0) }
            print(JSONOutput.encode(snapshots.count == 1 ? objects[0] : .array(objects)))
            return
        }
        for (directory, snapshot) in snapshots {
            print(Table.runHeader(snapshot, directory: directory))
            print(Table.counts(snapshot))
            let listed = all ? snapshot.tasks : snapshot.tasks.filter { $0.state != .succeeded && $0.state != .skipped }
            if !listed.isEmpty { print(Table.tasks(listed, directory: directory)) }
            print("")
        }
    }
}
