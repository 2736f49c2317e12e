internal import TrellisCore

/// Checks an `AddTasks` request before any of it is stored, reporting every problem at once, so a bad
/// request is refused whole (INVALID_ARGUMENT) and harms nothing else.
package enum RequestValidation {
    /// At most this many tasks in one request.
    package static let maxTasks = 200_000
    /// Longest task name, handler name, worker type or tag, in bytes.
    package static let maxNameLength = 256
    /// Longest shell command or handler payload, in bytes.
    package static let maxCommandLength = 256 * 1024
    /// At most this many retries.
    package static let maxRetries = 100
    /// The longest timeout or retry delay: 365 days, as in workflow files.
    package static let maxDurationMs: UInt64 = 365 * 86_400 * 1000
    /// At most this many environment variables per shell task.
    package static let maxEnvironment = 1000
    /// At most this many tags, resources or named outputs per task (or tags and resources per worker).
    package static let maxListed = 1000
    /// At most this many needs per task.
    package static let maxNeeds = 100_000

    /// Every problem with `request`; `taskExists` answers for needs that name existing tasks by id.
    package static func problems(
        _ request: Trellis_V1_AddTasksRequest, taskExists: (UInt64) -> Bool
    ) -> [String] {
        var problems: [String] = []
        let groups: [(String, [Trellis_V1_TaskSpec])] = [
            ("tasks", request.tasks), ("on_success", request.onSuccess), ("on_failure", request.onFailure),
        ]
        let total = groups.reduce(0) { $0 + $1.1.count }
        if total == 0 { problems.append("the request has no tasks") }
        if total > maxTasks {
            problems.append("the request has \(total) tasks; at most \(maxTasks) fit in one request")
        }
        if request.jobName.utf8.count > maxNameLength { problems.append("job name longer than \(maxNameLength) bytes") }
        if request.queues.count > maxListed { problems.append("\(request.queues.count) queues; at most \(maxListed)") }
        for name in request.queues.keys.sorted()
        where name.isEmpty || name.utf8.count > maxNameLength || hasControlCharacter(name) {
            problems.append("a queue needs a name of 1 to \(maxNameLength) bytes without control characters")
        }

        var seen: [String: String] = [:]
        for (group, specs) in groups {
            for spec in specs {
                problems += problemsOfSpec(spec)
                if let other = seen[spec.name] {
                    problems.append("duplicate task name '\(spec.name)' (in \(other) and \(group))")
                } else if !spec.name.isEmpty {
                    seen[spec.name] = group
                }
            }
        }
        // Needs, and cycles, within each group: finales run after the main tasks and need only their own group.
        for (group, specs) in groups where !specs.isEmpty {
            var graph = Graph<String>(queues: ["remote"])
            var outputs: [String: [String]] = [:]
            for spec in specs { outputs[spec.name] = spec.outputs }
            for spec in specs {
                var edges: [Graph<String>.Edge] = []
                for need in spec.needs {
                    switch need.target {
                    case .taskID(let id):
                        if !taskExists(id) { problems.append("'\(spec.name)' needs task \(id), which does not exist") }
                    case .name(let name):
                        guard let declared = outputs[name] else {
                            let elsewhere =
                                seen[name].map { " (it is in \($0); \(group) tasks may only need \(group) tasks)" }
                                ?? ""
                            problems.append("'\(spec.name)' needs unknown task '\(name)'\(elsewhere)")
                            continue
                        }
                        if need.output.isEmpty {
                            edges.append(Graph.Edge(name))
                        } else if let item = declared.firstIndex(of: need.output) {
                            edges.append(Graph.Edge(name, item: item))
                        } else {
                            problems.append(
                                "'\(spec.name)' needs output '\(need.output)' of '\(name)', which does not declare it")
                        }
                    case nil:
                        problems.append("'\(spec.name)' has a need with neither a task id nor a name")
                    }
                }
                graph.add(
                    Graph.Node(id: spec.name, queue: "remote", dependencies: edges, partialCount: spec.outputs.count))
            }
            for problem in graph.problems() {
                switch problem {
                case .cycle(let members):
                    problems.append("dependency cycle: " + (members + [members[0]]).joined(separator: " → "))
                case .selfDependency(let name, _):
                    problems.append("'\(name)' needs itself")
                case .duplicateID, .unknownDependency, .itemOutOfRange, .unknownQueue:
                    break  // reported above
                }
            }
        }
        return problems
    }

    static func hasControlCharacter(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    static func problemsOfSpec(_ spec: Trellis_V1_TaskSpec) -> [String] {
        var problems: [String] = []
        let label = spec.name.isEmpty ? "a task" : "'\(spec.name)'"
        if spec.name.isEmpty { problems.append("a task has no name") }
        if spec.name.utf8.count > maxNameLength { problems.append("\(label): name longer than \(maxNameLength) bytes") }
        for (what, count, limit) in [
            ("tags", spec.tags.count, maxListed), ("resources", spec.resources.count, maxListed),
            ("outputs", spec.outputs.count, maxListed), ("needs", spec.needs.count, maxNeeds),
        ] where count > limit {
            problems.append("\(label): \(count) \(what); at most \(limit)")
        }
        for (name, amount) in spec.resources where !(amount >= 0) || !amount.isFinite {
            problems.append("\(label): resource '\(name)' must be a finite amount ≥ 0")
        }
        if spec.queue.utf8.count > maxNameLength || hasControlCharacter(spec.queue) {
            problems.append("\(label): a queue name of at most \(maxNameLength) bytes without control characters")
        }
        let names = [spec.name, spec.workerType] + spec.tags + spec.outputs + Array(spec.resources.keys)
        if names.contains(where: hasControlCharacter) {
            problems.append("\(label): a name, worker type, tag, output or resource contains a control character")
        }
        switch spec.work {
        case .shell(let shell):
            if shell.command.isEmpty { problems.append("\(label) has an empty command") }
            if shell.command.utf8.count > maxCommandLength {
                problems.append("\(label): command longer than \(maxCommandLength) bytes")
            }
            // A NUL cannot reach a process: it would cut the command, a variable or the path short.
            let texts = [shell.command, shell.workingDirectory] + shell.environment.keys + shell.environment.values
            if texts.contains(where: { $0.utf8.contains(0) }) {
                problems.append("\(label): the command, its environment or its directory contains a NUL character")
            }
            if shell.environment.count > maxEnvironment {
                problems.append("\(label): \(shell.environment.count) environment variables; at most \(maxEnvironment)")
            }
            if shell.environment.keys.contains(where: { $0.isEmpty || $0.contains("=") }) {
                problems.append("\(label): an environment variable name is empty or contains '='")
            }
        case .handler(let handler):
            if handler.name.isEmpty { problems.append("\(label) calls a handler with no name") }
            if handler.payload.count > maxCommandLength {
                problems.append("\(label): payload larger than \(maxCommandLength) bytes")
            }
        case .trigger(let trigger):
            problems += problemsOfTrigger(trigger, label: label)
            if !spec.workerType.isEmpty {
                problems.append("\(label) is a trigger, which the coordinator checks itself: it takes no worker type")
            }
        case nil:
            problems.append("\(label) has neither a shell command, a handler nor a trigger")
        }
        if spec.workerType.hasPrefix(JobRequest.reservedPrefix) {
            problems.append("\(label): worker types beginning with '\(JobRequest.reservedPrefix)' are reserved")
        }
        if spec.retries > maxRetries { problems.append("\(label): \(spec.retries) retries; at most \(maxRetries)") }
        if spec.timeoutMs > maxDurationMs || spec.retryDelayMs > maxDurationMs {
            problems.append("\(label): a timeout or retry delay longer than 365 days")
        }
        if !spec.estimateSeconds.isFinite || spec.estimateSeconds < 0 {
            problems.append("\(label): the estimate must be a finite number of seconds ≥ 0")
        }
        if spec.workerType.utf8.count > maxNameLength || spec.tags.contains(where: { $0.utf8.count > maxNameLength }) {
            problems.append("\(label): worker type or tag longer than \(maxNameLength) bytes")
        }
        for (resource, amount) in spec.resources where !(amount >= 0) || !amount.isFinite {
            problems.append("\(label): resource '\(resource)' must be a finite amount ≥ 0")
        }
        if Set(spec.outputs).count != spec.outputs.count { problems.append("\(label) declares an output twice") }
        return problems
    }

    static func problemsOfTrigger(_ trigger: Trellis_V1_TriggerCheck, label: String) -> [String] {
        var problems: [String] = []
        switch trigger.condition {
        case .file(let path):
            if path.isEmpty { problems.append("\(label) waits for a file with no path") }
            if path.utf8.count > maxCommandLength {
                problems.append("\(label): path longer than \(maxCommandLength) bytes")
            }
        case .afterUnixSeconds(let seconds):
            if !seconds.isFinite { problems.append("\(label) waits for a time that is not a finite number") }
        case .command(let command):
            if command.isEmpty { problems.append("\(label) has an empty command") }
            if command.utf8.count > maxCommandLength {
                problems.append("\(label): command longer than \(maxCommandLength) bytes")
            }
        case nil:
            problems.append("\(label) is a trigger with no condition (a file, a time or a command)")
        }
        if [trigger.file, trigger.command, trigger.workingDirectory].contains(where: { $0.utf8.contains(0) }) {
            problems.append("\(label): the trigger's path, command or directory contains a NUL character")
        }
        if trigger.intervalMs == 0 || trigger.intervalMs > maxDurationMs {
            problems.append("\(label): a trigger's interval must be from 1 ms to 365 days")
        }
        if trigger.timeoutMs > maxDurationMs { problems.append("\(label): a trigger's timeout longer than 365 days") }
        return problems
    }
}
