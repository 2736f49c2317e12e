import Foundation
import TrellisExecution

/// The shell executor alone: `ShellProcess` runs `n` `true` commands, `width` at a time, each with its stdout
/// and stderr read through pipes into log sinks as `trellis run` does, with no scheduler, journal or display.
/// Tells how much of the gap between `trellis run` and `xargs` is the spawn path itself.
enum SpawnScenario {
    static func trueCommands(_ n: Int, width: Int) async throws -> Double {
        let directory = try CLIScenario.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let environment = ProcessInfo.processInfo.environment
        let clock = ContinuousClock()
        let start = clock.now
        await withTaskGroup(of: ProcessEnd.self) { group in
            var next = 0
            func add() {
                let logs = directory.appendingPathComponent(String(next)).path
                let process = ShellProcess(
                    command: "true", environment: environment, workingDirectory: directory.path,
                    stdout: .file(logs + ".out"), stderr: .file(logs + ".err"), watchOutputs: false,
                    gracePeriod: .seconds(5))
                group.addTask { await process.run(started: { _ in }, signalled: { _ in }) }
                next += 1
            }
            while next < min(width, n) { add() }
            while let end = await group.next() {
                precondition(end == .exited(0), "true ended \(end)")
                if next < n { add() }
            }
        }
        return Double(n) / seconds(start.duration(to: clock.now))
    }

    /// The same commands through `xargs -P width sh -c`: tasks per second.
    static func xargs(_ n: Int, width: Int) throws -> Double {
        let lines = String(repeating: "true\n", count: n)
        let xargs = try CLIScenario.run(
            "/usr/bin/xargs", ["-P", String(width), "-I{}", "sh", "-c", "{}"], input: lines)
        guard xargs.status == 0 else { throw BenchmarkError("xargs exited \(xargs.status)") }
        return Double(n) / xargs.seconds
    }
}
