/// The compact binary form of journal records and snapshots, shared by the core (its snapshots) and every
/// journal: unsigned LEB128 varints, zigzag for signed numbers, length-prefixed UTF-8 strings, doubles as
/// their 8-byte bit patterns. A reader checks every length and range and throws `JournalError(.corrupt)`
/// rather than trusting the storage.

/// Why a journal refused.
public struct JournalError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: Hashable, Sendable {
        /// A newer session has begun: this writer's epoch is over, and nothing it asked was written.
        case fenced
        /// A stored record could not be decoded.
        case corrupt
        /// The storage was written by a version of Trellis this one does not read.
        case unsupportedVersion
        /// The storage failed (disk, permissions, locks).
        case storage
        /// The request itself is wrong (a snapshot ahead of the entries).
        case invalidRequest
    }

    public var code: Code
    public var message: String
    public var cause: String?

    public init(_ code: Code, _ message: String, cause: String? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { cause.map { "\(message): \($0)" } ?? message }

    /// Refuses a write from any session but the latest.
    public static func checkEpoch(_ epoch: UInt64, current: UInt64) throws(JournalError) {
        if epoch < current {
            throw JournalError(.fenced, "session \(epoch) is over: session \(current) has begun, and only it may write")
        }
        if epoch > current {
            throw JournalError(.fenced, "session \(epoch) has not begun (the latest is \(current))")
        }
    }
}

/// Writes the compact binary form of journal records: unsigned LEB128 varints, zigzag for signed numbers,
/// length-prefixed UTF-8 strings, doubles as their 8-byte bit patterns.
public struct JournalWriter {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 32) { bytes.reserveCapacity(capacity) }

    public mutating func byte(_ value: UInt8) { bytes.append(value) }

    public mutating func unsigned(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    public mutating func signed(_ value: Int64) {
        unsigned(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    public mutating func int(_ value: Int) { signed(Int64(value)) }

    public mutating func double(_ value: Double) {
        var bits = value.bitPattern
        for _ in 0..<8 {
            bytes.append(UInt8(truncatingIfNeeded: bits))
            bits >>= 8
        }
    }

    public mutating func string(_ value: String) {
        unsigned(UInt64(value.utf8.count))
        bytes.append(contentsOf: value.utf8)
    }

    /// Bytes, length first.
    public mutating func blob(_ value: [UInt8]) {
        unsigned(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// The bytes followed by their 64-bit FNV-1a hash, so a reader can tell damaged storage from a value
    /// (`JournalReader(sealed:)`).
    public func sealed() -> [UInt8] {
        var sealed = bytes
        var hash = Self.fnv1a(bytes)
        for _ in 0..<8 {
            sealed.append(UInt8(truncatingIfNeeded: hash))
            hash >>= 8
        }
        return sealed
    }

    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return hash
    }

    public mutating func duration(_ value: Duration) {
        let (seconds, attoseconds) = value.components
        signed(seconds)
        signed(attoseconds)
    }
}

/// Reads what `JournalWriter` wrote, checking every length and range.
public struct JournalReader {
    let bytes: [UInt8]
    var position = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Reads what `JournalWriter.sealed()` wrote, once its hash matches; any changed byte is refused.
    public init(sealed: [UInt8], what: String) throws(JournalError) {
        guard sealed.count >= 8 else { throw JournalError(.corrupt, "\(what) is \(sealed.count) bytes long") }
        let body = Array(sealed[..<(sealed.count - 8)])
        var stored: UInt64 = 0
        for index in 0..<8 { stored |= UInt64(sealed[sealed.count - 8 + index]) << (8 * UInt64(index)) }
        guard stored == JournalWriter.fnv1a(body) else {
            throw JournalError(.corrupt, "\(what) is damaged: its bytes do not match their hash")
        }
        self.init(body)
    }

    public var isAtEnd: Bool { position == bytes.count }

    public func corrupt(_ what: String) -> JournalError {
        JournalError(.corrupt, "a journal record is malformed: \(what) at byte \(position) of \(bytes.count)")
    }

    public mutating func byte() throws(JournalError) -> UInt8 {
        guard position < bytes.count else { throw corrupt("it ends early") }
        position += 1
        return bytes[position - 1]
    }

    public mutating func unsigned() throws(JournalError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let next = try byte()
            guard shift < 64, shift < 63 || next <= 1 else { throw corrupt("a number is too long") }
            result |= UInt64(next & 0x7F) << shift
            if next < 0x80 { return result }
            shift += 7
        }
    }

    public mutating func signed() throws(JournalError) -> Int64 {
        let raw = try unsigned()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    public mutating func int() throws(JournalError) -> Int {
        let value = try signed()
        guard let result = Int(exactly: value) else { throw corrupt("a number out of range") }
        return result
    }

    /// A 32-bit signed value written with `int` (an exit code, a process id); `what` names it when out of range.
    public mutating func int32(_ what: String) throws(JournalError) -> Int32 {
        let value = try signed()
        guard let result = Int32(exactly: value) else { throw corrupt("\(what) \(value) out of range") }
        return result
    }

    /// An id (a task, job, queue or worker) or a small index: written with `int`, between 0 and `Int32.max`,
    /// as the core keeps them.
    public mutating func id() throws(JournalError) -> Int {
        let value = try signed()
        guard value >= 0, value <= Int64(Int32.max) else { throw corrupt("an id of \(value)") }
        return Int(value)
    }

    /// A count or an index: not negative, and at most `limit`.
    public mutating func count(atMost limit: Int = Int(Int32.max)) throws(JournalError) -> Int {
        let value = try unsigned()
        guard value <= UInt64(limit) else { throw corrupt("a count of \(value)") }
        return Int(value)
    }

    public mutating func double() throws(JournalError) -> Double {
        guard bytes.count - position >= 8 else { throw corrupt("it ends early") }
        var bits: UInt64 = 0
        for index in 0..<8 { bits |= UInt64(bytes[position + index]) << (8 * UInt64(index)) }
        position += 8
        return Double(bitPattern: bits)
    }

    public mutating func string() throws(JournalError) -> String {
        let length = try count()
        guard length <= bytes.count - position else { throw corrupt("a string longer than the record") }
        let slice = bytes[position..<(position + length)]
        position += length
        guard let text = String(validating: slice, as: UTF8.self) else { throw corrupt("a string is not UTF-8") }
        return text
    }

    /// Bytes written with `blob`, at most `limit` of them.
    public mutating func blob(atMost limit: Int = 1 << 26) throws(JournalError) -> [UInt8] {
        let length = try count(atMost: limit)
        guard length <= bytes.count - position else { throw corrupt("bytes longer than the record") }
        defer { position += length }
        return Array(bytes[position..<(position + length)])
    }

    public mutating func duration() throws(JournalError) -> Duration {
        let seconds = try signed()
        let attoseconds = try signed()
        guard attoseconds > -1_000_000_000_000_000_000, attoseconds < 1_000_000_000_000_000_000 else {
            throw corrupt("a duration's fraction")
        }
        return Duration(secondsComponent: seconds, attosecondsComponent: attoseconds)
    }
}
