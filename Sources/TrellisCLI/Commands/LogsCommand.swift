internal import ArgumentParser
internal import Foundation
internal import TrellisEngine
internal import TrellisSQLite

struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs", abstract: "Print a task's stdout (and its stderr, to stderr) from its latest attempt.")

    @Argument(help: "The task id.") var task: String
    @Option(help: "A run's state directory (default: the run under ./.trellis that has the task).") var state: String?
    @Option(help: "Which attempt (default: the latest).") var attempt: Int?
    @Flag(help: "Keep printing new output while the task runs.") var follow = false

    func run() async throws {
        let candidates = StateLocation.find(state: state, file: nil)
        var found: [(String, StoredTask)] = []
        for directory in candidates {
            guard let snapshot = try await StateLocation.recordedRun(in: directory), let stored = snapshot.task(task)
            else { continue }
            found.append((directory, stored))
        }
        guard let (directory, stored) = found.first else {
            throw ValidationError("no recorded run has a task '\(task)'")
        }
        if found.count > 1 {
            throw ValidationError(
                "several runs have a task '\(task)' (\(found.map(\.0).joined(separator: ", "))); choose one with --state"
            )
        }
        guard let number = attempt ?? stored.attempts.last?.number else {
            throw ValidationError("task '\(task)' has not started yet (\(stored.state.rawValue))")
        }
        let options = RunOptions(stateDirectory: directory, baseDirectory: "")
        let paths = options.logPaths(task: task, attempt: number)
        // Watched before the first read, so nothing written after it goes unnoticed: the log files, and the
        // journal that records the attempt's end.
        let changes = follow ? try DirectoryWatch([directory, options.logDirectory]) : nil
        var offsets = (stdout: UInt64(0), stderr: UInt64(0))
        offsets.stdout = Self.copy(paths.stdout, from: 0, to: .standardOutput)
        offsets.stderr = Self.copy(paths.stderr, from: 0, to: .standardError)
        guard let changes else { return }
        guard let journal = try SQLiteJournal<EngineRecord>.existing(at: StateLocation.journal(in: directory)) else {
            return
        }
        var history = RunHistory()
        while true {
            try await history.read(from: journal)
            let current = history.snapshot?.task(task)
            let running = current?.state == .running && current?.attempts.last?.number == number
            offsets.stdout = Self.copy(paths.stdout, from: offsets.stdout, to: .standardOutput)
            offsets.stderr = Self.copy(paths.stderr, from: offsets.stderr, to: .standardError)
            if !running { return }
            await changes.next()
            changes.add(options.logDirectory)
        }
    }

    /// Copies what `path` holds beyond `offset`; returns the new offset.
    static func copy(_ path: String, from offset: UInt64, to output: FileHandle) -> UInt64 {
        guard let handle = FileHandle(forReadingAtPath: path) else { return offset }
        defer { try? handle.close() }
        do {
            try handle.seek(toOffset: offset)
            let data = try handle.readToEnd() ?? Data()
            if !data.isEmpty { output.write(data) }
            return offset + UInt64(data.count)
        } catch {
            return offset
        }
    }
}
