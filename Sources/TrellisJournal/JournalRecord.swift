/// A value a journal can store: it turns itself into bytes and back. Decoding checks everything it reads and
/// throws `.corrupt` rather than trusting the storage.
public protocol JournalRecord: Sendable {
    func journalBytes() -> [UInt8]
    init(journalBytes: [UInt8]) throws(JournalError)
}

extension String: JournalRecord {
    public func journalBytes() -> [UInt8] { Array(utf8) }

    public init(journalBytes: [UInt8]) throws(JournalError) {
        guard let text = String(validating: journalBytes, as: UTF8.self) else {
            throw JournalError(.corrupt, "a text record is not UTF-8")
        }
        self = text
    }
}
