import Foundation
import GRPCCore
import GRPCInProcessTransport
import Testing
import TrellisCoordinator
import TrellisJournal
import TrellisProtocol
import TrellisWorker

@Suite("The coordinator's bounded inbox")
struct InboxTests {
    /// With room for one input at a time, four workers' reports, a submission, watches and listings all wait
    /// their turn: nothing is lost and nothing deadlocks.
    @Test func aJobRunsThroughAnInboxOfOne() async throws {
        try await Cluster.with(clock: ContinuousClock(), configuration: CoordinatorConfiguration(inboxCapacity: 1)) {
            cluster in
            let handlers: [String: TaskHandler] = ["noop": { _ in [] }]
            for index in 0..<4 {
                try await cluster.startWorker(WorkerOptions(name: "w\(index)", slots: 4), handlers: handlers)
            }
            let specs = (0..<200).map { Trellis_V1_TaskSpec.handler("t\($0)", "noop") }
            let job = try await cluster.add(.job(specs))
            try await withThrowingTaskGroup { group in
                for _ in 0..<8 {
                    group.addTask { _ = try await cluster.ops.listWorkers(.init(), metadata: cluster.metadata) }
                }
                _ = try await cluster.watch(job.jobID)
                try await group.waitForAll()
            }
            let states = try await cluster.tasks(job: job.jobID).map(\.state)
            #expect(states.count == 200)
            #expect(states.allSatisfy { $0 == .succeeded })
            #expect(cluster.coordinator.inboxCount <= 1)
        }
    }

    /// A request that reaches a coordinator whose loop has stopped gets a clear answer, not silence.
    @Test func aRequestAfterTheLoopStoppedIsRefusedAsUnavailable() async throws {
        let transport = InProcessTransport()
        let coordinator = Coordinator(journal: InMemoryJournal<CoordinatorRecord>(), clock: ContinuousClock())
        let server = GRPCServer(
            transport: transport.server, services: coordinator.services,
            interceptors: [Coordinator<ContinuousClock>.tokenInterceptor(Cluster<ContinuousClock>.token)])
        try await withThrowingTaskGroup { group in
            group.addTask { try await server.serve() }
            let loop = Task { try await coordinator.run() }
            coordinator.stop()
            try await loop.value
            try await withGRPCClient(transport: transport.client) { client in
                let ops = Trellis_V1_ClientService.Client(wrapping: client)
                let metadata: Metadata = ["authorization": "Bearer \(Cluster<ContinuousClock>.token)"]
                await #expect {
                    _ = try await ops.listWorkers(.init(), metadata: metadata)
                } throws: { error in
                    let error = error as? RPCError
                    return error?.code == .unavailable && error?.message.contains("shutting down") == true
                }
            }
            server.beginGracefulShutdown()
            group.cancelAll()
        }
    }
}
