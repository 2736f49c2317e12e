import Foundation
import Trellis
import TrellisCore
import TrellisExamples
import Yams

#if canImport(Glibc)
    import Glibc
#endif

// Usage: trellis-benchmarks [all|runtime|core|core-workers|journal|smq|memory|cli|cli-remote|replay|distributed|
//        distributed-memory|workflow-parse]
//        [--runs N]
// Release builds only: swift run -c release trellis-benchmarks

let arguments = Array(CommandLine.arguments.dropFirst())
let mode = arguments.first { !$0.hasPrefix("--") } ?? "all"

if mode == "bench-worker", arguments.count == 4, let slots = Int(arguments[3]) {
    // A worker process for `distributed`: no-op handlers, until its coordinator goes or it is killed.
    try await DistributedWorkload.serveWorker(address: arguments[1], name: arguments[2], slots: slots)
    exit(0)
}

let runs = arguments.firstIndex(of: "--runs").flatMap { Int(arguments[$0 + 1]) } ?? 5

#if DEBUG
    print("warning: debug build; measure with -c release")
#endif
print("load before: \(loadAverage()); runs: \(runs) (+1 warm-up), medians")

func row(_ measure: String, _ trellis: Double, _ baseline: Double?, _ unit: String, _ target: String, met: Bool) {
    let base = baseline.map { format($0) } ?? "–"
    print("| \(measure) | \(format(trellis)) \(unit) | \(base) | \(target) | \(met ? "met" : "not met") |")
}

if mode == "profile-chain" {
    let repeats = arguments.count > 1 ? Int(arguments[1]) ?? 10 : 10
    for _ in 0..<repeats { _ = try await TrellisScenario.chain(100_000, policy: .fifo) }
    exit(0)
}

if mode == "profile-distributed" {
    // The coordinator alone in this process (workers are processes of their own), for `perf record`.
    let placement = DistributedWorkload.Workers.processes(
        executable: CommandLine.arguments[0], arguments: ["bench-worker"])
    for _ in 0..<3 { print(try await DistributedWorkload.independent(100_000, placement: placement)) }
    exit(0)
}

if mode == "profile-core" {
    let specs = CoreScenario.specs(.layered, n: 200_000)
    for _ in 0..<10 { _ = try CoreScenario.eventsPerSecond(specs, policy: .criticalPath) }
    exit(0)
}

if mode == "memory" {
    // One run per process, so the peak resident size belongs to this run alone.
    let perTask = try await TrellisScenario.memory(1_000_000)
    print("memory: \(format(perTask)) bytes/task (1,000,000 tasks submitted before start)")
    exit(0)
}

if mode == "yams-compose", arguments.count > 1 {
    // One compose per process, so the peak resident size is Yams's alone.
    let text = try String(contentsOfFile: arguments[1], encoding: .utf8)
    let clock = ContinuousClock()
    let start = clock.now
    _ = try Yams.compose(yaml: text, .basic)
    let took = seconds(start.duration(to: clock.now))
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    print("\(took) \(usage.ru_maxrss * 1024)")
    exit(0)
}

if mode == "workflow-parse" {
    // `trellis validate` (parse, expand, check the graph) on chains of YAML tasks, and Yams composing the
    // same file alone in a process of its own: the floor for any reader built on Yams' node tree.
    print("| measure | trellis validate | Yams.compose alone (same file) | target | |")
    print("|---|---|---|---|---|")
    let directory = try CLIScenario.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    for n in [100_000, 1_000_000] {
        let file = try WorkflowParseScenario.file(n, in: directory)
        let ours = try await repeatRuns(runs) {
            let result = try WorkflowParseScenario.validate(file)
            return ["seconds": result.seconds, "peak": result.peakBytes]
        }
        let yams = try await repeatRuns(runs) {
            let output = try CLIScenario.run(CommandLine.arguments[0], ["yams-compose", file.path])
            let last = output.stdout.split(separator: "\n").last ?? ""
            let fields = last.split(separator: " ").compactMap { Double($0) }
            guard fields.count == 2 else { throw BenchmarkError("yams-compose printed '\(output.stdout)'") }
            return ["seconds": fields[0], "peak": fields[1]]
        }
        let seconds = median(ours["seconds"]!)
        let megabytes = (ours["peak"]!.max() ?? 0) / 1_048_576
        let name = n.formatted()
        print(
            "| \(name) tasks: seconds | \(format(seconds)) | \(format(median(yams["seconds"]!))) | ≤ 2 (1,000,000) | "
                + "\(n < 1_000_000 ? "–" : seconds <= 2 ? "met" : "not met") |")
        print(
            "| \(name) tasks: peak MB | \(format(megabytes)) | \(format((yams["peak"]!.max() ?? 0) / 1_048_576)) | "
                + "≤ 500 (1,000,000) | \(n < 1_000_000 ? "–" : megabytes <= 500 ? "met" : "not met") |")
    }
    print("load after: \(loadAverage())")
    exit(0)
}

