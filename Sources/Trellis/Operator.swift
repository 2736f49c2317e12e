/// A typed input or output of an `Operator`.
public struct Port: Sendable, CustomStringConvertible {
    public var name: String
    public var type: any Sendable.Type
    /// An optional input may stay unconnected; the operator then receives `nil` there.
    public var isOptional: Bool

    public init(_ name: String, _ type: any Sendable.Type, optional: Bool = false) {
        self.name = name
        self.type = type
        self.isOptional = optional
    }

    /// A port that accepts a value of any type.
    public static func any(_ name: String, optional: Bool = false) -> Port {
        Port(name, (any Sendable).self, optional: optional)
    }

    var acceptsAnything: Bool { ObjectIdentifier(type) == ObjectIdentifier((any Sendable).self) }

    /// Whether a value of type `other` may flow into this port.
    func accepts(_ other: any Sendable.Type) -> Bool {
        acceptsAnything || ObjectIdentifier(type) == ObjectIdentifier(other)
    }

    public var description: String { "\(name): \(type)" }
}

/// A node of a `Network`: takes one value per input port, returns one value per output port.
///
/// ```swift
/// struct Scale: Operator {
///     let factor: Double
///     var inputs: [Port] { [Port("x", Double.self)] }
///     var outputs: [Port] { [Port("y", Double.self)] }
///     func execute(_ inputs: [(any Sendable)?]) async throws -> [any Sendable] {
///         [(inputs[0] as! Double) * factor]
///     }
/// }
/// ```
public protocol Operator: Sendable {
    var inputs: [Port] { get }
    var outputs: [Port] { get }
    /// `inputs[i]` is the value on input port `i` (`nil` only for an unconnected optional port).
    func execute(_ inputs: [(any Sendable)?]) async throws -> [any Sendable]
}
