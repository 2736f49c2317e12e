public import TrellisCore

/// Checks a core that forgets finished jobs against a twin that forgets nothing.
///
/// Both cores take the facts of a harness run, one after another. Between two facts, the forgetting core is
/// told to forget a random set of finished jobs that no later fact refers to (widened or narrowed until the
/// core takes it), and the facts after are renumbered for it. After every fact, both cores must have handed
/// out the same actions (renumbered); after every forgetting, and at the end, the forgetting core's
/// invariants must hold and every task it kept must be in the twin's state. Its own facts, replayed into a
/// fresh core, must give the same bytes, and its snapshot must read back as itself.
public struct ForgettingTwin: Sendable {
    public struct Report: Sendable, CustomStringConvertible {
        public var violations: [String] = []
        /// Forgettings the core took, and refused ones it was asked to try (nothing may change then).
        public var forgettings = 0
        public var refusals = 0
        public var tasksForgotten = 0

        public var isClean: Bool { violations.isEmpty }

        public var description: String {
            "forgettings: \(forgettings), refusals: \(refusals), tasks forgotten: \(tasksForgotten)\n"
                + violations.prefix(10).joined(separator: "\n")
        }
    }

    public var fresh: SchedulerCore
    public var facts: [TimedFact]
    /// Per-fact chance of trying to forget.
    public var forgetProbability: Double

    /// `fresh` is a core as the harness run began (same policies and execution).
    public init(fresh: SchedulerCore, facts: [TimedFact], forgetProbability: Double = 0.05) {
        self.fresh = fresh
        self.facts = facts
        self.forgetProbability = forgetProbability
    }

    public func run(seed: UInt64) -> Report {
        var run = Run(twin: fresh, forgetting: fresh, rng: SplitMix64(seed: seed))
        run.lastUse = Self.lastUse(of: facts, fresh: fresh)
        for (position, fact) in facts.enumerated() {
            if run.rng.chance(forgetProbability) { run.tryForgetting(before: position) }
            run.apply(fact)
            if !run.report.violations.isEmpty { break }
        }
        run.compareStates(at: "the end")
        run.checkReplay()
        return run.report
    }

    /// For each job of the run, the position of the last fact that refers to it (its tasks, queues or itself).
    static func lastUse(of facts: [TimedFact], fresh: SchedulerCore) -> [Int] {
        var core = fresh
        var ignored: [SchedulerAction] = []
        var taskJob: [Int] = []
        var queueJob: [Int] = (0..<core.queueCount).map { core.job(ofQueue: QueueID($0)).rawValue }
        var last = [Int](repeating: -1, count: core.jobCount)
        for (position, timed) in facts.enumerated() {
            func use(job: Int) {
                while last.count <= job { last.append(-1) }
                last[job] = position
            }
            func use(task: TaskID) { if task.rawValue < taskJob.count { use(job: taskJob[task.rawValue]) } }
            switch timed.fact {
            case .jobAdded: use(job: core.jobCount)
            case .queueAdded(_, let job): use(job: job.rawValue)
            case .widthChanged(let queue, _): use(job: queueJob[queue.rawValue])
            case .submitted(let spec):
                use(job: queueJob[spec.queue.rawValue])
                for dependency in spec.dependencies { use(task: dependency.task) }
            case .succeeded(let task, _, _), .failed(let task, _, _, _), .partialResult(let task, _, _, _),
                .timedOut(let task, _), .retryDue(let task), .cancelled(let task), .held(let task),
                .released(let task):
                use(task: task)
            case .jobCancelled(let job): use(job: job.rawValue)
            case .workerRejoined(_, _, let keeping): for ref in keeping { use(task: ref.task) }
            case .started, .paused, .resumed, .cancelledAll, .workerJoined, .workerDrained, .workerLeft,
                .jobsForgotten, .crashLimitSet:
                break
            }
            _ = try? core.apply(timed.fact, now: timed.at, into: &ignored)
            ignored.removeAll()
            while queueJob.count < core.queueCount {
                queueJob.append(core.job(ofQueue: QueueID(queueJob.count)).rawValue)
            }
            while taskJob.count < core.taskCount { taskJob.append(core.job(of: TaskID(taskJob.count)).rawValue) }
        }
        return last
    }

    struct Run {
        var twin: SchedulerCore
        var forgetting: SchedulerCore
        var rng: SplitMix64
        var lastUse: [Int] = []
        var report = Report()
        /// The forgetting core's id for each of the twin's tasks, queues and jobs (-1: forgotten).
        var tasks: [Int32] = []
        var queues: [Int32] = []
        var jobs: [Int32] = []
        /// The twin's jobs that are forgotten.
        var forgotten: Set<Int> = []
        /// The facts the forgetting core took, forgettings included.
        var ownFacts: [TimedFact] = []
        var now = Duration.zero

        init(twin: SchedulerCore, forgetting: SchedulerCore, rng: SplitMix64) {
            self.twin = twin
            self.forgetting = forgetting
            self.rng = rng
            syncIDs()
        }

