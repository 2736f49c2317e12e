/// An external condition a trigger waits for (Cylc's xtriggers): checked at an interval, by `trellis run` on
/// its own machine and by a coordinator on its host, until it holds or the trigger's timeout passes.
public enum TriggerCondition: Hashable, Sendable {
    /// A file exists. A relative path is resolved against the workflow's directory.
    case fileExists(String)
    /// The wall clock has passed this many seconds since 1970.
    case wallClock(secondsSince1970: Double)
    /// A shell command exits with status 0 (the only kind that starts a process).
    case command(String)
}
