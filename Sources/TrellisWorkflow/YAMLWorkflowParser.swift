internal import TrellisCore
internal import Yams

/// Reads a workflow file's YAML into a `Workflow`, collecting every problem with its position.
struct YAMLWorkflowParser {
    static let topKeys: Set<String> = [
        "name", "policy", "failure", "queues", "triggers", "tasks", "on_success", "on_failure",
    ]
    static let taskKeys: Set<String> = [
        "id", "run", "needs", "queue", "priority", "retries", "retry_delay", "timeout", "env", "cwd", "estimate",
        "outputs", "matrix", "for_each", "wait", "type", "tags", "resources",
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
}
