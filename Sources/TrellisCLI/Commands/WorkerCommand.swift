internal import ArgumentParser
internal import Foundation
internal import GRPCCore
internal import Logging
internal import ServiceLifecycle
internal import TrellisExecution
internal import TrellisProtocol
internal import TrellisWorker

/// `trellis worker`: run tasks for a coordinator; `trellis worker list`: the coordinator's workers.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Run a worker, or list the coordinator's workers.",
        subcommands: [WorkerRunCommand.self, WorkerListCommand.self], defaultSubcommand: WorkerRunCommand.self)
}

struct WorkerRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Connect to the coordinator and run what it assigns until drained (SIGTERM).")

    @OptionGroup var remote: RemoteOptions
    @Option(help: "A stable name (default: host name and process id).") var name: String?
    @Option(help: "The worker type: blocking (processes), async (I/O), or any type tasks ask for.")
    var type = "blocking"
    @Option(help: "Comma-separated tags a task may require.") var tags = ""
    @Option(help: "Tasks run at once (default: the number of processors).") var slots: Int?
    @Option(help: "A resource this worker has, NAME=AMOUNT (repeatable), e.g. gpu=2.") var resource: [String] = []
    @Option(help: "Between SIGTERM and SIGKILL when a task is cancelled or times out.") var grace = "10s"
    @OptionGroup var logging: LogOptions

    func run() async throws {
        var resources: [String: Double] = [:]
        for item in resource {
            let parts = item.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let amount = Double(parts[1]), amount >= 0 else {
                throw ValidationError("--resource: expected NAME=AMOUNT, got '\(item)'")
            }
            resources[String(parts[0])] = amount
        }
        let slots = slots ?? ProcessInfo.processInfo.activeProcessorCount
        guard (1...4096).contains(slots) else { throw ValidationError("--slots: 1 to 4096") }
        let endpoint = try remote.endpoint
        let logger = try logging.logger("trellis.worker")
        let workerName = name ?? "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
        let mark = "\(workerName)@\(endpoint)"
        let options = WorkerOptions(
            name: workerName, type: type, tags: tags.split(separator: ",").map(String.init), slots: slots,
            resources: resources, gracePeriod: try Duration.option(grace, name: "--grace"), orphanMark: mark)
        // Tasks a killed worker of this name left running belong to nobody now; the coordinator runs them
        // again as new attempts, so the old processes must not go on writing their effects.
        let orphans = OrphanReaper.reap(OrphanReaper.workerKey, mark)
        if !orphans.isEmpty {
            logger.notice("stopped \(orphans.count) process(es) left by an earlier worker \(options.name)")
        }
        let worker = Worker(options: options) { event in
            switch event {
            case .welcomed(let id, let epoch):
                logger.info("worker \(options.name) (id \(id)) connected to \(endpoint), epoch \(epoch)")
            case .broadcast(let message): logger.info("broadcast: \(message)")
            case .stale(let task, let attempt):
                logger.notice("task \(task) attempt \(attempt) is no longer wanted; stopped")
            }
        }
        let transport = try endpoint.transport(tls: remote.tls, trustedCertificate: remote.caCertificate)
        // SIGTERM or SIGINT drains (no new tasks; the running ones finish); a second one stops them at once.
        // A drain asked for by a broadcast ends the worker the same way.
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(
                        service: WorkerProcess(worker: worker, transport: transport, token: try remote.token),
                        successTerminationBehavior: .gracefullyShutdownGroup)
                ],
                logger: logger))
        let forced: Bool
        do {
            forced = try await group.runStoppedBySignals()
        } catch let error as RPCError {
            throw RemoteError(endpoint: endpoint, error: error)
        }
        if forced {
            logger.notice("worker \(options.name) stopped; the tasks it ran were stopped and run again elsewhere")
        } else {
            logger.info("worker \(options.name) drained")
        }
    }
}

/// A worker as a `Service`: a graceful shutdown drains it, cancellation stops its tasks at once.
struct WorkerProcess<Transport: ClientTransport>: Service {
    let worker: Worker
    let transport: Transport
    let token: String

    func run() async throws {
        do {
            try await withGracefulShutdownHandler {
                try await worker.run(transport: transport, token: token)
            } onGracefulShutdown: {
                worker.drain()
            }
        } catch is CancellationError {
            // Stopped by a second signal, perhaps while waiting to reconnect: its tasks are already stopped.
        }
    }
}

struct WorkerListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the coordinator's workers.")

    @OptionGroup var remote: RemoteOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let workers = try await remote.withClient { client in try await client.workers() }
        if json {
            print(JSONOutput.encode(.array(workers.map(RemoteJSON.worker))))
            return
        }
        var rows = [["ID", "NAME", "TYPE", "TAGS", "SLOTS", "RUNNING", "STATUS"]]
        for worker in workers {
            rows.append([
                String(worker.id), worker.name, worker.type, worker.tags.joined(separator: ","), String(worker.slots),
                String(worker.running), worker.status,
            ])
        }
        print(Table.render(rows, rightAligned: [0, 4, 5]))
    }
}
