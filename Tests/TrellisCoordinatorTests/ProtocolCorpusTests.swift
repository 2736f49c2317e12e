import Foundation
import GRPCCore
import GRPCInProcessTransport
import Testing
import TrellisCoordinator
import TrellisProtocol
import TrellisTestKit
import TrellisWorker

/// A corpus of bad protocol input, as a client written from the `.proto` files alone might send it. Every
/// case gets a clear status and message; none changes anything, and the coordinator serves a real job after
/// all of them, on the same connection.
@Suite("Malformed protocol corpus", .timeLimit(.minutes(1)))
struct ProtocolCorpusTests {
    typealias Spec = Trellis_V1_TaskSpec

    /// A call that must fail with `code` and a message containing `fragment`.
    struct Case: CustomStringConvertible, Sendable {
        var description: String
        var code: RPCError.Code
        var fragment: String
        var call: @Sendable (Cluster<ContinuousClock>) async throws -> Void
    }

    static func add(
        _ description: String, _ fragment: String, code: RPCError.Code = .invalidArgument, _ specs: [Spec]
    )
        -> Case
    {
        Case(description: description, code: code, fragment: fragment) { cluster in
            _ = try await cluster.add(.job(specs))
        }
    }

    static func spec(_ change: (inout Spec) -> Void) -> Spec {
        var spec = Spec.shell("t", "true")
        change(&spec)
        return spec
    }

    static func worker(_ description: String, _ fragment: String, _ messages: [Trellis_V1_WorkerMessage]) -> Case {
        Case(description: description, code: .invalidArgument, fragment: fragment) { cluster in
            let raw = Trellis_V1_WorkerService.Client(wrapping: cluster.client)
            try await raw.connect(
                metadata: cluster.metadata,
                requestProducer: { writer in for message in messages { try await writer.write(message) } },
                onResponse: { response in for try await _ in response.messages {} })
        }
    }

    static func hello(_ change: (inout Trellis_V1_Hello) -> Void) -> Trellis_V1_WorkerMessage {
        var message = RawWorker.hello("corpus")
        change(&message.hello)
        return message
    }

    static func selection(_ change: (inout Trellis_V1_TaskSelection) -> Void) -> Trellis_V1_TaskSelection {
        var selection = Trellis_V1_TaskSelection()
        change(&selection)
        return selection
    }

