internal import Foundation
public import TrellisCore

/// Durations as written in workflow files and on the command line: `30s`, `5m`, `1h30m`, `250ms`, `1.5s`,
/// `2d`, or a bare number of seconds. The one parser for every duration Trellis reads.
public enum DurationText {
    /// The longest duration accepted anywhere: 365 days.
    public static let maximum: Duration = .seconds(maximumSeconds)
    static let maximumSeconds = 365 * 86_400

    /// Why a text is not a duration.
    public enum Problem: Error, Hashable, Sendable {
        /// Not of the form above.
        case malformed
        /// Longer than `maximum`.
        case tooLong
    }

    /// The duration, or `nil` when the text is malformed or longer than `maximum`.
    public static func parse(_ text: String) -> Duration? {
        try? parsing(text).get()
    }

    /// The duration, or why the text is not one.
    public static func parsing(_ text: String) -> Result<Duration, Problem> {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { return .failure(.malformed) }
        var total = 0.0
        if let seconds = Double(trimmed) {
            // `Double` also reads `inf`, `nan` and hexadecimal; only plain decimal numbers are durations.
            guard trimmed.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), seconds >= 0 else {
                return .failure(.malformed)
            }
            total = seconds
        } else {
            var number = ""
            var rest = Substring(trimmed)
            while let character = rest.first {
                if character.isASCII && (character.isNumber || character == ".") {
                    number.append(character)
                    rest = rest.dropFirst()
                    continue
                }
                guard let value = Double(number) else { return .failure(.malformed) }
                let unit: Double
                if rest.hasPrefix("ms") {
                    unit = 0.001
                    rest = rest.dropFirst(2)
                } else {
                    switch character {
                    case "s": unit = 1
                    case "m": unit = 60
                    case "h": unit = 3600
                    case "d": unit = 86400
                    default: return .failure(.malformed)
                    }
                    rest = rest.dropFirst()
                }
                total += value * unit
                number = ""
            }
            guard number.isEmpty else { return .failure(.malformed) }
        }
        // Checked before any conversion to an integer: a huge number must be an error, not a trap.
        guard total.isFinite, total <= Double(maximumSeconds) else { return .failure(.tooLong) }
        return .success(.milliseconds(Int64((total * 1000).rounded())))
    }

    /// What to tell a user about `text`, the value of `what`, when it is not a duration.
    public static func explain(_ problem: Problem, _ text: String, what: String) -> String {
        switch problem {
        case .malformed:
            "\(what) must be a duration like 30s, 5m, 1h30m or 250ms (got '\(text)')"
        case .tooLong:
            "\(what) is longer than the longest duration allowed, 365d (got '\(text)')"
        }
    }

    /// `1.5s`, `2m03s`, `1h02m`: short and readable.
    public static func format(_ duration: Duration) -> String {
        format(seconds: Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }

    public static func format(seconds: Double) -> String {
        if seconds < 10 { return String(format: "%.2fs", seconds) }
        if seconds < 60 { return String(format: "%.1fs", seconds) }
        let whole = Int(seconds.rounded())
        if whole < 3600 { return String(format: "%dm%02ds", whole / 60, whole % 60) }
        return String(format: "%dh%02dm", whole / 3600, (whole % 3600) / 60)
    }
}

/// Sizes for people: `512 B`, `64 MiB`.
enum ByteText {
    static func format(_ bytes: Int) -> String {
        if bytes < 1024 { return "\(bytes) B" }
        if bytes < 1 << 20 { return String(format: "%.1f KiB", Double(bytes) / 1024) }
        if bytes < 1 << 30 { return String(format: "%.1f MiB", Double(bytes) / Double(1 << 20)) }
        return String(format: "%.1f GiB", Double(bytes) / Double(1 << 30))
    }
}

enum ISO8601 {
    static func secondsSince1970(_ text: String) -> Double? {
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date.timeIntervalSince1970 }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)?.timeIntervalSince1970
    }
}

extension SchedulingPolicy {
    /// A policy by its name in workflow files and on the command line: `output-first`, `fifo`, `wave`,
    /// `threshold:N`, `critical-path`.
    public init?(name: String) {
        guard let policy = YAMLWorkflowParser.policy(name) else { return nil }
        self = policy
    }
}

/// FNV-1a, 64 bits: detects a changed workflow file (not a security measure).
enum ContentHash {
    static func of(_ data: Data) -> String {
        data.withUnsafeBytes { of(bytes: $0) }
    }

    static func of(_ text: String) -> String {
        var text = text
        return text.withUTF8 { of(bytes: UnsafeRawBufferPointer($0)) }
    }

    static func of(bytes: UnsafeRawBufferPointer) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
