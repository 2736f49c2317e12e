public import Hummingbird
public import Logging
public import TrellisCoordinator

/// A coordinator over HTTP (hummingbird), behind the token of its gRPC API: `GET /metrics` answers every metric
/// in Prometheus' text format to a request with `Authorization: Bearer TOKEN`, which Prometheus' scrape
/// configuration sends (`authorization: {credentials_file: trellis.token}`).
public enum CoordinatorHTTP {
    /// The routes, for an application or a test.
    public static func router<C: Clock>(
        coordinator: Coordinator<C>, token: String
    ) -> Router<BasicRequestContext> where C.Duration == Duration {
        let router = Router()
        router.get("metrics") { request, _ -> Response in
            guard isAuthorized(request, token: token) else {
                return Response(
                    status: .unauthorized, headers: [.wwwAuthenticate: "Bearer realm=\"trellis\""],
                    body: ResponseBody(
                        byteBuffer: ByteBuffer(string: "send the coordinator's token as 'Authorization: Bearer'\n")))
            }
            let text = try await coordinator.metricsText()
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: text)))
        }
        return router
    }

    /// An application serving `router` on `host`:`port` (0: a free one, which `listening` is told): a
    /// swift-service-lifecycle `Service`.
    public static func application<C: Clock>(
        coordinator: Coordinator<C>, token: String, host: String, port: Int, logger: Logger,
        listening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol where C.Duration == Duration {
        Application(
            router: router(coordinator: coordinator, token: token),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "trellis"),
            onServerRunning: { channel in await listening(channel.localAddress?.port ?? port) },
            logger: logger)
    }

    /// Whether the request carries the token, compared in time that does not depend on where they differ.
    static func isAuthorized(_ request: Request, token: String) -> Bool {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return false }
        let given = Array(header.dropFirst("Bearer ".count).utf8)
        let expected = Array(token.utf8)
        guard given.count == expected.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(given, expected) { difference |= a ^ b }
        return difference == 0
    }
}
