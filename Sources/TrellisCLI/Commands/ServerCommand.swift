internal import ArgumentParser
internal import Foundation
internal import GRPCCore
internal import GRPCNIOTransportHTTP2
internal import Logging
internal import ServiceLifecycle
internal import TrellisCoordinator
internal import TrellisHTTP
internal import TrellisJournal
internal import TrellisSQLite
internal import TrellisWorker

/// `trellis server`: the coordinator, serving clients and workers over gRPC, durable in SQLite.
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run the coordinator: durable task and worker tables, gRPC for workers and operators.")

    @Option(help: "The SQLite database (created if missing).") var db = "trellis.db"
    @Option(help: "Where to listen, HOST:PORT (port 0 picks a free one).") var listen = "127.0.0.1:7070"
    @Option(
        help:
            "A file holding the token every call must carry (default: $TRELLIS_TOKEN, else ./trellis.token, created with a random token if missing)."
    ) var tokenFile: String?
    @Option(help: "TLS certificate chain (PEM); with --tls-key, the server speaks only TLS.") var tlsCertificate:
        String?
    @Option(help: "TLS private key (PEM).") var tlsKey: String?
    @Option(help: "A worker silent this long is lost and its tasks run again elsewhere.") var leaseTimeout = "10s"
    @Option(help: "How often workers send a heartbeat.") var heartbeat = "2s"
    @Option(help: "Between SIGTERM and SIGKILL when a running task is cancelled.") var cancelGrace = "10s"
    @Option(help: "How long a shutdown (SIGTERM, SIGINT) may take before what is left is cancelled.")
    var shutdownTimeout = "10s"
    @Flag(
        help:
            "Let workflows' triggers run shell commands on this host (file and time triggers are always checked here)."
    ) var commandTriggers = false
    @Option(
        help:
            "Journal entries between snapshots (at least twice the tasks known): a restart reads the latest snapshot and the entries after it."
    ) var snapshotInterval = 10_000
    @Option(
        help:
            "Forget a job this long after it ended (e.g. 7d), as `trellis job forget` does; by default jobs are kept until forgotten by hand."
    ) var forgetAfter: String?
    @Option(
        help:
            "A task whose attempts lose their worker this many times fails for good instead of taking down worker after worker (0: no limit)."
    ) var crashLimit = 5
    @Option(
        help:
            "Where what tasks print is kept, for `trellis task logs` (default: beside the database, DB.logs; 'none' keeps nothing)."
    ) var logs: String?
    @Option(
        help:
            "Serve Prometheus metrics over HTTP on HOST:PORT (GET /metrics, with the token as 'Authorization: Bearer')."
    ) var http: String?
    @OptionGroup var logging: LogOptions

    func validate() throws {
        guard snapshotInterval >= 1 else { throw ValidationError("--snapshot-interval must be at least 1") }
        guard crashLimit >= 0, crashLimit <= Int(Int32.max) else {
            throw ValidationError("--crash-limit must be 0 (no limit) or more")
        }
        guard (tlsCertificate == nil) == (tlsKey == nil) else {
            throw ValidationError("--tls-certificate and --tls-key go together")
        }
    }

    func run() async throws {
        let lease = try Duration.option(leaseTimeout, name: "--lease-timeout")
        let interval = try Duration.option(heartbeat, name: "--heartbeat")
        guard interval < lease else { throw ValidationError("--heartbeat must be shorter than --lease-timeout") }
        let grace = try Duration.option(cancelGrace, name: "--cancel-grace")
        let shutdown = try Duration.option(shutdownTimeout, name: "--shutdown-timeout")
        let retention = try forgetAfter.map { try Duration.option($0, name: "--forget-after") }
        let logger = try logging.logger("trellis.server")
        guard let address = CoordinatorAddress(listen) else {
            throw ValidationError("--listen: expected HOST:PORT, got '\(listen)'")
        }
        let token: String
        if tokenFile == nil, ProcessInfo.processInfo.environment["TRELLIS_TOKEN"]?.isEmpty == false {
            token = try Token.read(file: nil)
        } else if let tokenFile {
            token = try Token.read(file: tokenFile)
        } else if FileManager.default.fileExists(atPath: Token.defaultFile) {
            token = try Token.read(file: Token.defaultFile)
        } else {
            token = try Token.create(at: Token.defaultFile)
            logger.notice("wrote a new token to \(Token.defaultFile) (workers and operators read it from there)")
        }
        let journal = try Self.openJournal(db)
        let coordinator = Coordinator(
            journal: journal, clock: ContinuousClock(),
            configuration: CoordinatorConfiguration(
                heartbeatInterval: interval, leaseTimeout: lease, cancelGrace: grace,
                commandTriggers: commandTriggers, snapshotInterval: snapshotInterval, forgetAfter: retention,
                crashLimit: crashLimit == 0 ? nil : crashLimit,
                logDirectory: logs == "none" ? nil : (logs ?? Self.logDirectory(beside: db))),
            logger: Logger(label: "trellis.coordinator"))
        let transport = Coordinator<ContinuousClock>.transport(
            host: address.host, port: address.port, certificate: tlsCertificate, privateKey: tlsKey)
        let server = GRPCServer(
            transport: transport, services: coordinator.services,
            interceptors: [Coordinator<ContinuousClock>.tokenInterceptor(token)])
        // SIGTERM or SIGINT: the coordinator stops first (worker streams and watches end, what is pending is
        // refused as unavailable), then the gRPC server; a second signal, or the timeout, cancels what is left.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: GRPCServerService(server)), .init(service: coordinator),
        ]
        if let http {
            guard let endpoint = CoordinatorAddress(http) else {
                throw ValidationError("--http: expected HOST:PORT, got '\(http)'")
            }
            services.insert(
                .init(
                    service: CoordinatorHTTP.application(
                        coordinator: coordinator, token: token, host: endpoint.host, port: endpoint.port,
                        logger: Logger(label: "trellis.http"))),
                at: 0)
            logger.info("metrics on http://\(endpoint.host):\(endpoint.port)/metrics")
        }
        var configuration = ServiceGroupConfiguration(services: services, logger: logger)
        configuration.maximumGracefulShutdownDuration = shutdown
        let group = ServiceGroup(configuration: configuration)
        try await withThrowingDiscardingTaskGroup { tasks in
            tasks.addTask { try await group.runStoppedBySignals() }
            if let bound = try await transport.listeningAddress.ipv4 {
                logger.info("trellis server listening on \(bound.host):\(bound.port), database \(db)")
            }
        }
        logger.info("trellis server stopped")
    }

    /// `trellis.db` keeps its tasks' output in `trellis.logs`.
    static func logDirectory(beside database: String) -> String {
        let url = URL(fileURLWithPath: database)
        return url.deletingPathExtension().appendingPathExtension("logs").path
    }

    /// The coordinator's journal at `path`; a database an earlier Trellis wrote there is refused, not changed.
    static func openJournal(_ path: String) throws -> SQLiteJournal<CoordinatorRecord> {
        if FileManager.default.fileExists(atPath: path), try SQLiteJournal<CoordinatorRecord>.existing(at: path) == nil
        {
            throw ValidationError(
                "'\(path)' holds a coordinator database written by an earlier Trellis (coordinator store format 1), "
                    + "which this version does not read; move it away or pass another --db")
        }
        return try SQLiteJournal<CoordinatorRecord>(path: path)
    }
}
