internal import Foundation
internal import TrellisCore
internal import Yams

/// Reads a workflow file's YAML into a `Workflow`, collecting every problem with its position.
struct YAMLWorkflowParser {
    static let topKeys: Set<String> = [
        "name", "policy", "failure", "queues", "triggers", "tasks", "on_success", "on_failure",
    ]
    static let taskKeys: Set<String> = [
        "id", "run", "needs", "queue", "priority", "retries", "retry_delay", "timeout", "env", "cwd", "estimate",
        "outputs", "matrix", "for_each", "wait",
    ]
    static let triggerKeys: Set<String> = ["file", "after", "command", "interval", "timeout"]

    /// Most extra attempts a task may ask for.
    static let maxRetries = 1000

    let file: String
    let limits: WorkflowLimits
    var errors: [WorkflowError] = []
    var arrays: [String: [String]] = [:]
    var reported: Set<WorkflowError> = []
    /// Tasks made so far; past `limits.maxTasks` no more are made.
    var taskCount = 0
    var overLimit = false

    init(file: String, limits: WorkflowLimits = .default) {
        self.file = file
        self.limits = limits
    }

    mutating func parse(_ text: String, defaultName: String) -> Workflow {
        var workflow = Workflow(name: defaultName, file: file)
        let root: Node
        do {
            // The basic resolver: plain scalars stay strings until read as what their key expects, and no
            // regular expression runs per key while the tree is built.
            guard let node = try Yams.compose(yaml: text, .basic) else {
                fail(
                    .missingKey, "the workflow is empty; it needs at least `tasks:`",
                    at: SourceLocation(file: file, line: 1, column: 1))
                return workflow
            }
            root = node
        } catch let error as YamlError {
            let problem = malformed(error, in: text)
            fail(problem.code, problem.message, at: problem.location)
            return workflow
        } catch {
            fail(.malformed, "\(error)", at: nil)
            return workflow
        }
        guard let top = fields(of: root, allowed: Self.topKeys, what: "the workflow") else { return workflow }
        if let name = top["name"], let value = string(name.value, what: "name") { workflow.name = value }
        if let policy = top["policy"], let text = string(policy.value, what: "policy") {
            if let parsed = SchedulingPolicy(name: text) {
                workflow.policy = parsed
            } else {
                fail(
                    .invalidValue,
                    "unknown policy '\(text)'; expected output-first, fifo, wave, threshold:N or critical-path",
                    at: policy.value)
            }
        }
        if let failure = top["failure"], let text = string(failure.value, what: "failure") {
            switch text {
            case "continue": workflow.failurePolicy = .continueIndependent
            case "fail-fast": workflow.failurePolicy = .failFast
            default:
                fail(
                    .invalidValue, "unknown failure policy '\(text)'; expected continue or fail-fast", at: failure.value
                )
            }
        }
        if let queues = top["queues"] { workflow.queues = parseQueues(queues.value) }
        if let triggers = top["triggers"] { workflow.triggers = parseTriggers(triggers.value) }
        if let tasks = top["tasks"] {
            workflow.tasks += parseTasks(tasks.value, role: .main)
        } else {
            fail(.missingKey, "the workflow has no `tasks:`", at: root)
        }
        if let tasks = top["on_success"] { workflow.tasks += parseTasks(tasks.value, role: .onSuccess) }
        if let tasks = top["on_failure"] { workflow.tasks += parseTasks(tasks.value, role: .onFailure) }
        workflow.arrays = arrays
        return workflow
    }

    // MARK: - Sections

    mutating func parseQueues(_ node: Node) -> [WorkflowQueue] {
        var queues = [WorkflowQueue(name: WorkflowQueue.defaultName, width: 4)]
        guard let mapping = node.mapping else {
            fail(.invalidValue, "`queues` must map queue names to widths", at: node)
            return queues
        }
        for (key, value) in mapping {
            guard let name = string(key, what: "a queue name") else { continue }
            var widthNode = value
            if value.mapping != nil {
                guard let body = fields(of: value, allowed: ["width"], what: "queue '\(name)'"),
                    let width = body["width"]
                else {
                    fail(.missingKey, "queue '\(name)' needs a `width`", at: value)
                    continue
                }
                widthNode = width.value
            }
            guard plainName(name, what: "a queue name", at: key),
                let width = positiveInt(widthNode, what: "the width of queue '\(name)'")
            else { continue }
            guard width <= WorkflowQueue.maxWidth else {
                fail(
                    .invalidValue, "the width of queue '\(name)' must be at most \(WorkflowQueue.maxWidth)",
                    at: widthNode)
                continue
            }
            if let index = queues.firstIndex(where: { $0.name == name }) {
                queues[index] = WorkflowQueue(name: name, width: width, location: location(key))
            } else {
                queues.append(WorkflowQueue(name: name, width: width, location: location(key)))
            }
        }
        return queues
    }

