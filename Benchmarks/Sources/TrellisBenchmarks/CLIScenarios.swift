import Foundation

/// Benchmarks of the `trellis` command line: the release binary runs real workflow files, so every figure
/// includes parsing, the durable SQLite state and process start-up.
enum CLIScenario {
    /// The release binary of the root package (`swift build -c release --product trellis` first).
    static var binary: String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/release/trellis").path
    }

    static var examples: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Examples")
    }

    struct Output {
        var status: Int32
        var stdout: String
        var seconds: Double
    }

    /// Runs a command to its end and times it.
    static func run(
        _ executable: String, _ arguments: [String], input: String? = nil, in directory: URL? = nil
    ) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        let stdin = Pipe()
        if input != nil { process.standardInput = stdin }
        let clock = ContinuousClock()
        let start = clock.now
        try process.run()
        if let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try stdin.fileHandleForWriting.close()
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus, stdout: String(decoding: data, as: UTF8.self),
            seconds: seconds(start.duration(to: clock.now)))
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("trellis-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// `n` independent `true` tasks at width `width` through `trellis run` (fresh state each time), and the
    /// same commands through `xargs -P width sh -c`. Tasks per second.
    static func trueTasks(_ n: Int, width: Int) throws -> (trellis: Double, xargs: Double) {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let values = (1...n).map(String.init).joined(separator: ", ")
        let file = directory.appendingPathComponent("true.yaml")
        try "tasks:\n  - id: t-${i}\n    matrix: {i: [\(values)]}\n    run: \"true\"\n".write(
            to: file, atomically: true, encoding: .utf8)
        let trellis = try run(
            binary,
            ["run", file.path, "--workers", String(width), "--state", directory.appendingPathComponent("state").path])
        guard trellis.status == 0 else { throw BenchmarkError("trellis run exited \(trellis.status)") }
        let lines = String(repeating: "true\n", count: n)
        let xargs = try run("/usr/bin/xargs", ["-P", String(width), "-I{}", "sh", "-c", "{}"], input: lines)
        guard xargs.status == 0 else { throw BenchmarkError("xargs exited \(xargs.status)") }
        return (Double(n) / trellis.seconds, Double(n) / xargs.seconds)
    }

    /// A `trellis server` (durable SQLite journal) and one `trellis worker`, as processes on loopback, for
    /// as long as `body` runs.
    static func withRemote<R>(slots: Int, _ body: (_ address: String, _ directory: URL) throws -> R) throws -> R {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try "benchmark\n".write(
            to: directory.appendingPathComponent("trellis.token"), atomically: true, encoding: .utf8)
        func daemon(_ arguments: [String], until line: String) throws -> (Process, String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = arguments
            process.currentDirectoryURL = directory
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            try process.run()
            var seen = ""
            while !seen.contains(line) {
                let chunk = pipe.fileHandleForReading.availableData
                if chunk.isEmpty { throw BenchmarkError("\(arguments[0]) ended before '\(line)': \(seen)") }
                seen += String(decoding: chunk, as: UTF8.self)
            }
            return (process, seen)
        }
        let (server, said) = try daemon(
            ["server", "--listen", "127.0.0.1:0", "--db", directory.appendingPathComponent("c.db").path],
            until: "listening on ")
        defer { server.terminate(); server.waitUntilExit() }
        guard
            let address = said.split(separator: " ").first(where: { $0.hasPrefix("127.0.0.1:") }).map({
                String($0.filter { $0 != "," })
            })
        else { throw BenchmarkError("no address in '\(said)'") }
        let (worker, _) = try daemon(
            ["worker", "--server", address, "--slots", String(slots), "--name", "bench"], until: "connected")
        defer { worker.terminate(); worker.waitUntilExit() }
        return try body(address, directory)
    }

    /// `n` independent `true` tasks through `submit --watch` to a coordinator with one `--slots width`
    /// worker process, and the same commands through `xargs -P width sh -c`. Tasks per second.
    static func remoteTrueTasks(_ n: Int, width: Int) throws -> (trellis: Double, xargs: Double) {
        try withRemote(slots: width) { address, directory in
            let values = (1...n).map(String.init).joined(separator: ", ")
            let file = directory.appendingPathComponent("true.yaml")
            try "tasks:\n  - id: t-${i}\n    matrix: {i: [\(values)]}\n    run: \"true\"\n".write(
                to: file, atomically: true, encoding: .utf8)
            let trellis = try run(binary, ["submit", file.path, "--server", address, "--watch"], in: directory)
            guard trellis.status == 0 else { throw BenchmarkError("submit --watch exited \(trellis.status)") }
            let lines = String(repeating: "true\n", count: n)
            let xargs = try run("/usr/bin/xargs", ["-P", String(width), "-I{}", "sh", "-c", "{}"], input: lines)
            guard xargs.status == 0 else { throw BenchmarkError("xargs exited \(xargs.status)") }
            return (Double(n) / trellis.seconds, Double(n) / xargs.seconds)
        }
    }

    /// A chain of `n` `true` tasks through `submit --watch` and one worker process, against the same commands
    /// run one after another (`sh -c true`, n times, from one shell loop): the time beyond, per hop, in seconds.
    static func remoteChainOverhead(_ n: Int) throws -> Double {
        try withRemote(slots: 1) { address, directory in
            var yaml = "tasks:\n"
            for index in 0..<n {
                yaml += "  - {id: c\(index), run: \"true\"\(index == 0 ? "" : ", needs: [c\(index - 1)]")}\n"
            }
            let file = directory.appendingPathComponent("chain.yaml")
            try yaml.write(to: file, atomically: true, encoding: .utf8)
            let trellis = try run(binary, ["submit", file.path, "--server", address, "--watch"], in: directory)
            guard trellis.status == 0 else { throw BenchmarkError("submit --watch exited \(trellis.status)") }
            let serial = try run("/bin/sh", ["-c", "i=0; while [ $i -lt \(n) ]; do sh -c true; i=$((i+1)); done"])
            return (trellis.seconds - serial.seconds) / Double(n - 1)
        }
    }

    struct Replay {
        var makespan: Double
        var predicted: Double
        var criticalPath: Double
        var totalWork: Double
    }

    /// Replays a WfCommons instance at width 16: the measured makespan (first start to last end, from the JSON
    /// events) against the simulator's prediction and the lower bound max(critical path, work / 16).
    static func replay(_ instance: String, policy: String, timeScale: Double, width: Int = 16) throws -> Replay {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = examples.appendingPathComponent("wfcommons/\(instance).json").path
        let common = [
            file, "--policy", policy, "--workers", String(width), "--time-scale", String(timeScale), "--json",
        ]
        let simulated = try run(binary, ["run"] + common + ["--simulate"])
        guard simulated.status == 0, let prediction = jsonObject(simulated.stdout) else {
            throw BenchmarkError("simulate failed for \(instance)")
        }
        let measured = try run(binary, ["run"] + common + ["--state", directory.appendingPathComponent("state").path])
        guard measured.status == 0 else { throw BenchmarkError("replay of \(instance) exited \(measured.status)") }
        var first = Double.infinity
        var last = 0.0
        for line in measured.stdout.split(separator: "\n") {
            guard let event = jsonObject(String(line)), let name = event["event"] as? String,
                let time = event["time"] as? Double
            else { continue }
            if name == "started" { first = min(first, time) }
            if name == "finished" {
                let seconds = event["seconds"] as? Double ?? 0
                last = max(last, time)
                first = min(first, time - seconds)
            }
        }
        return Replay(
            makespan: last - first, predicted: prediction["makespan"] as? Double ?? .nan,
            criticalPath: prediction["critical_path_seconds"] as? Double ?? .nan,
            totalWork: prediction["total_work"] as? Double ?? .nan)
    }

    /// Wall time of `trellis run --simulate` on a random layered graph of `n` tasks, and the simulation alone.
    static func simulate(_ n: Int) throws -> (command: Double, simulation: Double) {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var generator = SystemRandomNumberGenerator()
        var specification: [String] = []
        var execution: [String] = []
        let layer = 1000
        for i in 0..<n {
            var parents: [String] = []
            if i >= layer {
                let previous = (i / layer - 1) * layer
                for _ in 0..<3 { parents.append("\"t\(previous + Int.random(in: 0..<layer, using: &generator))\"") }
            }
            specification.append(
                "{\"id\":\"t\(i)\",\"name\":\"t\",\"parents\":[\(Set(parents).joined(separator: ","))],\"children\":[]}"
            )
            execution.append("{\"id\":\"t\(i)\",\"runtimeInSeconds\":\(Double.random(in: 1...100, using: &generator))}")
        }
        let json =
            "{\"name\":\"random\",\"schemaVersion\":\"1.5\",\"workflow\":{\"specification\":{\"tasks\":[\(specification.joined(separator: ","))]},\"execution\":{\"tasks\":[\(execution.joined(separator: ","))]}}}"
        let file = directory.appendingPathComponent("random.json")
        try json.write(to: file, atomically: true, encoding: .utf8)
        let output = try run(binary, ["run", file.path, "--simulate", "--workers", "16", "--json"])
        guard output.status == 0, let result = jsonObject(output.stdout) else {
            throw BenchmarkError("simulate exited \(output.status)")
        }
        return (output.seconds, result["simulated_in"] as? Double ?? .nan)
    }

    static func jsonObject(_ text: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
    }
}

struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Reading a large workflow: `trellis validate` on a chain of `n` tasks, one flow mapping per line (about
/// 49 bytes a task), against Yams composing the same text alone, which every YAML workflow goes through.
enum WorkflowParseScenario {
    static func file(_ n: Int, in directory: URL) throws -> URL {
        var text = "name: chain\ntasks:\n  - {id: t0, run: \"true\"}\n"
        text.reserveCapacity(n * 50)
        for index in 1..<n { text += "  - {id: t\(index), run: \"true\", needs: [t\(index - 1)]}\n" }
        let url = directory.appendingPathComponent("chain-\(n).yaml")
        try text.write(to: url, atomically: false, encoding: .utf8)
        return url
    }

    /// Seconds for `trellis validate`, and the largest resident size of any child so far, in bytes (runs go
    /// from small to large, so it is this size's).
    static func validate(_ file: URL) throws -> (seconds: Double, peakBytes: Double) {
        let output = try CLIScenario.run(CLIScenario.binary, ["validate", file.path, "--max-file-size", "1024"])
        guard output.status == 0 else { throw BenchmarkError("trellis validate failed on \(file.path)") }
        var usage = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &usage)
        return (output.seconds, Double(usage.ru_maxrss) * 1024)
    }
}
