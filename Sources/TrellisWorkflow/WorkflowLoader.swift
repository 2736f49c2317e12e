internal import Foundation
internal import TrellisCore

/// Reads workflow files: YAML workflows, and WfCommons WfFormat JSON instances (`.json`).
public enum WorkflowLoader {
    /// Loads and expands a workflow file; `timeScale` multiplies the recorded runtimes of a WfFormat instance.
    public static func load(
        path: String, timeScale: Double = 1, limits: WorkflowLimits = .default
    ) throws(WorkflowValidationError) -> Workflow {
        func refuse(
            _ code: WorkflowError.Code, _ message: String, at location: SourceLocation?
        ) -> WorkflowValidationError {
            WorkflowValidationError([WorkflowError(code, message, at: location)])
        }
        // The size is checked before anything is read, so a huge file costs nothing.
        if let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let size = (attributes[.size] as? NSNumber)?.intValue, size > limits.maxFileBytes
        {
            throw refuse(
                .tooLarge,
                "'\(path)' is \(ByteText.format(size)); workflow files are limited to "
                    + "\(ByteText.format(limits.maxFileBytes)) (raise it with --max-file-size)",
                at: nil)
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw refuse(.unreadable, "cannot read workflow file '\(path)'", at: nil)
        }
        guard data.count <= limits.maxFileBytes else {
            throw refuse(
                .tooLarge, "'\(path)' is larger than \(ByteText.format(limits.maxFileBytes))", at: nil)
        }
        if path.hasSuffix(".json") {
            return try WfFormat.parse(data, file: path, timeScale: timeScale, limits: limits)
        }
        let invalid = data.withUnsafeBytes { TextPosition.firstInvalidUTF8(in: $0) }
        if let invalid {
            let location = data.withUnsafeBytes { TextPosition.location(of: invalid, in: $0, file: path) }
            let byte = String(data[data.startIndex + invalid], radix: 16, uppercase: true)
            throw refuse(.unreadable, "'\(path)' is not UTF-8 text: byte 0x\(byte) at offset \(invalid)", at: location)
        }
        return try parse(yaml: String(decoding: data, as: UTF8.self), file: path, limits: limits)
    }

    /// Parses a YAML workflow; `file` is used in error positions.
    public static func parse(
        yaml text: String, file: String, limits: WorkflowLimits = .default
    ) throws(WorkflowValidationError) -> Workflow {
        var parser = YAMLWorkflowParser(file: file, limits: limits)
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
    public static func plan(
        path: String, timeScale: Double = 1, limits: WorkflowLimits = .default
    ) throws(WorkflowValidationError) -> WorkflowPlan {
        try load(path: path, timeScale: timeScale, limits: limits).plan()
    }
}
