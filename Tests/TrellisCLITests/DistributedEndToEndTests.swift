import Foundation
import Testing
import TrellisEngine
import TrellisWorkflow

/// A `trellis` process whose stdout is read line by line as it comes.
final class Daemon: @unchecked Sendable {
    // Safe to share: `process` is only started and signalled, and the line reader is used by one test task.
    let process = Process()
    private var iterator: AsyncStream<String>.Iterator

    init(_ arguments: [String], in directory: URL, token: String, executable: String = EndToEndTests.binary) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        var environment = ProcessInfo.processInfo.environment
        environment["TRELLIS_TOKEN"] = token
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        let (stream, continuation) = AsyncStream.makeStream(of: String.self)
        iterator = stream.makeAsyncIterator()
        let handle = pipe.fileHandleForReading
        Thread.detachNewThread {
            var buffer = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    continuation.yield(String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self))
                    buffer.removeSubrange(buffer.startIndex...newline)
                }
            }
            continuation.finish()
        }
        try process.run()
    }

    /// The next line of output, or nil once the process closed stdout.
    func line() async -> String? { await iterator.next() }

    /// Reads lines until one satisfies `match`.
    func await(_ match: (String) -> Bool) async -> String? {
        while let line = await line() { if match(line) { return line } }
        return nil
    }

    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

@Suite("trellis server and workers as processes", .serialized, .timeLimit(.minutes(2)))
struct DistributedEndToEndTests {
    let token = "e2e-token"

