internal import Foundation
internal import TrellisExecution
package import TrellisWorkflow

/// Checks one external trigger at its interval, in-process, until it holds or its timeout passes.
package struct TriggerWatch<C: Clock>: Sendable where C.Duration == Duration {
    package enum Outcome: Hashable, Sendable {
        case satisfied(checks: Int)
        case timedOut(checks: Int)
        case stopped
    }

    package var trigger: WorkflowTrigger
    package var clock: C
    /// Whether the condition holds now.
    package var check: @Sendable () async -> Bool

    package init(trigger: WorkflowTrigger, clock: C, check: @escaping @Sendable () async -> Bool) {
        self.trigger = trigger
        self.clock = clock
        self.check = check
    }

    package func run() async -> Outcome {
        let start = clock.now
        var checks = 0
        while !Task.isCancelled {
            checks += 1
            if await check() { return .satisfied(checks: checks) }
            var next = clock.now.advanced(by: trigger.interval)
            if let timeout = trigger.timeout {
                let deadline = start.advanced(by: timeout)
                if clock.now >= deadline { return .timedOut(checks: checks) }
                if next > deadline { next = deadline }
            }
            do {
                try await clock.sleep(until: next, tolerance: nil)
            } catch {
                return .stopped
            }
        }
        return .stopped
    }

    /// The check for a condition: files relative to `directory`, the wall clock from `now`, commands through
    /// `/bin/sh -c` (the only kind that spawns a process).
    package static func condition(
        _ condition: WorkflowTrigger.Condition,
        directory: String,
        now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }
    ) -> @Sendable () async -> Bool {
        switch condition {
        case .fileExists(let path):
            let absolute = path.hasPrefix("/") ? path : directory + "/" + path
            return { FileManager.default.fileExists(atPath: absolute) }
        case .wallClock(let seconds):
            return { now() >= seconds }
        case .command(let command):
            return {
                let process = ShellProcess(
                    command: command, environment: ProcessInfo.processInfo.environment, workingDirectory: directory,
                    stdout: .file("/dev/null"),
                    stderr: .file("/dev/null"), watchOutputs: false, gracePeriod: .seconds(1))
                return await process.run(started: { _ in }, signalled: { _ in }) == .exited(0)
            }
        }
    }
}
