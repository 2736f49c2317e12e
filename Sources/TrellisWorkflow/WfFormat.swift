public import Foundation
internal import TrellisCore

/// WfCommons WfFormat instances. Schema 1.5 and later (1.6 only adds metrics): tasks with their parents (by
/// id) in `workflow.specification.tasks`, recorded runtimes in `workflow.execution.tasks[].runtimeInSeconds`.
/// Schema 1.4 and older: one list `workflow.tasks`, each task named and referred to by `name`, with
/// `runtimeInSeconds` beside its `parents`. Each task becomes a wait of its runtime × `timeScale`, so a
/// recorded workflow can be replayed without its programs.
public enum WfFormat {
    public static func parse(
        _ data: Data, file: String, timeScale: Double = 1
    ) throws(WorkflowValidationError) -> Workflow {
        func failure(_ message: String) -> WorkflowValidationError {
            WorkflowValidationError([WorkflowError(.malformed, message, at: nil)])
        }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw failure("\(file): not valid JSON: \(error.localizedDescription)")
        }
        guard let root = json as? [String: Any], let body = root["workflow"] as? [String: Any] else {
            throw failure("\(file): not a WfFormat instance (no `workflow` object)")
        }
        let specified: [[String: Any]]
        var runtimes: [String: Double] = [:]
        if let specification = body["specification"] as? [String: Any] {
            guard let tasks = specification["tasks"] as? [[String: Any]] else {
                throw failure("\(file): `workflow.specification.tasks` is missing or not a list")
            }
            specified = tasks
            let executed = (body["execution"] as? [String: Any])?["tasks"] as? [[String: Any]] ?? []
            for task in executed {
                if let id = task["id"] as? String, let runtime = number(task["runtimeInSeconds"] ?? task["runtime"]) {
                    runtimes[id] = runtime
                }
            }
        } else if let tasks = body["tasks"] as? [[String: Any]] {
            // Schema 1.4 and older: one list, tasks named (and referred to) by `name`.
            specified = tasks.map { task in
                var task = task
                task["id"] = task["name"] ?? task["id"]
                return task
            }
            for task in specified {
                if let id = task["id"] as? String, let runtime = number(task["runtimeInSeconds"] ?? task["runtime"]) {
                    runtimes[id] = runtime
                }
            }
        } else {
            throw failure("\(file): no tasks under `workflow.specification.tasks` or `workflow.tasks`")
        }

        var errors: [WorkflowError] = []
        var tasks: [WorkflowTask] = []
        var parentsByID: [String: [String]] = [:]
        var order: [String] = []
        for (position, entry) in specified.enumerated() {
            guard let id = (entry["id"] ?? entry["name"]) as? String else {
                errors.append(WorkflowError(.missingKey, "\(file): task #\(position + 1) has no `id`", at: nil))
                continue
            }
            parentsByID[id] = entry["parents"] as? [String] ?? []
            order.append(id)
        }
        // Instances that list only children: derive the parents.
        for entry in specified where (entry["parents"] as? [String]) == nil {
            guard let id = (entry["id"] ?? entry["name"]) as? String else { continue }
            for child in entry["children"] as? [String] ?? [] { parentsByID[child, default: []].append(id) }
        }
        for id in order {
            guard let runtime = runtimes[id] else {
                errors.append(
                    WorkflowError(
                        .missingKey, "\(file): task '\(id)' has no runtimeInSeconds in `workflow.execution.tasks`",
                        at: nil))
                continue
            }
            let needs = (parentsByID[id] ?? []).map { WorkflowNeed(.task($0)) }
            tasks.append(
                WorkflowTask(
                    id: id, action: .wait(seconds: max(0, runtime) * timeScale), needs: needs, retryDelay: .zero))
        }
        guard errors.isEmpty else { throw WorkflowValidationError(errors) }
        let name = root["name"] as? String ?? (file as NSString).lastPathComponent
        return Workflow(
            name: name, file: file, policy: .outputFirst, tasks: tasks,
            contentHash: ContentHash.of(data) + String(format: "-x%g", timeScale))
    }

    static func number(_ value: Any?) -> Double? {
        if let value = value as? Double { return value }
        if let value = value as? Int { return Double(value) }
        if let value = value as? NSNumber { return value.doubleValue }
        return nil
    }
}
