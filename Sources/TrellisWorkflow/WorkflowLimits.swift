/// How large a workflow may be. A file past a limit is refused with an error that says by how much, before
/// it costs time or memory; the command line raises the limits with `--max-tasks` and `--max-file-size`.
public struct WorkflowLimits: Hashable, Sendable {
    /// Most tasks a workflow may have once its arrays are expanded.
    public var maxTasks: Int
    /// Largest workflow file read, in bytes.
    public var maxFileBytes: Int

    public static let `default` = WorkflowLimits()

    public init(maxTasks: Int = 1_000_000, maxFileBytes: Int = 64 << 20) {
        self.maxTasks = maxTasks
        self.maxFileBytes = maxFileBytes
    }
}
