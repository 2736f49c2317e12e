import Testing
import TrellisCore
import TrellisJournal
import TrellisProtocol
import TrellisTestKit

@testable import TrellisCoordinator

/// The coordinator's decisions without a network: requests and reports in, effects and records out.
@Suite("Coordinator engine")
struct CoordinatorEngineTests {
    static let lease = Duration.seconds(10)

    static func engine() -> CoordinatorEngine {
        CoordinatorEngine(epoch: 1, leaseTimeout: lease, cancelGrace: .seconds(5))
    }

    static func spec(
        _ name: String, needs: [String] = [], output: (String, String)? = nil, outputs: [String] = [],
        retries: Int = 0, retryDelay: Duration = .zero
    ) -> RemoteTaskSpec {
        var spec = RemoteTaskSpec(name: name, work: .shell(command: "run \(name)"))
        spec.outputs = outputs
        spec.retries = retries
        spec.retryDelay = retryDelay
        spec.needs = needs.map { RemoteNeed(.name($0)) }
        if let (target, name) = output { spec.needs.append(RemoteNeed(.name(target), output: name)) }
        return spec
    }

    static func request(
        _ tasks: [RemoteTaskSpec], play: Bool = true, onFailure: [RemoteTaskSpec] = []
    ) -> RemoteJob {
        var request = RemoteJob(name: "job", play: play)
        request.tasks = tasks
        request.onFailure = onFailure
        return request
    }

    /// The assignments among `effects`, as (worker, attempt, inputs).
    static func assignments(_ effects: [CoordinatorEffect]) -> [(WorkerID, WireAttempt, [String: [UInt8]])] {
        effects.compactMap { effect in
            if case .assign(let worker, let ref, _, _, let inputs) = effect { return (worker, ref, inputs) }
            return nil
        }
    }

    static func stale(_ effects: [CoordinatorEffect]) -> [WireAttempt] {
        effects.compactMap { effect in
            if case .stale(_, let ref) = effect { return ref }
            return nil
        }
    }

    static func worker(
        _ engine: inout CoordinatorEngine, _ name: String, slots: Int = 1, now: Duration = .zero
    )
        throws -> WorkerID
    {
        try engine.hello(name: name, spec: WorkerSpec(type: "blocking", slots: slots), running: [], now: now).worker
    }

    @Test func aJobRunsToItsEndAndAHandlersValueReachesItsDependant() throws {
        var engine = Self.engine()
        let (job, ids) = try engine.add(
            Self.request([Self.spec("a"), Self.spec("b", needs: ["a"])]), to: 0, policy: .fifo, now: .zero)
        #expect(ids == [1, 2])
        #expect(engine.view(of: TaskID(1)) == .waiting)
        #expect(engine.view(of: TaskID(0)) == .ready)
        let worker = try Self.worker(&engine, "w1")
        var turn = engine.takeTurn()
        let first = try #require(Self.assignments(turn.effects).first)
        #expect(first.0 == worker)
        #expect(first.1 == WireAttempt(task: 1, epoch: 1, attempt: 1))
        #expect(engine.view(of: TaskID(0)) == .assigned)
        engine.started(first.1, by: worker, now: .seconds(1))
        #expect(engine.view(of: TaskID(0)) == .running)
        engine.finished(first.1, result: .value([4, 2]), by: worker, now: .seconds(2))
        turn = engine.takeTurn()
        let second = try #require(Self.assignments(turn.effects).first)
        #expect(second.1.task == 2)
        #expect(second.2 == ["a": [4, 2]], "the value of what b needs comes with its assignment")
        engine.finished(second.1, result: .exited(0), by: worker, now: .seconds(3))
        turn = engine.takeTurn()
        #expect(turn.effects.contains(.jobEnded(job)))
        #expect(engine.view(of: TaskID(1)) == .succeeded)
        #expect(turn.records.contains { if case .attemptEnded(TaskID(1), 1, 0, nil, nil) = $0 { true } else { false } })
    }

