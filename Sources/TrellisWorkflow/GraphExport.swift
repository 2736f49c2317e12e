/// A task graph as Graphviz DOT or Mermaid text, optionally coloured by task state: a workflow's plan (with a
/// local run's recorded states) or a coordinator's job.
public enum GraphExport {
    public enum Format: String, Sendable, CaseIterable {
        case dot, mermaid
    }

    /// What is drawn: nodes in order, and edges between them by position.
    public struct Drawing: Sendable {
        public struct Node: Sendable {
            /// Unique within the drawing: DOT's node name.
            public var key: String
            public var label: String
            public var isTrigger: Bool
            public var isFinale: Bool
            /// A state name (`succeeded`, `failed`, `running`, …) or `nil` for a plain node.
            public var state: String?

            public init(key: String, label: String, isTrigger: Bool = false, isFinale: Bool = false, state: String?) {
                self.key = key
                self.label = label
                self.isTrigger = isTrigger
                self.isFinale = isFinale
                self.state = state
            }
        }

        public struct Edge: Sendable {
            public var from: Int
            public var to: Int
            /// The named output the edge carries, for a need of one output.
            public var output: String?

            public init(from: Int, to: Int, output: String? = nil) {
                self.from = from
                self.to = to
                self.output = output
            }
        }

        public var title: String
        public var nodes: [Node]
        public var edges: [Edge]

        public init(title: String, nodes: [Node], edges: [Edge]) {
            self.title = title
            self.nodes = nodes
            self.edges = edges
        }
    }

    /// `states` maps task ids to state names (`succeeded`, `failed`, `running`, …); missing tasks are plain.
    public static func render(_ plan: WorkflowPlan, format: Format, states: [String: String] = [:]) -> String {
        render(drawing(of: plan, states: states), format: format)
    }

    public static func render(_ drawing: Drawing, format: Format) -> String {
        switch format {
        case .dot: dot(drawing)
        case .mermaid: mermaid(drawing)
        }
    }

    static func drawing(of plan: WorkflowPlan, states: [String: String]) -> Drawing {
        let nodes = plan.nodes.map { node in
            Drawing.Node(
                key: node.id, label: node.id, isTrigger: node.task == nil, isFinale: node.role != .main,
                state: states[node.id])
        }
        var edges: [Drawing.Edge] = []
        for (position, node) in plan.nodes.enumerated() {
            for dependency in node.dependencies {
                let source = dependency.task.rawValue
                edges.append(
                    Drawing.Edge(
                        from: source, to: position, output: dependency.item.map { plan.nodes[source].outputs[$0] }))
            }
        }
        return Drawing(title: plan.workflow.name, nodes: nodes, edges: edges)
    }

    static let colours: [String: String] = [
        "succeeded": "#b7e1a1", "running": "#9ecae1", "retrying": "#fdd49e", "failed": "#fc9272",
        "upstream-failed": "#fcbba1", "cancelled": "#d9d9d9", "killed": "#bdbdbd", "interrupted": "#fdae6b",
        "skipped": "#f0f0f0", "waiting": "#ffffff", "ready": "#deebf7", "assigned": "#c6dbef",
    ]

    static func dot(_ drawing: Drawing) -> String {
        var lines = [
            "digraph \(quoted(drawing.title)) {", "  rankdir=LR;",
            "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\"];",
        ]
        for node in drawing.nodes {
            var attributes: [String] = []
            if node.label != node.key { attributes.append("label=\(quoted(node.label))") }
            if node.isTrigger { attributes.append("shape=hexagon") }
            if let state = node.state, let colour = colours[state] {
                attributes.append("fillcolor=\"\(colour)\"")
                attributes.append("tooltip=\(quoted(state))")
            }
            if node.isFinale { attributes.append("peripheries=2") }
            lines.append(
                "  \(quoted(node.key))" + (attributes.isEmpty ? "" : " [\(attributes.joined(separator: ", "))]") + ";")
        }
        for edge in drawing.edges {
            let label = edge.output.map { " [label=\(quoted($0)), style=dashed]" } ?? ""
            lines.append("  \(quoted(drawing.nodes[edge.from].key)) -> \(quoted(drawing.nodes[edge.to].key))\(label);")
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    static func mermaid(_ drawing: Drawing) -> String {
        var lines = ["flowchart LR"]
        func name(_ position: Int) -> String { "n\(position)" }
        for (position, node) in drawing.nodes.enumerated() {
            let text = node.label.replacingOccurrences(of: "\"", with: "#quot;")
            lines.append(node.isTrigger ? "  \(name(position)){{\"\(text)\"}}" : "  \(name(position))[\"\(text)\"]")
        }
        for edge in drawing.edges {
            if let output = edge.output {
                lines.append("  \(name(edge.from)) -.->|\(output)| \(name(edge.to))")
            } else {
                lines.append("  \(name(edge.from)) --> \(name(edge.to))")
            }
        }
        var used: Set<String> = []
        for (position, node) in drawing.nodes.enumerated() {
            guard let state = node.state, colours[state] != nil else { continue }
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
