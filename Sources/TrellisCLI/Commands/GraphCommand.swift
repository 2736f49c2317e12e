internal import ArgumentParser
internal import Foundation
internal import TrellisProtocol
internal import TrellisWorkflow

struct GraphCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph",
        abstract: "Print a workflow's graph, or a coordinator's job's, as DOT or Mermaid, coloured by state.",
        discussion: """
            trellis graph FILE: the workflow, coloured by its local run's states when one exists.
            trellis graph --job ID: a job on a coordinator, coloured by its tasks' states now.
            """)

    @Argument(help: "A YAML workflow or a WfFormat JSON instance.") var file: String?
    @OptionGroup var limitOptions: WorkflowLimitOptions
    @Option(help: "dot or mermaid.") var format: String = "dot"
    @Option(help: "The run's state directory (default: .trellis/<name> beside the file).") var state: String?
    @Option(help: "A job on the coordinator instead of a file.") var job: UInt64?
    @OptionGroup var remote: RemoteOptions

    func validate() throws {
        guard (file == nil) != (job == nil) else { throw ValidationError("name a workflow file or --job ID") }
    }

    func run() async throws {
        guard let format = GraphExport.Format(rawValue: format) else {
            throw ValidationError("--format must be dot or mermaid")
        }
        if let job {
            print(
                GraphExport.render(try await Self.drawing(ofJob: job, remote: remote), format: format), terminator: "")
            return
        }
        guard let file else { return }
        let plan = try WorkflowInput.plan(file: file, limits: try limitOptions.limits)
        var states: [String: String] = [:]
        let directory = state.map(StateLocation.absolute) ?? StateLocation.directory(forWorkflow: file)
        if let snapshot = try await StateLocation.recordedRun(in: directory) {
            for task in snapshot.tasks { states[task.id] = task.state.rawValue }
        }
        print(GraphExport.render(plan, format: format, states: states), terminator: "")
    }

    /// A job's tasks as the coordinator knows them now, with the tasks of other jobs they need.
    static func drawing(ofJob job: UInt64, remote: RemoteOptions) async throws -> GraphExport.Drawing {
        try await remote.withClient { client in
            guard let summary = try await client.jobs(job).first else {
                throw ValidationError("there is no job \(job)")
            }
            var tasks = try await client.tasks(ofJob: job)
            var position: [UInt64: Int] = [:]
            for (index, task) in tasks.enumerated() { position[task.id] = index }
            for task in tasks {
                for need in task.needs where position[need] == nil {
                    position[need] = tasks.count
                    tasks.append(try await client.task(need))
                }
            }
            let nodes = tasks.map { task in
                let isTrigger: Bool
                if case .trigger? = task.work { isTrigger = true } else { isTrigger = false }
                let outside = task.job == job ? "" : " (job \(task.job))"
                return GraphExport.Drawing.Node(
                    key: "\(task.id)", label: task.name + outside, isTrigger: isTrigger,
                    state: RemoteJSON.name(of: task.status))
            }
            var edges: [GraphExport.Drawing.Edge] = []
            for (index, task) in tasks.enumerated() where task.job == job {
                let needs = task.spec?.needs ?? []
                for (offset, need) in task.needs.enumerated() {
                    guard let from = position[need] else { continue }
                    let output = needs.count == task.needs.count ? needs[offset].output : nil
                    edges.append(GraphExport.Drawing.Edge(from: from, to: index, output: output))
                }
            }
            return GraphExport.Drawing(title: summary.name, nodes: nodes, edges: edges)
        }
    }
}
