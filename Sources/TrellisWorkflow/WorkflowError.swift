public import TrellisCore

/// One problem with a workflow file, with its position.
public struct WorkflowError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable {
            case unreadable, malformed, unknownKey, missingKey, invalidValue, invalidID, badExpansion
            case duplicateID, unknownDependency, unknownOutput, unknownTrigger, unknownQueue, cycle, selfDependency
            case crossRoleDependency, tooLarge
        }
        private var value: Value

        public static let unreadable = Code(value: .unreadable)
        /// Not valid YAML or JSON.
        public static let malformed = Code(value: .malformed)
        public static let unknownKey = Code(value: .unknownKey)
        public static let missingKey = Code(value: .missingKey)
        /// A value of the wrong type or out of range.
        public static let invalidValue = Code(value: .invalidValue)
        public static let invalidID = Code(value: .invalidID)
        /// A `${param}` that no `matrix` or `for_each` defines, or an empty parameter list.
        public static let badExpansion = Code(value: .badExpansion)
        public static let duplicateID = Code(value: .duplicateID)
        public static let unknownDependency = Code(value: .unknownDependency)
        public static let unknownOutput = Code(value: .unknownOutput)
        public static let unknownTrigger = Code(value: .unknownTrigger)
        public static let unknownQueue = Code(value: .unknownQueue)
        public static let cycle = Code(value: .cycle)
        public static let selfDependency = Code(value: .selfDependency)
        /// A main task needs a finale task, or a finale task needs a task outside its own group.
        public static let crossRoleDependency = Code(value: .crossRoleDependency)
        /// Past a `WorkflowLimits` limit: too many tasks, or too large a file.
        public static let tooLarge = Code(value: .tooLarge)

        public var description: String { value.rawValue }
    }

    public var code: Code
    public var message: String
    public var location: SourceLocation?

    public init(_ code: Code, _ message: String, at location: SourceLocation?) {
        self.code = code
        self.message = message
        self.location = location
    }

    /// `file:line:column: error: message`, with any control character of the message (from the file's own
    /// text) written as an escape.
    public var description: String {
        (location.map { "\($0): " } ?? "") + "error: " + YAMLWorkflowParser.printable(message)
    }
}

/// Every problem found in a workflow; nothing runs while there is one.
public struct WorkflowValidationError: Error, Sendable, CustomStringConvertible {
    public var errors: [WorkflowError]

    public init(_ errors: [WorkflowError]) {
        self.errors = errors
    }

    public var description: String {
        errors.map(\.description).joined(separator: "\n")
    }
}
