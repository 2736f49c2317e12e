import TrellisCore
import TrellisTestKit

/// A `SchedulerCore` with a clock and an action log, so a test reads as a list of events.
struct CoreFixture {
    var core: SchedulerCore
    var now = Duration.zero
    /// Every action since the fixture was made.
    var log: [SchedulerAction] = []
    /// Every submitted spec, by task index.
    var specs: [TaskSpec] = []
    /// The answer to the last event.
    var lastDisposition = EventDisposition.accepted

    init(policy: SchedulingPolicy = .fifo, failurePolicy: FailurePolicy = .continueIndependent) {
        core = SchedulerCore(policy: policy, failurePolicy: failurePolicy)
    }

    /// A fixture with `graph` loaded, not started.
    init(_ graph: GraphSpec, policy: SchedulingPolicy = .fifo, failurePolicy: FailurePolicy = .continueIndependent) {
        self.init(policy: policy, failurePolicy: failurePolicy)
        for width in graph.queueWidths { _ = queue(width: width) }
        for spec in graph.tasks { submit(spec) }
    }

    mutating func queue(width: Int) -> QueueID {
        try! core.addQueue(width: width)
    }

    private mutating func record(
        _ body: (inout SchedulerCore, Duration, inout [SchedulerAction]) -> EventDisposition
    ) -> [SchedulerAction] {
        var actions: [SchedulerAction] = []
        lastDisposition = body(&core, now, &actions)
        log += actions
        return actions
    }

    @discardableResult
    mutating func submit(_ spec: TaskSpec) -> TaskID {
        submitting(spec).0
    }

    /// Submits and returns the actions the submission caused.
    mutating func submitting(_ spec: TaskSpec) -> (TaskID, [SchedulerAction]) {
        var actions: [SchedulerAction] = []
        let id = try! core.submit(spec, now: now, into: &actions)
        specs.append(spec)
        log += actions
        return (id, actions)
    }

    @discardableResult
    mutating func start() -> [SchedulerAction] {
        record { core, now, actions in
            core.start(now: now, into: &actions)
            return .accepted
        }
    }

    @discardableResult
    mutating func succeed(_ task: TaskID, attempt: Int = 1) -> [SchedulerAction] {
        record { $0.succeeded(task, attempt: attempt, now: $1, into: &$2) }
    }

    @discardableResult
    mutating func fail(_ task: TaskID, attempt: Int = 1, retryable: Bool = true) -> [SchedulerAction] {
        record { $0.failed(task, attempt: attempt, retryable: retryable, now: $1, into: &$2) }
    }

    @discardableResult
    mutating func emit(_ task: TaskID, item: Int, attempt: Int = 1) -> [SchedulerAction] {
        record { $0.partialResult(task, index: item, attempt: attempt, now: $1, into: &$2) }
    }

    @discardableResult
    mutating func timeOut(_ task: TaskID, attempt: Int = 1) -> [SchedulerAction] {
        record { $0.timedOut(task, attempt: attempt, now: $1, into: &$2) }
    }

    @discardableResult
    mutating func retryDue(_ task: TaskID) -> [SchedulerAction] {
        record { $0.retryDue(task, now: $1, into: &$2) }
    }

    @discardableResult
    mutating func cancel(_ task: TaskID) -> [SchedulerAction] {
        record { $0.cancel(task, now: $1, into: &$2) }
    }

    @discardableResult
    mutating func cancelAll() -> [SchedulerAction] {
        record { core, now, actions in
            core.cancelAll(now: now, into: &actions)
            return .accepted
        }
    }

    mutating func pause() {
        core.pause()
    }

    @discardableResult
    mutating func resume() -> [SchedulerAction] {
        record { core, now, actions in
            core.resume(now: now, into: &actions)
            return .accepted
        }
    }

    @discardableResult
    mutating func setWidth(_ width: Int, of queue: QueueID) -> [SchedulerAction] {
        record { core, now, actions in
            try! core.setWidth(width, of: queue, now: now, into: &actions)
            return .accepted
        }
    }

    /// The tasks running now, in dispatch order, with their current attempt.
    var running: [(task: TaskID, attempt: Int)] {
        var running: [(task: TaskID, attempt: Int)] = []
        for action in log {
            guard case .dispatch(let task, _, let attempt) = action else { continue }
            if core.state(of: task) == .running(attempt: attempt) { running.append((task, attempt)) }
        }
        return running
    }

    /// Starts the core and then, until every task is finished, reports success of the oldest running attempt
    /// (producers first yield all their items). Returns the dispatch and completion orders.
    mutating func runToEnd() -> (dispatched: [TaskID], completed: [TaskID]) {
        let mark = log.count
        if !core.isStarted { start() }
        while let (task, attempt) = running.first {
            for item in core.emittedCount(of: task)..<specs[task.rawValue].partialCount {
                emit(task, item: item, attempt: attempt)
            }
            succeed(task, attempt: attempt)
        }
        let actions = Array(log[mark...])
        return (actions.dispatched, actions.completed)
    }
}

extension [SchedulerAction] {
    /// Dispatched tasks in order.
    var dispatched: [TaskID] {
        compactMap { action in
            if case .dispatch(let task, _, _) = action { return task }
            return nil
        }
    }

    /// Completed tasks in order.
    var completed: [TaskID] {
        compactMap { action in
            if case .completed(let task, _) = action { return task }
            return nil
        }
    }

    /// The outcome this list reports for `task`, if any.
    func outcome(of task: TaskID) -> TaskOutcome? {
        for action in self {
            if case .completed(task, let outcome) = action { return outcome }
        }
        return nil
    }
}
