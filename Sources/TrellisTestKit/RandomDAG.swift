import TrellisCore

/// Seeded random task graphs: dependencies point only to earlier tasks, so every graph is a DAG.
public struct RandomDAG: Sendable {
    /// The ranges and probabilities a graph is drawn from.
    public struct Options: Hashable, Sendable {
        public var taskCount: ClosedRange<Int> = 1...12
        public var queueCount: ClosedRange<Int> = 1...3
        public var queueWidth: ClosedRange<Int> = 1...3
        /// Dependencies per task (fewer for the first tasks, which have fewer candidates).
        public var dependencies: ClosedRange<Int> = 0...3
        /// Chance that a task gets a non-zero priority drawn from `priorities`.
        public var priorityProbability = 0.2
        public var priorities: ClosedRange<Int> = -2...2
        /// Chance that a task is a producer yielding `partialCount` partial results.
        public var producerProbability = 0.25
        public var partialCount: ClosedRange<Int> = 1...3
        /// Chance that a dependency on a producer waits for one of its items instead of all of it.
        public var itemDependencyProbability = 0.6
        /// Chance that a task has a cost estimate drawn from `estimates`.
        public var estimateProbability = 0.5
        public var estimates: ClosedRange<Double> = 0.5...10
        /// Chance that a task may be tried up to `maxAttempts` times.
        public var retryProbability = 0.25
        public var maxAttempts: ClosedRange<Int> = 2...3
        /// Chance that a retrying task waits between attempts (otherwise it retries at once).
        public var backoffProbability = 0.5
        /// Chance that a task has a per-attempt timeout.
        public var timeoutProbability = 0.2

        /// The default options: small graphs with a bit of everything.
        public init() {}
    }

    public var options: Options

    /// A generator drawing graphs from `options`.
    public init(options: Options = Options()) {
        self.options = options
    }

    /// The graph for `seed`; the same seed and options always give the same graph.
    public func generate(seed: UInt64) -> GraphSpec {
        var rng = SplitMix64(seed: seed)
        return generate(using: &rng)
    }

    /// A graph drawn from `rng`.
    public func generate(using rng: inout SplitMix64) -> GraphSpec {
        let queueCount = Int.random(in: options.queueCount, using: &rng)
        let widths = (0..<queueCount).map { _ in Int.random(in: options.queueWidth, using: &rng) }
        var graph = GraphSpec(queueWidths: widths)
        let taskCount = Int.random(in: options.taskCount, using: &rng)
        for index in 0..<taskCount {
            var spec = TaskSpec(queue: QueueID(Int.random(in: 0..<queueCount, using: &rng)))
            if rng.chance(options.priorityProbability) {
                spec.priority = Int.random(in: options.priorities, using: &rng)
            }
            if index > 0 {
                for _ in 0..<Int.random(in: options.dependencies, using: &rng) {
                    let source = Int.random(in: 0..<index, using: &rng)
                    let count = graph.tasks[source].partialCount
                    let item =
                        count > 0 && rng.chance(options.itemDependencyProbability)
                        ? Int.random(in: 0..<count, using: &rng) : nil
                    spec.dependencies.append(Dependency(TaskID(source), item: item))
                }
            }
            if rng.chance(options.producerProbability) {
                spec.partialCount = Int.random(in: options.partialCount, using: &rng)
            }
            if rng.chance(options.estimateProbability) {
                spec.estimate = Double.random(in: options.estimates, using: &rng)
            }
            if rng.chance(options.retryProbability) {
                let backoff: Duration =
                    rng.chance(options.backoffProbability)
                    ? .milliseconds(Int.random(in: 10...2_000, using: &rng)) : .zero
                spec.retry = RetryPolicy(
                    maxAttempts: Int.random(in: options.maxAttempts, using: &rng),
                    initialBackoff: backoff,
                    multiplier: 2,
                    maxBackoff: .seconds(5)
                )
            }
            if rng.chance(options.timeoutProbability) {
                spec.timeout = .milliseconds(Int.random(in: 100...5_000, using: &rng))
            }
            graph.add(spec)
        }
        return graph
    }
}
