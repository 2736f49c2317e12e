public import GRPCNIOTransportHTTP2

/// A coordinator's address as `host:port`.
public struct CoordinatorAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` (port 0 lets a server pick one); nil when it is not one.
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65_535).contains(port), colon != text.startIndex
        else { return nil }
        host = String(text[..<colon])
        self.port = port
    }

    public var description: String { "\(host):\(port)" }

    /// An HTTP/2 client transport to the coordinator; TLS verified against `trustedCertificate` (a PEM file)
    /// when given, or the system's roots when `tls` is set, plaintext otherwise.
    public func transport(tls: Bool = false, trustedCertificate: String? = nil) throws -> HTTP2ClientTransport.Posix {
        let security: HTTP2ClientTransport.Posix.TransportSecurity
        if let trustedCertificate {
            security = .tls { $0.trustRoots = .certificates([.file(path: trustedCertificate, format: .pem)]) }
        } else if tls {
            security = .tls
        } else {
            security = .plaintext
        }
        return try HTTP2ClientTransport.Posix(
            target: .dns(host: host, port: port), transportSecurity: security,
            config: .defaults {
                $0.backoff.initial = .milliseconds(50)
                $0.backoff.max = .seconds(1)
            })
    }
}
