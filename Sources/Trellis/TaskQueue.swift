public import TrellisCore

/// A named queue of a `Scheduler`, with its own width: at most `width` of its tasks run at once.
public struct TaskQueue: Sendable {
    /// Keeps the scheduler alive while a queue handle exists, so work can still be submitted.
    let scheduler: Scheduler
    public let id: QueueID
    public let name: String

    var storage: SchedulerStorage { scheduler.storage }

    /// Submits `body`, to run once every input exists; the inputs' values are its arguments.
    ///
    /// ```swift
    /// let a = queue.submit { 20 }
    /// let b = queue.submit(a, priority: 5) { x in x + 1 }
    /// ```
    @discardableResult
    public func submit<each Input: Sendable, Output: Sendable>(
        _ inputs: repeat Future<each Input>,
        name: String? = nil,
        priority: Int = 0,
        retry: RetryPolicy = .none,
        timeout: Duration? = nil,
        estimate: Double? = nil,
        _ body: @escaping @Sendable (repeat each Input) async throws -> Output
    ) -> Future<Output> {
        let (dependencies, inputBoxes) = collect(repeat each inputs)
        let box = ResultBox()
        let spec = TaskSpec(
            queue: id, priority: priority, dependencies: dependencies, estimate: estimate, retry: retry,
            timeout: timeout)
        let task = storage.submit(spec, name: name, sink: box) { _, _ in
            var reader = InputReader(inputBoxes)
            box.stage(try await body(repeat try reader.next((each Input).self)))
        }
        return Future(box: box, storage: storage, dependency: Dependency(task))
    }

    /// Submits `body` over a number of inputs known only at run time: `[Future<T>]` becomes `[T]`.
    @discardableResult
    public func submit<Input: Sendable, Output: Sendable>(
        all inputs: [Future<Input>],
        name: String? = nil,
        priority: Int = 0,
        retry: RetryPolicy = .none,
        timeout: Duration? = nil,
        estimate: Double? = nil,
        _ body: @escaping @Sendable ([Input]) async throws -> Output
    ) -> Future<Output> {
        for input in inputs { checkOwner(input.storage) }
        let box = ResultBox()
        let spec = TaskSpec(
            queue: id, priority: priority, dependencies: inputs.map(\.dependency), estimate: estimate,
            retry: retry, timeout: timeout)
        let boxes = inputs.map(\.box)
        let task = storage.submit(spec, name: name, sink: box) { _, _ in
            box.stage(try await body(try boxes.map { try $0.resolved() as! Input }))
        }
        return Future(box: box, storage: storage, dependency: Dependency(task))
    }

    /// Submits a producer that yields `count` results one by one through `emit`; a task that takes
    /// `results[i]` as input starts as soon as item `i` exists, while the producer keeps running.
    ///
    /// ```swift
    /// let parts = queue.submitProducer(count: 3) { emit in
    ///     for i in 0..<3 { try await emit(i * i) }
    /// }
    /// let next = queue.submit(parts[1]) { $0 + 1 }
    /// ```
    public func submitProducer<each Input: Sendable, Item: Sendable>(
        _ inputs: repeat Future<each Input>,
        count: Int,
        name: String? = nil,
        priority: Int = 0,
        retry: RetryPolicy = .none,
        timeout: Duration? = nil,
        estimate: Double? = nil,
        _ body: @escaping @Sendable (Emitter<Item>, repeat each Input) async throws -> Void
    ) -> PartialResults<Item> {
        precondition(count >= 0, "a producer yields a count of at least 0 results, got \(count)")
        let (dependencies, inputBoxes) = collect(repeat each inputs)
        let boxes = (0..<count).map { _ in ResultBox() }
        let done = ResultBox()
        let spec = TaskSpec(
            queue: id, priority: priority, dependencies: dependencies, partialCount: count, estimate: estimate,
            retry: retry, timeout: timeout)
        let storage = storage
        let task = storage.submit(spec, name: name, sink: done, items: boxes) { task, attempt in
            let emitter = Emitter<Item>(storage: storage, task: task, boxes: boxes, attempt: attempt)
            var reader = InputReader(inputBoxes)
            try await body(emitter, repeat try reader.next((each Input).self))
            done.stage(())
        }
        return PartialResults(
            items: boxes.enumerated().map { index, box in
                Future(box: box, storage: storage, dependency: Dependency(task, item: index))
            },
            completion: Future(box: done, storage: storage, dependency: Dependency(task)))
    }

    /// The dependencies and result boxes of a task's inputs, checked to belong to this scheduler.
    private func collect<each Input: Sendable>(_ inputs: repeat Future<each Input>) -> ([Dependency], [ResultBox]) {
        var dependencies: [Dependency] = []
        var boxes: [ResultBox] = []
        for input in repeat each inputs {
            checkOwner(input.storage)
            dependencies.append(input.dependency)
            boxes.append(input.box)
        }
        return (dependencies, boxes)
    }

    private func checkOwner(_ other: SchedulerStorage) {
        precondition(other === storage, "a future from another scheduler cannot be an input here")
    }
}

/// Reads a task's inputs in order from their result boxes. Reading through the boxes (not the futures)
/// needs only the input types' metadata, so starting a task costs no generic metadata look-ups.
struct InputReader {
    private let boxes: [ResultBox]
    private var position = 0

    init(_ boxes: [ResultBox]) { self.boxes = boxes }

    mutating func next<Value>(_ type: Value.Type) throws -> Value {
        defer { position += 1 }
        return try boxes[position].resolved() as! Value
    }
}
