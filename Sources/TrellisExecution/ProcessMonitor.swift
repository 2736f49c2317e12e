internal import CTrellisSpawn
internal import Foundation
internal import Synchronization

#if canImport(Glibc)
    internal import Glibc
#endif

/// Waits for the processes `ShellProcess` starts and reads their output, on one thread of its own blocked in
/// `epoll_wait`: each process's pidfd and its two pipes are registered there, so a process costs no thread hop
/// between its end and its report beyond the one that resumes its waiting Swift task.
///
/// What a process's pipes carry is written to its sinks by that thread, which alone touches the state of the
/// processes it watches (the table in `run()`); other threads hand it new processes through `incoming`.
final class ProcessMonitor: Sendable {
    static let shared = ProcessMonitor()

    /// What the monitor needs to watch one process; `ended` is resumed once it has exited and both its pipes
    /// reached their end.
    struct Registration: Sendable {
        var id: UInt64
        var group: ProcessGroup
        var pidfd: Int32
        var stdout: Int32
        var stderr: Int32
        var sinks: (stdout: LogSink, stderr: LogSink)
        var markers: (@Sendable (String) -> Void)?
        var ended: CheckedContinuation<ProcessEnd, Never>
    }

    private let epoll: Int32
    private let incoming = Mutex<[UInt64: Registration]>([:])
    private let nextID = Atomic<UInt64>(1)
    /// Processes whose pipes are to be given up on (`abandonPipes`), and the eventfd that wakes the thread
    /// for them.
    private let abandoned = Mutex<[UInt64]>([])
    private let wake: Int32

    private init() {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(epoll >= 0, "epoll_create1 failed: errno \(errno)")
        wake = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        precondition(wake >= 0, "eventfd failed: errno \(errno)")
        let thread = Thread { [self] in run() }
        thread.name = "trellis-processes"
        add(wake, id: 0, kind: .wake)
        thread.start()
    }

    /// Stops waiting for a killed process's pipes to close. A process that left the group (`setsid`) can keep
    /// them open for ever; once the group has had its SIGKILL, what is left of the output is not waited for,
    /// and the process ends as soon as its leader is reaped.
    func abandonPipes(_ id: UInt64) {
        abandoned.withLock { $0.append(id) }
        var one: UInt64 = 1
        _ = Glibc.write(wake, &one, 8)
    }

    func makeID() -> UInt64 { nextID.add(1, ordering: .relaxed).oldValue }

    /// Starts watching a process. Its descriptors belong to the monitor from here on.
    func watch(_ registration: Registration) {
        incoming.withLock { $0[registration.id] = registration }
        add(registration.pidfd, id: registration.id, kind: .exit)
        add(registration.stdout, id: registration.id, kind: .stdout)
        add(registration.stderr, id: registration.id, kind: .stderr)
    }

    private enum Kind: UInt64 {
        case exit = 0, stdout = 1, stderr = 2, wake = 3
    }

