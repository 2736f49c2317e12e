internal import CTrellisSpawn
internal import Foundation
internal import Synchronization

#if canImport(Glibc)
    internal import Glibc
#endif

/// How one process attempt ended.
package enum ProcessEnd: Sendable, Hashable {
    case exited(Int32)
    case signalled(Int32)
    /// Could not start (bad working directory, no shell), or could not keep its output (a log file that cannot
    /// be opened or written): such a process is stopped at once.
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

/// Runs one shell command (`/bin/sh -c`) as the leader of its own process group. Its stdout and stderr are
/// read through pipes into their sinks. When the task declares named outputs, stdout is also scanned line by
/// line for `::trellis output NAME` markers.
///
/// The process is started with `posix_spawn` on the calling thread and watched by `ProcessMonitor`'s one
/// thread, which reads its pipes and reaps it: the spawn, the end and the output cost no thread hop of their
/// own. (`swift-subprocess` hops to a spawning thread, a monitoring thread and an I/O thread per process; on the
/// `spawn` benchmark that held many short commands at 80–90 % of `xargs`.)
package struct ShellProcess: Sendable {
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
    /// Waits out the grace, and the second after SIGKILL, on the owner's clock (a manual one in tests).
    package var sleep: @Sendable (Duration) async throws -> Void

    package init(
        command: String, environment: [String: String], workingDirectory: String?, stdout: LogSink,
        stderr: LogSink, watchOutputs: Bool, gracePeriod: Duration,
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    ) {
        self.command = command
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.stdout = stdout
        self.stderr = stderr
        self.watchOutputs = watchOutputs
        self.gracePeriod = gracePeriod
        self.sleep = sleep
    }

    /// The standard input of every process.
    private static let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)

    /// Runs to the end; `started` gets the process group (to kill it at once, `signal(SIGKILL)`), `signalled`
    /// each output marker (on the monitor's thread). Cancelling the calling task sends SIGTERM to the process
    /// group, and SIGKILL after the grace period.
    package func run(
        started: @Sendable (ProcessGroup) -> Void, signalled: @escaping @Sendable (String) -> Void
    ) async -> ProcessEnd {
        if Task.isCancelled { return .stopped }
        var out: [Int32] = [-1, -1]
        var err: [Int32] = [-1, -1]
        guard trellis_pipe(&out) == 0 else { return .failedToStart("cannot make a pipe: \(Self.errorText(errno))") }
        guard trellis_pipe(&err) == 0 else {
            let error = errno
            close(out[0])
            close(out[1])
            return .failedToStart("cannot make a pipe: \(Self.errorText(error))")
        }
        var spawned: pid_t = 0
        let rc = Self.withCStrings(["/bin/sh", "-c", command]) { arguments in
            Self.withCStrings(environment.map { "\($0.key)=\($0.value)" }) { variables in
                if let workingDirectory {
                    workingDirectory.withCString { directory in
                        trellis_spawn(
                            &spawned, "/bin/sh", arguments, variables, directory, Self.devNull, out[1], err[1])
                    }
                } else {
                    trellis_spawn(&spawned, "/bin/sh", arguments, variables, nil, Self.devNull, out[1], err[1])
                }
            }
        }
        close(out[1])
        close(err[1])
        guard rc == 0 else {
            close(out[0])
            close(err[0])
            let place = workingDirectory.map { " in \($0)" } ?? ""
            return .failedToStart("cannot start /bin/sh\(place): \(Self.errorText(rc))")
        }
        let pid = spawned
        let pidfd = trellis_pidfd_open(pid)
        guard pidfd >= 0 else {
            let error = errno
            _ = kill(-pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
            close(out[0])
            close(err[0])
            return .failedToStart("cannot watch process \(pid): \(Self.errorText(error))")
        }
        _ = fcntl(out[0], F_SETFL, O_NONBLOCK)
        _ = fcntl(err[0], F_SETFL, O_NONBLOCK)
        let group = ProcessGroup(leader: pid)
        started(group)
        let grace = gracePeriod
        let sleep = sleep
        let monitor = ProcessMonitor.shared
        let id = monitor.makeID()
        let sinks = (stdout: stdout, stderr: stderr)
        let markers = watchOutputs ? signalled : nil
        let end = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                monitor.watch(
                    ProcessMonitor.Registration(
                        id: id, group: group, pidfd: pidfd, stdout: out[0], stderr: err[0], sinks: sinks,
                        markers: markers, ended: continuation))
            }
        } onCancel: {
            Self.stop(group, grace: grace, watched: id, sleep: sleep)
        }
        if Task.isCancelled { return .stopped }
        return end
    }

    /// SIGTERM to the process group, SIGKILL after `grace` unless it has ended by then. A second after the
    /// SIGKILL, the monitor stops waiting for the pipes: what still holds them left the group (`setsid`), and
    /// the group's signals never reach it. Until then the run ends as soon as the whole group is gone.
    static func stop(
        _ group: ProcessGroup, grace: Duration, watched id: UInt64,
        sleep: @escaping @Sendable (Duration) async throws -> Void
    ) {
        guard grace > .zero || group.signal(SIGKILL) else { return }
        if grace > .zero { guard group.signal(SIGTERM) else { return } }
        Task.detached {
            if grace > .zero {
                try? await sleep(grace)
                guard group.signal(SIGKILL) else { return }
            }
            try? await sleep(abandonAfterKill)
            ProcessMonitor.shared.abandonPipes(id)
        }
    }

    /// How long after its SIGKILL a process group's pipes are still waited for.
    static let abandonAfterKill = Duration.seconds(1)

    static func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }

    /// Calls `body` with the strings as a NULL-terminated array of C strings.
    static func withCStrings<R>(
        _ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R
    ) -> R {
        var pointers = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for pointer in pointers { free(pointer) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

/// A started process group, signalled only while it has not ended. The monitor marks it ended under the same
/// lock before it reports the end: once reaped, the leader's id may in time be given to another process, and a
/// late SIGKILL must not reach that one. Until then the id cannot be reused: the leader is unreaped, or a
/// member of its group still holds the pipes open.
package final class ProcessGroup: Sendable {
    package let leader: Int32
    private let ended = Mutex(false)

    init(leader: pid_t) { self.leader = leader }

    /// Sends `signal` to the whole group; false, sending nothing, once it has ended.
    @discardableResult
    package func signal(_ signal: Int32) -> Bool {
        ended.withLock { ended in
            guard !ended else { return false }
            _ = kill(-leader, signal)
            return true
        }
    }

    /// From now on no signal is sent.
    func end() { ended.withLock { $0 = true } }
}
