/// A request the scheduling core refuses, with nothing changed.
public struct TrellisCoreError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable { case unknownQueue, unknownDependency, itemOutOfRange, invalidWidth }
        private let value: Value
        public static let unknownQueue = Code(value: .unknownQueue)
        public static let unknownDependency = Code(value: .unknownDependency)
        public static let itemOutOfRange = Code(value: .itemOutOfRange)
        public static let invalidWidth = Code(value: .invalidWidth)
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
