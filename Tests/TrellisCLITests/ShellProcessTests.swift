import Foundation
import Synchronization
import Testing
import TrellisExecution
import TrellisTestKit

/// `ShellProcess` on its own: how a process ends, where its output goes, and that cancelling it stops the whole
/// process group.
@Suite("Shell processes", .timeLimit(.minutes(1)))
struct ShellProcessTests {
    /// Collects what a forward sink receives, and lets a test wait for a piece of it.
    final class Output: Sendable {
        private let state = Mutex<[UInt8]>([])
        let pieces: AsyncStream<[UInt8]>
        private let continuation: AsyncStream<[UInt8]>.Continuation

        init() { (pieces, continuation) = AsyncStream.makeStream() }

        var sink: LogSink {
            .forward { [self] piece in
                state.withLock { $0 += piece }
                continuation.yield(piece)
            }
        }
        var text: String { String(decoding: state.withLock { $0 }, as: UTF8.self) }

        /// Waits until the output so far contains `needle`; returns it.
        func waitFor(_ needle: String) async -> String {
            for await _ in pieces where text.contains(needle) { break }
            return text
        }
    }

    func shell(
        _ command: String, stdout: LogSink = .forward { _ in }, stderr: LogSink = .forward { _ in },
        directory: String? = nil, outputs: Bool = false, grace: Duration = .seconds(5)
    ) -> ShellProcess {
        ShellProcess(
            command: command, environment: ProcessInfo.processInfo.environment, workingDirectory: directory,
            stdout: stdout, stderr: stderr, watchOutputs: outputs, gracePeriod: grace)
    }

    @Test func exitCodesSignalsAndTheTwoStreamsAreReportedApart() async {
        let out = Output()
        let err = Output()
        let end = await shell("echo to-out; echo to-err >&2; exit 3", stdout: out.sink, stderr: err.sink)
            .run(started: { _ in }, signalled: { _ in })
        #expect(end == .exited(3))
        #expect(out.text == "to-out\n")
        #expect(err.text == "to-err\n")
        let killed = await shell("kill -KILL $$").run(started: { _ in }, signalled: { _ in })
        #expect(killed == .signalled(SIGKILL))
    }

    @Test func manyProcessesAtOnceKeepTheirOwnOutputAndStatus() async {
        let results = await withTaskGroup(of: (Int, ProcessEnd, String).self) { group in
            for index in 0..<200 {
                group.addTask {
                    let out = Output()
                    let end = await shell("echo task-\(index); exit \(index % 7)", stdout: out.sink)
                        .run(started: { _ in }, signalled: { _ in })
                    return (index, end, out.text)
                }
            }
            var all: [(Int, ProcessEnd, String)] = []
            for await result in group { all.append(result) }
            return all
        }
        #expect(results.count == 200)
        for (index, end, text) in results {
            #expect(end == .exited(Int32(index % 7)))
            #expect(text == "task-\(index)\n")
        }
    }

    @Test func outputMarkersAreFoundAcrossPiecesAndOnlyWhenWatched() async {
        let names = Mutex<[String]>([])
        let command = "printf '::trellis out'; sleep 0.05; printf 'put first\\nnoise\\n::trellis output second\\n'"
        let end = await shell(command, outputs: true)
            .run(started: { _ in }, signalled: { name in names.withLock { $0.append(name) } })
        #expect(end == .exited(0))
        #expect(names.withLock { $0 } == ["first", "second"])
        let last = Mutex<[String]>([])
        _ = await shell("printf '::trellis output tail'", outputs: true)
            .run(started: { _ in }, signalled: { name in last.withLock { $0.append(name) } })
        #expect(last.withLock { $0 } == ["tail"], "a last line without its newline counts")
        let unwatched = Mutex(0)
        _ = await shell("echo '::trellis output first'", outputs: false)
            .run(started: { _ in }, signalled: { _ in unwatched.withLock { $0 += 1 } })
        #expect(unwatched.withLock { $0 } == 0)
    }

