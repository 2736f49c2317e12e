/// A dense square matrix of doubles, row-major.
public struct Matrix: Sendable, Equatable {
    public let size: Int
    public var values: [Double]

    public init(size: Int, values: [Double]) {
        precondition(values.count == size * size, "a \(size)×\(size) matrix needs \(size * size) values")
        self.size = size
        self.values = values
    }

    /// A random matrix, deterministic for a seed, made diagonally dominant so that it is invertible.
    public static func random(size: Int, seed: UInt64) -> Matrix {
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        var values = [Double](repeating: 0, count: size * size)
        for index in values.indices {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            values[index] = Double(state >> 11) / Double(1 << 53) - 0.5
        }
        for row in 0..<size { values[row * size + row] += Double(size) }
        return Matrix(size: size, values: values)
    }

    /// The inverse by Gauss–Jordan elimination with partial pivoting.
    public func inverse() -> Matrix {
        let n = size
        var a = values
        var inv = [Double](repeating: 0, count: n * n)
        for i in 0..<n { inv[i * n + i] = 1 }
        for column in 0..<n {
            var pivot = column
            for row in column + 1..<n where abs(a[row * n + column]) > abs(a[pivot * n + column]) { pivot = row }
            if pivot != column {
                for k in 0..<n {
                    a.swapAt(column * n + k, pivot * n + k)
                    inv.swapAt(column * n + k, pivot * n + k)
                }
            }
            let scale = 1 / a[column * n + column]
            for k in 0..<n {
                a[column * n + k] *= scale
                inv[column * n + k] *= scale
            }
            for row in 0..<n where row != column {
                let factor = a[row * n + column]
                guard factor != 0 else { continue }
                for k in 0..<n {
                    a[row * n + k] -= factor * a[column * n + k]
                    inv[row * n + k] -= factor * inv[column * n + k]
                }
            }
        }
        return Matrix(size: n, values: inv)
    }

    /// The element-wise (Hadamard) product.
    public static func * (lhs: Matrix, rhs: Matrix) -> Matrix {
        precondition(lhs.size == rhs.size, "sizes differ: \(lhs.size) and \(rhs.size)")
        var values = lhs.values
        for index in values.indices { values[index] *= rhs.values[index] }
        return Matrix(size: lhs.size, values: values)
    }

    public var sum: Double { values.reduce(0, +) }
}
