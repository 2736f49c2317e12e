internal import Foundation
internal import TrellisCore

/// An `AddTasks` request as a coordinator takes it once it passed the door: the job in Trellis's own types,
/// and each task's spec as the coordinator stores it (and its workers receive it), in the order main,
/// `on_success`, `on_failure`.
package struct IncomingJob: Sendable {
    /// The job; its tasks must stay as they are, in step with `stored` (its queues may be filled in).
    package var job: RemoteJob
    package private(set) var stored: [[UInt8]]

    /// Every task, in the order main, `on_success`, `on_failure`.
    package var allTasks: [RemoteTaskSpec] { job.tasks + job.onSuccess + job.onFailure }

    /// A job made in Trellis's own types (tests, and programs that add tasks in-process).
    package init(_ job: RemoteJob) {
        self.job = job
        stored = (job.tasks + job.onSuccess + job.onFailure).map { spec in
            spec.stored
        }
    }

    /// Checks a request (`RequestValidation`, except whether tasks it needs by id exist, which only the
    /// coordinator's state tells) and reads it; every problem is in the error, one per line.
    package init(checking request: Trellis_V1_AddTasksRequest) throws(JobRequestError) {
        let problems = RequestValidation.problems(request) { _ in true }
        guard problems.isEmpty else { throw JobRequestError(problems.joined(separator: "\n")) }
        var job = RemoteJob(name: request.jobName, play: request.play)
        job.job = request.jobID
        if !request.policy.isEmpty {
            guard let policy = SchedulingPolicy(name: request.policy) else {
                throw JobRequestError(
                    "unknown policy '\(request.policy)' (output-first, fifo, wave, threshold:N or critical-path)")
            }
            job.policy = policy
        }
        switch request.failurePolicy {
        case "": break
        case "continue": job.failurePolicy = .continueIndependent
        case "fail-fast": job.failurePolicy = .failFast
        default: throw JobRequestError("unknown failure policy '\(request.failurePolicy)' (continue or fail-fast)")
        }
        for (name, width) in request.queues { job.queues[name] = Int(width) }
        // Validation refused a spec without work, so every spec reads.
        job.tasks = request.tasks.compactMap(RemoteTaskSpec.init)
        job.onSuccess = request.onSuccess.compactMap(RemoteTaskSpec.init)
        job.onFailure = request.onFailure.compactMap(RemoteTaskSpec.init)
        self.job = job
        stored = (request.tasks + request.onSuccess + request.onFailure).map { spec in
            spec.storedBytes
        }
    }
}