    @Test func createdTasksWaitForPlayAndPausedOnesForResume() throws {
        var engine = Self.engine()
        let worker = try Self.worker(&engine, "w1", slots: 4)
        let (job, _) = try engine.add(
            Self.request([Self.spec("a"), Self.spec("b")], play: false), to: 0, policy: .fifo, now: .zero)
        #expect(engine.view(of: TaskID(0)) == .created)
        #expect(Self.assignments(engine.takeTurn().effects).isEmpty, "nothing runs before play")
        #expect(engine.change(.pause, ids: [TaskID(1)], now: .seconds(1)) == 1)
        #expect(engine.change(.play, ids: [], job: job, now: .seconds(2)) == 1, "a paused task is not played")
        #expect(engine.view(of: TaskID(1)) == .paused)
        let played = Self.assignments(engine.takeTurn().effects)
        #expect(played.map(\.1.task) == [1])
        #expect(engine.change(.resume, ids: [TaskID(1)], now: .seconds(3)) == 1)
        #expect(engine.change(.resume, ids: [TaskID(1)], now: .seconds(3)) == 0, "already resumed")
        #expect(engine.view(of: TaskID(1)) == .created)
        #expect(Self.assignments(engine.takeTurn().effects).isEmpty)
        #expect(engine.change(.play, ids: [TaskID(1)], now: .seconds(4)) == 1)
        #expect(Self.assignments(engine.takeTurn().effects).map(\.1.task) == [2])
        _ = worker
    }

    @Test func onlyTheHolderOfTheCurrentAttemptIsHeard() throws {
        var engine = Self.engine()
        _ = try engine.add(Self.request([Self.spec("a", outputs: ["half"])]), to: 0, policy: .fifo, now: .zero)
        let holder = try Self.worker(&engine, "holder")
        let other = try Self.worker(&engine, "other")
        let ref = try #require(Self.assignments(engine.takeTurn().effects).first).1
        engine.started(ref, by: other, now: .seconds(1))
        engine.output(ref, name: "half", by: other, now: .seconds(1))
        engine.finished(ref, result: .exited(3), by: other, now: .seconds(1))
        var old = ref
        old.attempt = 0
        engine.finished(old, result: .exited(0), by: holder, now: .seconds(1))
        engine.output(ref, name: "not-declared", by: holder, now: .seconds(1))
        let turn = engine.takeTurn()
        #expect(Self.stale(turn.effects).count == 5)
        #expect(turn.records.isEmpty, "a stale report changes nothing")
        #expect(engine.view(of: TaskID(0)) == .assigned)
    }

    /// The core's rule, which the old coordinator broke: an output already signalled stays signalled, so its
    /// dependant runs even when the producer fails afterwards.
    @Test func aSignalledOutputFeedsItsDependantEvenIfTheProducerFails() throws {
        var engine = Self.engine()
        _ = try engine.add(
            Self.request([
                Self.spec("producer", outputs: ["early", "late"]),
                Self.spec("uses-early", output: ("producer", "early")),
                Self.spec("uses-late", output: ("producer", "late")),
                Self.spec("uses-all", needs: ["producer"]),
            ]), to: 0, policy: .fifo, now: .zero)
        let worker = try Self.worker(&engine, "w", slots: 4)
        let ref = try #require(Self.assignments(engine.takeTurn().effects).first).1
        engine.output(ref, name: "early", by: worker, now: .seconds(1))
        #expect(Self.assignments(engine.takeTurn().effects).map(\.1.task) == [2], "released while the producer runs")
        engine.finished(ref, result: .exited(1), by: worker, now: .seconds(2))
        _ = engine.takeTurn()
        #expect(engine.view(of: TaskID(0)) == .failed)
        #expect(engine.view(of: TaskID(1)) == .assigned)
        #expect(engine.view(of: TaskID(2)) == .upstreamFailed)
        #expect(engine.view(of: TaskID(3)) == .upstreamFailed)
    }