    static let cases: [Case] = [
        add("no tasks", "the request has no tasks", []),
        add("a task without a name", "a task has no name", [spec { $0.name = "" }]),
        add(
            "a name of 300 bytes", "name longer than 256 bytes", [spec { $0.name = String(repeating: "n", count: 300) }]
        ),
        add("a NUL in a name", "contains a control character", [spec { $0.name = "a\u{0}b" }]),
        add("an escape in a tag", "contains a control character", [spec { $0.tags = ["\u{1B}[31m"] }]),
        add("duplicate names", "duplicate task name 't'", [spec { _ in }, spec { _ in }]),
        add(
            "a cycle", "dependency cycle: a → b → a",
            [Spec.shell("a", "true", needs: ["b"]), Spec.shell("b", "true", needs: ["a"])]),
        add("a self need", "'a' needs itself", [Spec.shell("a", "true", needs: ["a"])]),
        add("an unknown need", "'a' needs unknown task 'ghost'", [Spec.shell("a", "true", needs: ["ghost"])]),
        add(
            "a need on an unknown id", "needs task 424242, which does not exist",
            [
                spec {
                    var need = Trellis_V1_Need(); need.taskID = 424_242; $0.needs = [need]
                }
            ]),
        add(
            "a need on an undeclared output", "which does not declare it",
            [
                Spec.shell("a", "true"),
                spec {
                    var need = Trellis_V1_Need(); need.name = "a"; need.output = "o"; $0.needs = [need]
                },
            ]),
        add(
            "a need that names nothing", "has a need with neither a task id nor a name",
            [spec { $0.needs = [Trellis_V1_Need()] }]),
        add("no work", "has neither a shell command, a handler nor a trigger", [spec { $0.work = nil }]),
        add("an empty command", "has an empty command", [Spec.shell("t", "")]),
        add(
            "a command of 300 KB", "command longer than 262144 bytes",
            [Spec.shell("t", String(repeating: "x", count: 300_000))]),
        add(
            "a command of 10 MiB", "command longer than 262144 bytes",
            [Spec.shell("t", String(repeating: "x", count: 10 << 20))]),
        add("a NUL in a command", "contains a NUL character", [Spec.shell("t", "echo a\u{0}rm -rf x")]),
        add(
            "a NUL in an environment value", "contains a NUL character",
            [spec { $0.shell.environment = ["A": "x\u{0}"] }]),
        add("an '=' in a variable name", "contains '='", [spec { $0.shell.environment = ["A=B": "x"] }]),
        add("a handler without a name", "calls a handler with no name", [Spec.handler("t", "")]),
        add("1000 retries", "1000 retries; at most 100", [spec { $0.retries = 1000 }]),
        add("a timeout of UInt64.max ms", "longer than 365 days", [spec { $0.timeoutMs = .max }]),
        add("a retry delay of UInt64.max ms", "longer than 365 days", [spec { $0.retryDelayMs = .max }]),
        add("a NaN estimate", "the estimate must be a finite", [spec { $0.estimateSeconds = .nan }]),
        add("a negative resource", "must be a finite amount ≥ 0", [spec { $0.resources = ["gpu": -1] }]),
        add("an infinite resource", "must be a finite amount ≥ 0", [spec { $0.resources = ["gpu": .infinity] }]),
        add("a duplicated output", "declares an output twice", [spec { $0.outputs = ["o", "o"] }]),
        Case(description: "an unknown policy", code: .invalidArgument, fragment: "unknown policy 'fastest'") {
            var request = Trellis_V1_AddTasksRequest.job([Spec.shell("t", "true")])
            request.policy = "fastest"
            _ = try await $0.add(request)
        },
        Case(description: "adding to an unknown job", code: .notFound, fragment: "424242") {
            var request = Trellis_V1_AddTasksRequest.job([Spec.shell("t", "true")])
            request.jobID = 424_242
            _ = try await $0.add(request)
        },
        Case(description: "a request of 68 MB", code: .resourceExhausted, fragment: "the coordinator reads at most") {
            let command = String(repeating: "x", count: 200 * 1024)
            _ = try await $0.add(.job((0..<340).map { Spec.shell("t\($0)", command) }))
        },
        worker(
            "a stream that starts with a heartbeat", "must be `hello`", [RawWorker.started(Trellis_V1_AttemptRef())]),
        worker("a hello without a name", "a worker needs a name", [hello { $0.name = "" }]),
        worker("a hello with 0 slots", "a worker offers 1 to 4096 slots", [hello { $0.slots = 0 }]),
        worker("a hello with 5000 slots", "a worker offers 1 to 4096 slots", [hello { $0.slots = 5000 }]),
        worker("a hello with a NaN resource", "must be a finite amount", [hello { $0.resources = ["gpu": .nan] }]),
        worker("a second hello", "`hello` may only be the first message", [hello { _ in }, hello { _ in }]),
        worker(
            "a hello posing as the coordinator's own executor", "reserved for the coordinator",
            [hello { $0.name = "@coordinator" }]),
        worker("a hello of a reserved type", "reserved for the coordinator", [hello { $0.type = "@coordinator" }]),
        Case(description: "an empty selection", code: .invalidArgument, fragment: "select tasks by id, by job, or all")
        {
            _ = try await $0.ops.play(selection { _ in }, metadata: $0.metadata)
        },
        Case(description: "cancelling an unknown task", code: .notFound, fragment: "there is no task 424242") {
            _ = try await $0.ops.cancel(selection { $0.taskIds = [424_242] }, metadata: $0.metadata)
        },
        Case(description: "pausing an unknown job", code: .notFound, fragment: "there is no job 424242") {
            _ = try await $0.ops.pause(selection { $0.jobID = 424_242 }, metadata: $0.metadata)
        },
        Case(description: "showing an unknown task", code: .notFound, fragment: "there is no task 424242") {
            var request = Trellis_V1_ShowTaskRequest()
            request.taskID = 424_242
            _ = try await $0.ops.showTask(request, metadata: $0.metadata)
        },
        Case(description: "watching an unknown job", code: .notFound, fragment: "there is no job 424242") {
            _ = try await $0.watch(424_242)
        },
        Case(description: "an empty broadcast", code: .invalidArgument, fragment: "1 byte to 64 KiB") {
            _ = try await $0.ops.broadcast(Trellis_V1_BroadcastRequest(), metadata: $0.metadata)
        },
        Case(description: "a wrong token", code: .unauthenticated, fragment: "a valid token is required") {
            _ = try await $0.ops.listWorkers(Trellis_V1_ListWorkersRequest(), metadata: ["authorization": "Bearer no"])
        },
    ]

    @Test func everyCaseIsRefusedClearlyAndTheCoordinatorKeepsServing() async throws {
        try await Cluster.with(clock: ContinuousClock()) { cluster in
            for entry in Self.cases {
                do {
                    try await entry.call(cluster)
                    Issue.record("\(entry) was accepted")
                } catch let error as RPCError {
                    #expect(error.code == entry.code, "\(entry): \(error)")
                    #expect(error.message.contains(entry.fragment), "\(entry): \(error.message)")
                }
            }
            #expect(Self.cases.count >= 40)
            #expect(try await cluster.tasks(job: 1).isEmpty)
            try await cluster.startWorker(WorkerOptions(name: "w1"))
            let job = try await cluster.add(.job([.shell("fine", "true")]))
            _ = try await cluster.watch(job.jobID)
            #expect(try await cluster.tasks(job: job.jobID).map(\.state) == [.succeeded])
        }
    }
}
