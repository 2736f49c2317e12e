import Testing
import TrellisProtocol

@testable import TrellisWorker

/// What a task prints goes to the coordinator while the stream keeps up; past a backlog it is dropped, and
/// the next piece that goes out says how much was lost, so a chatty task cannot grow the worker's memory.
@Suite("A worker's output under back-pressure")
struct WorkerOutputTests {
    @Test func outputPastTheBacklogIsDroppedAndSaidSo() async throws {
        let ref = WireAttempt(task: 1, epoch: 1, attempt: 1)
        let outbox = Outbox<WorkerReport>()
        var state = Worker.State()
        state.outbox = outbox
        state.running[ref.task] = Worker.Attempt(ref: ref, task: Task {})
        let piece: [UInt8] = Array(repeating: 120, count: 1_000)
        for _ in 0..<(Worker.outputBacklog + 10) { state.forward(piece, of: ref, on: .stdout) }
        #expect(state.running[ref.task]?.dropped == 10_000)
        let sent = try #require(try await outbox.next())
        #expect(sent.count == Worker.outputBacklog, "the stream did not read: the backlog waits, no more")

        state.forward([10], of: ref, on: .stderr)
        #expect(state.running[ref.task]?.dropped == 0)
        let next = try #require(try await outbox.next())
        guard case .log(_, .stderr, let note) = next.first, case .log(_, .stderr, [10]) = next.last, next.count == 2
        else {
            Issue.record("expected the note, then the piece: \(next)")
            return
        }
        #expect(String(decoding: note, as: UTF8.self).contains("10000 bytes of output dropped"))
    }

    @Test func outputWithoutAStreamIsNotKept() {
        let ref = WireAttempt(task: 1, epoch: 1, attempt: 1)
        var state = Worker.State()
        state.forward([1, 2, 3], of: ref, on: .stdout)
        #expect(state.pending.isEmpty)
    }
}
