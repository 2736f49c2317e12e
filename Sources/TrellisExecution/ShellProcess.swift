internal import Foundation
internal import Subprocess
internal import SystemPackage

/// How one process attempt ended.
package enum ProcessEnd: Sendable, Hashable {
    case exited(Int32)
    case signalled(Int32)
    /// Could not start at all (bad working directory, no shell, cannot open the log files).
    case failedToStart(String)
    /// Stopped because its Swift task was cancelled (timeout, cancellation, interrupt).
    case stopped
}

/// Where a process's stdout or stderr goes.
package enum LogSink: Sendable {
    /// A file created at the first byte, so a quiet task leaves no files (creating thousands of empty files
    /// costs more than running `true`).
    case file(String)
    /// Each piece as it is read (a worker streams them to the coordinator).
    case forward(@Sendable ([UInt8]) -> Void)
}

/// Runs one shell command in its own process group. Its stdout and stderr are read through pipes into
/// their sinks. When the task declares named outputs, stdout is also scanned line by line for
/// `::trellis output NAME` markers.
package struct ShellProcess: Sendable {
    static let outputMarker = Array("::trellis output ".utf8)
    /// A line longer than this is not scanned for a marker (it is still logged in full).
    static let longestScannedLine = 64 * 1024

    package var command: String
    /// The whole environment of the process (read once per run: reading `environ` per spawn costs more
    /// than the spawn).
    package var environment: [String: String]
    package var workingDirectory: String?
    package var stdout: LogSink
    package var stderr: LogSink
    package var watchOutputs: Bool
    /// SIGTERM to the process group, then SIGKILL after this long.
    package var gracePeriod: Duration

    package init(
        command: String, environment: [String: String], workingDirectory: String?, stdout: LogSink,
        stderr: LogSink, watchOutputs: Bool, gracePeriod: Duration
    ) {
        self.command = command
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.stdout = stdout
        self.stderr = stderr
        self.watchOutputs = watchOutputs
        self.gracePeriod = gracePeriod
    }

    /// Runs to the end; `started` gets the pid, `signalled` each output marker, on the caller's task.
    package func run(
        started: @Sendable (Int32) -> Void, signalled: @escaping @Sendable (String) -> Void
    ) async -> ProcessEnd {
        var options = PlatformOptions()
        options.processGroupID = 0
        options.teardownSequence = [
            .send(signal: .terminate, toProcessGroup: true, allowedDurationToNextStep: gracePeriod)
        ]
        var variables: [Environment.Key: String] = [:]
        variables.reserveCapacity(environment.count)
        for (name, value) in environment { variables[Environment.Key(stringLiteral: name)] = value }
        let stdout = stdout
        let stderr = stderr
        let markers = watchOutputs ? signalled : nil
        do {
            let result = try await Subprocess.run(
                .path("/bin/sh"), arguments: ["-c", command], environment: .custom(variables),
                workingDirectory: workingDirectory.map { FilePath($0) }, platformOptions: options, input: .none,
                output: .sequence, error: .sequence
            ) { execution in
                started(execution.processIdentifier.value)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await Self.copy(execution.standardError, to: stderr, markers: nil) }
                    try await Self.copy(execution.standardOutput, to: stdout, markers: markers)
                    try await group.waitForAll()
                }
            }
            if Task.isCancelled { return .stopped }
            switch result.terminationStatus {
            case .exited(let code): return .exited(code)
            case .signaled(let signal): return .signalled(signal)
            }
        } catch {
            if Task.isCancelled { return .stopped }
            return .failedToStart("\(error)")
        }
    }

    /// Copies a pipe into its sink; with `markers`, reports each marker line.
    static func copy(
        _ sequence: SubprocessOutputSequence, to sink: LogSink, markers: (@Sendable (String) -> Void)?
    ) async throws {
        var file: FileDescriptor?
        defer { try? file?.close() }
        var line: [UInt8] = []
        for try await buffer in sequence {
            switch sink {
            case .file(let path):
                if file == nil {
                    file = try FileDescriptor.open(
                        FilePath(path), .writeOnly, options: [.create, .truncate],
                        permissions: [.ownerReadWrite, .groupRead, .otherRead])
                }
                try buffer.withUnsafeBytes { bytes in _ = try file!.writeAll(bytes) }
            case .forward(let send):
                buffer.withUnsafeBytes { bytes in send([UInt8](bytes)) }
            }
            guard let markers else { continue }
            buffer.withUnsafeBytes { bytes in
                for byte in bytes {
                    if byte == UInt8(ascii: "\n") {
                        if line.starts(with: outputMarker) {
                            let name = String(decoding: line.dropFirst(outputMarker.count), as: UTF8.self)
                            markers(name.trimmingCharacters(in: .whitespacesAndNewlines))
                        }
                        line.removeAll(keepingCapacity: true)
                    } else if line.count < longestScannedLine {
                        line.append(byte)
                    }
                }
            }
        }
    }
}