if mode == "cli-remote" {
    // `trellis submit --watch` end to end: release `trellis server` and `trellis worker` processes on loopback.
    print("| measure | trellis submit --watch | baseline (same run) | target | |")
    print("|---|---|---|---|---|")
    let rates = try await repeatRuns(runs) {
        let (trellis, xargs) = try CLIScenario.remoteTrueTasks(3_000, width: 4)
        return ["trellis": trellis, "xargs": xargs]
    }
    let ratios = zip(rates["trellis"]!, rates["xargs"]!).map { $0 / $1 }
    row(
        "3,000 `true` tasks, one worker --slots 4: tasks/s", median(rates["trellis"]!), median(rates["xargs"]!),
        "tasks/s", "≥ 90 % of xargs -P 4", met: median(ratios) >= 0.9)
    print("  (trellis at \(ratios.map { format(100 * $0) }.joined(separator: ", ")) % of xargs, run by run)")
    let hops = try await repeatRuns(runs) { ["hop": try CLIScenario.remoteChainOverhead(1_000) * 1000] }
    let hop = median(hops["hop"]!)
    row("chain of 1,000 `true` tasks: time beyond sh, per hop", hop, nil, "ms", "≤ 0.5 ms", met: hop <= 0.5)
    print("load after: \(loadAverage())")
    exit(0)
}

if mode == "spawn" {
    // The shell executor alone against xargs, same run: how much of `trellis run`'s gap is spawning.
    print("| measure | ShellProcess | xargs (same run) | ratio |")
    print("|---|---|---|---|")
    let rates = try await repeatRuns(runs) {
        [
            "shell": try await SpawnScenario.trueCommands(5_000, width: 8),
            "xargs": try SpawnScenario.xargs(5_000, width: 8),
        ]
    }
    let ratios = zip(rates["shell"]!, rates["xargs"]!).map { $0 / $1 }
    print(
        "| 5,000 `true`, width 8: tasks/s | \(format(median(rates["shell"]!))) | \(format(median(rates["xargs"]!))) | \(ratios.map { format(100 * $0) }.joined(separator: ", ")) % |"
    )
    print("load after: \(loadAverage())")
    exit(0)
}

if mode == "cli" {
    // `trellis run` end to end: release binary, durable state on (swift build -c release --product trellis).
    print("| measure | trellis run | baseline (same run) | target | |")
    print("|---|---|---|---|---|")
    let rates = try await repeatRuns(runs) {
        let (trellis, xargs) = try CLIScenario.trueTasks(5_000, width: 8)
        return ["trellis": trellis, "xargs": xargs]
    }
    let trellis = median(rates["trellis"]!)
    let xargs = median(rates["xargs"]!)
    // The aim holds on every run, not only at the median.
    let ratios = zip(rates["trellis"]!, rates["xargs"]!).map { $0 / $1 }
    row(
        "5,000 `true` tasks, width 8: tasks/s", trellis, xargs, "tasks/s", "≥ 90 % of xargs -P 8 sh -c on every run",
        met: ratios.allSatisfy { $0 >= 0.9 })
    print("  (trellis at \(ratios.map { format(100 * $0) }.joined(separator: ", ")) % of xargs, run by run)")
    let simulation = try await repeatRuns(runs) {
        let (command, simulation) = try CLIScenario.simulate(100_000)
        return ["command": command, "simulation": simulation]
    }
    let command = median(simulation["command"]!)
    row("--simulate, 100,000 tasks: whole command", command, nil, "s", "< 2 s", met: command < 2)
    row("--simulate, 100,000 tasks: simulation alone", median(simulation["simulation"]!), nil, "s", "–", met: true)
    print("load after: \(loadAverage())")
    exit(0)
}

