public import GRPCCore
public import GRPCNIOTransportHTTP2
internal import TrellisProtocol

extension Coordinator {
    /// The client and worker services, for a `GRPCServer` over any transport.
    public var services: [any RegistrableRPCService] {
        [ClientService(coordinator: self), WorkerService(coordinator: self)]
    }

    /// The interceptor that checks every call's `authorization: Bearer <token>`.
    public static func tokenInterceptor(_ token: String) -> any ServerInterceptor {
        TokenInterceptor(expected: "Bearer \(token)")
    }

    /// The largest request the server reads: a 200,000-task request with short commands fits.
    public static var maxRequestBytes: Int { 64 * 1024 * 1024 }

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
            config: .defaults { $0.rpc.maxRequestPayloadSize = maxRequestBytes })
    }
}
