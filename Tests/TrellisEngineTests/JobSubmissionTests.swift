import Testing
import TrellisCore
import TrellisEngine
import TrellisTestKit

@Suite("Job submissions: whole or not at all")
struct JobSubmissionTests {
    static func fresh() -> EngineState {
        EngineState(SchedulerCore(policy: .fifo, execution: .workers(leaseTimeout: .seconds(10))))
    }

    static func task(
        _ name: String, needs: [JobSubmission.Need] = [], queue: JobSubmission.QueueRef = .new(0), outputs: Int = 0,
        role: TaskRole = .main
    ) -> JobSubmission.Task {
        var spec = TaskSpec(queue: QueueID(0), partialCount: outputs)
        spec.role = role
        return JobSubmission.Task(name: name, queue: queue, spec: spec, needs: needs)
    }

    static func submission(_ tasks: [JobSubmission.Task]) -> JobSubmission {
        JobSubmission(
            policy: .criticalPath, failurePolicy: .failFast, queues: [JobSubmission.Queue(name: "default", width: 2)],
            tasks: tasks)
    }

    /// What the core holds, to compare before and after a refusal.
    static func shape(_ state: EngineState) -> [Int] {
        [state.core.taskCount, state.core.jobCount, state.core.queueCount, state.unsaved.count]
    }

    @Test func tasksGoInAfterWhatTheyNeedAndIdsComeBackInSubmissionOrder() throws {
        var state = Self.fresh()
        var actions: [SchedulerAction] = []
        // c needs b's output, b needs a; written c, a, b.
        let submission = Self.submission([
            Self.task("c", needs: [JobSubmission.Need(.batch(2), item: 0)]),
            Self.task("a"),
            Self.task("b", needs: [JobSubmission.Need(.batch(1))], outputs: 1),
        ])
        let (job, ids) = try state.submit(submission, now: .zero, into: &actions)
        #expect(job == JobID(1), "a new job beside the core's first")
        #expect(state.core.policy(of: job) == .criticalPath)
        #expect(state.core.failurePolicy(of: job) == .failFast)
        #expect(ids == [TaskID(2), TaskID(0), TaskID(1)])
        #expect(state.core.job(of: ids[0]) == job)
        #expect(state.core.job(ofQueue: QueueID(0)) == job)
        let submitted = state.unsaved.compactMap { timed -> TaskSpec? in
            if case .submitted(let spec) = timed.fact { return spec }
            return nil
        }
        #expect(submitted.map(\.dependencies) == [[], [Dependency(TaskID(0))], [Dependency(TaskID(1), item: 0)]])
        #expect(state.unsaved.first?.fact == .jobAdded(policy: .criticalPath, failurePolicy: .failFast))
        #expect(state.unsaved.dropFirst().first?.fact == .queueAdded(width: 2, job: job))
    }

