/// The core's own values in the binary form: shared by the journal's records and the core's snapshots.

func writeResources(_ resources: [String: Double], to writer: inout JournalWriter) {
    writer.unsigned(UInt64(resources.count))
    for (name, amount) in resources.sorted(by: { $0.key < $1.key }) {
        writer.string(name)
        writer.double(amount)
    }
}

func readResources(_ reader: inout JournalReader) throws(JournalError) -> [String: Double] {
    var resources: [String: Double] = [:]
    for _ in 0..<(try reader.count(atMost: 10_000)) {
        let name = try reader.string()
        resources[name] = try reader.double()
    }
    return resources
}

extension WorkerSpec {
    public func write(to writer: inout JournalWriter) {
        writer.string(type)
        writer.unsigned(UInt64(tags.count))
        for tag in tags.sorted() { writer.string(tag) }
        writer.int(slots)
        writeResources(resources, to: &writer)
    }

    public static func read(from reader: inout JournalReader) throws(JournalError) -> WorkerSpec {
        let type = try reader.string()
        var tags: Set<String> = []
        for _ in 0..<(try reader.count(atMost: 10_000)) { tags.insert(try reader.string()) }
        let slots = try reader.int()
        return WorkerSpec(type: type, tags: tags, slots: slots, resources: try readResources(&reader))
    }
}

extension Placement {
    public func write(to writer: inout JournalWriter) {
        if let type {
            writer.byte(1)
            writer.string(type)
        } else {
            writer.byte(0)
        }
        writer.unsigned(UInt64(tags.count))
        for tag in tags { writer.string(tag) }
        writeResources(resources, to: &writer)
    }

    public static func read(from reader: inout JournalReader) throws(JournalError) -> Placement {
        let type = try reader.byte() == 1 ? try reader.string() : nil
        var tags: [String] = []
        for _ in 0..<(try reader.count(atMost: 10_000)) { tags.append(try reader.string()) }
        return Placement(type: type, tags: tags, resources: try readResources(&reader))
    }
}

extension SchedulingPolicy {
    public func write(to writer: inout JournalWriter) {
        switch self {
        case .outputFirst: writer.byte(0)
        case .fifo: writer.byte(1)
        case .wave: writer.byte(2)
        case .threshold(let n):
            writer.byte(3)
            writer.int(n)
        case .criticalPath: writer.byte(4)
        }
    }

    public static func read(from reader: inout JournalReader) throws(JournalError) -> SchedulingPolicy {
        switch try reader.byte() {
        case 0: return .outputFirst
        case 1: return .fifo
        case 2: return .wave
        case 3: return .threshold(try reader.int())
        case 4: return .criticalPath
        case let other: throw reader.corrupt("unknown policy \(other)")
        }
    }
}

extension FailurePolicy {
    public func write(to writer: inout JournalWriter) {
        writer.byte(self == .failFast ? 1 : 0)
    }

    public static func read(from reader: inout JournalReader) throws(JournalError) -> FailurePolicy {
        try reader.byte() == 1 ? .failFast : .continueIndependent
    }
}

extension RetryPolicy {
    public func write(to writer: inout JournalWriter) {
        writer.int(maxAttempts)
        writer.duration(initialBackoff)
        writer.double(multiplier)
        writer.duration(maxBackoff)
    }

    public static func read(from reader: inout JournalReader) throws(JournalError) -> RetryPolicy {
        let maxAttempts = try reader.int()
        guard maxAttempts >= 1 else { throw reader.corrupt("a retry policy of \(maxAttempts) attempts") }
        return RetryPolicy(
            maxAttempts: maxAttempts, initialBackoff: try reader.duration(), multiplier: try reader.double(),
            maxBackoff: try reader.duration())
    }
}

extension TaskRole {
    public var code: UInt8 {
        switch self {
        case .main: 0
        case .onSuccess: 1
        case .onFailure: 2
        }
    }

    public static func read(code: UInt8, from reader: inout JournalReader) throws(JournalError) -> TaskRole {
        switch code {
        case 0: return .main
        case 1: return .onSuccess
        case 2: return .onFailure
        case let other: throw reader.corrupt("unknown task role \(other)")
        }
    }
}
