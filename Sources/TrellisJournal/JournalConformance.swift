/// The rules every `Journal` keeps, as checks any implementation's tests run. Each returns a description of
/// every broken rule (empty when the journal conforms).
public enum JournalConformance {
    /// Runs every case on fresh journals from `make`.
    public static func check(_ make: () async throws -> any Journal<String>) async throws -> [String] {
        var problems: [String] = []
        problems += try await numbering(make())
        problems += try await fencing(make())
        problems += try await snapshots(make())
        problems += try await concurrentAppends(make())
        return problems
    }

    /// Entries are numbered 1, 2, 3… in append order and read back in pages.
    public static func numbering(_ journal: any Journal<String>) async throws -> [String] {
        var problems: [String] = []
        let epoch = try await journal.begin()
        if epoch != 1 { problems.append("numbering: the first session is \(epoch), not 1") }
        let first = try await journal.append(["a", "b", "c"], epoch: epoch)
        let none = try await journal.append([], epoch: epoch)
        let second = try await journal.append(["d", "e"], epoch: epoch)
        if first != 1...3 || none != nil || second != 4...5 {
            problems.append(
                "numbering: appends got \(String(describing: first)), \(String(describing: none)), "
                    + "\(String(describing: second))")
        }
        let all = try await journal.entries(after: 0, limit: 100)
        if all.map(\.record) != ["a", "b", "c", "d", "e"] || all.map(\.sequence) != [1, 2, 3, 4, 5]
            || !all.allSatisfy({ $0.epoch == epoch })
        {
            problems.append("numbering: read back \(all.map { "\($0.sequence):\($0.record)@\($0.epoch)" })")
        }
        let page = try await journal.entries(after: 3, limit: 1)
        if page.map(\.record) != ["d"] { problems.append("numbering: the page after 3 is \(page.map(\.record))") }
        if try await journal.lastSequence() != 5 { problems.append("numbering: the last sequence is not 5") }
        if try await journal.entries(after: 5, limit: 10).count != 0 {
            problems.append("numbering: entries after the last")
        }
        return problems
    }

    /// Once a session begins, the older ones cannot write; nothing they asked is kept.
    public static func fencing(_ journal: any Journal<String>) async throws -> [String] {
        var problems: [String] = []
        let old = try await journal.begin()
        try await journal.append(["old"], epoch: old)
        let new = try await journal.begin()
        if new != old + 1 { problems.append("fencing: the next session is \(new) after \(old)") }
        for (epoch, what) in [(old, "an older"), (new + 1, "a future")] {
            if await refusal({ () async throws(JournalError) in _ = try await journal.append(["stale"], epoch: epoch) })
                != .fenced
            {
                problems.append("fencing: \(what) session appended")
            }
            let snapshot = JournalSnapshot(sequence: 1, epoch: epoch, state: [1])
            if await refusal({ () async throws(JournalError) in try await journal.saveSnapshot(snapshot) }) != .fenced {
                problems.append("fencing: \(what) session saved a snapshot")
            }
        }
        try await journal.append(["new"], epoch: new)
        let records = try await journal.entries(after: 0, limit: 10).map { "\($0.record)@\($0.epoch)" }
        if records != ["old@\(old)", "new@\(new)"] { problems.append("fencing: the journal holds \(records)") }
        return problems
    }

    /// A snapshot stands for the entries up to it; compaction drops them and numbering goes on.
    public static func snapshots(_ journal: any Journal<String>) async throws -> [String] {
        var problems: [String] = []
        let epoch = try await journal.begin()
        if try await journal.latestSnapshot() != nil { problems.append("snapshots: a new journal has a snapshot") }
        try await journal.append(["a", "b", "c", "d"], epoch: epoch)
        let ahead = JournalSnapshot(sequence: 9, epoch: epoch, state: [9])
        if await refusal({ () async throws(JournalError) in try await journal.saveSnapshot(ahead) }) != .invalidRequest
        {
            problems.append("snapshots: a snapshot ahead of the journal was saved")
        }
        if await refusal({ () async throws(JournalError) in try await journal.compact(through: 2, epoch: epoch) })
            != .invalidRequest
        {
            problems.append("snapshots: compacted without a snapshot")
        }
        let snapshot = JournalSnapshot(sequence: 3, epoch: epoch, state: [1, 2, 3])
        try await journal.saveSnapshot(snapshot)
        if try await journal.latestSnapshot() != snapshot {
            problems.append("snapshots: the snapshot did not read back")
        }
        try await journal.compact(through: 3, epoch: epoch)
        let left = try await journal.entries(after: 3, limit: 10).map(\.sequence)
        if left != [4] { problems.append("snapshots: after compaction the journal holds \(left)") }
        if await refusal({ () async throws(JournalError) in _ = try await journal.entries(after: 1, limit: 10) })
            != .invalidRequest
        {
            problems.append("snapshots: reading from inside the compacted stretch was not refused")
        }
        let older = JournalSnapshot(sequence: 2, epoch: epoch, state: [2])
        if await refusal({ () async throws(JournalError) in try await journal.saveSnapshot(older) }) != .invalidRequest
        {
            problems.append("snapshots: a snapshot older than the saved one was accepted")
        }
        let next = try await journal.append(["e"], epoch: epoch)
        if next != 5...5 {
            problems.append("snapshots: the next append after compaction got \(String(describing: next))")
        }
        let after = try await journal.entries(after: 3, limit: 10).map(\.record)
        if after != ["d", "e"] { problems.append("snapshots: the entries after the snapshot are \(after)") }
        return problems
    }

    /// The code a journal call was refused with, or `nil` when it was not refused.
    static func refusal(_ body: () async throws(JournalError) -> Void) async -> JournalError.Code? {
        do {
            try await body()
            return nil
        } catch {
            return error.code
        }
    }

    /// Appends from many tasks at once interleave whole: no gap, no duplicate, each batch contiguous.
    public static func concurrentAppends(_ journal: any Journal<String>) async throws -> [String] {
        let epoch = try await journal.begin()
        let ranges = try await withThrowingTaskGroup(of: (Int, ClosedRange<UInt64>?).self) { group in
            for writer in 0..<8 {
                group.addTask {
                    var last: ClosedRange<UInt64>?
                    for batch in 0..<25 {
                        let records = (0..<3).map { "\(writer).\(batch).\($0)" }
                        last = try await journal.append(records, epoch: epoch)
                    }
                    return (writer, last)
                }
            }
            var result: [(Int, ClosedRange<UInt64>?)] = []
            for try await value in group { result.append(value) }
            return result
        }
        var problems: [String] = []
        if ranges.contains(where: { $0.1?.count != 3 }) { problems.append("concurrent: a batch was not 3 entries") }
        let all = try await journal.allEntries(pageSize: 64)
        if all.map(\.sequence) != Array(1...600) { problems.append("concurrent: sequences are not 1...600") }
        for start in stride(from: 0, to: all.count, by: 3) where start + 2 < all.count {
            let batch = all[start...(start + 2)].map(\.record)
            let prefix = batch[0].dropLast(2)
            if batch != ["\(prefix).0", "\(prefix).1", "\(prefix).2"] {
                problems.append("concurrent: batch at \(start + 1) is split: \(batch)")
                break
            }
        }
        return problems
    }
}
