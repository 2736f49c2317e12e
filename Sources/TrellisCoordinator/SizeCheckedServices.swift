internal import GRPCCore
internal import GRPCProtobuf
internal import TrellisProtocol

/// Registers the client and worker services, then replaces the handlers of the methods that carry large
/// messages (AddTasks, the worker stream) with ones that check a message's size before decoding it: a client
/// then gets RESOURCE_EXHAUSTED saying how large the message was, where the transport alone would reset
/// the stream without a word.
struct SizeCheckedServices<C: Clock>: RegistrableRPCService where C.Duration == Duration {
    let client: ClientService<C>
    let worker: WorkerService<C>

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        client.registerMethods(with: &router)
        worker.registerMethods(with: &router)
        let limit = Coordinator<C>.maxRequestBytes
        let client = client
        let worker = worker
        router.registerHandler(
            forMethod: Trellis_V1_ClientService.Method.AddTasks.descriptor,
            deserializer: SizeCheckedDeserializer(ProtobufDeserializer<Trellis_V1_AddTasksRequest>(), limit: limit),
            serializer: ProtobufSerializer<Trellis_V1_AddTasksResponse>(),
            handler: { request, context in try await client.addTasks(request: request, context: context) })
        router.registerHandler(
            forMethod: Trellis_V1_WorkerService.Method.Connect.descriptor,
            deserializer: SizeCheckedDeserializer(ProtobufDeserializer<Trellis_V1_WorkerMessage>(), limit: limit),
            serializer: ProtobufSerializer<Trellis_V1_CoordinatorMessage>(),
            handler: { request, context in try await worker.connect(request: request, context: context) })
    }
}

/// Refuses a message over `limit` bytes before it is decoded.
struct SizeCheckedDeserializer<Inner: MessageDeserializer>: MessageDeserializer {
    typealias Message = Inner.Message
    let inner: Inner
    let limit: Int

    init(_ inner: Inner, limit: Int) {
        self.inner = inner
        self.limit = limit
    }

    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> Message {
        guard serializedMessageBytes.count <= limit else {
            throw RPCError(
                code: .resourceExhausted,
                message: "the message is \(serializedMessageBytes.count) bytes; the coordinator reads at most \(limit)")
        }
        return try inner.deserialize(serializedMessageBytes)
    }
}