    @Test func logFilesAreCreatedAtTheFirstByteOnly() async throws {
        let scratch = try Scratch()
        let out = scratch.path + "/quiet.out"
        let err = scratch.path + "/quiet.err"
        let quiet = await shell("true", stdout: .file(out), stderr: .file(err)).run(
            started: { _ in }, signalled: { _ in })
        #expect(quiet == .exited(0))
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(!FileManager.default.fileExists(atPath: err))
        let loud = await shell("echo hello", stdout: .file(out), stderr: .file(err)).run(
            started: { _ in }, signalled: { _ in })
        #expect(loud == .exited(0))
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "hello\n")
        #expect(!FileManager.default.fileExists(atPath: err))
    }

    @Test func whatCannotStartSaysWhy() async throws {
        let scratch = try Scratch()
        let missing = scratch.path + "/no-such-directory"
        let end = await shell("true", directory: missing).run(started: { _ in }, signalled: { _ in })
        guard case .failedToStart(let message) = end else {
            Issue.record("expected failedToStart, got \(end)")
            return
        }
        #expect(message.contains(missing))
        #expect(message.contains("No such file or directory"))
        // A log that cannot be kept stops the process at once (it would otherwise sleep past the time limit).
        let unopenable = await shell("echo x; exec sleep 600", stdout: .file(missing + "/x.out"))
            .run(started: { _ in }, signalled: { _ in })
        guard case .failedToStart(let reason) = unopenable else {
            Issue.record("expected failedToStart, got \(unopenable)")
            return
        }
        #expect(reason.contains("cannot open its log") && reason.contains("x.out"))
        let full = await shell("echo x; exec sleep 600", stdout: .file("/dev/full"))
            .run(started: { _ in }, signalled: { _ in })
        guard case .failedToStart(let written) = full else {
            Issue.record("expected failedToStart, got \(full)")
            return
        }
        #expect(written.contains("cannot write its log /dev/full") && written.contains("No space left"))
    }

    /// The background `sleep` keeps stdout open, so the run ends only once it too is gone: cancelling stops the
    /// whole group, not only the shell.
    @Test func cancellingStopsTheWholeProcessGroup() async throws {
        let out = Output()
        let shellPid = Mutex<Int32>(0)
        let running = Task {
            await shell("sleep 600 & echo child $!; wait", stdout: out.sink)
                .run(started: { group in shellPid.withLock { $0 = group.leader } }, signalled: { _ in })
        }
        let text = await out.waitFor("\n")
        let child = try #require(Int32(text.split(separator: " ")[1].trimmingCharacters(in: .whitespacesAndNewlines)))
        running.cancel()
        #expect(await running.value == .stopped)
        #expect(!isRunning(child))
        #expect(!isRunning(shellPid.withLock { $0 }))
    }

    /// A group that ignores SIGTERM is killed once the grace period is over, on its owner's clock: an hour on
    /// a manual clock passes only when the test moves it.
    @Test func aProcessThatIgnoresTerminationIsKilledAfterTheGrace() async throws {
        let clock = ManualClock()
        let out = Output()
        var process = shell("trap '' TERM; sleep 600 & echo child $!; wait", stdout: out.sink, grace: .seconds(3600))
        process.sleep = { try await clock.sleep(for: $0) }
        let running = Task { await process.run(started: { _ in }, signalled: { _ in }) }
        let text = await out.waitFor("\n")
        let child = try #require(Int32(text.split(separator: " ")[1].trimmingCharacters(in: .whitespacesAndNewlines)))
        running.cancel()
        try await clock.waitForSleepers(count: 1)
        #expect(isRunning(child), "the group ignores SIGTERM, and its grace is not over")
        clock.advance(by: .seconds(3600))
        #expect(await running.value == .stopped)
        #expect(!isRunning(child))
        // The second after the SIGKILL, on the same clock, ends the stop.
        try await clock.waitForSleepers(count: 1)
        clock.advance(by: .seconds(1))
    }

    /// A process that left the group (`setsid`) survives the group's signals and keeps stdout open; once the
    /// group has had its SIGKILL, its pipes are not waited for, so the run still ends.
    @Test func aProcessThatLeftTheGroupDoesNotHoldTheRunForEver() async throws {
        let clock = ManualClock()
        let out = Output()
        // It says its pid once it has its own session, so the cancel cannot come before it left.
        var process = shell(
            "setsid sh -c 'echo escaped $$; exec sleep 600' & wait", stdout: out.sink, grace: .seconds(5))
        process.sleep = { try await clock.sleep(for: $0) }
        let running = Task { await process.run(started: { _ in }, signalled: { _ in }) }
        let text = await out.waitFor("\n")
        let child = try #require(Int32(text.split(separator: " ")[1].trimmingCharacters(in: .whitespacesAndNewlines)))
        defer { kill(child, SIGKILL) }
        running.cancel()
        // The grace, then the second after the SIGKILL: the pipes are given up only then.
        try await clock.waitForSleepers(count: 1)
        clock.advance(by: .seconds(5))
        try await clock.waitForSleepers(count: 1)
        clock.advance(by: .seconds(1))
        #expect(await running.value == .stopped)
        #expect(isRunning(child), "it left the group, so the group's signals did not reach it")
    }

    /// Alive: not gone, not a zombie waiting to be reaped by whichever process adopted it, and not exiting
    /// (a process's pipes close during its exit, a moment before it becomes a zombie: PF_EXITING is set first).
    func isRunning(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 6, let flags = UInt64(fields[6]) else { return false }
        let exiting: UInt64 = 0x4
        return fields[0] != "Z" && fields[0] != "X" && flags & exiting == 0
    }
}
