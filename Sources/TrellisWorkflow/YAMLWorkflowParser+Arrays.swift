internal import TrellisCore
internal import Yams

/// Task arrays: `matrix` and `for_each` parameter sets, and `${name}` substitution.
extension YAMLWorkflowParser {
    mutating func parameterSets(_ body: Fields, taskID: String) -> [[String: String]]? {
        switch (body["matrix"], body["for_each"]) {
        case (nil, nil):
            return [[:]]
        case (_?, let forEach?):
            fail(.invalidValue, "task '\(taskID)' has both `matrix` and `for_each`", at: forEach.key)
            return nil
        case (let matrix?, nil):
            guard let mapping = matrix.value.mapping, !mapping.isEmpty else {
                fail(
                    .badExpansion, "`matrix` of '\(taskID)' must map parameter names to lists of values",
                    at: matrix.value)
                return nil
            }
            // The size is known before anything is expanded: a matrix of millions is refused, not built.
            var product = 1
            for (_, value) in mapping {
                let (next, overflow) = product.multipliedReportingOverflow(by: value.sequence?.count ?? 1)
                product = overflow ? Int.max : next
            }
            let room = limits.maxTasks - taskCount
            guard product <= room else {
                let count = product == Int.max ? "more than \(Int.max)" : "\(product)"
                let before = taskCount > 0 ? " with the \(taskCount) before it" : ""
                fail(
                    .tooLarge,
                    "`matrix` of '\(taskID)' expands to \(count) tasks; a workflow may have at most "
                        + "\(limits.maxTasks)\(before) (raise it with --max-tasks)",
                    at: matrix.value)
                // A matrix too large on its own is skipped; one that fills the budget ends the task list.
                if product <= limits.maxTasks { overLimit = true }
                return nil
            }
            var sets: [[String: String]] = [[:]]
            for (key, value) in mapping {
                guard let name = parameterName(key) else { return nil }
                guard let values = value.sequence, !values.isEmpty else {
                    fail(
                        .badExpansion, "parameter '\(name)' of '\(taskID)' needs a non-empty list of values", at: value)
                    return nil
                }
                var strings: [String] = []
                for element in values {
                    guard let text = string(element, what: "a value of '\(name)'") else { return nil }
                    strings.append(text)
                }
                sets = sets.flatMap { set in strings.map { set.merging([name: $0]) { $1 } } }
            }
            return sets
        case (nil, let forEach?):
            guard let sequence = forEach.value.sequence, !sequence.isEmpty else {
                fail(
                    .badExpansion, "`for_each` of '\(taskID)' must be a non-empty list of parameter sets",
                    at: forEach.value)
                return nil
            }
            var sets: [[String: String]] = []
            var names: Set<String>?
            for element in sequence {
                guard let mapping = element.mapping else {
                    fail(
                        .badExpansion, "each `for_each` entry of '\(taskID)' must map parameter names to values",
                        at: element)
                    return nil
                }
                var set: [String: String] = [:]
                for (key, value) in mapping {
                    guard let name = parameterName(key), let text = string(value, what: "the value of '\(name)'") else {
                        return nil
                    }
                    set[name] = text
                }
                if let names, names != Set(set.keys) {
                    fail(
                        .badExpansion,
                        "every `for_each` entry of '\(taskID)' must set the same parameters \(names.sorted())",
                        at: element)
                    return nil
                }
                names = Set(set.keys)
                sets.append(set)
            }
            return sets
        }
    }

    mutating func parameterName(_ node: Node) -> String? {
        guard let name = string(node, what: "a parameter name") else { return nil }
        guard let first = name.unicodeScalars.first, first == "_" || first.properties.isAlphabetic,
            name.unicodeScalars.allSatisfy({ $0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0) })
        else {
            fail(.badExpansion, "'\(name)' is not a valid parameter name (letters, digits and _)", at: node)
            return nil
        }
        return name
    }

    /// Replaces `${name}` for each known parameter. With `strict`, any other `${…}` is an error; otherwise it
    /// is left for the shell or, in `needs`, for array references.
    mutating func substitute(_ text: String, _ parameters: [String: String], strict: Bool, at node: Node) -> String {
        guard Self.hasPlaceholder(text) else { return text }
        var result = ""
        var rest = Substring(text)
        while let open = rest.range(of: "${") {
            result += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else {
                if strict { fail(.badExpansion, "unterminated `${` in '\(text)'", at: node) }
                result += rest[open.lowerBound...]
                return result
            }
            let name = String(rest[open.upperBound..<close])
            if let value = parameters[name] {
                result += value
            } else {
                if strict { fail(.badExpansion, "unknown parameter '\(name)' in '\(text)'", at: node) }
                result += rest[open.lowerBound...close]
            }
            rest = rest[rest.index(after: close)...]
        }
        return result + rest
    }

    /// `task`, `task.output` or `@trigger`.
}
