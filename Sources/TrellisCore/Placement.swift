/// Identifies one worker session inside a `SchedulerCore`. A worker that connects again gets a new id, so a
/// report from its earlier session can be told apart. Ids are dense and never reused.
public struct WorkerID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: Int

    public init(_ rawValue: Int) { self.rawValue = rawValue }

    public static func < (lhs: WorkerID, rhs: WorkerID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "worker#\(rawValue)" }
}

/// One attempt of a task, as a worker names what it runs.
public struct AttemptRef: Hashable, Sendable, Codable {
    public var task: TaskID
    public var attempt: Int

    public init(_ task: TaskID, attempt: Int) {
        self.task = task
        self.attempt = attempt
    }
}

/// Where a task may run: the worker type, tags and resources it needs. A separate notion from its queue,
/// which only limits how many of the queue's tasks run at once.
public struct Placement: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The worker type the task needs; `nil` runs on a worker of any type.
    public var type: String?
    /// Tags every one of which the worker must offer.
    public var tags: [String]
    /// Amounts of named resources the task holds while it runs.
    public var resources: [String: Double]

    /// Runs anywhere.
    public static let anywhere = Placement()

    public init(type: String? = nil, tags: [String] = [], resources: [String: Double] = [:]) {
        self.type = type
        self.tags = Array(Set(tags)).sorted()
        self.resources = resources.filter { $0.value > 0 }
    }

    /// Whether the placement asks for nothing (cheaper than comparing with `.anywhere`).
    public var isAnywhere: Bool { type == nil && tags.isEmpty && resources.isEmpty }

    /// Whether a worker offering `worker` could ever run such a task (type, tags, total resources).
    public func admits(_ worker: WorkerSpec) -> Bool {
        if let type, type != worker.type { return false }
        guard tags.allSatisfy(worker.tags.contains) else { return false }
        return resources.allSatisfy { name, amount in (worker.resources[name] ?? 0) >= amount }
    }

    public var description: String {
        var parts: [String] = []
        if let type { parts.append("of type \(type)") }
        if !tags.isEmpty { parts.append("with tags \(tags.joined(separator: ", "))") }
        if !resources.isEmpty {
            let list = resources.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.amount($0.value))" }
            parts.append("with resources \(list.joined(separator: ", "))")
        }
        return parts.isEmpty ? "of any kind" : parts.joined(separator: " ")
    }

    static func amount(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}

/// What a worker offers when it joins.
public struct WorkerSpec: Hashable, Sendable, Codable {
    public var type: String
    public var tags: Set<String>
    /// How many attempts it runs at once.
    public var slots: Int
    /// Amounts of named resources it has in total.
    public var resources: [String: Double]

    public init(type: String, tags: Set<String> = [], slots: Int, resources: [String: Double] = [:]) {
        self.type = type
        self.tags = tags
        self.slots = slots
        self.resources = resources
    }
}

/// Why an unfinished task is not running now.
public enum WaitReason: Hashable, Sendable, CustomStringConvertible {
    /// Some of its inputs are not there yet.
    case inputs(remaining: Int)
    /// Dispatching is paused (or has not started).
    case paused
    /// Its queue runs as many tasks as its width allows.
    case queueFull(QueueID, width: Int)
    /// No connected worker could ever run it.
    case noWorker(Placement)
    /// Workers that could run it are all busy (slots or resources).
    case workersBusy(Placement)
    /// The back-off after a failed attempt has not passed yet.
    case retryDelay(afterAttempt: Int)
    /// A finale task: its job's main tasks have not all ended.
    case finale
    /// Held by an operator (paused, or added and not yet played).
    case held

    public var description: String {
        switch self {
        case .inputs(let remaining): "waiting for \(remaining) input\(remaining == 1 ? "" : "s")"
        case .paused: "dispatching is paused"
        case .queueFull(let queue, let width): "\(queue) already runs \(width) (its width)"
        case .noWorker(let placement): "no connected worker \(placement)"
        case .workersBusy(let placement): "every worker \(placement) is busy"
        case .retryDelay(let attempt): "waiting to retry after attempt \(attempt)"
        case .finale: "waiting for the job's main tasks to end"
        case .held: "held (paused, or not played yet)"
        }
    }
}
