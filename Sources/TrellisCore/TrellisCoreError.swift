/// A request the scheduling core refuses, with nothing changed.
public struct TrellisCoreError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case unknownQueue, unknownDependency, itemOutOfRange, invalidWidth, invalidPlacement, invalidWorker,
                unknownJob, finaleStarted, invalidTask, jobUnfinished, jobInUse
        }
        private let value: Value
        public static let unknownQueue = Code(value: .unknownQueue)
        public static let unknownDependency = Code(value: .unknownDependency)
        public static let itemOutOfRange = Code(value: .itemOutOfRange)
        public static let invalidWidth = Code(value: .invalidWidth)
        public static let unknownJob = Code(value: .unknownJob)
        /// A main task for a job whose finale has started.
        public static let finaleStarted = Code(value: .finaleStarted)
        /// A job to forget that has tasks not yet finished.
        public static let jobUnfinished = Code(value: .jobUnfinished)
        /// A job to forget that a task kept needs.
        public static let jobInUse = Code(value: .jobInUse)
        /// A task the core cannot schedule: numbers out of range, or main work needing its job's finale.
        public static let invalidTask = Code(value: .invalidTask)
        /// A placement the core cannot honour: resources that are not finite, or placement without workers.
        public static let invalidPlacement = Code(value: .invalidPlacement)
        /// A worker with no slots or resources that are not finite amounts.
        public static let invalidWorker = Code(value: .invalidWorker)
        public var description: String { "\(value)" }
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
