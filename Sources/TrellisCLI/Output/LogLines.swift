internal import Foundation
package import TrellisProtocol

/// Chunks of what tasks print, cut into whole lines per task and stream: a line split across two chunks is
/// printed once it is whole, what is left at the end by `rest`.
package struct LogLines: Sendable {
    private struct Key: Hashable {
        var task: UInt64
        var stream: WorkerReport.LogStream
    }

    private var partial: [Key: [UInt8]] = [:]

    package init() {}

    /// The whole lines `data` completes, without their newline.
    package mutating func take(task: UInt64, stream: WorkerReport.LogStream, _ data: [UInt8]) -> [String] {
        let key = Key(task: task, stream: stream)
        var buffer = partial.removeValue(forKey: key) ?? []
        buffer += data
        var lines: [String] = []
        var start = 0
        while let end = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
            lines.append(String(decoding: buffer[start..<end], as: UTF8.self))
            start = end + 1
        }
        if start < buffer.count { partial[key] = Array(buffer[start...]) }
        return lines
    }

    /// What is left without a final newline, by task and stream.
    package mutating func rest() -> [(task: UInt64, stream: WorkerReport.LogStream, line: String)] {
        defer { partial = [:] }
        return partial.sorted {
            ($0.key.task, $0.key.stream == .stdout ? 0 : 1) < ($1.key.task, $1.key.stream == .stdout ? 0 : 1)
        }
        .map { ($0.key.task, $0.key.stream, String(decoding: $0.value, as: UTF8.self)) }
    }
}
