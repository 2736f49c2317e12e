import Foundation
import Testing

@testable import TrellisCLI

/// The real `trellis` binary, started as a process.
@Suite("trellis binary", .serialized)
struct EndToEndTests {
    /// `.build/<config>/trellis`, beside the test bundle (built by `swift build --build-tests` or `swift test`).
    static var binary: String {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent("trellis").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/trellis").path
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the binary to its end; `environment` adds to this process's.
    static func trellis(_ arguments: [String], in directory: URL, environment: [String: String] = [:]) throws -> Result
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// `trellis(_:in:)` on a thread of its own: waiting for a process must not hold one of the few threads
    /// that every other test's async code runs on.
    static func trellisOffPool(_ arguments: [String], in directory: URL) async throws -> Result {
        try await offPool { try trellis(arguments, in: directory) }
    }

    /// Runs blocking work (process waits) on a dispatch queue instead of the cooperative pool.
    static func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Swift.Result { try work() }) }
        }
    }

    static func jsonLines(_ text: String) -> [[String: Any]] {
        text.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }

    @Test func theBinaryIsBuilt() {
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary), "build first: swift build --build-tests")
    }

    @Test func killNineThenResumeRunsNoSucceededTaskTwice() async throws {
        let scratch = try Scratch()
        let ids = (1...12).map { "{i: \($0)}" }.joined(separator: ", ")
        let file = try scratch.write(
            "chain.yaml",
            """
            queues: {default: 3}
            tasks:
              - id: t-${i}
                for_each: [\(ids)]
                run: sleep 0.2; echo $TRELLIS_ATTEMPT >> side-${i}
              - id: final
                needs: ["t-${i}"]
                run: echo done >> side-final
            """)
        // First session: kill -9 as soon as four tasks have succeeded (read from the JSON event stream).
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["run", file, "--json"]
        process.currentDirectoryURL = scratch.url
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let reader = out.fileHandleForReading
        var buffer = ""
        var reported: Set<String> = []
        while reported.count < 4 {
            let data = reader.availableData
            if data.isEmpty { break }
            buffer += String(decoding: data, as: UTF8.self)
            reported = Set(
                Self.jsonLines(buffer).filter {
                    ($0["event"] as? String) == "finished" && ($0["state"] as? String) == "succeeded"
                }
                .compactMap { $0["task"] as? String })
        }
        let succeeded = reported.count
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        // Everything printed before the kill: an event is written before its facts go to the database.
        buffer += String(decoding: reader.readDataToEndOfFile(), as: UTF8.self)
        reported = Set(
            Self.jsonLines(buffer).filter {
                ($0["event"] as? String) == "finished" && ($0["state"] as? String) == "succeeded"
            }
            .compactMap { $0["task"] as? String })
        #expect(process.terminationReason == .uncaughtSignal)
        #expect(succeeded >= 4)

        // What the database recorded before the kill.
        let status = try Self.trellis(["status", file, "--json"], in: scratch.url)
        #expect(status.status == 0, "\(status.stderr)")
        let run = try #require((try JSONSerialization.jsonObject(with: Data(status.stdout.utf8))) as? [String: Any])
        let tasks = try #require(run["tasks"] as? [[String: Any]])
        let doneBefore = Set(
            tasks.filter { ($0["state"] as? String) == "succeeded" }.compactMap { $0["id"] as? String })
        // Facts reach the database in group commits just after their events are printed, so the last
        // successes printed may not be recorded; what is recorded was printed.
        #expect(!doneBefore.isEmpty)
        #expect(doneBefore.isSubset(of: reported))
        #expect(!doneBefore.contains("final"))

        // Second session: the same command resumes and finishes.
        let second = try Self.trellis(["run", file, "--json"], in: scratch.url)
        #expect(second.status == 0, "\(second.stderr)")
        let events = Self.jsonLines(second.stdout)
        let began = try #require(events.first)
        #expect(began["done"] as? Int == doneBefore.count)
        #expect(began["session"] as? Int == 2)
        let rerun = Set(events.filter { ($0["event"] as? String) == "started" }.compactMap { $0["task"] as? String })
        #expect(
            rerun.isDisjoint(with: doneBefore), "succeeded tasks were started again: \(rerun.intersection(doneBefore))")
        for task in doneBefore where task.hasPrefix("t-") {
            let index = task.dropFirst(2)
            #expect(scratch.lines("side-\(index)") == ["1"], "\(task) ran more than once")
        }
        for index in 1...12 { #expect(!scratch.lines("side-\(index)").isEmpty, "t-\(index) never ran") }
        #expect(scratch.lines("side-final") == ["done"])
    }

    /// Kills `trellis run` at seeded moments in its first 40 ms, while the state database is being made.
    /// Whatever the moment, `status` answers (a run, or "no run is recorded yet") without an SQLite error,
    /// and the next `run` finishes the workflow.
    @Test func killNineWhileTheStateIsCreatedLeavesAReadableState() async throws {
        for trial in 0..<16 {
            let seen = try await Self.offPool { try Self.killWhileCreating() }
            let status = seen.status
            #expect(
                status.status == 0 || status.stderr.contains("no run is recorded yet"),
                "trial \(trial): \(status.status) \(status.stderr)")
            #expect(!status.stderr.localizedCaseInsensitiveContains("sqlite"), "trial \(trial): \(status.stderr)")
            #expect(!status.stderr.contains("no such table"), "trial \(trial): \(status.stderr)")
            #expect(seen.again.status == 0, "trial \(trial): \(seen.again.stderr)")
            #expect(seen.ranAfterwards, "trial \(trial): the task never ran")
            // A creator that was killed leaves at most its temporary file, and the next one clears it.
            #expect(!seen.after.contains { $0.contains(".creating-") }, "trial \(trial): \(seen.after)")
        }
    }

    struct KillTrial: Sendable {
        var status: Result
        var again: Result
        var ranAfterwards: Bool
        var after: [String]
    }

    /// One trial: `run`, `kill -9` at a random moment of its first 40 ms, then `status` and `run` again.
    static func killWhileCreating() throws -> KillTrial {
        let scratch = try Scratch()
        let file = try scratch.write("flow.yaml", "tasks:\n  - {id: a, run: echo ran >> side}\n")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["run", file]
        process.currentDirectoryURL = scratch.url
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The kill moment is the variable under test, not a wait for an event.
        usleep(UInt32.random(in: 0...40_000))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let status = try trellis(["status", file], in: scratch.url)
        let again = try trellis(["run", file], in: scratch.url)
        let state = scratch.url.appendingPathComponent(".trellis/flow").path
        return KillTrial(
            status: status, again: again, ranAfterwards: !scratch.lines("side").isEmpty,
            after: (try? FileManager.default.contentsOfDirectory(atPath: state)) ?? [])
    }

    @Test func theJSONStreamHasOneObjectPerEventAndASummary() throws {
        let scratch = try Scratch()
        let file = try scratch.write(
            "flow.yaml",
            """
            tasks:
              - id: a
                outputs: [half]
                run: echo '::trellis output half'
              - id: b
                needs: [a.half]
                run: exit 4
            """)
        let result = try Self.trellis(["run", file, "--json"], in: scratch.url)
        #expect(result.status == 1)
        let events = Self.jsonLines(result.stdout)
        #expect(events.count == result.stdout.split(separator: "\n").count, "every line is a JSON object")
        let kinds = events.compactMap { $0["event"] as? String }
        #expect(kinds.first == "began")
        #expect(kinds.suffix(2) == ["ended", "summary"])
        #expect(kinds.contains("output"))
        let failed = try #require(
            events.first { ($0["event"] as? String) == "finished" && ($0["task"] as? String) == "b" })
        #expect(failed["state"] as? String == "failed")
        #expect(failed["exit_code"] as? Int == 4)
        #expect(events.last?["exit_status"] as? Int == 1)
    }

    @Test func anInvalidWorkflowRunsNothingAndExitsTwo() throws {
        let scratch = try Scratch()
        let file = try scratch.write(
            "bad.yaml",
            """
            tasks:
              - id: a
                run: touch ran
                needs: [missing]
            """)
        let result = try Self.trellis(["run", file], in: scratch.url)
        #expect(result.status == 2)
        #expect(result.stderr.contains("bad.yaml:4:13: error: 'a' needs unknown task 'missing'"))
        #expect(scratch.read("ran") == nil)
        let validate = try Self.trellis(["validate", file], in: scratch.url)
        #expect(validate.status == 2)
    }

    @Test func aChangedWorkflowIsRefusedWithExitTwo() throws {
        let scratch = try Scratch()
        let file = try scratch.write("flow.yaml", "tasks:\n  - {id: a, run: \"true\"}\n")
        #expect(try Self.trellis(["run", file], in: scratch.url).status == 0)
        _ = try scratch.write("flow.yaml", "tasks:\n  - {id: a, run: \"false\"}\n")
        let refused = try Self.trellis(["run", file], in: scratch.url)
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("--restart"))
        #expect(try Self.trellis(["run", file, "--restart"], in: scratch.url).status == 1)
    }

    /// `logs --follow` prints what a running attempt prints as it prints it, and ends with the attempt: it waits
    /// for the files to change, it does not look every so often.
    @Test func logsFollowARunningAttemptToItsEnd() async throws {
        let scratch = try Scratch()
        let file = try scratch.write(
            "flow.yaml",
            "tasks:\n  - {id: talk, run: \"echo first; touch started; while [ ! -e go ]; do sleep 0.02; done; echo second\"}\n"
        )
        let changes = try DirectoryWatch([scratch.path])
        let run = Process()
        run.executableURL = URL(fileURLWithPath: Self.binary)
        run.arguments = ["run", file]
        run.currentDirectoryURL = scratch.url
        run.standardOutput = FileHandle.nullDevice
        run.standardError = FileHandle.nullDevice
        try run.run()
        // Once the task has touched `started`, its attempt is in the journal (facts go before effects).
        while !FileManager.default.fileExists(atPath: scratch.path + "/started") { await changes.next() }
        let follower = Process()
        follower.executableURL = URL(fileURLWithPath: Self.binary)
        follower.arguments = ["logs", "talk", "--follow", "--state", scratch.path + "/.trellis/flow"]
        follower.currentDirectoryURL = scratch.url
        let out = Pipe()
        follower.standardOutput = out
        try follower.run()
        let printed = try await Self.offPool {
            var text = ""
            while !text.contains("first\n") {
                let data = out.fileHandleForReading.availableData
                if data.isEmpty { break }
                text += String(decoding: data, as: UTF8.self)
            }
            _ = FileManager.default.createFile(atPath: scratch.path + "/go", contents: nil)
            text += String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            follower.waitUntilExit()
            run.waitUntilExit()
            return text
        }
        #expect(printed == "first\nsecond\n")
        #expect(follower.terminationStatus == 0 && run.terminationStatus == 0)
    }

    @Test func logsGraphAndStatusReadTheRecordedRun() throws {
        let scratch = try Scratch()
        let file = try scratch.write(
            "flow.yaml",
            """
            tasks:
              - id: talk
                run: echo to stdout; echo to stderr >&2
              - id: quiet
                needs: [talk]
                run: exit 1
            """)
        #expect(try Self.trellis(["run", file], in: scratch.url).status == 1)
        let state = scratch.path + "/.trellis/flow"

        let logs = try Self.trellis(["logs", "talk", "--state", state], in: scratch.url)
        #expect(logs.status == 0)
        #expect(logs.stdout == "to stdout\n")
        #expect(logs.stderr == "to stderr\n")
        let silent = try Self.trellis(["logs", "quiet", "--state", state], in: scratch.url)
        #expect(silent.status == 0)
        #expect(silent.stdout.isEmpty, "a task without output leaves no log file")

        let graph = try Self.trellis(["graph", file, "--format", "mermaid"], in: scratch.url)
        #expect(graph.status == 0)
        #expect(graph.stdout.contains("n0 --> n1"))
        #expect(graph.stdout.contains("class n0 succeeded"))
        #expect(graph.stdout.contains("class n1 failed"))

        let status = try Self.trellis(["status", "--state", state], in: scratch.url)
        #expect(status.status == 0)
        #expect(status.stdout.contains("quiet"))
        #expect(!status.stdout.contains("talk "), "succeeded tasks are listed only with --all")
        #expect(try Self.trellis(["status", "--state", state, "--all"], in: scratch.url).stdout.contains("talk"))
    }

    @Test func simulateRunsNothingAndPredictsTheMakespan() throws {
        let scratch = try Scratch()
        let file = try scratch.write(
            "flow.yaml",
            """
            queues: {default: 2}
            tasks:
              - {id: a, run: touch ran, estimate: 10s}
              - {id: b, run: touch ran, estimate: 4s}
              - {id: c, run: touch ran, estimate: 4s, needs: [b]}
            """)
        let result = try Self.trellis(["run", file, "--simulate", "--json"], in: scratch.url)
        #expect(result.status == 0)
        let prediction = try #require(
            (try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any])
        #expect(prediction["makespan"] as? Double == 10)
        #expect(prediction["critical_path"] as? [String] == ["a"])
        #expect(scratch.read("ran") == nil)
    }
}
