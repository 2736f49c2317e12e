import Foundation
import Testing
import TrellisCore
import TrellisEngine

@testable import TrellisProtocol

/// Trellis's own remote types and the generated ones they become on the wire: what the coordinator answers
/// reaches a client unchanged, and what a client asks reaches the coordinator unchanged.
@Suite("Remote types on the wire")
struct RemoteWireTests {
    static func fullSpec() -> RemoteTaskSpec {
        var spec = RemoteTaskSpec(
            name: "train", work: .shell(command: "make model", environment: ["A": "1"], directory: "/srv"))
        spec.needs = [RemoteNeed(.name("prepare"), output: "rows"), RemoteNeed(.id(42))]
        spec.queue = "gpu-queue"
        spec.placement = Placement(type: "gpu", tags: ["cuda12"], resources: ["gpu": 1, "memory_gib": 4.5])
        spec.priority = -3
        spec.retries = 2
        spec.retryDelay = .milliseconds(1_500)
        spec.timeout = .seconds(90)
        spec.outputs = ["checkpoint"]
        spec.estimate = 12.5
        return spec
    }

    @Test func everyKindOfSpecSurvivesTheWire() throws {
        var trigger = RemoteTaskSpec(
            name: "ready",
            work: .trigger(.fileExists("in/ready"), interval: .seconds(5), timeout: .seconds(60), directory: "/data"))
        trigger.placement = .anywhere
        let handler = RemoteTaskSpec(name: "call", work: .handler(name: "resize", payload: [0, 1, 255]))
        let bare = RemoteTaskSpec(name: "plain", work: .shell(command: "true"))
        for spec in [Self.fullSpec(), trigger, handler, bare] {
            #expect(RemoteTaskSpec(Trellis_V1_TaskSpec(spec)) == spec)
            let stored = try Trellis_V1_TaskSpec(spec).serializedBytes() as [UInt8]
            #expect(RemoteTaskSpec(stored: stored) == spec)
        }
        #expect(RemoteTaskSpec(Trellis_V1_TaskSpec()) == nil)  // no work
        #expect(RemoteTaskSpec(stored: [0xFF, 0xFF, 0xFF]) == nil)
    }

    /// A field of a task's spec that this Trellis does not know (a newer client's) is handed back to whoever
    /// reads the task as it was stored, not dropped by re-making the spec from what this Trellis understood.
    @Test func aSpecsUnknownFieldsReachItsReader() {
        let unknown: [UInt8] = [0xA0, 0x38, 0x07]  // field 900, varint 7
        let task = RemoteTask(
            id: 1, job: 1, name: "train", status: .waiting, attempts: 0, worker: nil, exitCode: nil, message: nil,
            outputs: [], value: nil, storedSpec: Self.fullSpec().stored + unknown)
        let wire = Trellis_V1_TaskInfo(task)
        #expect(Array(wire.spec.unknownFields.data) == unknown)
        #expect(RemoteTask(wire).spec == Self.fullSpec())
        let unreadable = RemoteTask(
            id: 2, job: 1, name: "x", status: .waiting, attempts: 0, worker: nil, exitCode: nil, message: nil,
            outputs: [], value: nil, storedSpec: [0xFF, 0xFF, 0xFF])
        #expect(!Trellis_V1_TaskInfo(unreadable).hasSpec)
        #expect(unreadable.spec == nil)
    }

    @Test func aTaskAndAWorkerSurviveTheWire() {
        let task = RemoteTask(
            id: 7, job: 2, name: "train", status: .failed, attempts: 3, worker: "gpu-1", exitCode: 137,
            message: "exit status 137", outputs: ["checkpoint"], value: [1, 2, 3], storedSpec: Self.fullSpec().stored)
        #expect(RemoteTask(Trellis_V1_TaskInfo(task)) == task)
        let quiet = RemoteTask(
            id: 8, job: 2, name: "wait", status: .waiting, attempts: 0, worker: nil, exitCode: nil, message: nil,
            outputs: [], value: nil, storedSpec: nil)
        #expect(RemoteTask(Trellis_V1_TaskInfo(quiet)) == quiet)
        let worker = RemoteWorker(
            id: 1, name: "gpu-1", type: "gpu", tags: ["cuda12"], slots: 4, running: 2, resources: ["gpu": 2],
            status: "connected", lastSeen: Date(timeIntervalSince1970: 1_700_000_000.25))
        #expect(RemoteWorker(Trellis_V1_WorkerInfo(worker)) == worker)
        var unseen = worker
        unseen.lastSeen = nil
        #expect(RemoteWorker(Trellis_V1_WorkerInfo(unseen)) == unseen)
    }

