internal import ArgumentParser
internal import Foundation
internal import TrellisCore
internal import TrellisEngine
internal import TrellisSQLite
internal import TrellisWorkflow

/// Exit status for a workflow that failed validation, or a run refused before it started.
let invalidInputStatus: Int32 = 2

/// `--max-tasks` and `--max-file-size`, for every command that reads a workflow file.
struct WorkflowLimitOptions: ParsableArguments {
    @Option(help: "Most tasks a workflow may expand to (arrays included).")
    var maxTasks = WorkflowLimits.default.maxTasks
    @Option(help: "Largest workflow file read, in MiB.") var maxFileSize = WorkflowLimits.default.maxFileBytes >> 20

    var limits: WorkflowLimits {
        get throws {
            guard maxTasks > 0 else { throw ValidationError("--max-tasks must be at least 1") }
            guard (1...(1 << 20)).contains(maxFileSize) else {
                throw ValidationError("--max-file-size must be from 1 to 1048576 (MiB)")
            }
            return WorkflowLimits(maxTasks: maxTasks, maxFileBytes: maxFileSize << 20)
        }
    }
}

/// Loading a workflow file for a command: problems go to stderr and end the command with status 2.
enum WorkflowInput {
    static func plan(
        file: String, limits: WorkflowLimits = .default, timeScale: Double = 1, policy: String? = nil,
        workers: Int? = nil, widths: [String] = []
    ) throws -> WorkflowPlan {
        var workflow: Workflow
        do {
            workflow = try WorkflowLoader.load(path: file, timeScale: timeScale, limits: limits)
        } catch {
            reject(error.errors)
        }
        var problems: [WorkflowError] = []
        if let policy {
            if let parsed = SchedulingPolicy(name: policy) {
                workflow.policy = parsed
            } else {
                problems.append(
                    WorkflowError(
                        .invalidValue,
                        "--policy: unknown policy '\(policy)'; expected output-first, fifo, wave, threshold:N or critical-path",
                        at: nil))
            }
        }
        if let workers {
            if (1...WorkflowQueue.maxWidth).contains(workers) {
                workflow.setWidth(workers, of: WorkflowQueue.defaultName)
            } else {
                problems.append(
                    WorkflowError(.invalidValue, "--workers must be from 1 to \(WorkflowQueue.maxWidth)", at: nil))
            }
        }
        for width in widths {
            let parts = width.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let value = Int(parts[1]), (1...WorkflowQueue.maxWidth).contains(value) else {
                problems.append(
                    WorkflowError(
                        .invalidValue,
                        "--width '\(width)': expected QUEUE=N with N from 1 to \(WorkflowQueue.maxWidth)", at: nil))
                continue
            }
            guard workflow.queues.contains(where: { $0.name == parts[0] }) else {
                problems.append(
                    WorkflowError(
                        .unknownQueue,
                        "--width: the workflow has no queue '\(parts[0])' (queues: \(workflow.queues.map(\.name).joined(separator: ", ")))",
                        at: nil))
                continue
            }
            workflow.setWidth(value, of: parts[0])
        }
        if !problems.isEmpty { reject(problems) }
        do {
            return try workflow.plan()
        } catch {
            reject(error.errors)
        }
    }

    static func reject(_ errors: [WorkflowError]) -> Never {
        for error in errors { printError(error.description) }
        printError("\(errors.count) problem\(errors.count == 1 ? "" : "s") found; nothing was run.")
        Foundation.exit(invalidInputStatus)
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Where runs keep their state.
enum StateLocation {
    /// `.trellis/<name>` beside the workflow file, `<name>` being the file's name without extension.
    static func directory(forWorkflow file: String) -> String {
        let url = URL(fileURLWithPath: file).standardizedFileURL
        let stem = url.deletingPathExtension().lastPathComponent
        return url.deletingLastPathComponent().appendingPathComponent(".trellis").appendingPathComponent(stem).path
    }

    /// The run's journal.
    static func journal(in directory: String) -> String { directory + "/journal.sqlite" }

    /// Where an earlier Trellis kept a run's state, which this one refuses to read.
    static func legacyDatabase(in directory: String) -> String { directory + "/state.sqlite" }

    /// The run recorded in `directory`, or `nil` when none is recorded yet. Never writes.
    static func recordedRun(in directory: String) async throws -> RunSnapshot? {
        guard let journal = try SQLiteJournal<EngineRecord>.existing(at: journal(in: directory)) else {
            if FileManager.default.fileExists(atPath: legacyDatabase(in: directory)) {
                throw ValidationError(
                    "'\(directory)' holds a run recorded by an earlier Trellis (state.sqlite, run store format 1), "
                        + "which this version does not read")
            }
            return nil
        }
        var history = RunHistory()
        try await history.read(from: journal)
        return history.snapshot
    }

    /// The state directories a command should read: `--state`, the one of a workflow file, or every run under
    /// `./.trellis/`.
    static func find(state: String?, file: String?) -> [String] {
        if let state { return [absolute(state)] }
        if let file { return [directory(forWorkflow: file)] }
        let root = FileManager.default.currentDirectoryPath + "/.trellis"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return entries.sorted().map { root + "/" + $0 }.filter {
            FileManager.default.fileExists(atPath: journal(in: $0))
                || FileManager.default.fileExists(atPath: legacyDatabase(in: $0))
        }
    }

    static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }
}
