public import TrellisCore

/// An error from the Trellis runtime: a stable `code`, a human `message` and the underlying `cause`.
public struct TrellisError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case taskFailed, upstreamFailed, cancelled, timedOut, missingPartialResults, tasksFailed
            case invalidGraph, invalidSubmission, invalidQueue, shutDown
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The task's work threw `cause` on its last attempt.
        public static let taskFailed = Code(.taskFailed)
        /// The task never ran because an input failed; `cause` is the root failure.
        public static let upstreamFailed = Code(.upstreamFailed)
        /// The task was cancelled, by request or because the failure policy cancelled the rest.
        public static let cancelled = Code(.cancelled)
        /// The task's last attempt ran past its timeout.
        public static let timedOut = Code(.timedOut)
        /// A producer finished without yielding every promised partial result.
        public static let missingPartialResults = Code(.missingPartialResults)
        /// `Scheduler.wait()`: some tasks failed; `failures` lists them.
        public static let tasksFailed = Code(.tasksFailed)
        /// A network or graph did not validate.
        public static let invalidGraph = Code(.invalidGraph)
        /// A submission was refused (unknown dependency, futures from another scheduler…).
        public static let invalidSubmission = Code(.invalidSubmission)
        /// A queue was asked for with a width it cannot have.
        public static let invalidQueue = Code(.invalidQueue)
        /// The scheduler was released before the task could run.
        public static let shutDown = Code(.shutDown)

        public var description: String { "\(value)" }
    }

    public var code: Code
    public var message: String
    /// The task the error is about, if any.
    public var task: TaskID?
    public var cause: (any Error)?
    /// For `.tasksFailed`: each task that failed for good, with its error.
    public var failures: [TrellisError]

    public init(
        code: Code,
        message: String,
        task: TaskID? = nil,
        cause: (any Error)? = nil,
        failures: [TrellisError] = []
    ) {
        self.code = code
        self.message = message
        self.task = task
        self.cause = cause
        self.failures = failures
    }

    public var description: String {
        var text = "\(code): \(message)"
        if let cause { text += " (cause: \(cause))" }
        return text
    }
}
