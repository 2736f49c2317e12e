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

    @Test func aTaskAndAWorkerSurviveTheWire() {
        let task = RemoteTask(
            id: 7, job: 2, name: "train", status: .failed, attempts: 3, worker: "gpu-1", exitCode: 137,
            message: "exit status 137", outputs: ["checkpoint"], value: [1, 2, 3], spec: Self.fullSpec())
        #expect(RemoteTask(Trellis_V1_TaskInfo(task)) == task)
        let quiet = RemoteTask(
            id: 8, job: 2, name: "wait", status: .waiting, attempts: 0, worker: nil, exitCode: nil, message: nil,
            outputs: [], value: nil, spec: nil)
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
}
