internal import ArgumentParser
internal import Foundation
internal import Logging

/// How the long-running commands (`server`, `worker`) log: through swift-log, one line per event on standard
/// output.
struct LogOptions: ParsableArguments {
    @Option(help: "Least severe log level shown: trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    /// Sets up logging for this process (once) and returns the command's logger.
    func logger(_ label: String) throws -> Logger {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError(
                "--log-level: expected trace, debug, info, notice, warning, error or critical, got '\(logLevel)'")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardOutput(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }
}