        mutating func violation(_ message: String) { report.violations.append(message) }

        /// Extends the id maps with what the cores added (in step, so the new ids match).
        mutating func syncIDs() {
            while tasks.count < twin.taskCount {
                tasks.append(Int32(forgetting.taskCount - (twin.taskCount - tasks.count)))
            }
            while queues.count < twin.queueCount {
                queues.append(Int32(forgetting.queueCount - (twin.queueCount - queues.count)))
            }
            while jobs.count < twin.jobCount { jobs.append(Int32(forgetting.jobCount - (twin.jobCount - jobs.count))) }
        }

        func task(_ id: TaskID) -> TaskID? {
            tasks[id.rawValue] >= 0 ? TaskID(Int(tasks[id.rawValue])) : nil
        }

        mutating func apply(_ timed: TimedFact) {
            now = timed.at
            guard let fact = renumbered(timed.fact) else {
                violation("fact \(timed.fact) refers to something forgotten")
                return
            }
            var twinActions: [SchedulerAction] = []
            var actions: [SchedulerAction] = []
            do {
                try twin.apply(timed.fact, now: timed.at, into: &twinActions)
                try forgetting.apply(fact, now: timed.at, into: &actions)
            } catch {
                violation("\(timed.fact) refused: \(error)")
                return
            }
            ownFacts.append(TimedFact(at: timed.at, fact))
            syncIDs()
            let expected = twinActions.map(renumbered)
            if expected != actions.map(Optional.init) {
                violation("after \(timed.fact): the twin did \(twinActions), the forgetting core \(actions)")
            }
        }

        mutating func tryForgetting(before position: Int) {
            // Finished jobs no later fact needs; then narrowed until no kept task needs one of them.
            var chosen = (1..<twin.jobCount).filter { job in
                !forgotten.contains(job) && twin.unfinishedCount(of: JobID(job)) == 0
                    && (job >= lastUse.count || lastUse[job] < position)
                    && rng.chance(0.7)
            }
            guard !chosen.isEmpty else { return }
            var ids = chosen.map { JobID(Int(jobs[$0])) }
            while let blocker = forgetting.forgetBlockers(ids, limit: 1).first {
                let before = forgetting.snapshot()
                do {
                    try forgetting.forget(ids)
                    violation("forgetting \(ids) was taken though \(blocker.task) needs \(blocker.needs)")
                    return
                } catch {
                    report.refusals += 1
                    if forgetting.snapshot() != before { violation("a refused forgetting changed the core") }
                }
                let needed = forgetting.job(of: blocker.needs)
                ids.removeAll { $0 == needed }
                chosen.removeAll { Int(jobs[$0]) == needed.rawValue }
                if ids.isEmpty { return }
            }
            let kept = forgetting.taskCount
            let numbering: CoreRenumbering
            do {
                numbering = try forgetting.forget(ids)
            } catch {
                violation("forgetting \(ids) refused: \(error)")
                return
            }
            ownFacts.append(TimedFact(at: now, .jobsForgotten(ids)))
            report.forgettings += 1
            report.tasksForgotten += kept - forgetting.taskCount
            forgotten.formUnion(chosen)
            tasks = tasks.map { $0 < 0 ? $0 : Int32(numbering.task(TaskID(Int($0)))?.rawValue ?? -1) }
            queues = queues.map { $0 < 0 ? $0 : Int32(numbering.queue(QueueID(Int($0)))?.rawValue ?? -1) }
            jobs = jobs.map { $0 < 0 ? $0 : Int32(numbering.job(JobID(Int($0)))?.rawValue ?? -1) }
            for (twinTask, id) in tasks.enumerated() where id < 0 {
                if !forgotten.contains(twin.job(of: TaskID(twinTask)).rawValue) {
                    violation("task#\(twinTask) was forgotten, its job was not")
                }
            }
            compareStates(at: "forgetting \(ids)")
            let problems = forgetting.checkInvariants()
            if !problems.isEmpty { violation("after forgetting \(ids): \(problems.prefix(5))") }
            let bytes = forgetting.snapshot()
            do {
                if try SchedulerCore(snapshot: bytes).snapshot() != bytes {
                    violation("a snapshot after forgetting does not read back as itself")
                }
            } catch {
                violation("a snapshot after forgetting is refused: \(error)")
            }
        }

        mutating func compareStates(at moment: String) {
            for index in 0..<twin.taskCount {
                let old = TaskID(index)
                guard let new = task(old) else { continue }
                let expected = twin.state(of: old)
                let state = forgetting.state(of: new)
                let outcome = twin.outcome(of: old).map(renumbered)
                var sameState = expected == state
                if case .finished = expected, case .finished = state { sameState = true }
                if !sameState || twin.attemptCount(of: old) != forgetting.attemptCount(of: new)
                    || outcome != forgetting.outcome(of: new).map(Optional.init)
                    || twin.emittedCount(of: old) != forgetting.emittedCount(of: new)
                {
                    violation("at \(moment): \(old) is \(expected) in the twin, \(new) is \(state) when forgetting")
                    return
                }
            }
            for index in 0..<twin.jobCount where jobs[index] >= 0 {
                let job = JobID(Int(jobs[index]))
                if twin.counts(of: JobID(index)) != forgetting.counts(of: job)
                    || twin.unfinishedCount(of: JobID(index)) != forgetting.unfinishedCount(of: job)
                {
                    violation("at \(moment): job#\(index) counts differ")
                }
            }
        }