    func server(
        _ scratch: Scratch, port: Int = 0, lease: String = "2s", _ extra: [String] = [],
        startup: (String) -> Void = { _ in }
    ) async throws -> (Daemon, Int) {
        let server = try Daemon(
            [
                "server", "--db", "c.db", "--listen", "127.0.0.1:\(port)", "--lease-timeout", lease,
                "--heartbeat", "200ms",
            ] + extra, in: scratch.url, token: token)
        let line = try #require(
            await server.await {
                startup($0)
                return $0.contains("listening on")
            })
        let bound = try #require(Int(line.split(separator: ":").last!.split(separator: ",").first!))
        return (server, bound)
    }

    /// A `trellis worker` named `name`, once it says it is connected to `address`.
    func worker(_ name: String, at address: String, in scratch: Scratch, _ extra: [String] = []) async throws -> Daemon
    {
        let worker = try Daemon(["worker", "--server", address, "--name", name] + extra, in: scratch.url, token: token)
        _ = await worker.await { $0.contains("connected") }
        return worker
    }

    func trellis(_ arguments: [String], in scratch: Scratch) throws -> EndToEndTests.Result {
        try EndToEndTests.trellis(arguments, in: scratch.url, environment: ["TRELLIS_TOKEN": token])
    }

    /// `trellis(_:in:)` off the cooperative pool, for tests that run several at once.
    func trellisOffPool(_ arguments: [String], in scratch: Scratch) async throws -> EndToEndTests.Result {
        let token = token
        return try await EndToEndTests.offPool {
            try EndToEndTests.trellis(arguments, in: scratch.url, environment: ["TRELLIS_TOKEN": token])
        }
    }

    @Test("durations that overflow are clear errors, not traps; an unknown job is an error, not a success")
    func badFlagsAndUnknownIDs() async throws {
        let scratch = try Scratch()
        let huge = "9999999999999999999s"
        for flag in ["--lease-timeout", "--cancel-grace", "--heartbeat"] {
            let refused = try trellis(["server", "--db", "x.db", "--listen", "127.0.0.1:0", flag, huge], in: scratch)
            #expect(refused.status == 64, "\(flag): \(refused.status) \(refused.stderr)")
            #expect(refused.stderr.contains("\(flag) is longer than the longest duration allowed, 365d"))
        }
        let worker = try trellis(["worker", "--server", "127.0.0.1:1", "--grace", huge], in: scratch)
        #expect(worker.status == 64)
        #expect(worker.stderr.contains("--grace is longer than the longest duration allowed"))
        let file = try scratch.write("flow.yaml", "tasks:\n  - {id: a, run: touch RAN}\n")
        let run = try trellis(["run", file, "--grace", huge], in: scratch)
        #expect(run.status == 64)
        #expect(run.stderr.contains("--grace is longer than the longest duration allowed"))
        #expect(scratch.read("RAN") == nil)

        let (server, port) = try await server(scratch)
        let watch = try trellis(["job", "watch", "987654", "--server", "127.0.0.1:\(port)"], in: scratch)
        #expect(watch.status == 1)
        #expect(watch.stderr.contains("there is no job 987654"))
        let play = try trellis(["task", "play", "987654", "--server", "127.0.0.1:\(port)"], in: scratch)
        #expect(play.status == 1)
        #expect(play.stderr.contains("there is no task 987654"))
        server.kill9()
    }

    /// The coordinator leg of the differential test: 200 seeded workflows of every policy and both failure
    /// policies, with retries, timeouts, outputs and finales, submitted to a server with one worker, end in the
    /// same state after the same number of attempts as in the scheduling core alone, and start their attempts
    /// in the same order: their one width-1 queue holds on the coordinator too, whatever the worker's slots.
    /// Four jobs run at a time; each job's queue is its own, so one job's order does not depend on another's.
    @Test("submitted workflows end as the scheduling core says")
    func coordinatorAgreesWithTheCore() async throws {
        let scratch = try Scratch()
        let (server, port) = try await server(scratch, lease: "10s")
        let address = "127.0.0.1:\(port)"
        let worker = try await worker("w", at: address, in: scratch, ["--slots", "4"])
        let seeds = Array(UInt64(1000)..<1200)
        for chunk in stride(from: 0, to: seeds.count, by: 4) {
            try await withThrowingTaskGroup { group in
                for seed in seeds[chunk..<min(chunk + 4, seeds.count)] {
                    group.addTask { try await self.compareOnCoordinator(seed: seed, address: address, in: scratch) }
                }
                try await group.waitForAll()
            }
        }
        worker.kill9()
        server.kill9()
    }

    /// One seed on the coordinator. One seed in ten has its job cancelled by the operator as its first task
    /// starts; another one in ten has only that first task cancelled, while the rest of the job goes on.
    func compareOnCoordinator(seed: UInt64, address: String, in scratch: Scratch) async throws {
        // A cancel at the first start would race with a trigger's checks: those seeds wait for none.
        let plain = DifferentialTests.generate(seed: seed, gate: seed % 10 != 3 && seed % 10 != 7)
        var cancel: DifferentialTests.Cancel?
        var generated = plain
        if seed % 10 == 3 {
            cancel = .job
            generated = plain.cancelledAtFirstStart()
        } else if seed % 10 == 7 {
            // The task the core starts first, as the plain workflow runs.
            let plainPlan = try WorkflowLoader.parse(yaml: plain.yaml, file: "flow-\(seed).yaml").plan()
            let first = try DifferentialTests.model(plainPlan, scripts: plain.scripts).starts.first
            if let first = first.map({ String($0.prefix { $0 != "#" }) }) {
                cancel = .task(first)
                generated = plain.blocking(first)
            }
        }
        let file = try scratch.write("flow-\(seed).yaml", generated.yaml)
        let plan = try WorkflowLoader.load(path: file).plan()
        let expected = try DifferentialTests.model(plan, scripts: generated.scripts, cancel: cancel)
        if case .task(let name) = cancel {
            #expect(expected.states[name] == .cancelled, "seed \(seed): the model cancels \(name)")
        }
        let submitted = try await trellisOffPool(["submit", file, "--server", address, "--no-play"], in: scratch)
        let job = try #require(
            submitted.stdout.split(separator: "\n").first.flatMap { line in
                line.hasPrefix("job ") ? Int(line.dropFirst(4).prefix { $0.isNumber }) : nil
            }, "\(submitted.stdout)\(submitted.stderr)")
        // Follow the job from before it is played, so every assignment is seen, in order.
        let watch = try Daemon(
            ["job", "watch", "\(job)", "--server", address, "--json"], in: scratch.url, token: token)
        _ = await watch.await { $0.contains("\"state\":\"created\"") }
        #expect(
            try await trellisOffPool(["task", "play", "--job", "\(job)", "--server", address], in: scratch).status == 0)
        var starts: [String] = []
        while let line = await watch.line() {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                object["state"] as? String == "assigned", let name = object["name"] as? String,
                let attempt = object["attempt"] as? Int
            else { continue }
            starts.append("\(name)#\(attempt)")
            guard starts.count == 1, let cancel else { continue }
            let selection =
                switch cancel {
                case .job: ["--job", "\(job)"]
                case .task: [String((object["task"] as? Int) ?? 0)]
                }
            if case .task(let expected) = cancel { #expect(name == expected, "seed \(seed): the first to start") }
            let cancelled = try await trellisOffPool(
                ["task", "cancel"] + selection + ["--server", address], in: scratch)
            #expect(cancelled.status == 0, "\(cancelled.stderr)")
        }
        #expect(starts == expected.starts, "seed \(seed): the start order on a width-1 queue\n\(generated.yaml)")
        let listed = try await trellisOffPool(
            ["task", "list", "--job", "\(job)", "--json", "--server", address], in: scratch)
        let parsed = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]]
        let tasks = try #require(parsed, "\(listed.stdout)")
        for task in tasks {
            guard let name = task["name"] as? String else {
                Issue.record("a task without a name: \(task)")
                continue
            }
            let state = expected.states[name].map(Self.remoteName) ?? "unfinished"
            #expect(task["state"] as? String == state, "seed \(seed): \(name)\n\(generated.yaml)")
            #expect(task["attempts"] as? Int == expected.attempts[name, default: 0], "seed \(seed): \(name)")
        }
        #expect(tasks.count == plan.nodes.count)
    }

    /// The number a summary's table of counts gives for a state.
    static func count(_ state: String, in output: String) -> Int? {
        for line in output.split(separator: "\n") {
            let cells = line.split(separator: " ")
            if cells.count == 2, cells[0] == state { return Int(cells[1]) }
        }
        return nil
    }

    static func remoteName(_ state: TaskStatus) -> String {
        switch state {
        case .succeeded: "succeeded"
        case .failed: "failed"
        case .cancelled: "cancelled"
        case .upstreamFailed: "upstream-failed"
        case .skipped: "skipped"
        default: "\(state)"
        }
    }

    @Test("job watch exits as trellis run does: 0 with a skipped finale, 1 after a cancel")
    func watchExitStatus() async throws {
        let scratch = try Scratch()
        let (server, port) = try await server(scratch)
        let address = "127.0.0.1:\(port)"
        let worker = try await worker("w", at: address, in: scratch)
        let file = try scratch.write(
            "flow.yaml", "tasks:\n  - {id: a, run: \"true\"}\non_failure:\n  - {id: clean, run: touch CLEANED}\n")
        #expect(try trellis(["submit", file, "--server", address], in: scratch).status == 0)
        let succeeded = try trellis(["job", "watch", "1", "--server", address], in: scratch)
        #expect(succeeded.status == 0, "\(succeeded.stdout)\(succeeded.stderr)")
        #expect(Self.count("skipped", in: succeeded.stdout) == 1, "\(succeeded.stdout)")
        #expect(scratch.read("CLEANED") == nil)

        // The file's policy goes with it, every policy of `trellis run` included; a flag overrides it.
        let wave = try scratch.write("wave.yaml", "policy: wave\ntasks:\n  - {id: w, run: \"true\"}\n")
        let waved = try trellis(["submit", wave, "--server", address, "--watch"], in: scratch)
        #expect(waved.status == 0, "\(waved.stderr)")
        #expect(waved.stdout.hasPrefix("job 2:"), "\(waved.stdout)")
        let overridden = try trellis(["submit", wave, "--server", address, "--policy", "fifo", "--watch"], in: scratch)
        #expect(overridden.status == 0, "\(overridden.stderr)")
        #expect(overridden.stdout.hasPrefix("job 3:"), "\(overridden.stdout)")
        let bad = try trellis(["submit", wave, "--server", address, "--policy", "fastest"], in: scratch)
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("fastest"), "\(bad.stderr)")

        let added = try trellis(["task", "add", "--server", address, "--run", "exec sleep 600", "--play"], in: scratch)
        #expect(added.stdout.hasPrefix("task 5 in job 4"), "\(added.stdout)\(added.stderr)")
        #expect(try trellis(["task", "cancel", "5", "--server", address], in: scratch).status == 0)
        let cancelled = try trellis(["job", "watch", "4", "--server", address], in: scratch)
        #expect(cancelled.status == 1, "\(cancelled.stdout)")
        #expect(Self.count("cancelled", in: cancelled.stdout) == 1, "\(cancelled.stdout)")

        // Jobs listed with their states; cancelled as a whole; forgotten once ended.
        let sleeper = try trellis(
            ["task", "add", "--server", address, "--run", "exec sleep 600", "--play"], in: scratch)
        #expect(sleeper.stdout.hasPrefix("task 6 in job 5"), "\(sleeper.stdout)\(sleeper.stderr)")
        let killed = try trellis(["job", "cancel", "5", "--kill", "--server", address], in: scratch)
        #expect(killed.stdout == "killed 1 task of job 5\n", "\(killed.stdout)\(killed.stderr)")
        #expect(try trellis(["job", "watch", "5", "--server", address], in: scratch).status == 1)
        let list = try trellis(["job", "list", "--server", address], in: scratch)
        let states = list.stdout.split(separator: "\n").dropFirst().map { line in
            let cells = line.split(separator: " ")
            return "\(cells[0]) \(cells[2])"
        }
        #expect(
            states == ["1 succeeded", "2 succeeded", "3 succeeded", "4 cancelled", "5 cancelled"],
            "\(list.stdout)\(list.stderr)")
        let shown = try trellis(["job", "show", "1", "--server", address], in: scratch)
        #expect(shown.stdout.contains("succeeded, 2 of 2 tasks done"), "\(shown.stdout)\(shown.stderr)")
        #expect(shown.stdout.contains("clean") && shown.stdout.contains("skipped"), "\(shown.stdout)")
        let forgot = try trellis(["job", "forget", "1", "2", "--server", address], in: scratch)
        #expect(forgot.stdout == "forgot jobs 1, 2 and 3 tasks\n", "\(forgot.stdout)\(forgot.stderr)")
        let gone = try trellis(["job", "show", "1", "--server", address], in: scratch)
        #expect(gone.status != 0 && gone.stderr.contains("job 1 has been forgotten"), "\(gone.stderr)")
        let json = try trellis(["job", "list", "--json", "--server", address], in: scratch)
        let ids = try (JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])?.compactMap {
            $0["id"] as? Int
        }
        #expect(ids == [3, 4, 5], "\(json.stdout)")

        // A job's graph, coloured by its tasks' states.
        let chain = try scratch.write(
            "chain.yaml", "tasks:\n  - {id: x, run: \"true\"}\n  - {id: y, run: \"exit 1\", needs: [x]}\n")
        #expect(try trellis(["submit", chain, "--server", address, "--watch"], in: scratch).status == 1)
        let dot = try trellis(["graph", "--job", "6", "--server", address], in: scratch)
        #expect(dot.stdout.contains("\"7\" [label=\"x\", fillcolor=\"#b7e1a1\""), "\(dot.stdout)\(dot.stderr)")
        #expect(dot.stdout.contains("\"8\" [label=\"y\", fillcolor=\"#fc9272\""), "\(dot.stdout)")
        #expect(dot.stdout.contains("\"7\" -> \"8\";"), "\(dot.stdout)")
        let mermaid = try trellis(["graph", "--job", "6", "--format", "mermaid", "--server", address], in: scratch)
        #expect(mermaid.stdout.contains("n0 --> n1") && mermaid.stdout.contains("classDef failed"), "\(mermaid.stdout)")

        // What a task printed, kept beside the database.
        let talk = try scratch.write("talk.yaml", "tasks:\n  - {id: t, run: \"echo hi; echo err >&2\"}\n")
        #expect(try trellis(["submit", talk, "--server", address, "--watch"], in: scratch).status == 0)
        let logs = try trellis(["task", "logs", "9", "--server", address], in: scratch)
        #expect(logs.status == 0 && logs.stdout == "hi\n" && logs.stderr == "err\n", "\(logs.stdout)\(logs.stderr)")
        let none = try trellis(["task", "logs", "9", "--attempt", "2", "--server", address], in: scratch)
        #expect(none.status != 0 && none.stderr.contains("has no attempt 2"), "\(none.stderr)")
        // submit --watch --logs: every line the job's tasks print, prefixed by the task.
        let chatty = try scratch.write(
            "chatty.yaml",
            "tasks:\n  - {id: one, run: \"echo a; echo b\"}\n  - {id: two, run: \"echo c >&2; printf d\", needs: [one]}\n"
        )
        let watched = try trellis(["submit", chatty, "--server", address, "--watch", "--logs"], in: scratch)
        #expect(watched.status == 0, "\(watched.stdout)\(watched.stderr)")
        let printed = watched.stdout.split(separator: "\n").filter { $0.contains(" | ") }
        #expect(printed == ["one | a", "one | b", "two | d"], "\(watched.stdout)")
        #expect(watched.stderr.contains("two | c\n"), "\(watched.stderr)")
        worker.kill9()
        server.kill9()
    }

    @Test("a workflow's triggers are checked by the coordinator; submit --watch ends as trellis run does")
    func triggersOnTheCoordinator() async throws {
        let scratch = try Scratch()
        let (server, port) = try await server(scratch)
        let address = "127.0.0.1:\(port)"
        let worker = try await worker("w", at: address, in: scratch)
        // A relative file is the workflow directory's, resolved by `submit`.
        _ = try scratch.write("ready.flag", "")
        let held = try scratch.write(
            "held.yaml",
            "triggers: {ready: {file: ready.flag, interval: 50ms}}\ntasks:\n  - {id: a, run: touch RAN, needs: [\"@ready\"]}\n"
        )
        let remote = try trellis(["submit", held, "--server", address, "--watch"], in: scratch)
        #expect(remote.status == 0, "\(remote.stdout)\(remote.stderr)")
        #expect(scratch.read("RAN") != nil, "the task that needs the trigger ran")

        let never = try scratch.write(
            "never.yaml",
            "triggers: {gone: {file: gone.flag, interval: 50ms, timeout: 200ms}}\n"
                + "tasks:\n  - {id: b, run: touch NEVER, needs: [\"@gone\"]}\n")
        let remoteNever = try trellis(["submit", never, "--server", address, "--watch"], in: scratch)
        let localNever = try trellis(["run", never], in: scratch)
        for (how, result) in [("submit --watch", remoteNever), ("run", localNever)] {
            #expect(result.status == 1, "\(how): \(result.stdout)\(result.stderr)")
            #expect(result.stdout.contains("not satisfied after"), "\(how): \(result.stdout)")
            #expect(Self.count("upstream-failed", in: result.stdout) == 1, "\(how): \(result.stdout)")
            #expect(Self.count("failed", in: result.stdout) == 1, "\(how): \(result.stdout)")
        }
        #expect(scratch.read("NEVER") == nil)

        // A command would run on the coordinator's host: only with the server's consent.
        let probe = try scratch.write(
            "probe.yaml",
            "triggers: {probe: {command: \"true\"}}\ntasks:\n  - {id: c, run: \"true\", needs: [\"@probe\"]}\n")
        let refused = try trellis(["submit", probe, "--server", address], in: scratch)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("--command-triggers"), "\(refused.stderr)")
        worker.kill9()
        server.kill9()
    }

    @Test("submit --watch tells a job as trellis run tells a run; Ctrl-C stops the watch (130), not the job")
    func submitWatchIsTheRunDisplay() async throws {
        let scratch = try Scratch()
        let (server, port) = try await server(scratch)
        let address = "127.0.0.1:\(port)"
        let worker = try await worker("w", at: address, in: scratch)
        let file = try scratch.write(
            "flow.yaml",
            "tasks:\n  - {id: first, run: \"true\"}\n  - {id: long, needs: [first], run: exec sleep 600}\n")
        let watch = try Daemon(["submit", file, "--server", address, "--watch"], in: scratch.url, token: token)
        var lines: [String] = []
        while let line = await watch.line() {
            lines.append(line)
            if line.contains("started  long") { break }
        }
        let shown = lines.joined(separator: "\n")
        #expect(lines.first?.hasPrefix("job 1: 2 tasks") == true, "\(shown)")
        for expected in ["run flow: 2 tasks", "succeeded first", "started  long on w"] {
            #expect(shown.contains(expected), "\(shown)")
        }
        kill(watch.process.processIdentifier, SIGINT)
        var rest: [String] = []
        while let line = await watch.line() { rest.append(line) }
        watch.process.waitUntilExit()
        #expect(watch.process.terminationStatus == 130, "\(rest)")
        #expect(rest.contains { $0.hasPrefix("flow: interrupted after") && $0.contains("the job runs on") }, "\(rest)")
        #expect(rest.contains("job 1 on \(address)"), "\(rest)")
        let listed = try trellis(["task", "show", "2", "--server", address, "--json"], in: scratch)
        #expect(listed.stdout.contains("\"state\":\"running\""), "\(listed.stdout)")

        #expect(try trellis(["task", "cancel", "2", "--server", address], in: scratch).status == 0)
        let ended = try trellis(["job", "watch", "1", "--server", address], in: scratch)
        #expect(ended.status == 1, "\(ended.stdout)")
        #expect(ended.stdout.contains("flow: failed after"), "\(ended.stdout)")
        #expect(ended.stdout.contains("cancelled"), "\(ended.stdout)")
        worker.kill9()
        server.kill9()
    }

    @Test("a second worker of the same name takes the name over; the first stops instead of taking it back")
    func twoWorkersOfOneName() async throws {
        let scratch = try Scratch()
        let (server, port) = try await server(scratch)
        let address = "127.0.0.1:\(port)"
        let first = try await worker("w", at: address, in: scratch)
        let second = try await worker("w", at: address, in: scratch)
        // Before, the two replaced each other's stream for ever, each reconnect losing the other's attempts.
        while await first.line() != nil {}
        first.process.waitUntilExit()
        #expect(first.process.terminationStatus != 0)
        let added = try trellis(["task", "add", "--server", address, "--run", "true", "--play"], in: scratch)
        #expect(added.status == 0, "\(added.stderr)")
        let watched = try trellis(["job", "watch", "1", "--server", address], in: scratch)
        #expect(watched.status == 0, "\(watched.stdout)")
        let shown = try trellis(["task", "show", "1", "--server", address, "--json"], in: scratch)
        #expect(shown.stdout.contains("\"attempts\":1"), "\(shown.stdout)")
        second.kill9()
        server.kill9()
    }

    @Test("trellis run: the first SIGINT stops gently (SIGTERM, exit 130, resumable), a second kills at once")
    func runStoppedBySignals() async throws {
        let scratch = try Scratch()
        // Stops at SIGTERM, leaving a mark; it signals `ready` once its trap is set.
        let gentle = try scratch.write(
            "gentle.yaml",
            "tasks:\n  - {id: long, outputs: [ready], run: \"trap 'echo term > TERMED; exit 143' TERM; "
                + "echo '::trellis output ready'; sleep 600 & wait\"}\n")
        let run = try Daemon(["run", gentle, "--grace", "600s"], in: scratch.url, token: token)
        _ = await run.await { $0.contains("output   long.ready") }
        kill(run.process.processIdentifier, SIGINT)
        #expect(await run.await { $0.contains("stopping: no new tasks") } != nil)
        try await EndToEndTests.offPool { run.process.waitUntilExit() }
        #expect(run.process.terminationStatus == 130)
        #expect(scratch.read("TERMED") == "term\n", "the task was asked to stop and did")

        // Ignores SIGTERM: only the second signal ends it, without waiting out the 600 s grace.
        let stubborn = try scratch.write(
            "stubborn.yaml",
            "tasks:\n  - {id: deaf, outputs: [ready], run: \"trap '' TERM; echo $$ > PID; "
                + "echo '::trellis output ready'; exec sleep 600\"}\n")
        let deaf = try Daemon(["run", stubborn, "--grace", "600s"], in: scratch.url, token: token)
        _ = await deaf.await { $0.contains("output   deaf.ready") }
        kill(deaf.process.processIdentifier, SIGINT)
        _ = await deaf.await { $0.contains("stopping: no new tasks") }
        kill(deaf.process.processIdentifier, SIGINT)
        #expect(await deaf.await { $0.contains("killing running tasks") } != nil)
        try await EndToEndTests.offPool { deaf.process.waitUntilExit() }
        #expect(deaf.process.terminationStatus == 130)
        let pid = try #require(
            scratch.read("PID").flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        #expect(kill(pid, 0) == -1 && errno == ESRCH, "the task's process is gone")
    }

    @Test("SIGTERM drains a worker (its running task ends and is reported, then it exits 0) and stops the server")
    func signalsShutDownGracefully() async throws {
        let scratch = try Scratch()
        let (server, port) = try await server(scratch)
        let address = "127.0.0.1:\(port)"
        let worker = try await worker("w", at: address, in: scratch)
        let file = try scratch.write(
            "flow.yaml", "tasks:\n  - {id: held, run: \"while [ ! -f go ]; do sleep 0.05; done; touch DONE\"}\n")
        #expect(try trellis(["submit", file, "--server", address], in: scratch).status == 0)
        let watch = try Daemon(["job", "watch", "1", "--server", address, "--json"], in: scratch.url, token: token)
        _ = await watch.await { $0.contains("\"state\":\"running\"") }
        kill(worker.process.processIdentifier, SIGTERM)
        // The task is let finish: it ends when told to, after the signal.
        _ = try scratch.write("go", "")
        var said: [String] = []
        while let line = await worker.line() { said.append(line) }
        worker.process.waitUntilExit()
        #expect(worker.process.terminationStatus == 0, "\(said)")
        #expect(said.last?.contains("worker w drained") == true, "\(said)")
        #expect(scratch.read("DONE") != nil)
        let shown = try trellis(["task", "show", "1", "--server", address, "--json"], in: scratch)
        #expect(shown.stdout.contains("\"state\":\"succeeded\""), "\(shown.stdout)")
        #expect(shown.stdout.contains("\"attempts\":1"), "\(shown.stdout)")

        // A watch of a job that is not over when the server stops ends with a clear error.
        let unfinished = try scratch.write("later.yaml", "tasks:\n  - {id: later, run: \"true\"}\n")
        #expect(try trellis(["submit", unfinished, "--server", address], in: scratch).status == 0)
        let waiting = try Daemon(["job", "watch", "2", "--server", address, "--json"], in: scratch.url, token: token)
        _ = await waiting.await { $0.contains("\"state\":\"ready\"") }
        kill(server.process.processIdentifier, SIGTERM)
        var stopped: [String] = []
        while let line = await server.line() { stopped.append(line) }
        server.process.waitUntilExit()
        #expect(server.process.terminationStatus == 0, "\(stopped)")
        #expect(stopped.last?.contains("trellis server stopped") == true, "\(stopped)")
        while await waiting.line() != nil {}
        waiting.process.waitUntilExit()
        #expect(waiting.process.terminationStatus == 1)
    }

    @Test("kill -9 of the coordinator mid-job: nothing is lost and no task runs twice")
    func coordinatorKilled() async throws {
        let scratch = try Scratch()
        let ids = (1...12).map { "{i: \($0)}" }.joined(separator: ", ")
        let file = try scratch.write(
            "flow.yaml",
            """
            tasks:
              - id: t-${i}
                for_each: [\(ids)]
                run: sleep 0.3; echo $TRELLIS_ATTEMPT >> side-${i}
              - id: final
                needs: ["t-${i}"]
                run: echo done >> side-final
            """)
        // Snapshots every few entries: the restart reads the latest one and the entries after it.
        let snapshots = ["--snapshot-interval", "10"]
        var (server, port) = try await server(scratch, lease: "5s", snapshots)
        let address = "127.0.0.1:\(port)"
        let worker = try await worker("w1", at: address, in: scratch, ["--slots", "3"])
        let submitted = try trellis(["submit", file, "--server", address], in: scratch)
        #expect(submitted.status == 0)
        let job = try #require(submitted.stdout.split(separator: " ").dropFirst().first.map { String($0.dropLast()) })

        let watch = try Daemon(["job", "watch", job, "--server", address, "--json"], in: scratch.url, token: token)
        var succeeded = Set<String>()
        while succeeded.count < 4, let line = await watch.line() {
            if line.contains("\"state\":\"succeeded\""),
                let name = line.split(separator: "\"name\":\"").last?.split(separator: "\"").first
            {
                succeeded.insert(String(name))
            }
        }
        server.kill9()
        #expect(succeeded.count >= 4)

        var startup: [String] = []
        (server, _) = try await self.server(scratch, port: port, lease: "5s", snapshots) { startup.append($0) }
        if !startup.contains(where: { $0.contains("session 2 began") }),
            let line = await server.await({
                $0.contains("session 2 began")
            })
        {
            startup.append(line)
        }
        #expect(startup.contains { $0.contains("session 2 began: a snapshot through entry") }, "\(startup)")
        _ = await worker.await { $0.contains("epoch 2") }
        let rest = try trellis(["job", "watch", job, "--server", address], in: scratch)
        #expect(rest.status == 0, "\(rest.stdout)")
        let listed = try trellis(["task", "list", "--server", address, "--json"], in: scratch)
        #expect(listed.stdout.components(separatedBy: "\"state\":\"succeeded\"").count - 1 == 13)
        for index in 1...12 {
            let side = try String(contentsOf: scratch.url.appendingPathComponent("side-\(index)"), encoding: .utf8)
            #expect(side.split(separator: "\n").count == 1, "t-\(index) ran \(side.split(separator: "\n").count) times")
        }
        #expect(try String(contentsOf: scratch.url.appendingPathComponent("side-final"), encoding: .utf8) == "done\n")
        worker.kill9()
        server.kill9()
    }

    @Test("kill -9 of a worker mid-task: the task runs again elsewhere after the lease")
    func workerKilled() async throws {
        let scratch = try Scratch()
        let file = try scratch.write(
            "flow.yaml",
            """
            tasks:
              - id: once
                run: echo $$ > pid-$TRELLIS_ATTEMPT; if [ "$TRELLIS_ATTEMPT" = 1 ]; then exec sleep 600; fi
            """)
        let (server, port) = try await server(scratch, lease: "1s")
        let address = "127.0.0.1:\(port)"
        let first = try await worker("doomed", at: address, in: scratch)
        let submitted = try trellis(["submit", file, "--server", address], in: scratch)
        let job = try #require(submitted.stdout.split(separator: " ").dropFirst().first.map { String($0.dropLast()) })
        let watch = try Daemon(["job", "watch", job, "--server", address, "--json"], in: scratch.url, token: token)
        _ = await watch.await { $0.contains("\"state\":\"running\"") }
        first.kill9()
        let second = try await worker("spare", at: address, in: scratch)
        _ = await watch.await { $0.contains("\"state\":\"succeeded\"") }
        let shown = try trellis(["task", "show", "1", "--server", address, "--json"], in: scratch)
        #expect(shown.stdout.contains("\"attempts\":2"))
        #expect(shown.stdout.contains("\"worker\":\"spare\""))
        // The killed worker's first attempt is still running, owned by nobody: the same worker started again
        // stops it before it connects.
        let pid = try String(contentsOf: scratch.url.appendingPathComponent("pid-1"), encoding: .utf8)
        let group = try #require(Int32(pid.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(isRunning(group), "attempt 1's process should still be running before the restart")
        let again = try Daemon(["worker", "--server", address, "--name", "doomed"], in: scratch.url, token: token)
        let reaped = await again.await { $0.contains("stopped") || $0.contains("connected") }
        #expect(reaped?.contains("stopped 1 process(es) left by an earlier worker doomed") == true, "\(reaped ?? "")")
        _ = await again.await { $0.contains("connected") }
        #expect(!isRunning(group), "attempt 1's process outlived its worker")
        if isRunning(group) { kill(-group, SIGKILL) }
        again.kill9()
        second.kill9()
        server.kill9()
    }
}

