package import GRPCCore

/// A coordinator as operators' programs talk to it, in Trellis's own types (`RemoteJob`, `RemoteTask`,
/// `RemoteWorker`, `RemoteJobEvent`), every call carrying the token.
package struct CoordinatorClient<Transport: ClientTransport>: Sendable {
    let service: Trellis_V1_ClientService.Client<Transport>
    let metadata: Metadata

    package init(_ client: GRPCClient<Transport>, token: String) {
        service = Trellis_V1_ClientService.Client(wrapping: client)
        metadata = ["authorization": "Bearer \(token)"]
    }

    /// Adds a job's tasks; returns the job and the ids of its main tasks, in order.
    package func submit(_ job: RemoteJob) async throws -> (job: UInt64, tasks: [UInt64]) {
        let response = try await service.addTasks(Trellis_V1_AddTasksRequest(job), metadata: metadata)
        return (response.jobID, response.taskIds)
    }

    /// Tasks in id order, as `query` selects them.
    package func tasks(_ query: RemoteTaskQuery) async throws -> [RemoteTask] {
        try await service.listTasks(Trellis_V1_ListTasksRequest(query), metadata: metadata).tasks.map(RemoteTask.init)
    }

    /// Every task of `job`, in id order, a page at a time.
    package func tasks(ofJob job: UInt64) async throws -> [RemoteTask] {
        var tasks: [RemoteTask] = []
        while true {
            let page = try await self.tasks(RemoteTaskQuery(job: job, afterID: tasks.last?.id ?? 0, limit: 10_000))
            guard !page.isEmpty else { return tasks }
            tasks += page
        }
    }

    package func task(_ id: UInt64) async throws -> RemoteTask {
        var request = Trellis_V1_ShowTaskRequest()
        request.taskID = id
        return RemoteTask(try await service.showTask(request, metadata: metadata))
    }

    /// Changes the tasks `selection` names; returns how many changed.
    package func change(_ change: RemoteChange, _ selection: RemoteSelection) async throws -> Int {
        let wire = Trellis_V1_TaskSelection(selection)
        let response =
            switch change {
            case .play: try await service.play(wire, metadata: metadata)
            case .cancel: try await service.cancel(wire, metadata: metadata)
            case .kill: try await service.kill(wire, metadata: metadata)
            case .pause: try await service.pause(wire, metadata: metadata)
            case .resume: try await service.resume(wire, metadata: metadata)
            }
        return Int(response.changed)
    }

    package func workers() async throws -> [RemoteWorker] {
        try await service.listWorkers(Trellis_V1_ListWorkersRequest(), metadata: metadata).workers.map(
            RemoteWorker.init)
    }

    /// Sends `message` to every connected worker of `type` (all when empty); returns how many got it.
    package func broadcast(_ message: String, type: String = "") async throws -> Int {
        var request = Trellis_V1_BroadcastRequest()
        request.workerType = type
        request.message = message
        return Int(try await service.broadcast(request, metadata: metadata).delivered)
    }

    /// Every job in id order, or the one `job` names.
    package func jobs(_ job: UInt64? = nil) async throws -> [RemoteJobSummary] {
        var request = Trellis_V1_ListJobsRequest()
        request.jobID = job ?? 0
        return try await service.listJobs(request, metadata: metadata).jobs.map(RemoteJobSummary.init)
    }

    /// Hands each chunk of what attempt `attempt` of `task` printed (0: the latest) to `each`, as the
    /// coordinator keeps it; with `follow`, then as the worker sends more, until the attempt ends.
    package func logs(
        task: UInt64, attempt: Int = 0, follow: Bool = false,
        _ each:
            @escaping @Sendable (_ stream: WorkerReport.LogStream, _ data: [UInt8], _ attempt: Int) async throws -> Void
    ) async throws {
        var request = Trellis_V1_TaskLogsRequest()
        request.taskID = task
        request.attempt = UInt32(clamping: attempt)
        request.follow = follow
        try await service.taskLogs(request, metadata: metadata) { response in
            for try await chunk in response.messages {
                try await each(chunk.stream == .stderr ? .stderr : .stdout, [UInt8](chunk.data), Int(chunk.attempt))
            }
        }
    }

    /// Hands each chunk every attempt of `job` printed, so far and then as it prints it, to `each`, until the
    /// job ends.
    package func logs(
        job: UInt64,
        _ each:
            @escaping @Sendable (_ task: UInt64, _ stream: WorkerReport.LogStream, _ data: [UInt8]) async throws -> Void
    ) async throws {
        var request = Trellis_V1_TaskLogsRequest()
        request.jobID = job
        request.follow = true
        try await service.taskLogs(request, metadata: metadata) { response in
            for try await chunk in response.messages {
                try await each(chunk.taskID, chunk.stream == .stderr ? .stderr : .stdout, [UInt8](chunk.data))
            }
        }
    }

    /// Forgets jobs that have ended, all or none; returns how many tasks went with them.
    package func forget(jobs: [UInt64]) async throws -> Int {
        var request = Trellis_V1_ForgetJobsRequest()
        request.jobIds = jobs
        return Int(try await service.forgetJobs(request, metadata: metadata).tasksForgotten)
    }

    /// Hands every event of `job`'s watch to `each` as it comes, until the job ends or the stream does.
    package func watch(job: UInt64, _ each: @escaping @Sendable (RemoteJobEvent) async throws -> Void) async throws {
        var request = Trellis_V1_WatchJobRequest()
        request.jobID = job
        try await service.watchJob(request, metadata: metadata) { response in
            for try await event in response.messages {
                let remote = RemoteJobEvent(event)
                try await each(remote)
                if remote.jobEnded { break }
            }
        }
    }
}