    private func add(_ fd: Int32, id: UInt64, kind: Kind) {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = id << 2 | kind.rawValue
        let rc = epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event)
        precondition(rc == 0, "epoll_ctl failed: errno \(errno)")
    }

    /// Stops watching a descriptor and closes it. Closing alone is not enough: a child being spawned at that
    /// moment holds a copy of the descriptor until its exec, and epoll keeps reporting a descriptor for as long as
    /// any copy of it is open.
    private func remove(_ fd: Int32) {
        _ = epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nil)
        close(fd)
    }

    /// One watched process, known to the monitor's thread alone.
    fileprivate struct Watched {
        var registration: Registration
        var code: Int32?
        var signal: Int32?
        var exited = false
        var stdoutOpen = true
        var stderrOpen = true
        /// A log file's descriptor once opened; `unopened` before, `failed` once it could not be opened or
        /// written (its output is dropped from then on).
        var stdoutFile = unopened
        var stderrFile = unopened
        static let unopened: Int32 = -1
        static let failed: Int32 = -2
        var scanner = MarkerScanner()
        /// Why the attempt counts as not started although it ran (its log could not be opened, its exit status
        /// was lost).
        var failure: String?

        var isOver: Bool { exited && !stdoutOpen && !stderrOpen }
    }

    private func run() {
        var watched: [UInt64: Watched] = [:]
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        while true {
            let count = events.withUnsafeMutableBufferPointer { epoll_wait(epoll, $0.baseAddress, 64, -1) }
            if count < 0 { continue }  // EINTR
            for event in events[0..<Int(count)] {
                let id = event.data.u64 >> 2
                let kind = Kind(rawValue: event.data.u64 & 3)!
                if kind == .wake {
                    var value: UInt64 = 0
                    _ = Glibc.read(wake, &value, 8)
                    for id in abandoned.withLock({ list in
                        defer { list = [] }; return list
                    }) {
                        guard var process = take(id, from: &watched) else { continue }
                        closePipe(&process, stdout: true)
                        closePipe(&process, stdout: false)
                        settle(process, in: &watched)
                    }
                    continue
                }
                guard var process = take(id, from: &watched) else { continue }
                switch kind {
                case .exit:
                    var code: Int32 = -1
                    var signal: Int32 = -1
                    guard !process.exited else { continue }
                    let reaped = trellis_reap(process.registration.group.leader, &code, &signal)
                    if reaped == 0 { continue }
                    if reaped < 0 { process.failure = "its exit status was lost: \(ShellProcess.errorText(errno))" }
                    process.exited = true
                    process.code = code >= 0 ? code : nil
                    process.signal = signal >= 0 ? signal : nil
                    remove(process.registration.pidfd)
                case .stdout, .stderr:
                    read(&process, stdout: kind == .stdout, into: buffer)
                case .wake:
                    break
                }
                settle(process, in: &watched)
            }
        }
    }

    /// Reads what waits on one of a process's pipes into its sink; at the end (or an error), closes it.
    private func read(_ process: inout Watched, stdout: Bool, into buffer: UnsafeMutableRawBufferPointer) {
        guard stdout ? process.stdoutOpen : process.stderrOpen else { return }
        let sinks = process.registration.sinks
        let read = Glibc.read(
            stdout ? process.registration.stdout : process.registration.stderr, buffer.baseAddress, buffer.count)
        if read > 0 {
            process.write(
                UnsafeRawBufferPointer(rebasing: buffer[0..<read]), to: stdout ? sinks.stdout : sinks.stderr,
                stdout: stdout)
        } else if read == 0 || (errno != EAGAIN && errno != EINTR) {
            closePipe(&process, stdout: stdout)
        }
    }

    /// Stops reading one of a process's pipes. A last stdout line without its newline still counts.
    private func closePipe(_ process: inout Watched, stdout: Bool) {
        if stdout, process.stdoutOpen {
            process.stdoutOpen = false
            remove(process.registration.stdout)
            if let markers = process.registration.markers { process.scanner.finish(markers) }
        } else if !stdout, process.stderrOpen {
            process.stderrOpen = false
            remove(process.registration.stderr)
        }
    }

    /// The process of `id`, taken in from `incoming` at its first event.
    private func take(_ id: UInt64, from watched: inout [UInt64: Watched]) -> Watched? {
        if watched[id] == nil, let registration = incoming.withLock({ $0.removeValue(forKey: id) }) {
            watched[id] = Watched(registration: registration)
        }
        return watched[id]
    }

    /// Keeps a process watched, or, once it has exited and both its pipes are closed, reports how it ended.
    private func settle(_ process: Watched, in watched: inout [UInt64: Watched]) {
        let id = process.registration.id
        guard process.isOver else {
            watched[id] = process
            return
        }
        watched[id] = nil
        process.registration.group.end()
        if process.stdoutFile >= 0 { close(process.stdoutFile) }
        if process.stderrFile >= 0 { close(process.stderrFile) }
        let end: ProcessEnd =
            if let failure = process.failure {
                .failedToStart(failure)
            } else if let code = process.code {
                .exited(code)
            } else {
                .signalled(process.signal ?? 0)
            }
        process.registration.ended.resume(returning: end)
    }
}

extension ProcessMonitor.Watched {
    /// Hands a piece of output to its sink: a file opened at the first byte, or the sink's function. Stdout is
    /// also scanned for output markers when the process has them.
    fileprivate mutating func write(_ bytes: UnsafeRawBufferPointer, to sink: LogSink, stdout: Bool) {
        switch sink {
        case .file(let path):
            var file = stdout ? stdoutFile : stderrFile
            if file == Self.unopened {
                file = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
                if file < 0 {
                    file = Self.failed
                    fail("cannot open its log \(path): \(ShellProcess.errorText(errno))")
                }
            }
            var rest = bytes
            while file >= 0 && !rest.isEmpty {
                let written = Glibc.write(file, rest.baseAddress, rest.count)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 {
                    fail("cannot write its log \(path): \(ShellProcess.errorText(written < 0 ? errno : ENOSPC))")
                    close(file)
                    file = Self.failed
                    break
                }
                rest = UnsafeRawBufferPointer(rebasing: rest[written...])
            }
            if stdout { stdoutFile = file } else { stderrFile = file }
        case .forward(let send):
            send([UInt8](bytes))
        }
        if stdout, let markers = registration.markers { scanner.scan(bytes, markers) }
    }

    /// The process's output can no longer be kept: it is stopped at once and ends as not run.
    fileprivate mutating func fail(_ reason: String) {
        if failure == nil { failure = reason }
        registration.group.signal(SIGKILL)
    }
}

/// Finds `::trellis output NAME` lines in a stream that arrives in pieces.
struct MarkerScanner {
    static let marker = Array("::trellis output ".utf8)
    /// A line longer than this is not scanned for a marker (it is still logged in full).
    static let longestScannedLine = 64 * 1024

    private var line: [UInt8] = []

    mutating func scan(_ bytes: UnsafeRawBufferPointer, _ found: (String) -> Void) {
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                endLine(found)
            } else if line.count < Self.longestScannedLine {
                line.append(byte)
            }
        }
    }

    /// The stream ended: a last line without its newline counts too.
    mutating func finish(_ found: (String) -> Void) {
        if !line.isEmpty { endLine(found) }
    }

    private mutating func endLine(_ found: (String) -> Void) {
        if line.starts(with: Self.marker) {
            let name = String(decoding: line.dropFirst(Self.marker.count), as: UTF8.self)
            found(name.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        line.removeAll(keepingCapacity: true)
    }
}
