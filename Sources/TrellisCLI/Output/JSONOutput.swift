internal import Foundation
internal import TrellisEngine

/// JSON for `--json` output: a small value type and a compact encoder (one line per value).
enum JSONOutput {
    indirect enum Value {
        case string(String)
        case number(Double)
        case int(Int)
        case bool(Bool)
        case null
        case array([Value])
        case object([(String, Value)])
    }

    static func encode(_ value: Value) -> String {
        var out = ""
        write(value, to: &out)
        return out
    }

    static func write(_ value: Value, to out: inout String) {
        switch value {
        case .string(let text): escape(text, to: &out)
        case .number(let number): out += number.isFinite ? "\(number)" : "null"
        case .int(let number): out += String(number)
        case .bool(let flag): out += flag ? "true" : "false"
        case .null: out += "null"
        case .array(let values):
            out += "["
            for (position, element) in values.enumerated() {
                if position > 0 { out += "," }
                write(element, to: &out)
            }
            out += "]"
        case .object(let pairs):
            out += "{"
            for (position, pair) in pairs.enumerated() {
                if position > 0 { out += "," }
                escape(pair.0, to: &out)
                out += ":"
                write(pair.1, to: &out)
            }
            out += "}"
        }
    }

    static func escape(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    static func optional(_ value: Double?) -> Value { value.map { .number($0) } ?? .null }
    static func optional(_ value: Int32?) -> Value { value.map { .int(Int($0)) } ?? .null }
    static func optional(_ value: String?) -> Value { value.map { .string($0) } ?? .null }

    static func run(_ snapshot: RunSnapshot, directory: String) -> Value {
        .object([
            ("workflow", .string(snapshot.identity.workflow)), ("file", .string(snapshot.identity.file)),
            ("state_dir", .string(directory)), ("status", .string(snapshot.status)),
            ("sessions", .int(snapshot.sessions)),
            ("started_at", optional(snapshot.startedAt)), ("ended_at", optional(snapshot.endedAt)),
            (
                "counts",
                .object(
                    TaskStatus.allCases.compactMap { state in snapshot.counts[state].map { (state.rawValue, .int($0)) }
                    })
            ),
            (
                "tasks",
                .array(
                    snapshot.tasks.map { task in
                        .object([
                            ("id", .string(task.id)), ("state", .string(task.state.rawValue)),
                            ("attempts", .int(task.attempts.count)),
                            ("exit_code", optional(task.exitCode)), ("message", optional(task.message)),
                            ("outputs", .array(task.outputs.map { .string($0) })),
                            ("started_at", optional(task.startedAt)), ("finished_at", optional(task.finishedAt)),
                        ])
                    })
            ),
        ])
    }
}