/// A coordinator restarted with 100,000 queued tasks in its SQLite journal, to serving again: from the snapshot
/// it saved and the entries after it, and from every entry.
func restartRows(runs: Int) async throws {
    let restart = try await repeatRuns(runs) {
        [
            "snapshot": try await DistributedWorkload.restart(100_000),
            "entries": try await DistributedWorkload.restart(100_000, snapshots: false),
        ]
    }
    let seconds = median(restart["snapshot"]!)
    print(
        "| restart with 100,000 tasks: serving again, from the snapshot | \(format(seconds)) s | ≤ 1 s | \(seconds <= 1 ? "met" : "not met") |"
    )
    print(
        "| restart with 100,000 tasks: serving again, from every entry | \(format(median(restart["entries"]!))) s | | |"
    )
    // 100,000 tasks, then all but 1,000 forgotten and 6,000 more added: 7,000 kept, against a journal that
    // only ever held those 7,000.
    var kept = 0
    let forgetting = try await repeatRuns(runs) {
        let result = try await DistributedWorkload.restartAfterForgetting(history: 100_000, live: 1_000)
        kept = result.tasks
        return ["forgetting": result.seconds, "fresh": try await DistributedWorkload.restart(kept)]
    }
    print(
        "| restart after 106,000 tasks, 99,000 of them in jobs forgotten (\(kept) kept): serving again | "
            + "\(format(median(forgetting["forgetting"]!))) s | | |")
    print(
        "| restart with \(kept) tasks never forgotten: serving again | \(format(median(forgetting["fresh"]!))) s | | |")
}

if mode == "chain" {
    // The chain hop alone: SQLite journal, and an in-memory one to tell the journal's share of the hop.
    let processes = DistributedWorkload.Workers.processes(
        executable: CommandLine.arguments[0], arguments: ["bench-worker"])
    print("| chain of 1,000 no-op tasks: end → next start | p50 | p99 |")
    print("|---|---|---|")
    for (placement, label) in [(processes, "worker processes"), (.inProcess, "workers in the coordinator process")] {
        for memory in [false, true] {
            let gaps = try await repeatRuns(runs) {
                let gaps = try await DistributedWorkload.chainGaps(1_000, placement: placement, memoryJournal: memory)
                return ["p50": gaps[gaps.count / 2] * 1000, "p99": gaps[gaps.count * 99 / 100] * 1000]
            }
            let journal = memory ? "journal in memory" : "SQLite journal"
            print("| \(label), \(journal) | \(format(median(gaps["p50"]!))) ms | \(format(median(gaps["p99"]!))) ms |")
        }
    }
    print("load after: \(loadAverage())")
    exit(0)
}

if mode == "restart" {
    try await restartRows(runs: runs)
    print("load after: \(loadAverage())")
    exit(0)
}

if mode == "distributed" {
    // One coordinator on SQLite (durable, group commit), HTTP/2 on loopback, 2 workers with no-op handlers.
    // Workers as processes of their own (this executable's `bench-worker` mode), as the issue measures, and
    // inside the coordinator's process, as earlier figures were taken.
    print("| measure | Trellis | target | |")
    print("|---|---|---|---|")
    let processes = DistributedWorkload.Workers.processes(
        executable: CommandLine.arguments[0], arguments: ["bench-worker"])
    for (placement, label) in [(processes, "worker processes"), (.inProcess, "workers in the coordinator process")] {
        for count in [10_000, 100_000] {
            let rates = try await repeatRuns(count > 10_000 ? max(1, runs / 2) : runs) {
                ["rate": try await DistributedWorkload.independent(count, placement: placement)]
            }
            let rate = median(rates["rate"]!)
            print(
                "| \(count) no-op tasks, 2 \(label): tasks/s | \(format(rate)) | ≥ 20,000 | \(rate >= 20_000 ? "met" : "not met") |"
            )
        }
        let gaps = try await repeatRuns(runs) {
            let gaps = try await DistributedWorkload.chainGaps(1_000, placement: placement)
            return ["p50": gaps[gaps.count / 2] * 1000, "p99": gaps[gaps.count * 99 / 100] * 1000]
        }
        let p50 = median(gaps["p50"]!)
        let p99 = median(gaps["p99"]!)
        print(
            "| chain of 1,000, \(label): end → next start, p50 | \(format(p50)) ms | ≤ 0.5 ms | \(p50 <= 0.5 ? "met" : "not met") |"
        )
        print(
            "| chain of 1,000, \(label): end → next start, p99 | \(format(p99)) ms | ≤ 2 ms | \(p99 <= 2 ? "met" : "not met") |"
        )
    }
    try await restartRows(runs: max(1, runs / 2))
    print("load after: \(loadAverage())")
    exit(0)
}

