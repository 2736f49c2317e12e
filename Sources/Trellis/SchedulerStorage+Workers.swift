import TrellisCore

/// Long-lived workers, one per slot of a queue: a worker reports its attempt and, in the same critical
/// section, takes the next ready task of its queue ("one in, one out"), so no Swift task is spawned per graph
/// node and a newly ready dependant runs on the worker that freed it.
extension SchedulerStorage {
    func spawnWorkers(_ workers: [Int32]) {
        for worker in workers {
            let control = state.withLock { $0.workers[Int(worker)].control }
            let handle = Task { await self.runWorker(worker) }
            control.setHandle(handle)
        }
    }

    func runWorker(_ worker: Int32) async {
        var next = await awaitWork(worker)
        let control = state.withLock { $0.workers[Int(worker)].control }
        while let job = next {
            let result: Result<Void, any Error>
            if job.cancelled || !control.begin(job.task, attempt: job.attempt) {
                result = .failure(CancellationError())
            } else {
                do {
                    try await job.run(job.task, job.attempt)
                    result = .success(())
                } catch {
                    result = .failure(error)
                }
                control.end()
            }
            switch report(job, result, worker: worker) {
            case .run(let dispatched): next = dispatched
            case .idle: next = await awaitWork(worker)
            case .exit: next = nil
            }
        }
    }

    /// Suspends an idle worker until a task is dispatched to its queue; `nil` means exit.
    func awaitWork(_ worker: Int32) async -> Dispatched? {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Dispatched?, Never>) in
            let immediate = state.withLock { state -> Dispatched?? in
                if state.shouldWorkersExit { return .some(nil) }
                let queue = Int(state.workers[Int(worker)].queue)
                if var dispatched = state.queues[queue].handoff.popFirst() {
                    dispatched.cancelled = state.jobs[dispatched.task.rawValue]?.cancelRequested ?? true
                    state.assign(dispatched.task, to: worker, now: clock.now())
                    return .some(dispatched)
                }
                state.queues[queue].idle.append((worker, continuation))
                return .none
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
    }

    /// Reports how an attempt ended and picks this worker's next step.
    func report(_ job: Dispatched, _ result: Result<Void, any Error>, worker: Int32) -> WorkerStep {
        let retiring = Task.isCancelled
        let (step, effects) = state.withLock { state -> (WorkerStep, Effects) in
            let entered = ContinuousClock.now
            let now = clock.time(at: entered)
            let queue = Int(job.queue)
            state.queues[queue].busyTime += now - state.workers[Int(worker)].startedAt
            state.queues[queue].attempts += 1
            state.running -= 1
            if state.jobs[job.task.rawValue]?.worker == worker { state.jobs[job.task.rawValue]!.worker = -1 }
            switch result {
            case .success:
                state.core.succeeded(job.task, attempt: job.attempt, now: now, into: &state.actions)
            case .failure(let error):
                state.errors[Int32(job.task.rawValue)] = error
                let retryable = !(error is CancellationError && state.jobs[job.task.rawValue]?.cancelRequested == true)
                if state.core.failed(
                    job.task, attempt: job.attempt, retryable: retryable, now: now, into: &state.actions) == .accepted
                {
                    // An attempt that ended because its task was cancelled is told by the cancellation event.
                    let after = state.core.state(of: job.task)
                    if case .finished(.cancelled) = after {
                    } else {
                        state.emit(
                            job.task, .failed(error: error, attempt: job.attempt, willRetry: !after.isFinished),
                            now: now)
                    }
                }
            }
            var effects = Effects()
            if retiring {
                // This worker's Swift task was cancelled to stop its attempt; cancellation is sticky, so a
                // fresh worker takes its place.
                state.queues[queue].liveWorkers -= 1
                effects.spawn = state.addWorkers(queue: job.queue)
            }
            let mine = state.apply(now: now, me: retiring ? nil : worker, effects: &effects)
            state.recordCoreStep(entered: entered)
            if retiring { return (.exit, effects) }
            if let mine { return (.run(mine), effects) }
            return (state.shouldWorkersExit ? .exit : .idle, effects)
        }
        if !effects.isEmpty { perform(effects) }
        return step
    }
}
