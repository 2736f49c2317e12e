internal import Foundation
public import TrellisCore

/// Checks one external trigger at its interval until it holds or its timeout passes: `trellis run` runs it
/// in-process, a coordinator on its own host.
public struct TriggerWatch<C: Clock>: Sendable where C.Duration == Duration {
    public enum Outcome: Hashable, Sendable {
        case satisfied(checks: Int)
        case timedOut(checks: Int)
        case stopped
    }

    /// Between one check and the next.
    public var interval: Duration
    /// Gives up after this long; `nil` checks until stopped.
    public var timeout: Duration?
    public var clock: C
    /// Whether the condition holds now.
    public var check: @Sendable () async -> Bool

    public init(
        interval: Duration, timeout: Duration?, clock: C, check: @escaping @Sendable () async -> Bool
    ) {
        self.interval = max(.milliseconds(1), interval)
        self.timeout = timeout
        self.clock = clock
        self.check = check
    }

    /// Checks at once, then every `interval`, with a last check at the timeout.
    public func run() async -> Outcome {
        let start = clock.now
        var checks = 0
        while !Task.isCancelled {
            checks += 1
            if await check() { return .satisfied(checks: checks) }
            var next = clock.now.advanced(by: interval)
            if let timeout {
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
    /// `/bin/sh -c` in `directory` (the only kind that spawns a process).
    public static func condition(
        _ condition: TriggerCondition,
        directory: String,
        now: (@Sendable () -> Double)? = nil
    ) -> @Sendable () async -> Bool {
        switch condition {
        case .fileExists(let path):
            let absolute = path.hasPrefix("/") ? path : directory + "/" + path
            return { FileManager.default.fileExists(atPath: absolute) }
        case .wallClock(let seconds):
            let now = now ?? { Date().timeIntervalSince1970 }
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