if mode == "distributed-memory" {
    // One run per process, so the growth belongs to this run alone.
    let perTask = try await DistributedWorkload.memoryPerQueuedTask(1_000_000)
    print(
        "| coordinator memory, 1,000,000 queued tasks | \(format(perTask.resident)) bytes/task "
            + "(\(format(perTask.live)) after malloc_trim) | ≤ 512 | \(perTask.resident <= 512 ? "met" : "not met") |"
    )
    exit(0)
}

if mode == "replay" {
    // WfCommons replays at width 16, a few seconds each; makespan against the lower bound and the prediction.
    let scales = ["montage": 0.0004, "epigenomics": 0.004, "genome": 0.0012]
    print("| instance | policy | makespan | lower bound | ratio | predicted | prediction error |")
    print("|---|---|---|---|---|---|---|")
    for instance in ["montage", "epigenomics", "genome"] {
        for policy in ["critical-path", "output-first", "fifo", "wave"] {
            var collected: [String: [Double]] = [:]
            for _ in 0..<runs {
                let replay = try CLIScenario.replay(instance, policy: policy, timeScale: scales[instance]!)
                let bound = max(replay.criticalPath, replay.totalWork / 16)
                collected["makespan", default: []].append(replay.makespan)
                collected["bound", default: []].append(bound)
                collected["predicted", default: []].append(replay.predicted)
            }
            let makespan = median(collected["makespan"]!)
            let bound = median(collected["bound"]!)
            let predicted = median(collected["predicted"]!)
            print(
                "| \(instance) | \(policy) | \(format(makespan)) s | \(format(bound)) s | \(format(makespan / bound)) | "
                    + "\(format(predicted)) s | \(format(100 * abs(predicted - makespan) / makespan)) % |")
        }
    }
    print("load after: \(loadAverage())")
    exit(0)
}

print("| measure | Trellis | raw Swift baseline | target | |")
print("|---|---|---|---|---|")

if mode == "all" || mode == "runtime" {
    let independent = try await repeatRuns(runs) {
        [
            "trellis-fifo": try await TrellisScenario.independent(100_000, policy: .fifo, width: 2) * 1e6,
            "trellis-of": try await TrellisScenario.independent(100_000, policy: .outputFirst, width: 2) * 1e6,
            "group": await Baseline.taskGroupChild(100_000) * 1e6,
        ]
    }
    let group = median(independent["group"]!)
    for (key, label) in [("trellis-fifo", "fifo"), ("trellis-of", "output-first")] {
        let value = median(independent[key]!)
        row("independent 100,000: per task (\(label))", value, group, "µs", "≤ 1× group child", met: value <= group)
    }
    let chain = try await repeatRuns(runs) {
        let fifo = try await TrellisScenario.chain(10_000, policy: .fifo)
        let outputFirst = try await TrellisScenario.chain(10_000, policy: .outputFirst)
        return [
            "hop-fifo": fifo.hop * 1e6, "submit-fifo": fifo.submit * 1e6,
            "hop-of": outputFirst.hop * 1e6, "submit-of": outputFirst.submit * 1e6,
            "handoff": await Baseline.continuationHandOff(10_000) * 1e6,
        ]
    }
    let handoff = median(chain["handoff"]!)
    for (key, label) in [("fifo", "fifo"), ("of", "output-first")] {
        let hop = median(chain["hop-\(key)"]!)
        row("chain 10,000: per hop (\(label))", hop, handoff, "µs", "≤ 1× hand-off", met: hop <= handoff)
        let submit = median(chain["submit-\(key)"]!)
        row("chain 10,000: per submission (\(label))", submit, nil, "µs", "–", met: true)
    }
    let fan = try await repeatRuns(runs) {
        [
            "trellis": try await TrellisScenario.fan(10_000, policy: .fifo) * 1e6,
            "group": await Baseline.taskGroupFan(10_000) * 1e6,
        ]
    }
    let fanTrellis = median(fan["trellis"]!)
    let fanGroup = median(fan["group"]!)
    row("fan-out/fan-in 1→10,000→1: per task", fanTrellis, fanGroup, "µs", "–", met: true)
}

