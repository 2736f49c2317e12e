/// A coordinator store that could not do what was asked.
public struct RunStoreError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable { case storage, noSuchJob }
        private var value: Value
        /// The database failed.
        public static let storage = Code(value: .storage)
        /// Tasks were added to a job that does not exist.
        public static let noSuchJob = Code(value: .noSuchJob)
        public var description: String { value.rawValue }
    }

    public var code: Code
    public var message: String
    /// The underlying error's description, when there is one.
    public var cause: String?

    public init(_ code: Code, _ message: String, cause: String? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { message + (cause.map { " (\($0))" } ?? "") }
}
