internal import Foundation
internal import TrellisCore

/// Reads workflow files: YAML workflows, and WfCommons WfFormat JSON instances (`.json`).
public enum WorkflowLoader {
    /// Loads and expands a workflow file; `timeScale` multiplies the recorded runtimes of a WfFormat instance.
    public static func load(path: String, timeScale: Double = 1) throws(WorkflowValidationError) -> Workflow {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw WorkflowValidationError([
                WorkflowError(.unreadable, "cannot read workflow file '\(path)'", at: nil)
            ])
        }
        if path.hasSuffix(".json") {
            return try WfFormat.parse(data, file: path, timeScale: timeScale)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw WorkflowValidationError([
                WorkflowError(
                    .unreadable, "'\(path)' is not UTF-8 text", at: SourceLocation(file: path, line: 1, column: 1))
            ])
        }
        return try parse(yaml: text, file: path)
    }

    /// Parses a YAML workflow; `file` is used in error positions.
    public static func parse(yaml text: String, file: String) throws(WorkflowValidationError) -> Workflow {
        var parser = YAMLWorkflowParser(file: file)
        let stem = (file as NSString).lastPathComponent.split(separator: ".").first.map(String.init) ?? "workflow"
        var workflow = parser.parse(text, defaultName: stem)
        workflow.contentHash = ContentHash.of(text)
        guard !parser.errors.isEmpty else { return workflow }
        var errors = parser.errors
        // Unknown keys drop nothing, so the graph can still be checked and every problem reported at once.
        if errors.allSatisfy({ $0.code == .unknownKey }) {
            do {
                _ = try workflow.plan()
            } catch {
                errors += error.errors
            }
        }
        throw WorkflowValidationError(Workflow.sorted(errors))
    }

    /// Loads a workflow and checks its graph; the plan is what runners and the simulator use.
    public static func plan(path: String, timeScale: Double = 1) throws(WorkflowValidationError) -> WorkflowPlan {
        try load(path: path, timeScale: timeScale).plan()
    }
}
