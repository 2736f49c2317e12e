internal import ArgumentParser
internal import Foundation
internal import GRPCCore
internal import GRPCNIOTransportHTTP2
internal import TrellisCore
internal import TrellisProtocol
internal import TrellisWorker

/// How a command reaches a coordinator: its address, the token, and TLS.
struct RemoteOptions: ParsableArguments {
    @Option(help: "The coordinator, HOST:PORT (default: $TRELLIS_SERVER, else 127.0.0.1:7070).")
    var server: String?
    @Option(help: "A file holding the token (default: $TRELLIS_TOKEN, else ./trellis.token).")
    var tokenFile: String?
    @Flag(help: "Connect with TLS, trusting the system's roots.") var tls = false
    @Option(help: "Connect with TLS, trusting this CA certificate (PEM).") var caCertificate: String?

    var endpoint: CoordinatorAddress {
        get throws {
            let text = server ?? ProcessInfo.processInfo.environment["TRELLIS_SERVER"] ?? "127.0.0.1:7070"
            guard let endpoint = CoordinatorAddress(text) else {
                throw ValidationError("--server: expected HOST:PORT, got '\(text)'")
            }
            return endpoint
        }
    }

    var token: String {
        get throws { try Token.read(file: tokenFile) }
    }

    /// Runs `body` with a client of the coordinator; RPC errors become one clear line.
    func withClient<R: Sendable>(
        _ body: (CoordinatorClient<HTTP2ClientTransport.Posix>) async throws -> R
    ) async throws -> R {
        let endpoint = try endpoint
        let token = try token
        let transport = try endpoint.transport(tls: tls, trustedCertificate: caCertificate)
        do {
            return try await withGRPCClient(transport: transport) { client in
                try await body(CoordinatorClient(client, token: token))
            }
        } catch let error as RPCError {
            throw RemoteError(endpoint: endpoint, error: error)
        }
    }
}

/// An RPC failure, said plainly.
struct RemoteError: Error, CustomStringConvertible {
    var endpoint: CoordinatorAddress
    var error: RPCError

    var description: String {
        switch error.code {
        case .unavailable: "cannot reach the coordinator at \(endpoint): \(error.message)"
        case .unauthenticated: "the coordinator at \(endpoint) refused the token (check --token-file or TRELLIS_TOKEN)"
        default: error.message
        }
    }
}

/// The shared secret every RPC carries.
enum Token {
    static let defaultFile = "trellis.token"

    static func read(file: String?) throws -> String {
        if file == nil, let token = ProcessInfo.processInfo.environment["TRELLIS_TOKEN"], !token.isEmpty {
            return token
        }
        let path = file ?? defaultFile
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("no token: set TRELLIS_TOKEN or pass --token-file (cannot read '\(path)')")
        }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw ValidationError("the token file '\(path)' is empty") }
        return token
    }

    /// A new random token written to `path`, readable by its owner only.
    static func create(at path: String) throws -> String {
        var generator = SystemRandomNumberGenerator()
        let token = (0..<4).map { _ in String(generator.next() as UInt64, radix: 16) }.joined()
        guard
            FileManager.default.createFile(
                atPath: path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw ValidationError("cannot write the token file '\(path)'")
        }
        return token
    }
}

extension Duration {
    /// Parses a command-line duration (`30s`, `500ms`, `2m`, `1.5`) with the workflow files' parser;
    /// zero only when `allowingZero`.
    static func option(_ text: String, name: String, allowingZero: Bool = false) throws -> Duration {
        switch DurationText.parsing(text) {
        case .success(let value) where value > .zero || allowingZero:
            return value
        case .success:
            throw ValidationError("\(name) must be longer than 0 (got '\(text)')")
        case .failure(let problem):
            throw ValidationError(DurationText.explain(problem, text, what: name))
        }
    }
}

/// Lines written straight to stdout, so a reader on a pipe sees each as it happens.
enum Console {
    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}