if mode == "all" || mode == "smq" {
    let smq = try await repeatRuns(runs) {
        let outputFirst = try await TrellisScenario.smq(policy: .outputFirst)
        let fifo = try await TrellisScenario.smq(policy: .fifo)
        return [
            "of-first": outputFirst.first, "of-total": outputFirst.total, "of-submit": outputFirst.submit,
            "fifo-first": fifo.first, "fifo-total": fifo.total, "fifo-submit": fifo.submit,
        ]
    }
    for (key, label) in [("of", "output-first"), ("fifo", "fifo")] {
        let first = median(smq["\(key)-first"]!)
        let total = median(smq["\(key)-total"]!)
        let submit = median(smq["\(key)-submit"]!)
        let ratios = zip(smq["\(key)-first"]!, smq["\(key)-total"]!).map { $0 / $1 * 100 }
        let ratio = median(ratios)
        row(
            "smq (\(label)): first C at \(format(first * 1000)) ms of a \(format(total * 1000)) ms run "
                + "(+\(format(submit * 1000)) ms submitting 10,200 tasks)", ratio, nil, "%", "≤ 3 %", met: ratio <= 3)
    }
}

if mode == "all" || mode == "core" {
    for shape in CoreScenario.Shape.allCases {
        let specs = CoreScenario.specs(shape, n: 200_000)
        for policy in [SchedulingPolicy.fifo, .outputFirst, .criticalPath] {
            let figures = try await repeatRuns(runs) {
                ["rate": try CoreScenario.eventsPerSecond(specs, policy: policy) / 1e6]
            }
            let rate = median(figures["rate"]!)
            row("SchedulerCore \(shape.rawValue) 200,000 (\(policy))", rate, nil, "M events/s", "≥ 3", met: rate >= 3)
        }
    }
}

if mode == "all" || mode == "journal" {
    // Facts of 100,000 independent tasks on two workers (about 200,000 facts).
    let facts = try JournalScenario.facts(tasks: 100_000)
    let directory = try CLIScenario.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    print("| journal (SQLite, WAL) | figure | |")
    print("|---|---|---|")
    for batch in [1, 100, 1000] {
        let sample = batch == 1 ? Array(facts.prefix(20_000)) : facts
        let figures = try await repeatRuns(runs) {
            ["rate": try await JournalScenario.appendRate(sample, batch: batch, in: directory, durability: .normal)]
        }
        print(
            "| append, \(batch) facts per transaction, synchronous=NORMAL | \(format(median(figures["rate"]!))) facts/s | |"
        )
    }
    let full = try await repeatRuns(runs) {
        ["rate": try await JournalScenario.appendRate(facts, batch: 1000, in: directory, durability: .full)]
    }
    print("| append, 1000 facts per transaction, synchronous=FULL | \(format(median(full["rate"]!))) facts/s | |")
    let path = try await JournalScenario.journal(of: facts, in: directory)
    let restart = try await repeatRuns(runs) {
        let result = try await JournalScenario.restart(path)
        return ["read": result.read, "replay": result.replay, "total": result.read + result.replay]
    }
    print(
        "| restart: \(facts.count) facts of 100,000 tasks read and decoded / replayed into a fresh core / total | "
            + "\(format(median(restart["read"]!))) s / \(format(median(restart["replay"]!))) s / "
            + "\(format(median(restart["total"]!))) s | target ≤ 1 s |")
}

if mode == "all" || mode == "core-workers" {
    // The core placing on workers, beside the same graphs on queue slots in the same run.
    for shape in CoreScenario.Shape.allCases {
        let specs = CoreScenario.specs(shape, n: 200_000)
        for policy in [SchedulingPolicy.fifo, .outputFirst] {
            let figures = try await repeatRuns(runs) {
                [
                    "slots": try CoreScenario.eventsPerSecond(specs, policy: policy) / 1e6,
                    "workers": try CoreScenario.eventsPerSecondOnWorkers(specs, policy: policy, workers: 2, slots: 2)
                        / 1e6,
                    "classes": try CoreScenario.eventsPerSecondOnWorkers(
                        specs, policy: policy, workers: 16, slots: 4, classes: 4) / 1e6,
                ]
            }
            let slots = median(figures["slots"]!)
            let workers = median(figures["workers"]!)
            let classes = median(figures["classes"]!)
            print(
                "| SchedulerCore \(shape.rawValue) 200,000 (\(policy)) | queue slots \(format(slots)) | "
                    + "2 workers × 2 \(format(workers)) | 16 workers × 4, 4 classes \(format(classes)) | M events/s |")
        }
    }
}

print("load after: \(loadAverage())")
