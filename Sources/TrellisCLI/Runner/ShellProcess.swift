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

/// Runs one shell command in its own process group, its stdout and stderr going to log files. When the task
/// declares named outputs, stdout is read line by line to spot `::trellis output NAME` markers.
struct ShellProcess: Sendable {
    static let outputMarker = "::trellis output "

    var command: String
    var environment: [String: String]
    var workingDirectory: String?
    var stdoutPath: String
    var stderrPath: String
    var watchOutputs: Bool
    /// SIGTERM to the process group, then SIGKILL after this long.
    var gracePeriod: Duration

    /// Runs to the end; `started` gets the pid, `signalled` each output marker, on the caller's task.
    func run(started: @Sendable (Int32) -> Void, signalled: @Sendable (String) -> Void) async -> ProcessEnd {
        let stdout: FileDescriptor
        let stderr: FileDescriptor
        do {
            stdout = try FileDescriptor.open(
                FilePath(stdoutPath), .writeOnly, options: [.create, .truncate],
                permissions: [.ownerReadWrite, .groupRead, .otherRead])
            stderr = try FileDescriptor.open(
                FilePath(stderrPath), .writeOnly, options: [.create, .truncate],
                permissions: [.ownerReadWrite, .groupRead, .otherRead])
        } catch {
            return .failedToStart("cannot open the log files: \(error)")
        }
        var options = PlatformOptions()
        options.processGroupID = 0
        options.teardownSequence = [
            .send(signal: .terminate, toProcessGroup: true, allowedDurationToNextStep: gracePeriod)
        ]
        var updates: [Environment.Key: String?] = [:]
        for (name, value) in environment { updates[Environment.Key(stringLiteral: name)] = value }
        let directory = workingDirectory.map { FilePath($0) }
        do {
            let status: TerminationStatus
            if watchOutputs {
                let result = try await Subprocess.run(
                    .path("/bin/sh"), arguments: ["-c", command], environment: .inherit.updating(updates),
                    workingDirectory: directory, platformOptions: options, input: .none, output: .sequence,
                    error: .fileDescriptor(stderr, closeAfterSpawningProcess: true)
                ) { execution in
                    started(execution.processIdentifier.value)
                    defer { try? stdout.close() }
                    for try await line in execution.standardOutput.strings() {
                        _ = try? stdout.writeAll((line + "\n").utf8)
                        if line.hasPrefix(Self.outputMarker) {
                            signalled(
                                String(line.dropFirst(Self.outputMarker.count)).trimmingCharacters(in: .whitespaces))
                        }
                    }
                }
                status = result.terminationStatus
            } else {
                let result = try await Subprocess.run(
                    .path("/bin/sh"), arguments: ["-c", command], environment: .inherit.updating(updates),
                    workingDirectory: directory, platformOptions: options, input: .none,
                    output: .fileDescriptor(stdout, closeAfterSpawningProcess: true),
                    error: .fileDescriptor(stderr, closeAfterSpawningProcess: true)
                ) { execution in
                    started(execution.processIdentifier.value)
                }
                status = result.terminationStatus
            }
            if Task.isCancelled { return .stopped }
            switch status {
            case .exited(let code): return .exited(code)
            case .signaled(let signal): return .signalled(signal)
            }
        } catch {
            if Task.isCancelled { return .stopped }
            return .failedToStart("\(error)")
        }
    }
}
