import Testing
import TrellisProtocol

/// A stream's outbox hands its writer everything waiting at once, in order, and ends as it was told to.
@Suite("Outbox")
struct OutboxTests {
    struct Refused: Error, Equatable {}

    @Test func aBurstIsTakenWholeAndInOrder() async throws {
        let outbox = Outbox<Int>()
        for value in 0..<5 { outbox.yield(value) }
        #expect(try await outbox.next() == [0, 1, 2, 3, 4])
        outbox.yield(5)
        outbox.finish()
        outbox.yield(6)  // after the end: dropped
        #expect(try await outbox.next() == [5])
        #expect(try await outbox.next() == nil)
        #expect(try await outbox.next() == nil)
    }

    @Test func anOfferIsDroppedOnceTheBacklogIsReached() async throws {
        let outbox = Outbox<Int>()
        #expect(outbox.offer(1, whileFewerThan: 2))
        #expect(outbox.offer(2, whileFewerThan: 2))
        #expect(!outbox.offer(3, whileFewerThan: 2), "two already wait")
        outbox.yield(4)  // a message that must go out still does
        #expect(try await outbox.next() == [1, 2, 4])
        async let waiting = outbox.next()
        // Whether the reader is already waiting or not, an offer within the backlog reaches it.
        #expect(outbox.offer(5, whileFewerThan: 1))
        #expect(try await waiting == [5])
        outbox.finish()
        #expect(!outbox.offer(6, whileFewerThan: 10), "after the end")
    }

    /// A message that makes a waiting one pointless takes its place while the writer has not taken it; once
    /// taken, it went out, and the new one follows it.
    @Test func aMessageSupersedesOneTheWriterHasNotTaken() async throws {
        let outbox = Outbox<String>()
        outbox.yield("started 1")
        outbox.yield("started 2")
        outbox.yield("finished 1") { $0 == "started 1" }
        #expect(try await outbox.next() == ["started 2", "finished 1"])
        outbox.yield("started 3")
        #expect(try await outbox.next() == ["started 3"])
        outbox.yield("finished 3") { $0 == "started 3" }  // already sent
        outbox.yield("finished 2") { $0 == "started 2" }
        #expect(try await outbox.next() == ["finished 3", "finished 2"])
        outbox.finish()
        outbox.yield("late") { _ in true }
        #expect(try await outbox.next() == nil)
    }

    @Test func aWaitingReaderWakesForOneMessageAndForTheEnd() async throws {
        let outbox = Outbox<Int>()
        async let first = outbox.next()
        // Whether the reader is already waiting or not, it gets the message.
        outbox.yield(1)
        #expect(try await first == [1])
        let end = Task { try await outbox.next() }
        outbox.finish(throwing: Refused())
        await #expect(throws: Refused.self) { try await end.value }
    }

    @Test func whatWaitsGoesOutBeforeTheError() async throws {
        let outbox = Outbox<String>()
        outbox.yield("last words")
        outbox.finish(throwing: Refused())
        outbox.finish()  // the first end stands
        #expect(try await outbox.next() == ["last words"])
        await #expect(throws: Refused.self) { try await outbox.next() }
    }

    @Test func aCancelledReaderStopsWaiting() async throws {
        let outbox = Outbox<Int>()
        let reader = Task { try await outbox.next() }
        reader.cancel()
        await #expect(throws: CancellationError.self) { try await reader.value }
        // The outbox still works for the next reader.
        outbox.yield(7)
        #expect(try await outbox.next() == [7])
    }

    @Test func manyProducersLoseNothing() async throws {
        let outbox = Outbox<Int>()
        let producers = 8
        let each = 2_000
        async let received: [Int] = {
            var all: [Int] = []
            while all.count < producers * each, let batch = try await outbox.next() { all += batch }
            return all
        }()
        await withTaskGroup { group in
            for producer in 0..<producers {
                group.addTask { for index in 0..<each { outbox.yield(producer * each + index) } }
            }
        }
        let all = try await received
        #expect(all.count == producers * each)
        #expect(Set(all).count == producers * each)
        // Each producer's messages keep their order.
        for producer in 0..<producers {
            let mine = all.filter { $0 / each == producer }
            #expect(mine == mine.sorted())
        }
    }
}

extension OutboxTests {
    @Test func aReaderTooFarBehindIsCutOffAfterWhatWaits() async throws {
        let outbox = Outbox<Int>(limit: 3, overflow: Refused())
        for value in 0..<3 { outbox.yield(value) }
        outbox.yield(3)  // one too many: the outbox ends
        outbox.yield(4)
        #expect(try await outbox.next() == [0, 1, 2])
        await #expect(throws: Refused.self) { try await outbox.next() }
    }

    @Test func aKnownBurstMayGoPastTheLimit() async throws {
        let outbox = Outbox<Int>(limit: 2, overflow: Refused())
        outbox.allow(3)
        for value in 0..<5 { outbox.yield(value) }
        #expect(try await outbox.next() == [0, 1, 2, 3, 4])
        outbox.allow(.max)
        outbox.allow(1)  // saturates instead of overflowing
        outbox.yield(5)
        #expect(try await outbox.next() == [5])
    }
}

extension OutboxTests {
    @Test func theBurstAllowanceIsUsedUpOnceTaken() async throws {
        let outbox = Outbox<Int>(limit: 2, overflow: Refused())
        outbox.allow(3)
        for value in 0..<5 { outbox.yield(value) }
        #expect(try await outbox.next() == [0, 1, 2, 3, 4])
        // The limit is the limit again.
        for value in 5..<8 { outbox.yield(value) }
        #expect(outbox.isFinished)
        #expect(try await outbox.next() == [5, 6])
        await #expect(throws: Refused.self) { try await outbox.next() }
    }

    @Test func aClosedOutboxKeepsNothing() async throws {
        let outbox = Outbox<Int>()
        outbox.yield(1)
        #expect(!outbox.isFinished)
        outbox.close()
        outbox.yield(2)
        #expect(outbox.isFinished)
        #expect(try await outbox.next() == nil)
    }

    @Test func aWriterThatFailsClosesItsOutbox() async throws {
        let outbox = Outbox<Int>()
        outbox.yield(1)
        await #expect(throws: Refused.self) { try await outbox.drain { _ in throw Refused() } }
        outbox.yield(2)
        #expect(outbox.isFinished)
        #expect(try await outbox.next() == nil)
    }
}
