public import GRPCCore
public import GRPCNIOTransportHTTP2
internal import TrellisProtocol

extension Coordinator {
    /// The client and worker services, for a `GRPCServer` over any transport.
    public var services: [any RegistrableRPCService] {
        [SizeCheckedServices(client: ClientService(coordinator: self), worker: WorkerService(coordinator: self))]
    }

    /// The interceptor that checks every call's `authorization: Bearer <token>`.
    public static func tokenInterceptor(_ token: String) -> any ServerInterceptor {
        TokenInterceptor(expected: "Bearer \(token)")
    }

    /// The largest request the server reads: a 200,000-task request with short commands fits. A larger
    /// message is answered RESOURCE_EXHAUSTED, saying how large it was.
    public static var maxRequestBytes: Int { 64 * 1024 * 1024 }

    /// The HTTP/2 transport's own limit. It is above `maxRequestBytes` so that the services can answer a
    /// message between the two with a status; past this one the transport can only reset the stream.
    public static var transportMaxRequestBytes: Int { 4 * maxRequestBytes }

    /// An HTTP/2 transport on `host:port`, with TLS when a certificate and key (PEM files) are given.
    public static func transport(
        host: String, port: Int, certificate: String? = nil, privateKey: String? = nil
    ) -> HTTP2ServerTransport.Posix {
        let security: HTTP2ServerTransport.Posix.TransportSecurity =
            if let certificate, let privateKey {
                .tls(
                    certificateChain: [.file(path: certificate, format: .pem)],
                    privateKey: .file(path: privateKey, format: .pem))
            } else {
                .plaintext
            }
        return HTTP2ServerTransport.Posix(
            address: .ipv4(host: host, port: port), transportSecurity: security,
            config: .defaults { $0.rpc.maxRequestPayloadSize = transportMaxRequestBytes })
    }
}
