/// Who a worker is and what it offers.
public struct WorkerOptions: Sendable {
    /// Stable across reconnects; the coordinator recognises the worker by it.
    public var name: String
    /// `blocking` (processes, CPU) or `async` (I/O handlers), or any type an operator chooses.
    public var type: String
    public var tags: [String]
    /// Tasks run at once.
    public var slots: Int
    public var resources: [String: Double]
    /// Between SIGTERM and SIGKILL when a task is cancelled or times out.
    public var gracePeriod: Duration
    /// Longest pause between reconnection attempts (they start at 50 ms and double); keep it well under the
    /// coordinator's lease, so a restarted coordinator sees running attempts reported before it gives up on them.
    public var maxBackoff: Duration
    /// When set, every task process carries `TRELLIS_WORKER=<mark>` in its environment, so that a worker
    /// started again with the same mark can stop what a killed one left running (`trellis worker` uses
    /// `<name>@<server>`).
    public var orphanMark: String?

    public init(
        name: String, type: String = "blocking", tags: [String] = [], slots: Int = 1,
        resources: [String: Double] = [:], gracePeriod: Duration = .seconds(10), maxBackoff: Duration = .seconds(1),
        orphanMark: String? = nil
    ) {
        self.orphanMark = orphanMark
        self.name = name
        self.type = type
        self.tags = tags
        self.slots = slots
        self.resources = resources
        self.gracePeriod = gracePeriod
        self.maxBackoff = maxBackoff
    }
}

/// What happens to a worker's session, for its owner to log or wait on.
public enum WorkerEvent: Sendable, Hashable {
    /// Connected (or reconnected) and introduced.
    case welcomed(workerID: UInt64, epoch: UInt64)
    /// An operator's broadcast (`drain` also starts draining).
    case broadcast(String)
    /// The coordinator no longer wants this attempt; it is stopped.
    case stale(task: UInt64, attempt: Int)
}

/// One call of a registered handler.
public struct HandlerCall: Sendable {
    public var task: UInt64
    public var attempt: Int
    /// The task's payload, as submitted (JSON by convention).
    public var payload: [UInt8]
    /// The values of handler tasks this one needs, by task name.
    public var inputs: [String: [UInt8]]
}

/// A Swift function a worker runs by name; what it returns is the task's value.
public typealias TaskHandler = @Sendable (HandlerCall) async throws -> [UInt8]
