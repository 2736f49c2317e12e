internal import Dispatch
internal import Foundation
internal import Synchronization
internal import TrellisProtocol

#if canImport(Glibc)
    internal import Glibc
#endif

/// One chunk of what an attempt printed, on its way to a `TaskLogs` reader.
struct LogOutput: Sendable, Hashable {
    var stream: WorkerReport.LogStream
    var data: [UInt8]
    var task: UInt64
    var attempt: Int
}

/// A `TaskLogs` stream's chunks; finished when the attempt ends, with an error when the reader falls behind.
typealias LogFollower = Outbox<LogOutput>

/// What attempts printed, kept by the coordinator in files: `DIR/job-J/task-T.A.stdout` and `.stderr`.
///
/// Only the coordinator's loop calls it, and every call is done in that order on a serial queue of its own, off
/// the cooperative pool: what was appended before a reader asked is in the files it reads, what comes after
/// reaches it as it is appended, and its attempt's end (`ended`) ends it. A stream stops growing at
/// `limit` bytes, with a line that says so.
final class AttemptLogs: Sendable {
    struct Key: Hashable, Sendable {
        var job: UInt64
        var task: UInt64
        var attempt: Int
    }

    let directory: String
    let limit: Int
    private let queue = DispatchQueue(label: "trellis-logs")
    /// Owned by `queue`: readers following each attempt, and the bytes each stream holds.
    private let state = Mutex(State())

    private struct State {
        var followers: [Key: [LogFollower]] = [:]
        /// Readers of every attempt of a job.
        var jobFollowers: [UInt64: [LogFollower]] = [:]
        var sizes: [Key: (stdout: Int, stderr: Int)] = [:]
    }

    init(directory: String, limit: Int = 64 << 20) {
        self.directory = directory
        self.limit = limit
    }

    func path(_ key: Key, _ stream: WorkerReport.LogStream) -> String {
        "\(directory)/job-\(key.job)/task-\(key.task).\(key.attempt).\(stream == .stdout ? "stdout" : "stderr")"
    }

    /// Appends what an attempt printed and hands it to the readers following it.
    func append(_ key: Key, _ stream: WorkerReport.LogStream, _ data: [UInt8]) {
        queue.async { [self] in
            let kept = state.withLock { state -> Int in
                var sizes = state.sizes[key] ?? (Self.size(path(key, .stdout)), Self.size(path(key, .stderr)))
                let before = stream == .stdout ? sizes.stdout : sizes.stderr
                let room = max(0, limit - before)
                let kept = min(room, data.count)
                // Counted past the limit, so the note is written once.
                if stream == .stdout { sizes.stdout = before + data.count } else { sizes.stderr = before + data.count }
                state.sizes[key] = sizes
                return before > limit ? -1 : kept
            }
            guard kept >= 0 else { return }
            var written = Array(data.prefix(kept))
            if kept < data.count {
                written += Array("\n[trellis: output beyond \(limit) bytes is not kept]\n".utf8)
            }
            write(written, to: path(key, stream))
            let followers = state.withLock { ($0.followers[key] ?? []) + ($0.jobFollowers[key.job] ?? []) }
            let output = LogOutput(stream: stream, data: written, task: key.task, attempt: key.attempt)
            for follower in followers { follower.yield(output) }
        }
    }

    /// Sends `follower` what the attempt's files hold; then, with `follow`, each chunk appended until the
    /// attempt `ended`; without, it ends there.
    func read(_ key: Key, into follower: LogFollower, follow: Bool) {
        queue.async { [self] in
            send(key, to: follower)
            if follow {
                state.withLock { $0.followers[key, default: []].append(follower) }
            } else {
                follower.finish()
            }
        }
    }

    /// Sends `follower` what every attempt of `job` printed so far, by task and attempt, then what they print
    /// until the job `jobEnded`.
    func follow(job: UInt64, into follower: LogFollower) {
        queue.async { [self] in
            let names = (try? FileManager.default.contentsOfDirectory(atPath: "\(directory)/job-\(job)")) ?? []
            var keys = Set<Key>()
            for name in names where name.hasPrefix("task-") {
                let parts = name.dropFirst(5).split(separator: ".")
                guard parts.count == 3, let task = UInt64(parts[0]), let attempt = Int(parts[1]) else { continue }
                keys.insert(Key(job: job, task: task, attempt: attempt))
            }
            for key in keys.sorted(by: { ($0.task, $0.attempt) < ($1.task, $1.attempt) }) { send(key, to: follower) }
            state.withLock { $0.jobFollowers[job, default: []].append(follower) }
        }
    }

    /// The job has ended: its readers end.
    func jobEnded(_ job: UInt64) {
        queue.async { [self] in
            for follower in state.withLock({ $0.jobFollowers.removeValue(forKey: job) ?? [] }) { follower.finish() }
        }
    }

    /// What the attempt's files hold: stdout, then stderr.
    private func send(_ key: Key, to follower: LogFollower) {
        for stream in [WorkerReport.LogStream.stdout, .stderr] {
            guard let handle = FileHandle(forReadingAtPath: path(key, stream)) else { continue }
            defer { try? handle.close() }
            while let data = try? handle.read(upToCount: 1 << 20), !data.isEmpty {
                follower.yield(LogOutput(stream: stream, data: [UInt8](data), task: key.task, attempt: key.attempt))
            }
        }
    }

    /// The attempt has ended: its readers have had everything and end.
    func ended(_ key: Key) {
        queue.async { [self] in
            let followers = state.withLock { state in
                state.sizes[key] = nil
                return state.followers.removeValue(forKey: key) ?? []
            }
            for follower in followers { follower.finish() }
        }
    }

    /// Removes what a forgotten job's attempts printed.
    func remove(job: UInt64) {
        queue.async { [self] in
            state.withLock { state in
                state.sizes = state.sizes.filter { $0.key.job != job }
                for (key, followers) in state.followers where key.job == job {
                    for follower in followers { follower.finish() }
                    state.followers[key] = nil
                }
                for follower in state.jobFollowers.removeValue(forKey: job) ?? [] { follower.finish() }
            }
            try? FileManager.default.removeItem(atPath: "\(directory)/job-\(job)")
        }
    }

    /// Ends every reader with `error` (the coordinator stops).
    func stop(_ error: any Error) {
        queue.async { [self] in
            let followers = state.withLock { state in
                defer {
                    state.followers = [:]
                    state.jobFollowers = [:]
                }
                return state.followers.values.flatMap { $0 } + state.jobFollowers.values.flatMap { $0 }
            }
            for follower in followers { follower.finish(throwing: error) }
        }
    }

    /// Waits until everything asked so far is done (tests, and a clean stop).
    func settle() async {
        await withCheckedContinuation { continuation in queue.async { continuation.resume() } }
    }

    private func write(_ bytes: [UInt8], to path: String) {
        let folder = (path as NSString).deletingLastPathComponent
        var fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 {
            try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        }
        guard fd >= 0 else { return }
        defer { close(fd) }
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }

    private static func size(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }
}
