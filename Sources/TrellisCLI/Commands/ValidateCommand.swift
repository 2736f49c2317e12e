internal import ArgumentParser
internal import TrellisWorkflow

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a workflow file and report every problem with its position (exit status 2).")

    @Argument(help: "A YAML workflow or a WfFormat JSON instance.") var file: String
    @OptionGroup var limitOptions: WorkflowLimitOptions

    func run() throws {
        let plan = try WorkflowInput.plan(file: file, limits: try limitOptions.limits)
        let tasks = plan.nodes.count(where: { $0.task != nil })
        let triggers = plan.nodes.count - tasks
        let queues = plan.workflow.queues.map { "\($0.name)=\($0.width)" }.joined(separator: ", ")
        print("\(file): ok — \(tasks) tasks, \(triggers) triggers, queues \(queues), policy \(plan.workflow.policy)")
    }
}