    @Test func aCycleIsRefusedByNameAndAddsNothing() {
        var state = Self.fresh()
        var actions: [SchedulerAction] = []
        let before = Self.shape(state)
        let submission = Self.submission([
            Self.task("free"),
            Self.task("x", needs: [JobSubmission.Need(.batch(3))]),
            Self.task("y", needs: [JobSubmission.Need(.batch(1))]),
            Self.task("z", needs: [JobSubmission.Need(.batch(2)), JobSubmission.Need(.batch(0))]),
        ])
        #expect {
            try state.submit(submission, now: .zero, into: &actions)
        } throws: { error in
            let message = (error as? SubmissionError)?.message ?? ""
            return message.hasPrefix("dependency cycle: ") && message.contains("'x'") && message.contains("'y'")
                && message.contains("'z'") && !message.contains("'free'")
        }
        #expect(Self.shape(state) == before)
        #expect(actions.isEmpty)
    }

    @Test func whatTheCoreWouldRefuseIsRefusedWholeNamingTheTask() throws {
        var state = Self.fresh()
        var actions: [SchedulerAction] = []
        let before = Self.shape(state)
        // The second task needs an output its producer does not declare; the first is fine but is not added.
        let bad = Self.submission([
            Self.task("producer", outputs: 1),
            Self.task("reader", needs: [JobSubmission.Need(.batch(0), item: 1)]),
        ])
        #expect {
            try state.submit(bad, now: .zero, into: &actions)
        } throws: { error in
            let message = (error as? SubmissionError)?.message ?? ""
            return message.hasPrefix("'reader': ") && message.contains("item 1")
        }
        #expect(Self.shape(state) == before, "not even the job was added")

        #expect(throws: SubmissionError.self) {
            try state.submit(
                Self.submission([Self.task("a", needs: [JobSubmission.Need(.batch(7))])]), now: .zero, into: &actions)
        }
        #expect(throws: SubmissionError.self) {
            try state.submit(
                Self.submission([Self.task("a", needs: [JobSubmission.Need(.batch(0))])]), now: .zero, into: &actions)
        }
        #expect(throws: SubmissionError.self) {
            try state.submit(Self.submission([Self.task("a", queue: .new(3))]), now: .zero, into: &actions)
        }
        #expect(throws: SubmissionError.self) {
            try state.submit(Self.submission([Self.task("a")]), to: JobID(9), now: .zero, into: &actions)
        }
        var narrow = Self.submission([Self.task("a")])
        narrow.queues[0].width = 0
        #expect(throws: SubmissionError.self) { try state.submit(narrow, now: .zero, into: &actions) }
        #expect(Self.shape(state) == before)
    }

    @Test func moreTasksJoinAnExistingJobAndItsQueuesButNotAnotherJobs() throws {
        var state = Self.fresh()
        var actions: [SchedulerAction] = []
        let first = try state.submit(Self.submission([Self.task("a", outputs: 1)]), now: .zero, into: &actions)
        let other = try state.submit(Self.submission([Self.task("elsewhere")]), now: .zero, into: &actions)
        var more = JobSubmission(policy: .fifo, failurePolicy: .continueIndependent)
        more.tasks = [
            Self.task("b", needs: [JobSubmission.Need(.existing(first.ids[0]), item: 0)], queue: .existing(QueueID(0)))
        ]
        let added = try state.submit(more, to: first.job, now: .zero, into: &actions)
        #expect(added.job == first.job)
        #expect(state.core.job(of: added.ids[0]) == first.job)
        #expect(state.core.policy(of: first.job) == .criticalPath, "the job keeps its own policy")

        let before = Self.shape(state)
        more.tasks = [Self.task("c", queue: .existing(QueueID(1)))]
        #expect {
            try state.submit(more, to: first.job, now: .zero, into: &actions)
        } throws: { error in
            (error as? SubmissionError)?.message.contains("not a queue of its job") == true
        }
        #expect(state.core.job(ofQueue: QueueID(1)) == other.job)
        #expect(Self.shape(state) == before)
    }

    @Test func aMainTaskIsRefusedOnceItsJobsFinaleHasStarted() throws {
        var state = Self.fresh()
        var actions: [SchedulerAction] = []
        try state.apply(.workerJoined(WorkerSpec(type: "any", slots: 4)), now: .zero, into: &actions)
        try state.apply(.started, now: .zero, into: &actions)
        let first = try state.submit(
            Self.submission([Self.task("a"), Self.task("notify", role: .onSuccess)]), now: .zero, into: &actions)
        let holder = try #require(state.core.holder(of: first.ids[0]))
        try state.apply(.succeeded(first.ids[0], attempt: 1, worker: holder), now: .seconds(1), into: &actions)
        #expect(state.core.finaleDecision(of: first.job) == .onSuccess)
        let before = Self.shape(state)
        var late = JobSubmission(policy: .fifo, failurePolicy: .continueIndependent)
        late.tasks = [
            Self.task("cleanup", queue: .existing(QueueID(0)), role: .onFailure),
            Self.task("b", queue: .existing(QueueID(0))),
        ]
        #expect {
            try state.submit(late, to: first.job, now: .seconds(2), into: &actions)
        } throws: { error in
            let message = (error as? SubmissionError)?.message ?? ""
            return message.hasPrefix("'b': ") && message.contains("finale")
        }
        #expect(Self.shape(state) == before)
    }

    /// Random acyclic submissions in shuffled order: every task follows what it needs, a submission already in
    /// dependency order keeps its order, and every need points at the task it named.
    @Test(arguments: 1...30 as ClosedRange<UInt64>)
    func anyAcyclicSubmissionGoesInDependenciesFirst(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let count = Int.random(in: 1...40, using: &rng)
        // Needs point to lower indices in `natural`, so it is in dependency order.
        var natural: [[Int]] = []
        for index in 0..<count {
            natural.append(
                index == 0
                    ? [] : (0..<Int.random(in: 0...3, using: &rng)).map { _ in Int.random(in: 0..<index, using: &rng) })
        }
        for shuffled in [false, true] {
            var order = Array(0..<count)
            if shuffled { order.shuffle(using: &rng) }
            var place = [Int](repeating: 0, count: count)
            for (position, index) in order.enumerated() { place[index] = position }
            let tasks = order.map { index in
                Self.task("t\(index)", needs: natural[index].map { JobSubmission.Need(.batch(place[$0])) })
            }
            var state = Self.fresh()
            var actions: [SchedulerAction] = []
            let (_, ids) = try state.submit(Self.submission(tasks), now: .zero, into: &actions)
            #expect(Set(ids).count == count)
            let specs = state.unsaved.compactMap { timed -> TaskSpec? in
                if case .submitted(let spec) = timed.fact { return spec }
                return nil
            }
            for (position, task) in tasks.enumerated() {
                let id = ids[position]
                let expected = task.needs.map { need -> TaskID in
                    guard case .batch(let other) = need.target else { return TaskID(-1) }
                    return ids[other]
                }
                #expect(specs[id.rawValue].dependencies.map(\.task) == expected)
                #expect(expected.allSatisfy { $0.rawValue < id.rawValue }, "a task follows what it needs")
            }
            if !shuffled { #expect(ids == (0..<count).map { TaskID($0) }, "dependency order is kept") }
        }
    }
}
