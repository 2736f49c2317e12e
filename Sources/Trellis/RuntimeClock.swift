/// The scheduler's view of an injected clock: time as a `Duration` since the scheduler was created.
struct RuntimeClock: Sendable {
    let now: @Sendable () -> Duration
    let sleep: @Sendable (_ until: Duration) async throws -> Void
    /// Set when the injected clock is the continuous clock, so one reading serves as both the scheduler's
    /// time and the real time used for core statistics.
    let continuousOrigin: ContinuousClock.Instant?

    init<C: Clock>(_ clock: C) where C.Duration == Duration {
        let origin = clock.now
        now = { origin.duration(to: clock.now) }
        sleep = { deadline in try await clock.sleep(until: origin.advanced(by: deadline), tolerance: nil) }
        continuousOrigin = origin as? ContinuousClock.Instant
    }

    /// The scheduler's time at the real instant `instant` (read from the continuous clock).
    func time(at instant: ContinuousClock.Instant) -> Duration {
        continuousOrigin.map { $0.duration(to: instant) } ?? now()
    }
}
