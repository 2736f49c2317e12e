internal import Foundation
internal import Subprocess
internal import SystemPackage

/// How one process attempt ended.
enum ProcessEnd: Sendable, Hashable {
    case exited(Int32)
    case signalled(Int32)
    /// Could not start at all (bad working directory, no shell, cannot open the log files).
    case failedToStart(String)
    /// Stopped because its Swift task was cancelled (timeout, cancellation, interrupt).
    case stopped
}

/// Runs one shell command in its own process group. Its stdout and stderr are read through pipes into log
/// files created on the first byte, so a quiet task leaves no files (creating thousands of empty files costs
/// more than running `true`). When the task declares named outputs, stdout is also scanned line by line for
/// `::trellis output NAME` markers.
struct ShellProcess: Sendable {
    static let outputMarker = Array("::trellis output ".utf8)
    /// A line longer than this is not scanned for a marker (it is still logged in full).
    static let longestScannedLine = 64 * 1024

    var command: String
    /// The whole environment of the process (read once per run: reading `environ` per spawn costs more
    /// than the spawn).
    var environment: [String: String]
    var workingDirectory: String?
    var stdoutPath: String
    var stderrPath: String
    var watchOutputs: Bool
    /// SIGTERM to the process group, then SIGKILL after this long.
    var gracePeriod: Duration

    /// Runs to the end; `started` gets the pid, `signalled` each output marker, on the caller's task.
    func run(started: @Sendable (Int32) -> Void, signalled: @escaping @Sendable (String) -> Void) async -> ProcessEnd {
        var options = PlatformOptions()
        options.processGroupID = 0
        options.teardownSequence = [
            .send(signal: .terminate, toProcessGroup: true, allowedDurationToNextStep: gracePeriod)
        ]
        var variables: [Environment.Key: String] = [:]
        variables.reserveCapacity(environment.count)
        for (name, value) in environment { variables[Environment.Key(stringLiteral: name)] = value }
        let stdoutPath = stdoutPath
        let stderrPath = stderrPath
        let markers = watchOutputs ? signalled : nil
        do {
            let result = try await Subprocess.run(
                .path("/bin/sh"), arguments: ["-c", command], environment: .custom(variables),
                workingDirectory: workingDirectory.map { FilePath($0) }, platformOptions: options, input: .none,
                output: .sequence, error: .sequence
            ) { execution in
                started(execution.processIdentifier.value)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await Self.copy(execution.standardError, to: stderrPath, markers: nil) }
                    try await Self.copy(execution.standardOutput, to: stdoutPath, markers: markers)
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

    /// Copies a pipe into a log file opened at the first byte; with `markers`, reports each marker line.
    static func copy(
        _ sequence: SubprocessOutputSequence, to path: String, markers: (@Sendable (String) -> Void)?
    ) async throws {
        var file: FileDescriptor?
        defer { try? file?.close() }
        var line: [UInt8] = []
        for try await buffer in sequence {
            if file == nil {
                file = try FileDescriptor.open(
                    FilePath(path), .writeOnly, options: [.create, .truncate],
                    permissions: [.ownerReadWrite, .groupRead, .otherRead])
            }
            try buffer.withUnsafeBytes { bytes in _ = try file!.writeAll(bytes) }
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
