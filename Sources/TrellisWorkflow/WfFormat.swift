public import Foundation
internal import TrellisCore

/// WfCommons WfFormat instances. Schema 1.5 and later (1.6 only adds metrics): tasks with their parents (by
/// id) in `workflow.specification.tasks`, recorded runtimes in `workflow.execution.tasks[].runtimeInSeconds`.
/// Schema 1.4 and older: one list `workflow.tasks`, each task named and referred to by `name`, with
/// `runtimeInSeconds` beside its `parents`. Each task becomes a wait of its runtime × `timeScale`, so a
/// recorded workflow can be replayed without its programs.
public enum WfFormat {
    struct Instance: Decodable {
        var name: String?
        var workflow: Body
    }

    struct Body: Decodable {
        var specification: Specification?
        var execution: Execution?
        /// Schema 1.4 and older.
        var tasks: [Task]?
    }

    struct Specification: Decodable {
        var tasks: [Task]
    }

    struct Execution: Decodable {
        var tasks: [Task]
    }

    struct Task: Decodable {
        var id: String?
        var name: String?
        var parents: [String]?
        var children: [String]?
        var runtimeInSeconds: Double?
        var runtime: Double?
    }

    public static func parse(
        _ data: Data, file: String, timeScale: Double = 1, limits: WorkflowLimits = .default
    ) throws(WorkflowValidationError) -> Workflow {
        func failure(_ message: String, at location: SourceLocation? = nil) -> WorkflowValidationError {
            WorkflowValidationError([WorkflowError(.malformed, message, at: location)])
        }
        guard timeScale.isFinite, timeScale >= 0 else {
            throw WorkflowValidationError([
                WorkflowError(.invalidValue, "the time scale must be a finite number ≥ 0 (got \(timeScale))", at: nil)
            ])
        }
        let instance: Instance
        do {
            instance = try JSONDecoder().decode(Instance.self, from: data)
        } catch let error as DecodingError {
            switch error {
            case .dataCorrupted(let context) where context.codingPath.isEmpty:
                let (detail, offset) = syntaxError(in: data)
                let location = data.withUnsafeBytes { TextPosition.location(of: offset, in: $0, file: file) }
                throw failure("not valid JSON: \(detail ?? context.debugDescription)", at: location)
            case .typeMismatch(_, let context) where context.codingPath.isEmpty:
                throw failure("\(file): not a WfFormat instance (no `workflow` object)")
            case .keyNotFound(let key, let context) where context.codingPath.isEmpty && key.stringValue == "workflow":
                throw failure("\(file): not a WfFormat instance (no `workflow` object)")
            default:
                throw failure("\(file): not a WfFormat instance: \(describe(error))")
            }
        } catch {
            throw failure("\(file): not valid JSON: \(error)")
        }
        let specified: [Task]
        var runtimes: [String: Double] = [:]
        if let specification = instance.workflow.specification {
            specified = specification.tasks
            for task in instance.workflow.execution?.tasks ?? [] {
                if let id = task.id, let runtime = task.runtimeInSeconds ?? task.runtime { runtimes[id] = runtime }
            }
        } else if let tasks = instance.workflow.tasks {
            // Schema 1.4 and older: one list, tasks named (and referred to) by `name`.
            specified = tasks.map { task in
                var task = task
                task.id = task.name ?? task.id
                return task
            }
            for task in specified {
                if let id = task.id, let runtime = task.runtimeInSeconds ?? task.runtime { runtimes[id] = runtime }
            }
        } else {
            throw failure("\(file): no tasks under `workflow.specification.tasks` or `workflow.tasks`")
        }

        guard specified.count <= limits.maxTasks else {
            throw WorkflowValidationError([
                WorkflowError(
                    .tooLarge,
                    "\(file): \(specified.count) tasks; a workflow may have at most \(limits.maxTasks) "
                        + "(raise it with --max-tasks)", at: nil)
            ])
        }
        // Where each task's id is written, so that a cycle or an unknown parent points into the file.
        let positions = data.withUnsafeBytes { JSONPositions.stringValues(ofKeys: ["id", "name"], in: $0) }
        let locations = data.withUnsafeBytes { TextPosition.locations(of: positions.values, in: $0, file: file) }
        let start = SourceLocation(file: file, line: 1, column: 1)
        func location(_ id: String) -> SourceLocation {
            positions[id].flatMap { locations[min(max(0, $0), data.count)] } ?? start
        }
        var errors: [WorkflowError] = []
        var parentsByID: [String: [String]] = [:]
        var order: [String] = []
        order.reserveCapacity(specified.count)
        for (position, entry) in specified.enumerated() {
            guard let id = entry.id ?? entry.name else {
                errors.append(WorkflowError(.missingKey, "\(file): task #\(position + 1) has no `id`", at: nil))
                continue
            }
            parentsByID[id] = entry.parents ?? []
            order.append(id)
        }
        // Instances that list only children: derive the parents.
        for entry in specified where entry.parents == nil {
            guard let id = entry.id ?? entry.name else { continue }
            for child in entry.children ?? [] { parentsByID[child, default: []].append(id) }
        }
        var tasks: [WorkflowTask] = []
        tasks.reserveCapacity(order.count)
        for id in order {
            guard let runtime = runtimes[id] else {
                errors.append(
                    WorkflowError(
                        .missingKey, "task '\(id)' has no runtimeInSeconds in `workflow.execution.tasks`",
                        at: location(id)))
                continue
            }
            let at = location(id)
            let seconds = max(0, runtime) * timeScale
            guard seconds.isFinite, seconds <= Double(DurationText.maximumSeconds) else {
                errors.append(
                    WorkflowError(
                        .invalidValue,
                        "task '\(id)' would wait \(runtime) s × \(timeScale), longer than the longest duration "
                            + "allowed (365d)", at: at))
                continue
            }
            let needs = (parentsByID[id] ?? []).map { WorkflowNeed(.task($0), location: at) }
            tasks.append(
                WorkflowTask(
                    id: id, action: .wait(seconds: seconds), needs: needs, retryDelay: .zero, location: at))
        }
        guard errors.isEmpty else { throw WorkflowValidationError(errors) }
        let name = instance.name ?? (file as NSString).lastPathComponent
        return Workflow(
            name: name, file: file, policy: .outputFirst, tasks: tasks,
            contentHash: ContentHash.of(data) + String(format: "-x%g", timeScale))
    }

    /// What JSONSerialization says of a syntax error, and the byte offset it names (0 when it names none,
    /// the end for a file cut short).
    static func syntaxError(in data: Data) -> (detail: String?, offset: Int) {
        do {
            _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            return (nil, 0)
        } catch {
            let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
            guard let detail else { return (nil, 0) }
            if detail.localizedCaseInsensitiveContains("end of file") { return (detail, data.count) }
            if let range = detail.range(of: "character ") {
                let digits = detail[range.upperBound...].prefix(while: \.isNumber)
                if let offset = Int(digits) { return (detail, offset) }
            }
            return (detail, 0)
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing `\(key.stringValue)` at \(path(context))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(context.debugDescription) at \(path(context))"
        case .dataCorrupted(let context): return context.debugDescription
        @unknown default: return "\(error)"
        }
    }
}