    @Test func aLostWorkersAttemptRunsAgainElsewhereWithoutUsingARetry() throws {
        var engine = Self.engine()
        _ = try engine.add(Self.request([Self.spec("a")]), to: 0, policy: .fifo, now: .zero)
        let ghost = try Self.worker(&engine, "ghost")
        let ref = try #require(Self.assignments(engine.takeTurn().effects).first).1
        let good = try Self.worker(&engine, "good", now: .seconds(1))
        engine.heard(from: good, now: .seconds(9))
        #expect(engine.nextDeadline == Self.lease)
        #expect(engine.expire(now: Self.lease) == [ghost])
        let again = try #require(Self.assignments(engine.takeTurn().effects).first)
        #expect(again.0 == good)
        #expect(again.1.attempt == 2)
        engine.finished(ref, result: .exited(0), by: ghost, now: .seconds(11))
        #expect(Self.stale(engine.takeTurn().effects) == [ref], "the lost worker's late report is stale")
        engine.finished(again.1, result: .exited(0), by: good, now: .seconds(12))
        #expect(engine.view(of: TaskID(0)) == .succeeded, "no retries were configured, and none was used")
    }

    @Test func aTaskThatKeepsLosingItsWorkerFailsAtTheCrashLimit() throws {
        var engine = Self.engine()
        engine.apply(.crashLimitSet(2), now: .zero)
        _ = try engine.add(
            Self.request([Self.spec("a", retries: 3), Self.spec("b", needs: ["a"])]), to: 0, policy: .fifo, now: .zero)
        for (index, name) in ["first", "second"].enumerated() {
            let worker = try Self.worker(&engine, name, now: .seconds(20 * index))
            #expect(Self.assignments(engine.takeTurn().effects).map(\.0) == [worker])
            #expect(engine.expire(now: .seconds(20 * index) + Self.lease) == [worker])
        }
        #expect(engine.state.core.outcome(of: TaskID(0)) == .failed(.crashed(losses: 2)))
        #expect(engine.view(of: TaskID(0)) == .failed && engine.view(of: TaskID(1)) == .upstreamFailed)
        // Its retries were never used: losing a worker is not the task's failure, until the limit.
        #expect(engine.state.core.attemptCount(of: TaskID(0)) == 2)
    }

    @Test func aRetryWaitsOutItsBackOffShownAsRetrying() throws {
        var engine = Self.engine()
        _ = try engine.add(
            Self.request([Self.spec("flaky", retries: 1, retryDelay: .seconds(4))]), to: 0, policy: .fifo, now: .zero)
        let worker = try Self.worker(&engine, "w")
        let ref = try #require(Self.assignments(engine.takeTurn().effects).first).1
        engine.finished(ref, result: .exited(2), by: worker, now: .seconds(1))
        #expect(Self.assignments(engine.takeTurn().effects).isEmpty)
        #expect(engine.view(of: TaskID(0)) == .retrying)
        engine.heard(from: worker, now: .seconds(4))
        #expect(engine.nextDeadline == .seconds(5))
        _ = engine.expire(now: .seconds(5))
        #expect(Self.assignments(engine.takeTurn().effects).map(\.1.attempt) == [2])
        #expect(engine.nextDeadline.map { $0 > .seconds(5) } ?? true, "a deadline acted on is forgotten")
    }

    @Test func aTaskMayNeedOneWrittenAfterIt() throws {
        var engine = Self.engine()
        let (_, ids) = try engine.add(
            Self.request([Self.spec("late", needs: ["early"]), Self.spec("early")]), to: 0, policy: .fifo, now: .zero)
        #expect(ids == [2, 1], "ids follow what needs what; the answer keeps the request's order")
        #expect(engine.tasks.map(\.name) == ["early", "late"])
        let worker = try Self.worker(&engine, "w")
        let first = try #require(Self.assignments(engine.takeTurn().effects).first)
        #expect(first.1.task == 1)
        engine.finished(first.1, result: .exited(0), by: worker, now: .seconds(1))
        #expect(Self.assignments(engine.takeTurn().effects).map(\.1.task) == [2])
    }

