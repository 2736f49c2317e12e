import Testing
import TrellisWorkflow

/// DOT and Mermaid renderings of a plan.
///
///   @ready ──► fetch ──► simulate ─ ─coarse─ ─► preview
///                           └───────────────────► archive        on_success: notify
@Suite("Graph export")
struct GraphExportTests {
    static func plan() throws -> WorkflowPlan {
        try WorkflowLoader.parse(
            yaml: """
                name: export
                triggers:
                  ready:
                    file: ready.flag
                tasks:
                  - id: fetch
                    needs: ["@ready"]
                    run: fetch
                  - id: simulate
                    needs: [fetch]
                    outputs: [coarse, fine]
                    run: simulate
                  - id: preview
                    needs: [simulate.coarse]
                    run: preview
                  - id: archive
                    needs: [simulate]
                    run: archive
                on_success:
                  - id: notify
                    run: notify
                """, file: "export.yaml"
        ).plan()
    }

    static func lines(_ text: String) -> [String] {
        text.split(separator: "\n").map(String.init)
    }

    @Test func dotHasEveryNodeAndEdge() throws {
        let plan = try Self.plan()
        #expect(plan.nodes.map(\.id) == ["@ready", "fetch", "simulate", "preview", "archive", "notify"])
        let dot = GraphExport.render(plan, format: .dot)
        let lines = Self.lines(dot)
        #expect(lines.first == "digraph \"export\" {")
        #expect(lines.last == "}")
        #expect(dot.hasSuffix("}\n"))
        let nodes = lines.filter { !$0.contains("->") && $0.hasPrefix("  \"") }
        #expect(
            nodes == [
                "  \"@ready\" [shape=hexagon];",
                "  \"fetch\";",
                "  \"simulate\";",
                "  \"preview\";",
                "  \"archive\";",
                "  \"notify\" [peripheries=2];",
            ])
        let edges = lines.filter { $0.contains("->") }
        #expect(
            edges == [
                "  \"@ready\" -> \"fetch\";",
                "  \"fetch\" -> \"simulate\";",
                "  \"simulate\" -> \"preview\" [label=\"coarse\", style=dashed];",
                "  \"simulate\" -> \"archive\";",
            ])
    }

    @Test func dotColoursNodesByState() throws {
        let dot = GraphExport.render(
            try Self.plan(), format: .dot,
            states: ["fetch": "succeeded", "simulate": "running", "preview": "upstream-failed", "archive": "mystery"])
        let lines = Self.lines(dot)
        #expect(lines.contains("  \"fetch\" [fillcolor=\"#b7e1a1\", tooltip=\"succeeded\"];"))
        #expect(lines.contains("  \"simulate\" [fillcolor=\"#9ecae1\", tooltip=\"running\"];"))
        #expect(lines.contains("  \"preview\" [fillcolor=\"#fcbba1\", tooltip=\"upstream-failed\"];"))
        // A state without a colour leaves the node plain.
        #expect(lines.contains("  \"archive\";"))
    }

    @Test func dotQuotesIDs() throws {
        let plan = try WorkflowLoader.parse(
            yaml: """
                name: say "hi"
                tasks:
                  - id: a"b
                    run: echo
                """, file: "quotes.yaml"
        ).plan()
        let dot = GraphExport.render(plan, format: .dot)
        #expect(dot.hasPrefix("digraph \"say \\\"hi\\\"\" {"))
        #expect(Self.lines(dot).contains("  \"a\\\"b\";"))
    }

    @Test func mermaidHasEveryNodeAndEdge() throws {
        let mermaid = GraphExport.render(try Self.plan(), format: .mermaid)
        #expect(
            Self.lines(mermaid) == [
                "flowchart LR",
                "  n0{{\"@ready\"}}",
                "  n1[\"fetch\"]",
                "  n2[\"simulate\"]",
                "  n3[\"preview\"]",
                "  n4[\"archive\"]",
                "  n5[\"notify\"]",
                "  n0 --> n1",
                "  n1 --> n2",
                "  n2 -.->|coarse| n3",
                "  n2 --> n4",
            ])
    }

    @Test func mermaidColoursNodesByStateWithOneClassPerState() throws {
        let mermaid = GraphExport.render(
            try Self.plan(), format: .mermaid,
            states: ["fetch": "succeeded", "simulate": "succeeded", "preview": "upstream-failed", "archive": "mystery"])
        let lines = Self.lines(mermaid)
        let classes = lines.filter { $0.hasPrefix("  class") }
        #expect(
            classes == [
                "  class n1 succeeded",
                "  class n2 succeeded",
                "  class n3 upstream_failed",
                "  classDef succeeded fill:#b7e1a1",
                "  classDef upstream_failed fill:#fcbba1",
            ])
    }

    @Test func everyFormatRendersEveryNode() throws {
        let plan = try Self.plan()
        for format in GraphExport.Format.allCases {
            let text = GraphExport.render(plan, format: format)
            for node in plan.nodes {
                #expect(text.contains("\"\(node.id)\""), "\(format) lacks \(node.id)")
            }
        }
    }
}