    mutating func parseTriggers(_ node: Node) -> [WorkflowTrigger] {
        guard let mapping = node.mapping else {
            fail(.invalidValue, "`triggers` must map trigger names to their conditions", at: node)
            return []
        }
        var triggers: [WorkflowTrigger] = []
        for (key, value) in mapping {
            guard let name = string(key, what: "a trigger name"), plainName(name, what: "a trigger name", at: key)
            else {
                continue
            }
            guard let body = fields(of: value, allowed: Self.triggerKeys, what: "trigger '\(name)'") else { continue }
            let kinds = ["file", "after", "command"].filter { body[$0] != nil }
            guard kinds.count == 1, let kind = kinds.first, let conditionNode = body[kind]?.value else {
                fail(.invalidValue, "trigger '\(name)' needs exactly one of `file`, `after` or `command`", at: value)
                continue
            }
            guard let text = string(conditionNode, what: "`\(kind)` of trigger '\(name)'") else { continue }
            let condition: WorkflowTrigger.Condition
            switch kind {
            case "file":
                condition = .fileExists(text)
            case "after":
                guard let seconds = ISO8601.secondsSince1970(text) else {
                    fail(
                        .invalidValue, "`after` of trigger '\(name)' must be a time like 2026-11-22T18:00:00Z",
                        at: conditionNode)
                    continue
                }
                condition = .wallClock(secondsSince1970: seconds)
            default:
                condition = .command(text)
            }
            var trigger = WorkflowTrigger(name: name, condition: condition, location: location(key))
            if let interval = body["interval"], let parsed = duration(interval.value, what: "interval") {
                trigger.interval = parsed
            }
            if let timeout = body["timeout"], let parsed = duration(timeout.value, what: "timeout") {
                trigger.timeout = parsed
            }
            triggers.append(trigger)
        }
        return triggers
    }

    mutating func parseTasks(_ node: Node, role: WorkflowTask.Role) -> [WorkflowTask] {
        guard let sequence = node.sequence else {
            fail(.invalidValue, "`\(role == .main ? "tasks" : role.rawValue)` must be a list of tasks", at: node)
            return []
        }
        var tasks: [WorkflowTask] = []
        tasks.reserveCapacity(sequence.count)
        for item in sequence where !overLimit {
            parseTask(item, role: role, into: &tasks)
        }
        return tasks
    }

