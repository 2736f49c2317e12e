/// A workflow graph as Graphviz DOT or Mermaid text, optionally coloured by recorded task state.
public enum GraphExport {
    public enum Format: String, Sendable, CaseIterable {
        case dot, mermaid
    }

    /// `states` maps task ids to state names (`succeeded`, `failed`, `running`, …); missing tasks are plain.
    public static func render(_ plan: WorkflowPlan, format: Format, states: [String: String] = [:]) -> String {
        switch format {
        case .dot: dot(plan, states: states)
        case .mermaid: mermaid(plan, states: states)
        }
    }

    static let colours: [String: String] = [
        "succeeded": "#b7e1a1", "running": "#9ecae1", "retrying": "#fdd49e", "failed": "#fc9272",
        "upstream-failed": "#fcbba1", "cancelled": "#d9d9d9", "interrupted": "#fdae6b", "skipped": "#f0f0f0",
        "waiting": "#ffffff",
    ]

    static func dot(_ plan: WorkflowPlan, states: [String: String]) -> String {
        var lines = [
            "digraph \(quoted(plan.workflow.name)) {", "  rankdir=LR;",
            "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\"];",
        ]
        for node in plan.nodes {
            var attributes: [String] = []
            if node.task == nil { attributes.append("shape=hexagon") }
            if let state = states[node.id], let colour = colours[state] {
                attributes.append("fillcolor=\"\(colour)\"")
                attributes.append("tooltip=\(quoted(state))")
            }
            if node.role != .main { attributes.append("peripheries=2") }
            lines.append(
                "  \(quoted(node.id))" + (attributes.isEmpty ? "" : " [\(attributes.joined(separator: ", "))]") + ";")
        }
        for node in plan.nodes {
            for dependency in node.dependencies {
                let source = plan.nodes[dependency.task.rawValue]
                let label = dependency.item.map { " [label=\(quoted(source.outputs[$0])), style=dashed]" } ?? ""
                lines.append("  \(quoted(source.id)) -> \(quoted(node.id))\(label);")
            }
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    static func mermaid(_ plan: WorkflowPlan, states: [String: String]) -> String {
        var lines = ["flowchart LR"]
        func name(_ position: Int) -> String { "n\(position)" }
        for (position, node) in plan.nodes.enumerated() {
            let text = node.id.replacingOccurrences(of: "\"", with: "#quot;")
            lines.append(node.task == nil ? "  \(name(position)){{\"\(text)\"}}" : "  \(name(position))[\"\(text)\"]")
        }
        for (position, node) in plan.nodes.enumerated() {
            for dependency in node.dependencies {
                let source = dependency.task.rawValue
                if let item = dependency.item {
                    lines.append("  \(name(source)) -.->|\(plan.nodes[source].outputs[item])| \(name(position))")
                } else {
                    lines.append("  \(name(source)) --> \(name(position))")
                }
            }
        }
        var used: Set<String> = []
        for (position, node) in plan.nodes.enumerated() {
            guard let state = states[node.id], colours[state] != nil else { continue }
            let className = state.replacingOccurrences(of: "-", with: "_")
            used.insert(state)
            lines.append("  class \(name(position)) \(className)")
        }
        for state in used.sorted() {
            lines.append("  classDef \(state.replacingOccurrences(of: "-", with: "_")) fill:\(colours[state]!)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
