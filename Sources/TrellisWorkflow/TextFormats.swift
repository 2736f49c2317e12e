internal import Foundation
public import TrellisCore

/// Durations as written in workflow files: `30s`, `5m`, `1h30m`, `250ms`, `1.5s`, or a bare number of seconds.
public enum DurationText {
    public static func parse(_ text: String) -> Duration? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let seconds = Double(trimmed) {
            return seconds >= 0 ? .milliseconds(Int64((seconds * 1000).rounded())) : nil
        }
        var total = 0.0
        var number = ""
        var rest = Substring(trimmed)
        guard !rest.isEmpty else { return nil }
        while let character = rest.first {
            if character.isNumber || character == "." {
                number.append(character)
                rest = rest.dropFirst()
                continue
            }
            guard let value = Double(number) else { return nil }
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
                default: return nil
                }
                rest = rest.dropFirst()
            }
            total += value * unit
            number = ""
        }
        guard number.isEmpty else { return nil }
        return .milliseconds(Int64((total * 1000).rounded()))
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