    /// One task entry; a task array yields one task per parameter set.
    mutating func parseTask(_ node: Node, role: WorkflowTask.Role, into tasks: inout [WorkflowTask]) {
        guard let body = fields(of: node, allowed: Self.taskKeys, what: "a task") else { return }
        guard let idField = body["id"] else {
            fail(.missingKey, "a task needs an `id`", at: node)
            return
        }
        guard let template = string(idField.value, what: "id") else { return }
        let parameterSets = parameterSets(body, taskID: template)
        guard let parameterSets else { return }
        guard taskCount + parameterSets.count <= limits.maxTasks else {
            overLimit = true
            fail(
                .tooLarge,
                "the workflow has more than \(limits.maxTasks) tasks, the most allowed (raise it with --max-tasks)",
                at: idField.value)
            return
        }
        taskCount += parameterSets.count

        var action: WorkflowTask.Action?
        switch (body["run"], body["wait"]) {
        case (let run?, nil):
            if let command = string(run.value, what: "`run` of '\(template)'"),
                noNUL(command, what: "`run`", at: run.value)
            {
                action = .shell(command)
            }
        case (nil, let wait?):
            if let seconds = duration(wait.value, what: "`wait` of '\(template)'") {
                action = .wait(
                    seconds: Double(seconds.components.seconds) + Double(seconds.components.attoseconds) / 1e18)
            }
        case (nil, nil):
            fail(.missingKey, "task '\(template)' needs `run` (a shell command)", at: node)
        case (_?, let wait?):
            fail(.invalidValue, "task '\(template)' has both `run` and `wait`", at: wait.key)
        }

        var prototype = WorkflowTask(
            id: template, action: action ?? .shell(""), role: role, location: location(idField.value))
        if let queue = body["queue"], let name = string(queue.value, what: "queue"),
            plainName(name, what: "a queue name", at: queue.value)
        {
            prototype.queue = name
        }
        if let priority = body["priority"] {
            if let value = priority.value.int {
                prototype.priority = value
            } else {
                fail(.invalidValue, "`priority` must be an integer", at: priority.value)
            }
        }
        if let retries = body["retries"] {
            if let value = retries.value.int, (0...Self.maxRetries).contains(value) {
                prototype.retries = value
            } else {
                fail(.invalidValue, "`retries` must be an integer from 0 to \(Self.maxRetries)", at: retries.value)
            }
        }
        if let delay = body["retry_delay"], let value = duration(delay.value, what: "retry_delay") {
            prototype.retryDelay = value
        }
        if let timeout = body["timeout"], let value = duration(timeout.value, what: "timeout") {
            prototype.timeout = value
        }
        if let estimate = body["estimate"], let value = duration(estimate.value, what: "estimate") {
            prototype.estimate = Double(value.components.seconds) + Double(value.components.attoseconds) / 1e18
        }
        var needTemplates: [(text: String, node: Node)] = []
        if let needs = body["needs"] {
            for entry in list(needs.value, what: "needs") {
                if let text = string(entry, what: "a need") { needTemplates.append((text, entry)) }
            }
        }
        var outputTemplates: [(text: String, node: Node)] = []
        if let outputs = body["outputs"] {
            for entry in list(outputs.value, what: "outputs") {
                if let text = string(entry, what: "an output name"), plainName(text, what: "an output name", at: entry)
                {
                    outputTemplates.append((text, entry))
                }
            }
        }
        var environmentTemplates: [(name: String, value: String)] = []
        if let environment = body["env"] {
            if let mapping = environment.value.mapping {
                for (key, value) in mapping {
                    if let name = string(key, what: "an environment variable name"),
                        plainName(name, what: "an environment variable name", at: key),
                        let text = string(value, what: "the value of \(name)"),
                        noNUL(text, what: "the value of \(name)", at: value)
                    {
                        environmentTemplates.append((name, text))
                    }
                }
            } else {
                fail(.invalidValue, "`env` must map variable names to values", at: environment.value)
            }
        }
        let cwdTemplate = body["cwd"].flatMap { field in
            string(field.value, what: "cwd").flatMap { noNUL($0, what: "`cwd`", at: field.value) ? $0 : nil }
        }

        let first = tasks.count
        for parameters in parameterSets {
            var task = prototype
            task.id = substitute(template, parameters, strict: true, at: idField.value)
            if !Self.hasPlaceholder(task.id), let problem = Workflow.problemWithID(task.id) {
                fail(.invalidID, "task id '\(Self.printable(task.id))' \(problem)", at: idField.value)
            }
            if case .shell(let command) = prototype.action {
                task.action = .shell(substitute(command, parameters, strict: false, at: node))
            }
            task.needs = needTemplates.compactMap { need in
                parseNeed(substitute(need.text, parameters, strict: false, at: need.node), at: need.node)
            }
            task.outputs = outputTemplates.map { substitute($0.text, parameters, strict: true, at: $0.node) }
            task.environment = environmentTemplates.map {
                EnvironmentVariable(name: $0.name, value: substitute($0.value, parameters, strict: false, at: node))
            }
            task.workingDirectory = cwdTemplate.map { substitute($0, parameters, strict: false, at: node) }
            if !parameters.isEmpty {
                task.environment += parameters.sorted { $0.key < $1.key }.map {
                    EnvironmentVariable(name: "TRELLIS_PARAM_\($0.key)", value: $0.value)
                }
            }
            tasks.append(task)
        }
        if body["matrix"] != nil || body["for_each"] != nil {
            arrays[template, default: []] += tasks[first...].map(\.id)
        }
    }

    /// The parameter sets of a task array (`matrix` is a cartesian product, `for_each` a list of sets), or one
    /// empty set for a plain task; `nil` after an error.
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
    mutating func parseNeed(_ text: String, at node: Node) -> WorkflowNeed? {
        let at = location(node)
        if text.hasPrefix("@") {
            return WorkflowNeed(.trigger(String(text.dropFirst())), location: at)
        }
        if let dot = text.firstIndex(of: ".") {
            let task = String(text[..<dot])
            let output = String(text[text.index(after: dot)...])
            guard !task.isEmpty, !output.isEmpty else {
                fail(.invalidValue, "'\(text)' is not a task, task.output or @trigger", at: node)
                return nil
            }
            return WorkflowNeed(.output(task: task, name: output), location: at)
        }
        return WorkflowNeed(.task(text), location: at)
    }

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
