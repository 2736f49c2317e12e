/// Decides the order in which ready tasks are handed out. An explicit task priority always comes first.
public enum SchedulingPolicy: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Work toward the most recently submitted sinks first, pulling their unfinished inputs on demand,
    /// so that final results start arriving as early as possible.
    case outputFirst
    /// Submission order; a task starts as soon as it is ready and a slot is free.
    case fifo
    /// Everything ready now is one wave; the next wave starts only when the whole wave has finished.
    case wave
    /// Waves cut into chunks of at most `n` tasks; each chunk is a barrier.
    case threshold(Int)
    /// Longest remaining path first (HEFT upward rank) from per-task cost estimates (missing estimates count 1).
    case criticalPath

    public var description: String {
        switch self {
        case .outputFirst: "output-first"
        case .fifo: "fifo"
        case .wave: "wave"
        case .threshold(let n): "threshold:\(n)"
        case .criticalPath: "critical-path"
        }
    }

    /// The chunk size of a barrier policy, or `nil` when the policy has no barriers.
    var barrierChunk: Int? {
        switch self {
        case .wave: Int.max
        case .threshold(let n): max(1, n)
        case .outputFirst, .fifo, .criticalPath: nil
        }
    }

    /// Whether ready order depends on ranks computed from the graph's shape.
    var usesRanks: Bool {
        switch self {
        case .outputFirst, .criticalPath: true
        case .fifo, .wave, .threshold: false
        }
    }
}

/// What happens to the rest of the graph when a task has failed for good (all attempts used).
public enum FailurePolicy: Hashable, Sendable, Codable {
    /// Cancel every unfinished task at once.
    case failFast
    /// Keep running every branch that does not depend on the failure; its dependants end as `upstreamFailed`.
    case continueIndependent
}

/// How often a failing task is tried and how long to wait between attempts.
public struct RetryPolicy: Hashable, Sendable, Codable {
    /// Total attempts, the first one included; 1 means no retry.
    public var maxAttempts: Int
    /// Delay before the second attempt.
    public var initialBackoff: Duration
    /// Each further delay is the previous one times this factor.
    public var multiplier: Double
    /// Upper bound of any delay.
    public var maxBackoff: Duration

    public init(
        maxAttempts: Int,
        initialBackoff: Duration = .zero,
        multiplier: Double = 2,
        maxBackoff: Duration = .seconds(60)
    ) {
        precondition(maxAttempts >= 1, "maxAttempts must be at least 1, got \(maxAttempts)")
        self.maxAttempts = maxAttempts
        self.initialBackoff = initialBackoff
        self.multiplier = multiplier
        self.maxBackoff = maxBackoff
    }

    /// One attempt, no retry.
    public static let none = RetryPolicy(maxAttempts: 1)

    /// The delay after failed attempt number `attempt` (1-based).
    public func backoff(afterAttempt attempt: Int) -> Duration {
        guard initialBackoff > .zero else { return .zero }
        var delay = initialBackoff
        var step = 1
        while step < attempt, delay < maxBackoff {
            delay = delay * multiplier
            step += 1
        }
        return min(delay, maxBackoff)
    }
}

extension RetryPolicy {
    enum CodingKeys: String, CodingKey { case maxAttempts, initialBackoff, multiplier, maxBackoff }

    /// Decodes a policy, refusing what `init` would trap on.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let attempts = try container.decode(Int.self, forKey: .maxAttempts)
        guard attempts >= 1 else {
            throw DecodingError.dataCorruptedError(
                forKey: .maxAttempts, in: container, debugDescription: "maxAttempts must be at least 1, got \(attempts)"
            )
        }
        self.init(
            maxAttempts: attempts, initialBackoff: try container.decode(Duration.self, forKey: .initialBackoff),
            multiplier: try container.decode(Double.self, forKey: .multiplier),
            maxBackoff: try container.decode(Duration.self, forKey: .maxBackoff))
    }

    /// The longest pause between two attempts of a workflow task, whether it runs locally or on a worker.
    public static let longestWorkflowBackoff: Duration = .seconds(300)
}

extension SchedulingPolicy {
    /// A policy by its name, as `description` prints it and as workflow files, flags and messages write it:
    /// `output-first`, `fifo`, `wave`, `threshold:N` (N ≥ 1) or `critical-path`.
    public init?(name: String) {
        switch name {
        case "output-first": self = .outputFirst
        case "fifo": self = .fifo
        case "wave": self = .wave
        case "critical-path": self = .criticalPath
        default:
            guard name.hasPrefix("threshold:"), let n = Int(name.dropFirst("threshold:".count)), n > 0 else {
                return nil
            }
            self = .threshold(n)
        }
    }
}
