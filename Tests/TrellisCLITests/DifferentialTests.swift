import Foundation
import Testing
import TrellisCLI
import TrellisCore
import TrellisEngine
import TrellisTestKit
import TrellisWorkflow

/// Seeded random workflows run twice: by `trellis run`'s runner (real shell processes, output markers, the
/// state database) and by the scheduling core alone, fed the outcomes the same scripts produce. Every task
/// must end in the same state after the same number of attempts, and, with every task on one width-1 queue,
/// attempts must start in the same order. All five policies, both failure policies, retries, timeouts, named
/// outputs (signalled or missing), triggers (satisfied or not) and finales take part.
@Suite("trellis run agrees with the scheduling core")
struct DifferentialTests {
    /// One generated task: its script runs past its timeout in its first `timeOutUntil` attempts, fails the
    /// next ones up to `failUntil`, then signals `emits`. A task with a timeout runs past it in every attempt,
    /// so no attempt can time out by accident on a loaded machine.
    struct Script {
        var failUntil: Int
        var emits: [String]
        var timeOutUntil = 0
        /// Runs until it is stopped (the job is cancelled while it runs).
        var blocks = false
    }

    struct Case {
        var yaml: String
        var scripts: [String: Script]

        /// The same workflow for an operator who cancels the job as soon as its first task starts: every main
        /// task runs until stopped (and has no timeout), so the first one is still running when the cancel
        /// comes, whatever the machine's load. Finales keep their scripts: the clean-up must still run.
        func cancelledAtFirstStart() -> Case {
            var lines: [String] = []
            var inMain = true
            for line in yaml.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
                if line == "on_success:" || line == "on_failure:" { inMain = false }
                if inMain && line == "    timeout: 500ms" { continue }
                lines.append(inMain && line.hasPrefix("    run: ") ? "    run: 'exec sleep 30'" : line)
            }
            var scripts = scripts
            for (id, _) in scripts where id.hasPrefix("t") {
                scripts[id] = Script(failUntil: 0, emits: [], blocks: true)
            }
            return Case(yaml: lines.joined(separator: "\n"), scripts: scripts)
        }