    @Test func operatorsEscalateAndPauseOnlyWhatHasNotStarted() throws {
        var engine = Self.engine()
        var request = Self.request([Self.spec("long"), Self.spec("next")])
        request.queues = ["io": 1]
        let (job, _) = try engine.add(request, to: 0, policy: .fifo, now: .zero)
        let worker = try Self.worker(&engine, "w", slots: 2)
        let refs = Self.assignments(engine.takeTurn().effects).map(\.1)
        #expect(refs.count == 2)
        #expect(engine.change(.pause, ids: [TaskID(0)], now: .seconds(1)) == 0, "a running attempt goes on")
        #expect(engine.change(.cancel, ids: [TaskID(0)], now: .seconds(1)) == 1)
        #expect(engine.takeTurn().effects.contains(.cancel(worker, refs[0], grace: .seconds(5))))
        #expect(engine.change(.kill, ids: [TaskID(0)], now: .seconds(2)) == 1, "a kill escalates a cancel")
        #expect(engine.takeTurn().effects.contains(.cancel(worker, refs[0], grace: .zero)))
        // More tasks join the job's own queues by name.
        var more = Self.request([Self.spec("reader")])
        more.tasks[0].queue = "io"
        _ = try engine.add(more, to: job, policy: .fifo, now: .seconds(3))
        #expect(engine.state.core.job(of: TaskID(2)) == engine.jobs[job]?.core)
        // A job's end comes after every change of the turn.
        engine.finished(refs[0], result: .signalled(9), by: worker, now: .seconds(4))
        engine.finished(refs[1], result: .exited(0), by: worker, now: .seconds(4))
        let reader = try #require(Self.assignments(engine.takeTurn().effects).first).1
        #expect(reader.task == 3)
        _ = engine.change(.cancel, ids: [], job: job, now: .seconds(5))
        #expect(!engine.takeTurn().effects.contains(.jobEnded(job)), "the reader still runs")
        engine.finished(reader, result: .signalled(15), by: worker, now: .seconds(6))
        let effects = engine.takeTurn().effects
        #expect(effects.last == .jobEnded(job))
        #expect(effects.filter { $0 == .jobEnded(job) }.count == 1)
        #expect(engine.view(of: TaskID(2)) == .cancelled)
    }

    @Test func aStopAWorkerMayHaveMissedIsAskedAgainWhenItReconnects() throws {
        var engine = Self.engine()
        _ = try engine.add(Self.request([Self.spec("a")]), to: 0, policy: .fifo, now: .zero)
        let first = try Self.worker(&engine, "w")
        let ref = try #require(Self.assignments(engine.takeTurn().effects).first).1
        #expect(engine.change(.cancel, ids: [TaskID(0)], now: .seconds(1)) == 1)
        #expect(engine.takeTurn().effects.contains(.cancel(first, ref, grace: .seconds(5))))
        // The stream broke before the cancel arrived; the worker says hello with the attempt still running.
        let again = try engine.hello(
            name: "w", spec: WorkerSpec(type: "blocking", slots: 1), running: [ref], now: .seconds(2))
        #expect(again.abandon.isEmpty)
        #expect(engine.takeTurn().effects.contains(.cancel(again.worker, ref, grace: .seconds(5))))
        // A report naming a coordinator session that has not begun is stale.
        var future = ref
        future.epoch = 9
        engine.finished(future, result: .exited(0), by: again.worker, now: .seconds(3))
        #expect(Self.stale(engine.takeTurn().effects) == [future])
        engine.finished(ref, result: .signalled(15), by: again.worker, now: .seconds(3))
        #expect(engine.view(of: TaskID(0)) == .cancelled)
    }

