public import Trellis

/// The smq workload: `count` matrices A acquired one at a time (an instrument queue of width 1), their
/// inverses B, and every element-wise product C[i·count+k] = B[i]·B[k] on a compute queue.
///
/// Output-first scheduling makes the first C arrive after two acquisitions instead of all of them.
public struct SMQWorkload: Sendable {
    public var count: Int
    public var size: Int
    public var computeWidth: Int

    public init(count: Int = 100, size: Int = 100, computeWidth: Int = 2) {
        self.count = count
        self.size = size
        self.computeWidth = computeWidth
    }

    /// Submits the whole graph; `onResult(index, sum)` is called from each C task as it finishes.
    /// Returns the futures of C in index order.
    @discardableResult
    public func submit(
        to scheduler: Scheduler,
        onResult: @escaping @Sendable (_ index: Int, _ sum: Double) -> Void = { _, _ in }
    ) throws(TrellisError) -> [Future<Double>] {
        let acquire = try scheduler.queue("acquire", width: 1)
        let compute = try scheduler.queue("compute", width: computeWidth)
        let size = size
        let a = (0..<count).map { i in
            acquire.submit(name: "A\(i)") { Matrix.random(size: size, seed: UInt64(i)) }
        }
        let b = a.enumerated().map { i, a in compute.submit(a, name: "B\(i)") { $0.inverse() } }
        var c: [Future<Double>] = []
        c.reserveCapacity(count * count)
        for i in 0..<count {
            for k in 0..<count {
                let index = i * count + k
                c.append(
                    compute.submit(b[i], b[k], name: "C\(index)") { x, y in
                        let sum = (x * y).sum
                        onResult(index, sum)
                        return sum
                    })
            }
        }
        return c
    }
}
