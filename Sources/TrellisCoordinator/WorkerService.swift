internal import GRPCCore
internal import Synchronization
internal import TrellisProtocol

/// The workers' service: one stream per worker. The first message must be `hello`; after it, every
/// report goes into the coordinator's loop and every message the loop has for this worker comes out.
struct WorkerService<C: Clock>: Trellis_V1_WorkerService.SimpleServiceProtocol where C.Duration == Duration {
    let coordinator: Coordinator<C>
    /// Most slots one worker may offer.
    static var maxSlots: UInt32 { 4096 }

    func connect(
        request: RPCAsyncSequence<Trellis_V1_WorkerMessage, any Error>,
        response: RPCWriter<Trellis_V1_CoordinatorMessage>, context: ServerContext
    ) async throws {
        let outbox = WorkerOutbox()
        let connection = ConnectionID()
        defer {
            if let id = connection.value { coordinator.post(.disconnected(connection: id)) }
        }
        // Whichever side ends first ends the stream: the worker closing it, or the coordinator (the worker
        // was replaced by a reconnect, or lost).
        try await withThrowingTaskGroup { group in
            group.addTask {
                try await outbox.drain {
                    try await response.write(contentsOf: $0.map(Trellis_V1_CoordinatorMessage.init))
                }
            }
            group.addTask {
                for try await message in request {
                    guard let id = connection.value else {
                        guard case .hello(let hello) = message.kind else {
                            throw RPCError(
                                code: .invalidArgument, message: "the first message on a worker stream must be `hello`")
                        }
                        try Self.check(hello)
                        let id: UInt64 = try await coordinator.request {
                            .hello(WorkerHello(hello), outbox: outbox, reply: $0)
                        }
                        connection.value = id
                        continue
                    }
                    if case .hello = message.kind {
                        throw RPCError(code: .invalidArgument, message: "`hello` may only be the first message")
                    }
                    // A kind this coordinator does not know still tells that the worker is alive. Waits while
                    // the coordinator's inbox is full: the worker's stream slows down.
                    await coordinator.send(.report(connection: id, WorkerReport(message) ?? .heartbeat(running: [])))
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    static func check(_ hello: Trellis_V1_Hello) throws {
        guard !hello.name.isEmpty, hello.name.utf8.count <= RequestValidation.maxNameLength else {
            throw RPCError(code: .invalidArgument, message: "a worker needs a name of 1 to 256 bytes")
        }
        guard (1...maxSlots).contains(hello.slots) else {
            throw RPCError(code: .invalidArgument, message: "a worker offers 1 to \(maxSlots) slots")
        }
        // The coordinator's embedded executor takes its name and type: no connection may pose as it.
        let reserved = JobRequest.reservedPrefix
        guard !hello.name.hasPrefix(reserved), !hello.type.hasPrefix(reserved) else {
            throw RPCError(
                code: .invalidArgument,
                message: "worker names and types beginning with '\(reserved)' are reserved for the coordinator")
        }
        let limit = RequestValidation.maxListed
        guard hello.tags.count <= limit, hello.resources.count <= limit, hello.running.count <= Int(maxSlots) * 4 else {
            throw RPCError(
                code: .invalidArgument,
                message: "a worker offers at most \(limit) tags and \(limit) resources and names at most "
                    + "\(Int(maxSlots) * 4) attempts in flight")
        }
        for (name, amount) in hello.resources where !(amount >= 0) || !amount.isFinite {
            throw RPCError(code: .invalidArgument, message: "resource '\(name)' must be a finite amount ≥ 0")
        }
    }
}

/// Refuses every call that does not carry `authorization: Bearer <token>`.
struct TokenInterceptor: ServerInterceptor {
    let expected: String

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let presented = request.metadata[stringValues: "authorization"].first(where: { _ in true })
        guard let presented, constantTimeEqual(presented, expected) else {
            throw RPCError(code: .unauthenticated, message: "a valid token is required (authorization: Bearer <token>)")
        }
        return try await next(request, context)
    }

    /// Compares without stopping at the first difference, so timing tells nothing about the token.
    func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        var difference = x.count ^ y.count
        for index in 0..<min(x.count, y.count) { difference |= Int(x[index] ^ y[index]) }
        return difference == 0
    }
}

/// The connection id a worker stream got from its `hello`, shared by the stream's two halves.
final class ConnectionID: Sendable {
    private let id = Mutex<UInt64?>(nil)
    var value: UInt64? {
        get { id.withLock { $0 } }
        set { id.withLock { $0 = newValue } }
    }
}