    @Test func aWorkerNamingAnAttemptTwiceKeepsItOnce() throws {
        var engine = Self.engine()
        _ = try engine.add(Self.request([Self.spec("a")]), to: 0, policy: .fifo, now: .zero)
        _ = try Self.worker(&engine, "w")
        let ref = try #require(Self.assignments(engine.takeTurn().effects).first).1
        let again = try engine.hello(
            name: "w", spec: WorkerSpec(type: "blocking", slots: 1),
            running: [ref, ref, WireAttempt(task: 99, epoch: 1, attempt: 1)],
            now: .seconds(1))
        #expect(again.abandon == [WireAttempt(task: 99, epoch: 1, attempt: 1)])
        let rejoined = engine.takeTurn().records.compactMap { record -> [AttemptRef]? in
            if case .fact(let timed) = record, case .workerRejoined(_, _, let keeping) = timed.fact { return keeping }
            return nil
        }
        #expect(rejoined == [[AttemptRef(TaskID(0), attempt: 1)]])
    }

    @Test func cancellingAJobSparesItsCleanUpAndKillingShowsKilled() throws {
        var engine = Self.engine()
        let (job, _) = try engine.add(
            Self.request([Self.spec("long"), Self.spec("after", needs: ["long"])], onFailure: [Self.spec("clean")]),
            to: 0, policy: .fifo, now: .zero)
        let worker = try Self.worker(&engine, "w", slots: 2)
        let ref = try #require(Self.assignments(engine.takeTurn().effects).first).1
        #expect(engine.change(.kill, ids: [], job: job, now: .seconds(1)) == 2)
        let turn = engine.takeTurn()
        #expect(turn.effects.contains(.cancel(worker, ref, grace: .zero)))
        #expect(engine.view(of: TaskID(0)) == .assigned, "final only once its process has stopped")
        engine.finished(ref, result: .signalled(9), by: worker, now: .seconds(2))
        #expect(engine.view(of: TaskID(0)) == .killed)
        #expect(engine.view(of: TaskID(1)) == .killed)
        #expect(Self.assignments(engine.takeTurn().effects).map(\.1.task) == [3], "the clean-up runs")
        #expect(engine.change(.cancel, ids: [], job: job, now: .seconds(3)) == 1, "a second cancel stops it")
    }

