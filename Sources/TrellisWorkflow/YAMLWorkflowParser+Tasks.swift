internal import TrellisCore
internal import Yams

/// Task entries: one task, or one per parameter set of a task array; and the needs they name.
extension YAMLWorkflowParser {
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
        parsePlacement(body, into: &prototype)
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

    /// Where a task may run on a coordinator's workers: `type`, `tags` and `resources` (a local run runs every
    /// task on this machine).
    mutating func parsePlacement(_ body: Fields, into task: inout WorkflowTask) {
        var type: String?
        if let field = body["type"], let name = string(field.value, what: "type"),
            plainName(name, what: "a worker type", at: field.value)
        {
            type = name
        }
        var tags: [String] = []
        if let field = body["tags"] {
            for entry in list(field.value, what: "tags") {
                if let tag = string(entry, what: "a tag"), plainName(tag, what: "a tag", at: entry) { tags.append(tag) }
            }
        }
        var resources: [String: Double] = [:]
        if let field = body["resources"] {
            if let mapping = field.value.mapping {
                for (key, value) in mapping {
                    guard let name = string(key, what: "a resource name"),
                        plainName(name, what: "a resource name", at: key)
                    else { continue }
                    if let amount = value.float, amount.isFinite, amount >= 0 {
                        resources[name] = amount
                    } else {
                        fail(.invalidValue, "resource '\(name)' needs a number of at least 0", at: value)
                    }
                }
            } else {
                fail(.invalidValue, "`resources` must map resource names to amounts, as {gpu: 1}", at: field.value)
            }
        }
        task.placement = Placement(type: type, tags: tags, resources: resources)
    }
}
