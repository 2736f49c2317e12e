import Foundation
import Synchronization
import Testing
import TrellisCLI
import TrellisEngine
import TrellisWorkflow

/// A scratch directory per test, removed at the end.
final class Scratch: Sendable {
    let url: URL
    var path: String { url.path }

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("trellis-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// Writes a workflow file and returns its path.
    func write(_ name: String, _ text: String) throws -> String {
        let file = url.appendingPathComponent(name)
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    func read(_ name: String) -> String? {
        try? String(contentsOf: url.appendingPathComponent(name), encoding: .utf8)
    }

    /// Lines of a side-effect file written by tasks.
    func lines(_ name: String) -> [String] {
        (read(name) ?? "").split(separator: "\n").map(String.init)
    }
}

/// Events gathered from a run, in order.
final class EventLog: Sendable {
    private let events = Mutex<[RunEvent]>([])
    private let onEvent: (@Sendable (RunEvent) -> Void)?

    init(onEvent: (@Sendable (RunEvent) -> Void)? = nil) {
        self.onEvent = onEvent
    }

    func record(_ event: RunEvent) {
        events.withLock { $0.append(event) }
        onEvent?(event)
    }

    var all: [RunEvent] { events.withLock { $0 } }

    func position(of predicate: (RunEvent) -> Bool) -> Int? { all.firstIndex(where: predicate) }

    func started(_ task: String) -> Int? {
        position { if case .started(task, _, _, _) = $0 { true } else { false } }
    }

    func finished(_ task: String) -> Int? {
        position { if case .finished(task, _, let state, _, _, _) = $0 { state != .retrying } else { false } }
    }
}

/// Runs a workflow text in-process with the local runner; its journal under `scratch`.
func runWorkflow(
    _ yaml: String, in scratch: Scratch, name: String = "flow.yaml", restart: Bool = false,
    log: EventLog = EventLog(), runnerReady: (@Sendable (LocalRunner<ContinuousClock>) -> Void)? = nil
) async throws -> RunSummary {
    let file = try scratch.write(name, yaml)
    let workflow = try WorkflowLoader.load(path: file)
    let plan = try workflow.plan()
    let state = scratch.path + "/.trellis/" + (name as NSString).deletingPathExtension
    try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
    let runner = LocalRunner(
        plan: plan,
        options: RunOptions(
            stateDirectory: state, restart: restart, gracePeriod: .seconds(2), baseDirectory: scratch.path),
        clock: ContinuousClock())
    runnerReady?(runner)
    return try await runner.run(events: log.record)
}

extension RunSummary {
    func state(_ task: String) -> TaskStatus? { snapshot.task(task)?.state }
    func attempts(_ task: String) -> Int { snapshot.task(task)?.attempts.count ?? 0 }
}

/// `syscall(2)` with two integer arguments. Swift does not import C variadic functions; glibc's `syscall` reads
/// only integer registers, so calling it through a fixed prototype is sound on x86-64 and arm64 Linux.
@_silgen_name("syscall")
private func syscall2(_ number: Int, _ first: Int, _ second: Int) -> Int

/// Waits for process `pid` to end, by polling its pidfd (an event, not a sleep); `true` once it has ended
/// (or is a zombie), `false` if it still runs after `timeoutMilliseconds`.
func processEnds(_ pid: Int32, timeoutMilliseconds: Int32 = 5_000) -> Bool {
    // pidfd_open is system call 434 on every Linux architecture.
    let descriptor = Int32(truncatingIfNeeded: syscall2(434, Int(pid), 0))
    guard descriptor >= 0 else { return !isRunning(pid) }
    defer { close(descriptor) }
    var request = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
    return poll(&request, 1, timeoutMilliseconds) == 1 || !isRunning(pid)
}
