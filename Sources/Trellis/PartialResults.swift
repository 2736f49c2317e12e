import Synchronization
public import TrellisCore

/// The results a producer yields one by one, each a future of its own, plus the producer's completion.
public struct PartialResults<Item: Sendable>: Sendable, RandomAccessCollection {
    public let items: [Future<Item>]
    /// Succeeds when the producer has finished (after yielding every item).
    public let completion: Future<Void>

    public var task: TaskID { completion.task }
    public var startIndex: Int { items.startIndex }
    public var endIndex: Int { items.endIndex }
    public subscript(position: Int) -> Future<Item> { items[position] }
}

/// Passed to a producer's body: `try await emit(value)` yields the next partial result.
public final class Emitter<Item: Sendable>: Sendable {
    private let storage: SchedulerStorage
    /// The producer task.
    public let task: TaskID
    private let boxes: [ResultBox]
    private let attempt: Int
    private let next = Mutex(0)

    init(storage: SchedulerStorage, task: TaskID, boxes: [ResultBox], attempt: Int) {
        self.storage = storage
        self.task = task
        self.boxes = boxes
        self.attempt = attempt
    }

    /// How many results the producer promised.
    public var count: Int { boxes.count }

    /// Yields the next partial result; dependants of that item may start at once. In a retried attempt,
    /// items that an earlier attempt already yielded keep their first value.
    public func callAsFunction(_ value: Item) async throws {
        let index = next.withLock { index in
            defer { index += 1 }
            return index
        }
        guard index < boxes.count else {
            throw TrellisError(
                code: .invalidSubmission, message: "a producer of \(boxes.count) results yielded one more")
        }
        boxes[index].succeed(value)
        storage.partialResult(task, index: index, attempt: attempt, value: value)
    }
}
