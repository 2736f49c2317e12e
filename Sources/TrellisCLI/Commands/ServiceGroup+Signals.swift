internal import Foundation
internal import ServiceLifecycle
import Synchronization

extension ServiceGroup {
    /// Runs the group until it ends: the first SIGTERM or SIGINT shuts it down gracefully, the next one
    /// cancels it (so does the group's own deadline, when its configuration sets one). Returns whether a
    /// second signal cut the shutdown short.
    @discardableResult
    func runStoppedBySignals() async throws -> Bool {
        let running = Task { try await run() }
        let received = Mutex(0)
        let signals = SignalForwarder(signals: [SIGINT, SIGTERM]) {
            let count = received.withLock { count in
                count += 1
                return count
            }
            if count == 1 {
                Task { await self.triggerGracefulShutdown() }
            } else {
                running.cancel()
            }
        }
        defer { signals.cancel() }
        try await withTaskCancellationHandler {
            try await running.value
        } onCancel: {
            running.cancel()
        }
        return received.withLock { $0 } > 1
    }
}