/// True when python3 can import grpcio (`.ci/run` installs it; a bare machine skips the test).
let pythonHasGRPC: Bool = {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", "import grpc"]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return false }
    process.waitUntilExit()
    return process.terminationStatus == 0
}()

@Suite("a Python worker beside a Swift worker", .serialized, .timeLimit(.minutes(1)), .enabled(if: pythonHasGRPC))
struct PythonWorkerTests {
    @Test("one job: a Python handler task, then a shell task on a Swift worker")
    func mixedJob() async throws {
        let scratch = try Scratch()
        let tests = DistributedEndToEndTests()
        let (server, port) = try await tests.server(scratch)
        let address = "127.0.0.1:\(port)"
        let swift = try Daemon(["worker", "--server", address, "--name", "swift"], in: scratch.url, token: tests.token)
        _ = await swift.await { $0.contains("connected") }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let python = try Daemon(
            [
                "python3", root.appendingPathComponent("python/trellis_worker.py").path, "--server", address, "--name",
                "py",
            ],
            in: scratch.url, token: tests.token, executable: "/usr/bin/env")
        _ = await python.await { $0.contains("connected") }

        let first = try tests.trellis(
            [
                "task", "add", "--server", address, "--handler", "square", "--payload", "7", "--type", "python",
                "--name", "square", "--play",
            ], in: scratch)
        #expect(first.stdout.hasPrefix("task 1 in job 1"), "\(first.stdout)\(first.stderr)")
        let second = try tests.trellis(
            [
                "task", "add", "--server", address, "--run", "echo from swift", "--after", "1", "--job", "1",
                "--name", "after", "--play",
            ], in: scratch)
        #expect(second.stdout.hasPrefix("task 2 in job 1"), "\(second.stdout)\(second.stderr)")
        let watched = try tests.trellis(["job", "watch", "1", "--server", address], in: scratch)
        #expect(watched.status == 0, "\(watched.stdout)")
        let squared = try tests.trellis(["task", "show", "1", "--server", address, "--json"], in: scratch).stdout
        #expect(squared.contains("\"value\":\"49\""), "\(squared)")
        #expect(squared.contains("\"worker\":\"py\""))
        let after = try tests.trellis(["task", "show", "2", "--server", address, "--json"], in: scratch).stdout
        #expect(after.contains("\"worker\":\"swift\""), "\(after)")
        python.kill9()
        swift.kill9()
        server.kill9()
    }
}