        /// The same workflow for an operator who cancels task `id` alone as it starts: that task runs until
        /// stopped (and has no timeout), so it is still running when the cancel comes; every other task keeps
        /// its script.
        func blocking(_ id: String) -> Case {
            var lines: [String] = []
            var current: String?
            for line in yaml.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
                if line.hasPrefix("  - id: ") { current = String(line.dropFirst("  - id: ".count)) }
                if current == id && line == "    timeout: 500ms" { continue }
                lines.append(current == id && line.hasPrefix("    run: ") ? "    run: 'exec sleep 30'" : line)
            }
            var scripts = scripts
            scripts[id] = Script(failUntil: 0, emits: [], blocks: true)
            return Case(yaml: lines.joined(separator: "\n"), scripts: scripts)
        }
    }

    /// What an operator cancels, and when: the job, or one task, as the first attempt is dispatched.
    enum Cancel: Equatable {
        case job
        case task(String)
    }

    static let policies = ["fifo", "output-first", "wave", "threshold:2", "critical-path"]

    /// `gate`: whether the workflow may wait for a trigger (one in four does), which an operator's cancel at the
    /// first start must not race with.
    static func generate(seed: UInt64, policy: String? = nil, failFast: Bool = true, gate: Bool = true) -> Case {
        var rng = SplitMix64(seed: seed)
        // Drawn apart, so the rest of each seed's workflow stays what it was before triggers took part.
        var gateRNG = SplitMix64(seed: seed ^ 0x6A09_E667_F3BC_C908)
        let gated = gate && gateRNG.chance(0.25)
        let satisfied = gateRNG.chance(0.6)
        var scripts: [String: Script] = [:]
        var outputs: [String: [String]] = [:]
        var lines = [
            "name: diff-\(seed)", "policy: \(policy ?? policies[Int(seed) % policies.count])",
            "failure: \(rng.chance(0.3) && failFast ? "fail-fast" : "continue")", "queues: {serial: 1}", "tasks:",
        ]
        func task(_ id: String, candidates: [String]) {
            let timeOutUntil = rng.chance(0.03) ? Int.max : 0
            let failUntil = timeOutUntil > 0 ? 0 : [0, 0, 0, 1, 2, 9].randomElement(using: &rng)!
            let declared = rng.chance(0.3) ? ["o"] : []
            let emits = declared.filter { _ in rng.chance(0.85) }
            outputs[id] = declared
            scripts[id] = Script(failUntil: failUntil, emits: emits, timeOutUntil: timeOutUntil)
            var needs: [String] = []
            for source in candidates where rng.chance(0.35) {
                needs.append(outputs[source]!.isEmpty || rng.chance(0.5) ? source : "\(source).o")
            }
            var run = failUntil > 0 ? "if [ \"$TRELLIS_ATTEMPT\" -le \(failUntil) ]; then exit 1; fi; " : ""
            if timeOutUntil > 0 { run = "exec sleep 30; " }
            run += emits.map { "echo '::trellis output \($0)'; " }.joined() + "exit 0"
            lines.append("  - id: \(id)")
            lines.append("    queue: serial")
            lines.append("    retries: \(Int.random(in: 0...2, using: &rng))")
            lines.append("    retry_delay: 0s")
            if timeOutUntil > 0 { lines.append("    timeout: 500ms") }
            if !declared.isEmpty { lines.append("    outputs: [\(declared.joined(separator: ", "))]") }
            if !needs.isEmpty { lines.append("    needs: [\(needs.joined(separator: ", "))]") }
            // A YAML single-quoted scalar: a quote inside is doubled.
            lines.append("    run: '\(run.replacingOccurrences(of: "'", with: "''"))'")
        }
        let count = Int.random(in: 3...7, using: &rng)
        var main: [String] = []
        for index in 0..<count {
            task("t\(index)", candidates: main)
            main.append("t\(index)")
        }
        if gated {
            // Every main task waits for the trigger, so its outcome is known before any other task starts,
            // however long its checks take: the start order stays the core's to decide. The
            // workflow's own directory is there at the first check; the other file never comes, so the trigger
            // fails at its timeout and the tasks after it end upstream-failed.
            lines.insert(
                contentsOf: [
                    "triggers:", "  gate:", "    file: \(satisfied ? "." : "never-there-\(seed)")",
                    "    interval: 20ms", "    timeout: 200ms",
                ], at: lines.firstIndex(of: "tasks:")!)
            scripts["@gate"] = Script(failUntil: satisfied ? 0 : .max, emits: [])
            var index = lines.firstIndex(of: "tasks:")!
            while index < lines.count {
                if lines[index].hasPrefix("  - id: t") {
                    let needs = lines[index + 1..<lines.count].prefix { !$0.hasPrefix("  - id: ") }
                        .firstIndex { $0.hasPrefix("    needs: [") }
                    if let needs {
                        lines[needs] = lines[needs].replacingOccurrences(of: "needs: [", with: "needs: [\"@gate\", ")
                    } else {
                        lines.insert("    needs: [\"@gate\"]", at: index + 1)
                    }
                }
                index += 1
            }
        }
        if rng.chance(0.6) {
            lines.append("on_success:")
            task("commit", candidates: [])
            lines.append("on_failure:")
            task("clean", candidates: [])
        }
        return Case(yaml: lines.joined(separator: "\n") + "\n", scripts: scripts)
    }

    /// The core alone: each dispatched attempt ends as its script would.
    /// `cancel`: what the operator cancels as the first attempt is dispatched.
    static func model(
        _ plan: WorkflowPlan, scripts: [String: Script], cancel: Cancel? = nil
    ) throws -> (
        states: [String: TaskStatus], attempts: [String: Int], starts: [String]
    ) {
        var core = SchedulerCore(policy: plan.workflow.policy, failurePolicy: plan.workflow.failurePolicy)
        var queues: [String: QueueID] = [:]
        for queue in plan.queues { queues[queue.name] = try core.addQueue(width: queue.width) }
        var actions: [SchedulerAction] = []
        for node in plan.nodes { try core.submit(node.spec(queue: queues[node.queue]!), now: .zero, into: &actions) }
        core.start(now: .zero, into: &actions)
        var states: [String: TaskStatus] = [:]
        var attempts: [String: Int] = [:]
        var starts: [String] = []
        var running: [(task: TaskID, attempt: Int)] = []
        var cursor = 0
        while true {
            while cursor < actions.count {
                switch actions[cursor] {
                case .dispatch(let task, _, let attempt):
                    running.append((task, attempt))
                    let id = plan.nodes[task.rawValue].id
                    attempts[id, default: 0] += 1
                    starts.append("\(id)#\(attempt)")
                    switch cancel {
                    case .job? where starts.count == 1:
                        core.cancelJob(JobID(0), now: .zero, into: &actions)
                    case .task(let name)? where starts.count == 1:
                        let target = try #require(plan.index[name], "no task \(name)")
                        try core.apply(.cancelled(TaskID(target)), now: .zero, into: &actions)
                    default:
                        break
                    }
                case .completed(let task, let outcome):
                    states[plan.nodes[task.rawValue].id] = TaskStatus(outcome)
                default: break
                }
                cursor += 1
            }
            guard !running.isEmpty else { break }
            let (task, attempt) = running.removeFirst()
            let node = plan.nodes[task.rawValue]
            let script = scripts[node.id]!
            if script.blocks {
                // Stopped by the cancel: its process ends by a signal.
                core.failed(task, attempt: attempt, now: .zero, into: &actions)
            } else if attempt <= script.timeOutUntil {
                // The deadline passes; the attempt is stopped and reports a failure.
                core.timedOut(task, attempt: attempt, now: .zero, into: &actions)
                core.failed(task, attempt: attempt, now: .zero, into: &actions)
            } else if attempt <= script.failUntil {
                core.failed(task, attempt: attempt, now: .zero, into: &actions)
            } else {
                for name in script.emits {
                    core.partialResult(
                        task, index: node.outputs.firstIndex(of: name)!, attempt: attempt, now: .zero, into: &actions)
                }
                core.succeeded(task, attempt: attempt, now: .zero, into: &actions)
            }
        }
        return (states, attempts, starts)
    }

    @Test func twoHundredSeededWorkflowsEndAlike() async throws {
        let seeds = Array(UInt64(0)..<200)
        var states: [TaskStatus: Int] = [:]
        var gates: [TaskStatus: Int] = [:]
        var retried = 0
        var timedOut = 0
        // Four workflows at a time; each run is serial (one width-1 queue).
        for chunk in stride(from: 0, to: seeds.count, by: 4) {
            try await withThrowingTaskGroup(
                of: (states: [TaskStatus], gate: TaskStatus?, retried: Int, timedOut: Int).self
            ) { group in
                for seed in seeds[chunk..<min(chunk + 4, seeds.count)] {
                    group.addTask { try await Self.compare(seed: seed) }
                }
                for try await result in group {
                    for state in result.states { states[state, default: 0] += 1 }
                    if let gate = result.gate { gates[gate, default: 0] += 1 }
                    retried += result.retried
                    timedOut += result.timedOut
                }
            }
        }
        // The workflows did exercise every way a task can end, and retries.
        for state in [TaskStatus.succeeded, .failed, .upstreamFailed, .cancelled, .skipped] {
            #expect(states[state, default: 0] > 0, "no task ended \(state)")
        }
        #expect(retried > 0)
        #expect(timedOut > 0, "no task ended timed out")
        #expect(gates[.succeeded, default: 0] > 0, "no trigger was satisfied")
        #expect(gates[.failed, default: 0] > 0, "no trigger failed")
    }

    static func compare(
        seed: UInt64
    ) async throws -> (
        states: [TaskStatus], gate: TaskStatus?, retried: Int, timedOut: Int
    ) {
        let generated = generate(seed: seed)
        let scratch = try Scratch()
        let file = try scratch.write("flow.yaml", generated.yaml)
        let plan = try WorkflowLoader.load(path: file).plan()
        let expected = try model(plan, scripts: generated.scripts)
        let log = EventLog()
        let summary = try await runWorkflow(generated.yaml, in: scratch, log: log)
        let starts = log.all.compactMap { event -> String? in
            if case .started(let task, let attempt, _, _) = event { return "\(task)#\(attempt)" }
            return nil
        }
        for node in plan.nodes {
            #expect(summary.state(node.id) == expected.states[node.id], "seed \(seed): \(node.id)\n\(generated.yaml)")
            #expect(summary.attempts(node.id) == expected.attempts[node.id, default: 0], "seed \(seed): \(node.id)")
        }
        #expect(starts == expected.starts, "seed \(seed)\n\(generated.yaml)")
        let timedOut = summary.snapshot.tasks.filter { $0.message?.contains("timed out") == true }.count
        return (
            plan.nodes.compactMap { summary.state($0.id) }, summary.state("@gate"),
            plan.nodes.filter { summary.attempts($0.id) > 1 }.count, timedOut
        )
    }
}
