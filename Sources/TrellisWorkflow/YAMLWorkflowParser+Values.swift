internal import Foundation
internal import TrellisCore
internal import Yams

/// Typed values read from nodes, the checks every name and text passes, and errors with their positions.
extension YAMLWorkflowParser {
    // MARK: - Typed values

    /// A mapping's entries by key name. Mappings here have a handful of keys, so a list searched in order
    /// costs less than a dictionary built per task.
    struct Fields {
        /// Names apart from nodes: a lookup compares names without copying a node.
        var names: [String] = []
        var nodes: [(key: Node, value: Node)] = []

        subscript(name: String) -> (key: Node, value: Node)? {
            guard let index = names.firstIndex(of: name) else { return nil }
            return nodes[index]
        }

        mutating func append(_ name: String, _ key: Node, _ value: Node) {
            names.append(name)
            nodes.append((key, value))
        }
    }

    mutating func fields(of node: Node, allowed: Set<String>, what: String) -> Fields? {
        guard let mapping = node.mapping else {
            fail(.invalidValue, "\(what) must be a mapping of keys to values", at: node)
            return nil
        }
        var result = Fields()
        result.names.reserveCapacity(mapping.count)
        result.nodes.reserveCapacity(mapping.count)
        for (key, value) in mapping {
            guard let name = string(key, what: "a key") else { continue }
            guard allowed.contains(name) else {
                fail(
                    .unknownKey,
                    "unknown key '\(name)' in \(what); expected one of \(allowed.sorted().joined(separator: ", "))",
                    at: key)
                continue
            }
            if result.names.contains(name) {
                fail(.invalidValue, "key '\(name)' appears twice in \(what)", at: key)
                continue
            }
            result.append(name, key, value)
        }
        return result
    }

    mutating func string(_ node: Node, what: String) -> String? {
        guard let scalar = node.scalar else {
            fail(.invalidValue, "\(what) must be a single value", at: node)
            return nil
        }
        return scalar.string
    }

    mutating func list(_ node: Node, what: String) -> [Node] {
        if let sequence = node.sequence { return Array(sequence) }
        if node.scalar != nil { return [node] }
        fail(.invalidValue, "`\(what)` must be a list", at: node)
        return []
    }

    /// Whether `text` holds a `${`.
    static func hasPlaceholder(_ text: String) -> Bool {
        var dollar = false
        for byte in text.utf8 {
            if dollar && byte == UInt8(ascii: "{") { return true }
            dollar = byte == UInt8(ascii: "$")
        }
        return false
    }

    /// The first control character of `text` (C0, DEL or C1), if any; plain ASCII is checked byte by byte.
    static func firstControlCharacter(_ text: String) -> Unicode.Scalar? {
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return nil }
        return text.unicodeScalars.first { $0.properties.generalCategory == .control }
    }

    /// Names (queues, outputs, triggers, variables) are text on one line: no control characters.
    mutating func plainName(_ text: String, what: String, at node: Node) -> Bool {
        guard let bad = Self.firstControlCharacter(text) else {
            return true
        }
        fail(
            .invalidValue,
            "\(what) '\(Self.printable(text))' may not contain the control character \(Self.describe(bad))",
            at: node)
        return false
    }

    /// A NUL byte cannot reach a process: it would cut a command, a variable or a path short.
    mutating func noNUL(_ text: String, what: String, at node: Node) -> Bool {
        guard text.utf8.contains(0) else { return true }
        fail(.invalidValue, "\(what) may not contain a NUL character", at: node)
        return false
    }

    /// `text` with its control characters written as escapes, so an error message cannot drive a terminal.
    static func printable(_ text: String) -> String {
        guard firstControlCharacter(text) != nil else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            if scalar.properties.generalCategory == .control {
                result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    static func describe(_ scalar: Unicode.Scalar) -> String {
        String(format: "U+%04X", scalar.value)
    }

    mutating func positiveInt(_ node: Node, what: String) -> Int? {
        guard let value = node.int, value > 0 else {
            fail(.invalidValue, "\(what) must be a positive integer", at: node)
            return nil
        }
        return value
    }

    mutating func duration(_ node: Node, what: String) -> Duration? {
        guard let text = string(node, what: what) else { return nil }
        switch DurationText.parsing(text) {
        case .success(let value):
            return value
        case .failure(let problem):
            let name = what.contains("`") ? what : "`\(what)`"
            fail(.invalidValue, DurationText.explain(problem, Self.printable(text), what: name), at: node)
            return nil
        }
    }

    // MARK: - Errors

    func location(_ node: Node) -> SourceLocation? {
        node.mark.map { SourceLocation(file: file, line: $0.line, column: $0.column) }
    }

    mutating func fail(_ code: WorkflowError.Code, _ message: String, at node: Node) {
        fail(code, message, at: location(node))
    }

    mutating func fail(_ code: WorkflowError.Code, _ message: String, at location: SourceLocation?) {
        let error = WorkflowError(code, message, at: location)
        // A task array repeats its template once per member; its problems are reported once.
        if reported.insert(error).inserted { errors.append(error) }
    }

    func malformed(_ error: YamlError, in text: String) -> WorkflowError {
        func at(_ mark: Mark) -> SourceLocation { SourceLocation(file: file, line: mark.line, column: mark.column) }
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let detail =
                context.map { "\(problem) (\($0.text) at line \($0.mark.line), column \($0.mark.column))" } ?? problem
            return WorkflowError(.malformed, "malformed YAML: \(detail)", at: at(mark))
        case .duplicatedKeysInMapping(let duplicates, let context):
            return WorkflowError(
                .malformed, "duplicate keys \(duplicates.joined(separator: ", ")) in a mapping", at: at(context.mark))
        case .reader(let problem, let offset, let value, _):
            var text = text
            let location = text.withUTF8 { bytes in
                TextPosition.location(of: offset ?? 0, in: UnsafeRawBufferPointer(bytes), file: file)
            }
            let character = value >= 0 ? String(format: " (character U+%04X)", value) : ""
            return WorkflowError(.malformed, "unreadable YAML: \(problem)\(character)", at: location)
        default:
            return WorkflowError(
                .malformed, "malformed YAML: \(error)", at: SourceLocation(file: file, line: 1, column: 1))
        }
    }
}