extension PythonWorkerTests {
    @Test("the Python worker signals named outputs, stops a timed-out task's process group, and keeps the token")
    func timeoutsAndOutputs() async throws {
        let scratch = try Scratch()
        let tests = DistributedEndToEndTests()
        let (server, port) = try await tests.server(scratch)
        let address = "127.0.0.1:\(port)"
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let python = try Daemon(
            [
                "python3", root.appendingPathComponent("python/trellis_worker.py").path, "--server", address, "--name",
                "py", "--grace", "0.2",
            ],
            in: scratch.url, token: tests.token, executable: "/usr/bin/env")
        _ = await python.await { $0.contains("connected") }
        let file = try scratch.write(
            "flow.yaml",
            """
            queues: {python: 2}
            tasks:
              - id: slow
                queue: python
                type: python
                outputs: [half]
                timeout: 1s
                run: echo "::trellis output half"; echo $$ > slow.pid; echo "${TRELLIS_TOKEN-unset}" > token; exec sleep 600
              - id: after-half
                queue: python
                type: python
                needs: [slow.half]
                run: echo ok > after-half
            """)
        let submitted = try tests.trellis(["submit", file, "--server", address], in: scratch)
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let watched = try tests.trellis(["job", "watch", "1", "--server", address], in: scratch)
        #expect(watched.status == 1, "\(watched.stdout)")
        #expect(scratch.read("after-half") == "ok\n", "the dependant of an output did not run")
        #expect(scratch.read("token") == "unset\n")
        let slow = try tests.trellis(["task", "show", "1", "--server", address, "--json"], in: scratch).stdout
        #expect(slow.contains("\"state\":\"failed\""), "\(slow)")
        #expect(slow.contains("timed out after 1s"), "\(slow)")
        let pid = try #require(Int32((scratch.read("slow.pid") ?? "").trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(!isRunning(pid), "the timed-out process is still running")
        python.kill9()
        server.kill9()
    }
}

/// Whether `pid` is a live process: it exists and is not a zombie waiting for a parent that is gone.
func isRunning(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return false }
    let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
    return state != "Z" && state != "X"
}