    @Test func aRefusedRequestAddsNothingAndUsesNoJob() throws {
        var engine = Self.engine()
        #expect(throws: JobRequestError.self) {
            try engine.add(Self.request([Self.spec("a", needs: ["ghost"])]), to: 0, policy: .fifo, now: .zero)
        }
        #expect(throws: JobRequestError.self) {
            try engine.add(Self.request([Self.spec("a")]), to: 7, policy: .fifo, now: .zero)
        }
        #expect(engine.takeTurn().records.count == 1, "only the core's start")
        let (job, _) = try engine.add(Self.request([Self.spec("a")]), to: 0, policy: .fifo, now: .zero)
        #expect(job == 1)
        var later = Self.spec("b")
        later.needs = [RemoteNeed(.id(1))]
        let (same, more) = try engine.add(Self.request([later]), to: job, policy: .fifo, now: .zero)
        #expect(same == job)
        #expect(more == [2])
    }

    /// Three tasks: one to run, one to fail and wait 60 s for its retry, one paused; the first two assigned to
    /// worker `w`. Returns the records and assignments of the turn so far.
    static func threeTasks() throws -> (
        engine: CoordinatorEngine, records: [CoordinatorRecord], worker: WorkerID, refs: [WireAttempt]
    ) {
        var engine = engine()
        _ = try engine.add(
            request([spec("runs"), spec("flaky", retries: 1, retryDelay: .seconds(60)), spec("held")]), to: 0,
            policy: .fifo, now: .zero)
        _ = engine.change(.pause, ids: [TaskID(2)], now: .zero)
        let worker = try Self.worker(&engine, "w", slots: 2)
        let turn = engine.takeTurn()
        return (engine, turn.records, worker, assignments(turn.effects).map(\.1))
    }

    /// A coordinator restarted from its records: the same views, a worker that says hello again keeps the
    /// attempt it still runs, and a retry keeps its deadline.
    @Test func aRestartRebuildsTheStateFromItsRecords() throws {
        var (engine, records, worker, refs) = try Self.threeTasks()
        #expect(refs.map(\.task) == [1, 2])
        engine.started(refs[0], by: worker, now: .seconds(1))
        engine.finished(refs[1], result: .exited(1), by: worker, now: .seconds(2))
        records += engine.takeTurn().records
        var restored = try CoordinatorEngine.restore(
            records, epoch: 2, leaseTimeout: Self.lease, cancelGrace: .seconds(5), now: .seconds(30))
        #expect(restored.view(of: TaskID(0)) == .running)
        #expect(restored.view(of: TaskID(1)) == .retrying, "its retry back-off is kept")
        #expect(restored.view(of: TaskID(2)) == .paused)
        #expect(restored.nextDeadline == .seconds(40), "the worker's lease is re-armed from the restart")
        let hello = try restored.hello(
            name: "w", spec: WorkerSpec(type: "blocking", slots: 2), running: [refs[0]], now: .seconds(31))
        #expect(hello.abandon.isEmpty)
        #expect(Self.assignments(restored.takeTurn().effects).isEmpty, "the retry keeps its back-off")
        restored.finished(refs[0], result: .exited(0), by: hello.worker, now: .seconds(32))
        #expect(restored.view(of: TaskID(0)) == .succeeded)
        restored.heard(from: hello.worker, now: .seconds(60))
        _ = restored.expire(now: .seconds(62))
        #expect(
            Self.assignments(restored.takeTurn().effects).map(\.1) == [WireAttempt(task: 2, epoch: 2, attempt: 2)])
    }

    /// The same, from a snapshot taken mid-way and the records after it, by a coordinator started again with a
    /// shorter lease: the same views, the same deadlines, the new lease.
    @Test func aRestartFromASnapshotIsTheSameAsFromEveryRecord() throws {
        var (engine, records, worker, refs) = try Self.threeTasks()
        let snapshot = CoordinatorSnapshot(origin: 1_000, time: .seconds(1), engine: engine).bytes()
        let before = records.count
        engine.started(refs[0], by: worker, now: .seconds(1))
        engine.finished(refs[1], result: .exited(1), by: worker, now: .seconds(2))
        records += engine.takeTurn().records
        let parts = try CoordinatorSnapshot.read(snapshot, epoch: 2, cancelGrace: .seconds(5))
        #expect(parts.origin == 1_000 && parts.time == .seconds(1))
        let fromSnapshot = try CoordinatorEngine.restore(
            snapshot: parts, records[before...], epoch: 2, leaseTimeout: .seconds(3), cancelGrace: .seconds(5),
            now: .seconds(30))
        let fromRecords = try CoordinatorEngine.restore(
            records, epoch: 2, leaseTimeout: .seconds(3), cancelGrace: .seconds(5), now: .seconds(30))
        for index in 0..<3 {
            #expect(fromSnapshot.view(of: TaskID(index)) == fromRecords.view(of: TaskID(index)))
            #expect(fromSnapshot.tasks[index].name == fromRecords.tasks[index].name)
        }
        #expect(fromSnapshot.view(of: TaskID(1)) == .retrying)
        #expect(fromSnapshot.state.timers == fromRecords.state.timers)
        #expect(fromSnapshot.nextDeadline == .seconds(33), "the lease of the new session's length, from the restart")
        #expect(fromSnapshot.state.core.snapshot() == fromRecords.state.core.snapshot())
    }

}

