/// Identifies one task inside a `SchedulerCore`; ids are dense and increase in submission order.
public struct TaskID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: Int

    public init(_ rawValue: Int) { self.rawValue = rawValue }

    public static func < (lhs: TaskID, rhs: TaskID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "task#\(rawValue)" }
}

/// Identifies one queue (a named pool of slots with a width) inside a `SchedulerCore`.
public struct QueueID: Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: Int

    public init(_ rawValue: Int) { self.rawValue = rawValue }

    public var description: String { "queue#\(rawValue)" }
}

/// One input of a task: the whole result of `task`, or only partial result number `item` of a producer.
public struct Dependency: Hashable, Sendable, Codable, CustomStringConvertible {
    public var task: TaskID
    /// `nil` waits for the task to succeed; an index waits only for that partial result.
    public var item: Int?

    public init(_ task: TaskID, item: Int? = nil) {
        self.task = task
        self.item = item
    }

    public var description: String { item.map { "\(task)[\($0)]" } ?? task.description }
}

/// Identifies one job (a workflow with its own policies and queues) inside a `SchedulerCore`.
/// Job 0 is the default job a core starts with.
public struct JobID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: Int

    public init(_ rawValue: Int) { self.rawValue = rawValue }

    /// The job a core starts with; `addQueue(width:)` adds its queues to it.
    public static let initial = JobID(0)

    public static func < (lhs: JobID, rhs: JobID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "job#\(rawValue)" }
}

/// An id that is a number and encodes as one.
public protocol NumericIdentifier: Codable {
    var rawValue: Int { get }
    init(_ rawValue: Int)
}

extension NumericIdentifier {
    public init(from decoder: any Decoder) throws { self.init(try decoder.singleValueContainer().decode(Int.self)) }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

extension TaskID: NumericIdentifier {}
extension QueueID: NumericIdentifier {}
extension JobID: NumericIdentifier {}
extension WorkerID: NumericIdentifier {}
