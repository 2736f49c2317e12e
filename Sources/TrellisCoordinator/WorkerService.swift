internal import GRPCCore
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
        var messages = request.makeAsyncIterator()
        guard let first = try await messages.next(), case .hello(let hello) = first.kind else {
            throw RPCError(code: .invalidArgument, message: "the first message on a worker stream must be `hello`")
        }
        guard !hello.name.isEmpty, hello.name.utf8.count <= RequestValidation.maxNameLength else {
            throw RPCError(code: .invalidArgument, message: "a worker needs a name of 1 to 256 bytes")
        }
        guard (1...Self.maxSlots).contains(hello.slots) else {
            throw RPCError(code: .invalidArgument, message: "a worker offers 1 to \(Self.maxSlots) slots")
        }
        let (outbox, continuation) = AsyncStream.makeStream(of: Trellis_V1_CoordinatorMessage.self)
        let connection: UInt64 = try await coordinator.request { .hello(hello, outbox: continuation, reply: $0) }
        try await withThrowingTaskGroup { group in
            group.addTask {
                for await message in outbox { try await response.write(message) }
            }
            defer { coordinator.send(.disconnected(connection: connection)) }
            do {
                while let message = try await messages.next() {
                    if case .hello = message.kind {
                        throw RPCError(code: .invalidArgument, message: "`hello` may only be the first message")
                    }
                    coordinator.send(.report(connection: connection, message))
                }
            } catch {
                group.cancelAll()
                throw error
            }
            continuation.finish()
            try await group.waitForAll()
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
