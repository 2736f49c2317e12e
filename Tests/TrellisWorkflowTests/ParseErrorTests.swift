import Testing
import TrellisCore
import TrellisWorkflow

/// Every kind of problem a workflow file can have, with the exact position it is reported at.
///
/// Positions are 1-based; the YAML is written inline, so line 1 is the line after the opening `"""` and
/// columns count from the closing delimiter's indentation.
@Suite("Workflow parse errors")
struct ParseErrorTests {
    static let file = "flow.yaml"

    /// Parses and plans `yaml`, returning every problem reported (empty when the workflow is valid).
    static func problems(_ yaml: String, file: String = file) -> [WorkflowError] {
        do {
            let workflow = try WorkflowLoader.parse(yaml: yaml, file: file)
            _ = try workflow.plan()
            return []
        } catch {
            return error.errors
        }
    }

    /// The single problem of `yaml`; records an issue when there is not exactly one.
    static func problem(_ yaml: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> WorkflowError? {
        let found = problems(yaml)
        #expect(found.count == 1, "expected one problem, got \(found)", sourceLocation: sourceLocation)
        return found.first
    }

    static func at(_ line: Int, _ column: Int, file: String = file) -> TrellisCore.SourceLocation {
        TrellisCore.SourceLocation(file: file, line: line, column: column)
    }

    // MARK: - Syntax and keys

    @Test func malformedYAMLIsReportedAtTheScannerPosition() throws {
        let error = try #require(
            Self.problem(
                """
                name: demo
                tasks:
                  - id: a: b
                    run: echo
                """))
        #expect(error.code == .malformed)
        #expect(error.location == Self.at(3, 10))
        #expect(error.message.contains("mapping values are not allowed"))
    }

    @Test func emptyFileNeedsTasks() throws {
        let error = try #require(Self.problem(""))
        #expect(error.code == .missingKey)
        #expect(error.location == Self.at(1, 1))
    }

