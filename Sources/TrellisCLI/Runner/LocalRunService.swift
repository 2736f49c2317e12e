internal import ServiceLifecycle
internal import Synchronization

/// `trellis run` as a service of a `ServiceGroup`, as the coordinator and the worker are: a graceful shutdown
/// (the first SIGINT or SIGTERM) interrupts the run, so no attempt starts and running processes get SIGTERM,
/// then SIGKILL after `--grace`; cancelling it (a second signal) kills them at once. Either way the run ends
/// with every attempt recorded, so the same command resumes it.
final class LocalRunService<C: Clock>: Service, Sendable where C.Duration == Duration {
    let runner: LocalRunner<C>
    let events: @Sendable (RunEvent) -> Void
    private let outcome = Mutex<Result<RunSummary, RunError>?>(nil)

    init(runner: LocalRunner<C>, events: @escaping @Sendable (RunEvent) -> Void) {
        self.runner = runner
        self.events = events
    }

    /// How the run ended, once `run()` has returned.
    var result: Result<RunSummary, RunError>? { outcome.withLock { $0 } }

    func run() async throws {
        // The run goes on in a task of its own, so a cancellation stops its processes and waits for their ends
        // to be recorded instead of abandoning them.
        let running = Task { [runner, events] () -> Result<RunSummary, RunError> in
            do throws(RunError) {
                return .success(try await runner.run(events: events))
            } catch {
                return .failure(error)
            }
        }
        let result = await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await running.value
            } onGracefulShutdown: {
                self.runner.interrupt()
            }
        } onCancel: {
            runner.interrupt(force: true)
        }
        outcome.withLock { $0 = result }
    }
}
