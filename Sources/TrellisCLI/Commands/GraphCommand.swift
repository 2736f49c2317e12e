internal import ArgumentParser
internal import Foundation
internal import TrellisWorkflow

struct GraphCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph",
        abstract: "Print the workflow graph as DOT or Mermaid, coloured by state when a run exists.")

    @Argument(help: "A YAML workflow or a WfFormat JSON instance.") var file: String
    @OptionGroup var limitOptions: WorkflowLimitOptions
    @Option(help: "dot or mermaid.") var format: String = "dot"
    @Option(help: "The run's state directory (default: .trellis/<name> beside the file).") var state: String?

    func run() async throws {
        guard let format = GraphExport.Format(rawValue: format) else {
            throw ValidationError("--format must be dot or mermaid")
        }
        let plan = try WorkflowInput.plan(file: file, limits: try limitOptions.limits)
        var states: [String: String] = [:]
        let directory = state.map(StateLocation.absolute) ?? StateLocation.directory(forWorkflow: file)
        if let snapshot = try await StateLocation.recordedRun(in: directory) {
            for task in snapshot.tasks { states[task.id] = task.state.rawValue }
        }
        print(GraphExport.render(plan, format: format, states: states), terminator: "")
    }
}
