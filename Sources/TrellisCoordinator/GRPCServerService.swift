public import GRPCCore
public import ServiceLifecycle

/// A gRPC server as a `Service` of a `ServiceGroup`: it serves until the group shuts down gracefully (it then
/// takes no new calls and lets the running ones end) or is cancelled.
public struct GRPCServerService<Transport: ServerTransport>: Service {
    let server: GRPCServer<Transport>

    public init(_ server: GRPCServer<Transport>) {
        self.server = server
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await server.serve()
        } onGracefulShutdown: {
            server.beginGracefulShutdown()
        }
    }
}
