internal import Foundation
internal import TrellisCore

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