    @Test func queriesAndSelectionsSurviveTheWire() {
        let queries = [
            RemoteTaskQuery(),
            RemoteTaskQuery(job: 3, statuses: [.running, .retrying], afterID: 100, limit: 50),
            RemoteTaskQuery(statuses: Set(TaskStatus.allCases.filter { $0 != .interrupted })),
            RemoteTaskQuery(statuses: []),
        ]
        for query in queries { #expect(RemoteTaskQuery(Trellis_V1_ListTasksRequest(query)) == query) }
        // States the wire does not name match nothing rather than everything.
        var unknown = Trellis_V1_ListTasksRequest()
        unknown.states = [.unspecified]
        #expect(RemoteTaskQuery(unknown).statuses == [])
        for selection in [RemoteSelection(ids: [1, 2]), RemoteSelection(job: 4), RemoteSelection(all: true)] {
            #expect(RemoteSelection(Trellis_V1_TaskSelection(selection)) == selection)
            #expect(!selection.isEmpty)
        }
        #expect(RemoteSelection(Trellis_V1_TaskSelection()).isEmpty)
    }

    @Test func theWorkerLinkSurvivesTheWire() throws {
        let ref = WireAttempt(task: 9, epoch: 3, attempt: 2)
        var hello = Trellis_V1_Hello()
        hello.name = "w1"
        hello.type = "gpu"
        hello.tags = ["a"]
        hello.slots = 4
        hello.resources = ["gpu": 2]
        hello.running = [Trellis_V1_AttemptRef(ref)]
        #expect(
            WorkerHello(hello)
                == WorkerHello(name: "w1", type: "gpu", tags: ["a"], slots: 4, resources: ["gpu": 2], running: [ref]))

        var finished = Trellis_V1_Finished()
        finished.attempt = Trellis_V1_AttemptRef(ref)
        finished.signal = 9
        var message = Trellis_V1_WorkerMessage()
        message.finished = finished
        #expect(WorkerReport(message) == .finished(ref, .signalled(9), timeMs: 0))
        finished.result = nil
        message.finished = finished
        #expect(WorkerReport(message) == .finished(ref, .missing, timeMs: 0))
        message.hello = hello
        #expect(WorkerReport(message) == nil)  // only a stream's first message may be a hello

        let spec = Self.fullSpec()
        let stored = try Trellis_V1_TaskSpec(spec).serializedBytes() as [UInt8]
        let assign = Trellis_V1_CoordinatorMessage(
            .assign([WorkerAssignment(attempt: ref, job: 5, spec: stored, inputs: ["model": [7, 8]])]))
        let wire = try #require(assign.assignments.assignments.first)
        #expect(WireAttempt(wire.attempt) == ref)
        #expect(wire.jobID == 5)
        #expect(RemoteTaskSpec(wire.spec) == spec)
        #expect(wire.inputs == ["model": Data([7, 8])])
        let cancel = Trellis_V1_CoordinatorMessage(.cancel(ref, grace: .milliseconds(2_500)))
        #expect(cancel.cancel.graceMs == 2_500)
        let welcome = Trellis_V1_CoordinatorMessage(
            .welcome(worker: 4, epoch: 3, heartbeat: .seconds(5), lease: .seconds(30), abandon: [ref]))
        #expect(welcome.welcome.heartbeatIntervalMs == 5_000)
        #expect(welcome.welcome.leaseTimeoutMs == 30_000)
        #expect(welcome.welcome.abandon.map(WireAttempt.init) == [ref])
    }

    @Test func aWorkersReportsAndWhatItIsToldSurviveTheWire() throws {
        let ref = WireAttempt(task: 12, epoch: 2, attempt: 1)
        let hello = WorkerHello(
            name: "w2", type: "", tags: [], slots: 8, resources: [:], handlers: ["double"], running: [ref])
        #expect(WorkerHello(Trellis_V1_WorkerMessage(hello).hello) == hello)
        let reports: [WorkerReport] = [
            .heartbeat(running: [ref]), .started(ref, pid: 4242, timeMs: 1_000),
            .output(ref, name: "rows", timeMs: 1_001),
            .finished(ref, .exited(3), timeMs: 1_002), .finished(ref, .value([9]), timeMs: 1_003),
            .finished(ref, .error("stopped"), timeMs: 1_004), .log(ref, .stderr, [104, 105]), .log(ref, .stdout, [10]),
            .drain,
        ]
        for report in reports { #expect(WorkerReport(Trellis_V1_WorkerMessage(report)) == report) }

        let spec = Self.fullSpec()
        let stored = try Trellis_V1_TaskSpec(spec).serializedBytes() as [UInt8]
        let sent: [SentInstruction] = [
            .welcome(worker: 1, epoch: 2, heartbeat: .seconds(5), lease: .seconds(30), abandon: [ref]),
            .assign([WorkerAssignment(attempt: ref, job: 3, spec: stored, inputs: ["x": [1]])]),
            .cancel(ref, grace: .seconds(10)), .stale(ref), .broadcast("drain"),
        ]
        let received: [ReceivedInstruction] = [
            .welcome(worker: 1, epoch: 2, heartbeat: .seconds(5), lease: .seconds(30), abandon: [ref]),
            .assign([WorkerAssignment(attempt: ref, job: 3, spec: Optional(spec), inputs: ["x": [1]])]),
            .cancel(ref, grace: .seconds(10)), .stale(ref), .broadcast("drain"),
        ]
        for (instruction, expected) in zip(sent, received) {
            #expect(ReceivedInstruction(Trellis_V1_CoordinatorMessage(instruction)) == expected)
        }
        #expect(ReceivedInstruction(Trellis_V1_CoordinatorMessage()) == nil)
    }
}