        /// The forgetting core's own facts give the same core, through a fresh replay.
        mutating func checkReplay() {
            var replayed = SchedulerCore(
                policy: forgetting.policy, failurePolicy: forgetting.failurePolicy, execution: forgetting.execution)
            var ignored: [SchedulerAction] = []
            do {
                try replayed.replay(ownFacts, into: &ignored)
                let expected = forgetting.snapshot()
                let bytes = replayed.snapshot()
                if bytes != expected {
                    let offset =
                        zip(bytes, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                        ?? min(bytes.count, expected.count)
                    violation(
                        "the forgetting core's facts, replayed, give another core (\(bytes.count) bytes, not "
                            + "\(expected.count); they differ from byte \(offset))")
                }
            } catch {
                violation("the forgetting core's facts do not replay: \(error)")
            }
        }

        func renumbered(_ fact: CoreFact) -> CoreFact? {
            func t(_ id: TaskID) -> TaskID? { task(id) }
            switch fact {
            case .queueAdded(let width, let job):
                return jobs[job.rawValue] < 0 ? nil : .queueAdded(width: width, job: JobID(Int(jobs[job.rawValue])))
            case .widthChanged(let queue, let width):
                return queues[queue.rawValue] < 0
                    ? nil : .widthChanged(QueueID(Int(queues[queue.rawValue])), width: width)
            case .submitted(var spec):
                guard queues[spec.queue.rawValue] >= 0 else { return nil }
                spec.queue = QueueID(Int(queues[spec.queue.rawValue]))
                for index in spec.dependencies.indices {
                    guard let source = t(spec.dependencies[index].task) else { return nil }
                    spec.dependencies[index].task = source
                }
                return .submitted(spec)
            case .succeeded(let task, let attempt, let worker):
                return t(task).map { .succeeded($0, attempt: attempt, worker: worker) }
            case .failed(let task, let attempt, let retryable, let worker):
                return t(task).map { .failed($0, attempt: attempt, retryable: retryable, worker: worker) }
            case .partialResult(let task, let index, let attempt, let worker):
                return t(task).map { .partialResult($0, index: index, attempt: attempt, worker: worker) }
            case .timedOut(let task, let attempt): return t(task).map { .timedOut($0, attempt: attempt) }
            case .retryDue(let task): return t(task).map { .retryDue($0) }
            case .cancelled(let task): return t(task).map { .cancelled($0) }
            case .held(let task): return t(task).map { .held($0) }
            case .released(let task): return t(task).map { .released($0) }
            case .jobCancelled(let job):
                return jobs[job.rawValue] < 0 ? nil : .jobCancelled(JobID(Int(jobs[job.rawValue])))
            case .workerRejoined(let old, let spec, let keeping):
                var kept: [AttemptRef] = []
                for ref in keeping {
                    guard let task = t(ref.task) else { return nil }
                    kept.append(AttemptRef(task, attempt: ref.attempt))
                }
                return .workerRejoined(old, spec, keeping: kept)
            case .jobAdded, .started, .paused, .resumed, .cancelledAll, .workerJoined, .workerDrained, .workerLeft,
                .jobsForgotten, .crashLimitSet:
                return fact
            }
        }

        func renumbered(_ outcome: TaskOutcome) -> TaskOutcome? {
            switch outcome {
            case .cancelled(let cause?): return task(cause).map { .cancelled(cause: $0) }
            case .upstreamFailed(let root): return task(root).map { .upstreamFailed(root: $0) }
            case .succeeded, .failed, .cancelled(cause: nil), .skipped: return outcome
            }
        }

        func renumbered(_ action: SchedulerAction) -> SchedulerAction? {
            switch action {
            case .dispatch(let id, let queue, let attempt):
                guard let id = task(id), queues[queue.rawValue] >= 0 else { return nil }
                return .dispatch(id, queue: QueueID(Int(queues[queue.rawValue])), attempt: attempt)
            case .cancelRunning(let id, let attempt): return task(id).map { .cancelRunning($0, attempt: attempt) }
            case .completed(let id, let outcome):
                guard let id = task(id), let outcome = renumbered(outcome) else { return nil }
                return .completed(id, outcome)
            case .scheduleTimeout(let id, let attempt, let deadline):
                return task(id).map { .scheduleTimeout($0, attempt: attempt, deadline: deadline) }
            case .scheduleRetry(let id, let deadline): return task(id).map { .scheduleRetry($0, deadline: deadline) }
            case .assign(let id, let worker, let attempt):
                return task(id).map { .assign($0, to: worker, attempt: attempt) }
            case .scheduleLease: return action
            }
        }
    }
}
