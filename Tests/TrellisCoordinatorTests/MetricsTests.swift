import Foundation
import Logging
import ServiceLifecycle
import Testing
import TrellisCoordinator
import TrellisHTTP
import TrellisProtocol
import TrellisWorker

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

@Suite("Prometheus metrics over HTTP", .timeLimit(.minutes(1)))
struct MetricsTests {
    /// GET `url` with `token` as a bearer token (none: no header); the status and the body.
    static func get(_ url: URL, token: String?) async throws -> (Int, String) {
        var request = URLRequest(url: url)
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    /// The value of the sample `line` starts with (`name{labels}`), in Prometheus' text format.
    static func value(_ sample: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(sample + " ") {
            return Double(line.dropFirst(sample.count + 1))
        }
        return nil
    }

    @Test("GET /metrics with the token: tasks by state, attempts, workers, journal and loop histograms; none without")
    func metricsBehindTheToken() async throws {
        try await Cluster.with(clock: ContinuousClock()) { cluster in
            try await cluster.startWorker(WorkerOptions(name: "w1", slots: 2))
            let done = try await cluster.add(.job([.shell("a", "true"), .shell("b", "exit 1", needs: ["a"])]))
            _ = try await cluster.watch(done.jobID)
            _ = try await cluster.add(.job([.shell("later", "true")], play: false))

            let (ports, port) = AsyncStream.makeStream(of: Int.self)
            let app = CoordinatorHTTP.application(
                coordinator: cluster.coordinator, token: Cluster<ContinuousClock>.token, host: "127.0.0.1", port: 0,
                logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
            ) { bound in
                port.yield(bound)
                port.finish()
            }
            let server = ServiceGroup(services: [app], logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
            try await withThrowingTaskGroup { group in
                group.addTask { try await server.run() }
                var bound = 0
                for await value in ports { bound = value }
                let url = try #require(URL(string: "http://127.0.0.1:\(bound)/metrics"))

                let (refused, body) = try await Self.get(url, token: nil)
                #expect(refused == 401 && !body.contains("trellis_tasks"))
                #expect(try await Self.get(url, token: "wrong").0 == 401)

                let (status, text) = try await Self.get(url, token: Cluster<ContinuousClock>.token)
                #expect(status == 200, "\(text)")
                #expect(Self.value("trellis_tasks{state=\"succeeded\"}", in: text) == 1, "\(text)")
                #expect(Self.value("trellis_tasks{state=\"failed\"}", in: text) == 1)
                #expect(Self.value("trellis_tasks{state=\"created\"}", in: text) == 1)
                #expect(Self.value("trellis_tasks_added_total", in: text) == 3)
                #expect(Self.value("trellis_attempts_total", in: text) == 2)
                #expect(Self.value("trellis_workers{state=\"connected\"}", in: text) == 1)
                #expect(Self.value("trellis_jobs", in: text) == 2)
                #expect(Self.value("trellis_task_run_seconds_count", in: text) == 2, "\(text)")
                #expect((Self.value("trellis_journal_commit_seconds_count", in: text) ?? 0) >= 1)
                #expect((Self.value("trellis_loop_turn_seconds_count", in: text) ?? 0) >= 1)
                #expect(text.contains("# TYPE trellis_loop_turn_seconds histogram"))

                var forget = Trellis_V1_ForgetJobsRequest()
                forget.jobIds = [done.jobID]
                _ = try await cluster.ops.forgetJobs(forget, metadata: cluster.metadata)
                let after = try await Self.get(url, token: Cluster<ContinuousClock>.token).1
                #expect(Self.value("trellis_tasks_forgotten_total", in: after) == 2)
                #expect(Self.value("trellis_tasks{state=\"succeeded\"}", in: after) == 0)
                #expect(Self.value("trellis_jobs", in: after) == 1)
                await server.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
    }
}
