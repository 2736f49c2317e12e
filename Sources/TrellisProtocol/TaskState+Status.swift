package import TrellisEngine

extension Trellis_V1_TaskState {
    /// A state as the wire names it. `interrupted` is a local run's own and is never sent.
    package init(_ status: TaskStatus) {
        switch status {
        case .created: self = .created
        case .paused: self = .paused
        case .waiting: self = .waiting
        case .ready: self = .ready
        case .assigned: self = .assigned
        case .running: self = .running
        case .retrying: self = .retrying
        case .succeeded: self = .succeeded
        case .failed: self = .failed
        case .cancelled: self = .cancelled
        case .killed: self = .killed
        case .upstreamFailed: self = .upstreamFailed
        case .skipped: self = .skipped
        case .interrupted: self = .unspecified
        }
    }

    /// The state in the one vocabulary; nil for one this Trellis does not know.
    package var status: TaskStatus? {
        switch self {
        case .created: .created
        case .paused: .paused
        case .waiting: .waiting
        case .ready: .ready
        case .assigned: .assigned
        case .running: .running
        case .retrying: .retrying
        case .succeeded: .succeeded
        case .failed: .failed
        case .cancelled: .cancelled
        case .killed: .killed
        case .upstreamFailed: .upstreamFailed
        case .skipped: .skipped
        case .unspecified, .UNRECOGNIZED: nil
        }
    }
}