    @Test func unknownTopLevelKey() throws {
        let error = try #require(
            Self.problem(
                """
                name: demo
                colour: blue
                tasks:
                  - id: a
                    run: echo a
                """))
        #expect(error.code == .unknownKey)
        #expect(error.location == Self.at(2, 1))
        #expect(error.message.contains("unknown key 'colour' in the workflow"))
    }

    @Test func unknownKeyInATask() throws {
        let error = try #require(
            Self.problem(
                """
                tasks:
                  - id: a
                    run: echo a
                    retires: 2
                """))
        #expect(error.code == .unknownKey)
        #expect(error.location == Self.at(4, 5))
        #expect(error.message.contains("unknown key 'retires' in a task"))
    }

    @Test func unknownKeyInATrigger() throws {
        let error = try #require(
            Self.problem(
                """
                triggers:
                  ready:
                    file: ready.flag
                    intervall: 5s
                tasks:
                  - id: a
                    needs: ["@ready"]
                    run: echo a
                """))
        #expect(error.code == .unknownKey)
        #expect(error.location == Self.at(4, 5))
        #expect(error.message.contains("unknown key 'intervall' in trigger 'ready'"))
    }

    @Test func missingID() throws {
        let error = try #require(
            Self.problem(
                """
                tasks:
                  - id: a
                    run: echo a
                  - run: echo b
                """))
        #expect(error.code == .missingKey)
        #expect(error.location == Self.at(4, 5))
        #expect(error.message.contains("needs an `id`"))
    }

    @Test func missingRun() throws {
        let error = try #require(
            Self.problem(
                """
                tasks:
                  - id: a
                    run: echo a
                  - id: b
                    needs: [a]
                """))
        #expect(error.code == .missingKey)
        #expect(error.location == Self.at(4, 5))
        #expect(error.message.contains("task 'b' needs `run`"))
    }

    @Test func bothRunAndWaitIsReportedAtWait() throws {
        let error = try #require(
            Self.problem(
                """
                tasks:
                  - id: a
                    run: echo a
                    wait: 5s
                """))
        #expect(error.code == .invalidValue)
        #expect(error.location == Self.at(4, 5))
        #expect(error.message.contains("has both `run` and `wait`"))
    }

    // MARK: - Values

    @Test func badDuration() throws {
        let error = try #require(
            Self.problem(
                """
                tasks:
                  - id: a
                    run: echo a
                    timeout: 5 minutes
                """))
        #expect(error.code == .invalidValue)
        #expect(error.location == Self.at(4, 14))
        #expect(error.message.contains("got '5 minutes'"))
    }

    @Test func badPolicy() throws {
        let error = try #require(
            Self.problem(
                """
                name: demo
                policy: fastest
                tasks:
                  - id: a
                    run: echo a
                """))
        #expect(error.code == .invalidValue)
        #expect(error.location == Self.at(2, 9))
        #expect(error.message.contains("unknown policy 'fastest'"))
    }

    @Test func nonPositiveQueueWidths() {
        let found = Self.problems(
            """
            queues:
              cpu: 0
              gpu:
                width: -1
            tasks:
              - id: a
                run: echo a
            """)
        #expect(found.map(\.code) == [.invalidValue, .invalidValue])
        #expect(found.map(\.location) == [Self.at(2, 8), Self.at(4, 12)])
        #expect(found.first?.message.contains("the width of queue 'cpu' must be a positive integer") == true)
        #expect(found.last?.message.contains("the width of queue 'gpu' must be a positive integer") == true)
    }

    @Test func invalidIDContainingADot() throws {
        let error = try #require(
            Self.problem(
                """
                tasks:
                  - id: fetch.data
                    run: echo
                """))
        #expect(error.code == .invalidID)
        #expect(error.location == Self.at(2, 9))
        #expect(error.message.contains("task id 'fetch.data' may not contain '.'"))
    }

    // MARK: - Graph

    @Test func unknownDependencyIsReportedAtTheNeedEntry() throws {
        let error = try #require(
            Self.problem(
                """
                tasks:
                  - id: a
                    run: echo a
                  - id: b
                    needs: [a, ghost]
                    run: echo b
                """))
        #expect(error.code == .unknownDependency)
        #expect(error.location == Self.at(5, 16))
        #expect(error.message == "'b' needs unknown task 'ghost'")
    }

    @Test func unknownDependencyInABlockList() throws {
        let error = try #require(
            Self.problem(
                """
                tasks:
                  - id: a
                    run: echo a
                  - id: b
                    needs:
                      - a
                      - ghost
                    run: echo b
                """))
        #expect(error.code == .unknownDependency)
        #expect(error.location == Self.at(7, 9))
    }

    @Test func unknownOutputOfATask() throws {
        let error = try #require(
            Self.problem(
                """
                tasks:
                  - id: sim
                    outputs: [coarse]
                    run: echo
                  - id: plot
                    needs: [sim.fine]
                    run: echo
                """))
        #expect(error.code == .unknownOutput)
        #expect(error.location == Self.at(6, 13))
        #expect(error.message == "'plot' needs output 'fine' of 'sim', which declares coarse")
    }

    @Test func unknownTrigger() throws {
        let error = try #require(
            Self.problem(
                """
                triggers:
                  ready:
                    file: ready.flag
                tasks:
                  - id: a
                    needs: ["@redy"]
                    run: echo a
                """))
        #expect(error.code == .unknownTrigger)
        #expect(error.location == Self.at(6, 13))
        #expect(error.message == "'a' needs unknown trigger '@redy' (defined: ready)")
    }

    @Test func duplicateIDIsReportedAtTheSecondWithTheFirstPosition() throws {
        let error = try #require(
            Self.problem(
                """
                tasks:
                  - id: a
                    run: echo 1
                  - id: b
                    run: echo 2
                  - id: a
                    run: echo 3
                """))
        #expect(error.code == .duplicateID)
        #expect(error.location == Self.at(6, 9))
        #expect(error.message == "duplicate task id 'a' (first defined at flow.yaml:2:9)")
    }

    @Test func cycleListsItsMembersInDependencyOrder() throws {
        // a needs c, c needs b, b needs a.
        let error = try #require(
            Self.problem(
                """
                tasks:
                  - id: a
                    needs: [c]
                    run: echo a
                  - id: b
                    needs: [a]
                    run: echo b
                  - id: c
                    needs: [b]
                    run: echo c
                """))
        #expect(error.code == .cycle)
        #expect(error.location == Self.at(2, 9))
        #expect(error.message == "dependency cycle: a → c → b → a")
    }

    @Test func selfDependency() throws {
        let error = try #require(
            Self.problem(
                """
                tasks:
                  - id: a
                    needs: [a]
                    run: echo a
                """))
        #expect(error.code == .selfDependency)
        #expect(error.location == Self.at(3, 13))
        #expect(error.message == "'a' needs itself")
    }

    @Test func unknownQueueIsReportedAtTheTask() throws {
        let error = try #require(
            Self.problem(
                """
                queues:
                  cpu: 2
                tasks:
                  - id: a
                    queue: gpu
                    run: echo a
                """))
        #expect(error.code == .unknownQueue)
        #expect(error.location == Self.at(4, 9))
        #expect(error.message == "'a' uses unknown queue 'gpu' (declared: default, cpu)")
    }

    @Test func crossRoleDependency() throws {
        let error = try #require(
            Self.problem(
                """
                tasks:
                  - id: build
                    needs: [notify]
                    run: make
                on_success:
                  - id: notify
                    run: echo done
                """))
        #expect(error.code == .crossRoleDependency)
        #expect(error.location == Self.at(3, 13))
        #expect(error.message.hasPrefix("'build' (main) needs 'notify' (on_success)"))
    }

    @Test func finaleTaskMayNotNeedAMainTask() throws {
        let error = try #require(
            Self.problem(
                """
                tasks:
                  - id: build
                    run: make
                on_failure:
                  - id: alert
                    needs: [build]
                    run: echo failed
                """))
        #expect(error.code == .crossRoleDependency)
        #expect(error.location == Self.at(6, 13))
        #expect(error.message.hasPrefix("'alert' (on_failure) needs 'build' (main)"))
    }

    // MARK: - Parameter expansion

    @Test func unknownParameterInAnID() throws {
        let error = try #require(
            Self.problem(
                """
                tasks:
                  - id: sim-${k}
                    run: echo
                """))
        #expect(error.code == .badExpansion)
        #expect(error.location == Self.at(2, 9))
        #expect(error.message == "unknown parameter 'k' in 'sim-${k}'")
    }

    @Test func unknownParameterInAnArrayIDIsReportedOnce() throws {
        let error = try #require(
            Self.problem(
                """
                tasks:
                  - id: sim-${k}
                    matrix: {n: [1, 2]}
                    run: echo
                """))
        #expect(error.code == .badExpansion)
        #expect(error.location == Self.at(2, 9))
    }

    @Test func emptyMatrixList() throws {
        let error = try #require(
            Self.problem(
                """
                tasks:
                  - id: sim-${n}
                    matrix:
                      n: []
                    run: echo
                """))
        #expect(error.code == .badExpansion)
        #expect(error.location == Self.at(4, 10))
        #expect(error.message == "parameter 'n' of 'sim-${n}' needs a non-empty list of values")
    }

    @Test func forEachEntriesWithDifferentParameters() throws {
        let error = try #require(
            Self.problem(
                """
                tasks:
                  - id: sim-${n}
                    for_each:
                      - {n: 1}
                      - {n: 2, m: 3}
                    run: echo
                """))
        #expect(error.code == .badExpansion)
        #expect(error.location == Self.at(5, 9))
        #expect(error.message.contains("every `for_each` entry of 'sim-${n}' must set the same parameters"))
    }

    @Test func needWithAnUnknownParameterNamingNoArray() throws {
        let error = try #require(
            Self.problem(
                """
                tasks:
                  - id: a
                    run: echo a
                  - id: b
                    needs: ["a-${q}"]
                    run: echo b
                """))
        #expect(error.code == .badExpansion)
        #expect(error.location == Self.at(5, 13))
        #expect(error.message == "'b' needs 'a-${q}', which has an unknown parameter and names no task array")
    }

    // MARK: - Several problems

    @Test func everyParserProblemIsReportedSortedByPosition() {
        // The parser reads `policy` before `tasks`, so the policy problem is found first but listed last.
        let found = Self.problems(
            """
            name: demo
            tasks:
              - id: a
                run: echo a
                retries: -1
              - id: b
                run: echo b
                wait: 1s
              - id: c.d
                run: echo c
            policy: sometimes
            """)
        #expect(found.map(\.code) == [.invalidValue, .invalidValue, .invalidID, .invalidValue])
        #expect(found.map(\.location) == [Self.at(5, 14), Self.at(8, 5), Self.at(9, 9), Self.at(11, 9)])
    }

    @Test func unknownKeysAndGraphProblemsAreReportedTogether() {
        // Unknown keys drop nothing, so the parser goes on to check the graph and merges both lists.
        let found = Self.problems(
            """
            tasks:
              - id: a
                needs: [ghost]
                run: echo a
                colour: red
              - id: a
                run: echo again
            """)
        #expect(found.map(\.code) == [.unknownDependency, .unknownKey, .duplicateID])
        #expect(found.map(\.location) == [Self.at(3, 13), Self.at(5, 5), Self.at(6, 9)])
    }

    @Test func locationsNameTheFileAsGiven() {
        let found = Self.problems(
            """
            tasks:
              - id: a
                needs: [ghost]
                run: echo a
            """, file: "pipelines/etl.yaml")
        #expect(found.map(\.location) == [Self.at(3, 13, file: "pipelines/etl.yaml")])
        #expect(found.map(\.description) == ["pipelines/etl.yaml:3:13: error: 'a' needs unknown task 'ghost'"])
    }
}