/// Seeded random runs: requests, workers joining and going silent, reports (some from the wrong worker),
/// operator changes and deadlines. After every step, a coordinator restored from the records so far shows every
/// task as the live one does, and no attempt is held by two workers.
@Suite("Coordinator engine, seeded")
struct CoordinatorEngineRandomTests {
    @Test(arguments: 1...40 as ClosedRange<UInt64>)
    func aRestoreAlwaysShowsWhatTheLiveEngineShows(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        var engine = CoordinatorEngine(epoch: 1, leaseTimeout: .seconds(10), cancelGrace: .seconds(1))
        var records: [CoordinatorRecord] = []
        var running: [WireAttempt: WorkerID] = [:]
        var workers: [WorkerID] = []
        var jobs: [UInt64] = []
        var now = Duration.zero
        var assigned = 0
        func turn() {
            let turn = engine.takeTurn()
            records += turn.records
            for effect in turn.effects {
                if case .assign(let worker, let ref, _, _, _) = effect {
                    #expect(running[ref] == nil, "attempt \(ref) assigned twice")
                    running[ref] = worker
                    assigned += 1
                }
            }
        }
        for step in 0..<120 {
            now += .milliseconds(Int64.random(in: 0...1_500, using: &rng))
            switch Int.random(in: 0..<10, using: &rng) {
            case 0, 1:
                var request = RemoteJob(name: "job", play: Bool.random(using: &rng) || Bool.random(using: &rng))
                for index in 0..<Int.random(in: 1...4, using: &rng) {
                    var spec = CoordinatorEngineTests.spec(
                        "s\(step)t\(index)", retries: Int.random(in: 0...1, using: &rng),
                        retryDelay: .milliseconds(Int64.random(in: 0...3_000, using: &rng)))
                    if index > 0, Bool.random(using: &rng) {
                        spec.needs = [RemoteNeed(.name("s\(step)t\(Int.random(in: 0..<index, using: &rng))"))]
                    }
                    if Bool.random(using: &rng) { spec.outputs = ["o"] }
                    request.tasks.append(spec)
                }
                if Int.random(in: 0..<4, using: &rng) == 0 {
                    request.onFailure = [CoordinatorEngineTests.spec("s\(step)clean")]
                }
                let target = jobs.isEmpty || Bool.random(using: &rng) ? 0 : jobs.randomElement(using: &rng)!
                if target != 0 { request.onFailure = [] }
                if let (job, _) = try? engine.add(request, to: target, policy: .fifo, now: now), target == 0 {
                    jobs.append(job)
                }
            case 2:
                let name = "w\(Int.random(in: 0..<4, using: &rng))"
                let held = running.filter { engine.workerNames[$0.value] == name }.map(\.key)
                let hello = try engine.hello(
                    name: name, spec: WorkerSpec(type: "blocking", slots: Int.random(in: 1...3, using: &rng)),
                    running: held, now: now)
                for ref in held where engine.holds(hello.worker, ref) == nil { running[ref] = nil }
                for ref in held where engine.holds(hello.worker, ref) != nil { running[ref] = hello.worker }
                workers.append(hello.worker)
            case 3, 4, 5:
                guard let (ref, holder) = running.randomElement(using: &rng) else { break }
                let reporter = Int.random(in: 0..<8, using: &rng) == 0 ? workers.randomElement(using: &rng)! : holder
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: engine.started(ref, by: reporter, now: now)
                case 1: engine.output(ref, name: "o", by: reporter, now: now)
                default:
                    let result: AttemptResult = Bool.random(using: &rng) ? .exited(0) : .exited(1)
                    engine.finished(ref, result: result, by: reporter, now: now)
                    if reporter == holder { running[ref] = nil }
                }
            case 6:
                guard let job = jobs.randomElement(using: &rng) else { break }
                let change: RemoteChange = [.play, .pause, .resume, .cancel, .kill].randomElement(using: &rng)!
                let ids = engine.tasks.indices.filter { _ in Int.random(in: 0..<5, using: &rng) == 0 }.map {
                    TaskID($0)
                }
                _ = engine.change(change, ids: ids, job: Bool.random(using: &rng) ? job : nil, now: now)
            default:
                for worker in workers where engine.state.core.isConnected(worker) && Bool.random(using: &rng) {
                    engine.heard(from: worker, now: now)
                }
                for lost in engine.expire(now: now) { running = running.filter { $0.value != lost } }
            }
            turn()
            for (ref, worker) in running where engine.holds(worker, ref) == nil { running[ref] = nil }
            let restored = try CoordinatorEngine.restore(
                records, epoch: 2, leaseTimeout: .seconds(10), cancelGrace: .seconds(1), now: now)
            for index in engine.tasks.indices {
                #expect(
                    restored.view(of: TaskID(index)) == engine.view(of: TaskID(index)),
                    "seed \(seed) step \(step) task \(index)")
            }
            #expect(restored.tasks.map(\.value) == engine.tasks.map(\.value))
            #expect(restored.state.core.unfinishedCount == engine.state.core.unfinishedCount)
        }
        #expect(assigned > 0, "seed \(seed) ran nothing")
    }
}

