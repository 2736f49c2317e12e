internal import Foundation
import Synchronization
internal import TrellisCore
internal import TrellisEngine
internal import TrellisWorkflow

/// Shows a run's events: a live display on a terminal, one line per event otherwise, or JSON lines.
protocol RunRenderer: Sendable {
    func handle(_ event: RunEvent)
    func finish(_ summary: RunSummary, at place: RunPlace)
}

/// Where a run's state lives: a local state directory, or a job on a coordinator.
enum RunPlace {
    case local(stateDirectory: String)
    case job(UInt64, coordinator: String)
}

extension RunRenderer {
    /// The summary table every human-readable renderer ends with.
    func printSummary(_ summary: RunSummary, at place: RunPlace) {
        let snapshot = summary.snapshot
        print("")
        print(Table.counts(snapshot))
        let problems = snapshot.tasks.filter { !($0.state == .succeeded || $0.state == .skipped) }
        if !problems.isEmpty {
            print("")
            switch place {
            case .local(let directory):
                print(Table.tasks(Array(problems.prefix(20)), directory: directory))
                if problems.count > 20 { print("… and \(problems.count - 20) more (trellis status --all)") }
            case .job(let job, _):
                print(Table.tasks(Array(problems.prefix(20)), directory: nil))
                if problems.count > 20 { print("… and \(problems.count - 20) more (trellis task list --job \(job))") }
            }
        }
        let verdict =
            summary.interrupted
            ? "interrupted"
            : summary.exitStatus == 0 ? "succeeded" : snapshot.status == "running" ? "not finished" : "failed"
        var line = "\(snapshot.identity.workflow): \(verdict) after \(DurationText.format(summary.elapsed))"
        if summary.alreadyDone > 0 { line += " (\(summary.alreadyDone) tasks already done in earlier sessions)" }
        switch place {
        case .local(let directory):
            if summary.exitStatus != 0 { line += "; run the same command again to resume" }
            print(line)
            print("state: \(directory)")
        case .job(let job, let coordinator):
            if summary.interrupted { line += "; the job runs on (`trellis job watch \(job)` follows it again)" }
            print(line)
            print("job \(job) on \(coordinator)")
        }
    }
}

/// One line per event, for logs and pipes.
struct LineRenderer: RunRenderer {
    func handle(_ event: RunEvent) {
        let text: String
        switch event {
        case .began(let workflow, let total, let done, let session):
            text = "run \(workflow): \(total) tasks" + (done > 0 ? ", \(done) already done (session \(session))" : "")
        case .started(let task, let attempt, let queue, let worker):
            text =
                "started  \(task)" + (attempt > 1 ? " (attempt \(attempt))" : "")
                + (queue == WorkflowQueue.defaultName ? "" : " [\(queue)]") + (worker.map { " on \($0)" } ?? "")
        case .output(let task, let name):
            text = "output   \(task).\(name)"
        case .finished(let task, let attempt, let state, _, let message, let seconds):
            text =
                "\(state.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) \(task)"
                + (attempt > 1 ? " (attempt \(attempt))" : "") + " in \(DurationText.format(seconds: seconds))"
                + (message.map { ": \($0)" } ?? "")
        case .settled(let task, let state, let message):
            text = "\(state.rawValue) \(task)" + (message.map { ": \($0)" } ?? "")
        case .stopping(let force):
            text = force ? "killing running tasks" : "stopping: no new tasks; running tasks get SIGTERM"
        case .ended(let status, let seconds):
            text = "run \(status) after \(DurationText.format(seconds: seconds))"
        }
        FileHandle.standardOutput.write(Data((Self.timestamp() + " " + text + "\n").utf8))
    }

    func finish(_ summary: RunSummary, at place: RunPlace) {
        printSummary(summary, at: place)
    }

    static func timestamp() -> String {
        var now = timeval()
        gettimeofday(&now, nil)
        var parts = tm()
        var seconds = now.tv_sec
        localtime_r(&seconds, &parts)
        // Put together by hand: `String(format:)` took half of a line's cost, and a line is printed per event.
        let milliseconds = Int(now.tv_usec) / 1000
        return padded(Int(parts.tm_hour), 2) + ":" + padded(Int(parts.tm_min), 2) + ":" + padded(Int(parts.tm_sec), 2)
            + "." + padded(milliseconds, 3)
    }

    /// `value` (≥ 0) in decimal, with leading zeros to `width` digits.
    static func padded(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}

/// JSON lines: one object per event, then a summary object.
struct JSONRenderer: RunRenderer {
    func handle(_ event: RunEvent) {
        var fields: [(String, JSONOutput.Value)] = []
        switch event {
        case .began(let workflow, let total, let done, let session):
            fields = [
                ("event", .string("began")), ("workflow", .string(workflow)), ("total", .int(total)),
                ("done", .int(done)), ("session", .int(session)),
            ]
        case .started(let task, let attempt, let queue, let worker):
            fields = [
                ("event", .string("started")), ("task", .string(task)), ("attempt", .int(attempt)),
                ("queue", .string(queue)),
            ]
            if let worker { fields.append(("worker", .string(worker))) }
        case .output(let task, let name):
            fields = [("event", .string("output")), ("task", .string(task)), ("output", .string(name))]
        case .finished(let task, let attempt, let state, let exitCode, let message, let seconds):
            fields = [
                ("event", .string("finished")), ("task", .string(task)), ("attempt", .int(attempt)),
                ("state", .string(state.rawValue)),
                ("exit_code", JSONOutput.optional(exitCode)), ("message", JSONOutput.optional(message)),
                ("seconds", .number(seconds)),
            ]
        case .settled(let task, let state, let message):
            fields = [
                ("event", .string("settled")), ("task", .string(task)), ("state", .string(state.rawValue)),
                ("message", JSONOutput.optional(message)),
            ]
        case .stopping(let force):
            fields = [("event", .string("stopping")), ("force", .bool(force))]
        case .ended(let status, let seconds):
            fields = [("event", .string("ended")), ("status", .string(status)), ("seconds", .number(seconds))]
        }
        fields.append(("time", .number(Date().timeIntervalSince1970)))
        FileHandle.standardOutput.write(Data((JSONOutput.encode(.object(fields)) + "\n").utf8))
    }

    func finish(_ summary: RunSummary, at place: RunPlace) {
        let counts = summary.snapshot.counts
        let location: [(String, JSONOutput.Value)] =
            switch place {
            case .local(let directory): [("state_dir", .string(directory))]
            case .job(let job, let coordinator): [("job", .int(Int(job))), ("coordinator", .string(coordinator))]
            }
        print(
            JSONOutput.encode(
                .object(
                    [
                        ("event", .string("summary")), ("status", .string(summary.snapshot.status)),
                        ("exit_status", .int(Int(summary.exitStatus))), ("seconds", .number(summary.elapsed.seconds)),
                        ("already_done", .int(summary.alreadyDone)),
                    ] + location + [
                        (
                            "counts",
                            .object(
                                TaskStatus.allCases.compactMap { state in
                                    counts[state].map { (state.rawValue, .int($0)) }
                                })
                        )
                    ])))
    }
}