@Suite("Coordinator records in their binary form")
struct CoordinatorRecordTests {
    @Test func everyRecordSurvivesItsBinaryFormAndEveryTruncationIsRefused() throws {
        let records: [CoordinatorRecord] = [
            .origin(1_700_000_000.5),
            .fact(TimedFact(at: .seconds(3), .workerJoined(WorkerSpec(type: "gpu", tags: ["a"], slots: 2)))),
            .jobNamed(JobID(3), "nightly", queues: ["default", "io"], firstQueue: QueueID(7)),
            .taskAdded(TaskID(9), job: 3, name: "ü", spec: [0, 255, 7], outputs: ["a", "b"], parents: [TaskID(1)]),
            .taskAdded(TaskID(0), job: 1, name: "", spec: [], outputs: [], parents: []),
            .workerNamed(WorkerID(4), "w1"),
            .played(TaskID(2)), .paused(TaskID(2), true), .paused(TaskID(2), false), .killed(TaskID(5)),
            .attemptStarted(TaskID(5), attempt: 3), .assigned(TaskID(5), WorkerID(4)),
            .attemptEnded(TaskID(5), attempt: 3, exitCode: -1, message: "boom", value: [1, 2]),
            .attemptEnded(TaskID(5), attempt: 4, exitCode: nil, message: nil, value: nil),
            .attemptEnded(TaskID(5), attempt: 5, exitCode: 0, message: nil, value: []),
        ]
        for record in records {
            let bytes = record.journalBytes()
            #expect(try CoordinatorRecord(journalBytes: bytes) == record)
            for length in 0..<bytes.count {
                #expect(throws: JournalError.self, "\(record) cut to \(length) bytes") {
                    try CoordinatorRecord(journalBytes: Array(bytes.prefix(length)))
                }
            }
            #expect(throws: JournalError.self) { try CoordinatorRecord(journalBytes: bytes + [0]) }
        }
        #expect(throws: JournalError.self) { try CoordinatorRecord(journalBytes: [99]) }
        #expect(throws: JournalError.self) { try CoordinatorRecord(journalBytes: [7, 0, 2]) }
    }
}

extension CoordinatorEngine {
    /// Adds a job made in Trellis's own types, as the coordinator's loop adds one that passed the door.
    mutating func add(
        _ job: RemoteJob, to target: UInt64, policy: SchedulingPolicy, now: Duration
    ) throws(JobRequestError) -> (job: UInt64, ids: [UInt64]) {
        try add(IncomingJob(job), to: target, policy: policy, now: now)
    }
}
