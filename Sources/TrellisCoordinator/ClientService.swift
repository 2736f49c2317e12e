internal import Foundation
internal import GRPCCore
internal import SwiftProtobuf
internal import TrellisProtocol

/// The operators' service: every request goes through the coordinator's loop, which answers from the engine.
struct ClientService<C: Clock>: Trellis_V1_ClientService.SimpleServiceProtocol where C.Duration == Duration {
    let coordinator: Coordinator<C>

    func addTasks(
        request: Trellis_V1_AddTasksRequest, context: ServerContext
    ) async throws -> Trellis_V1_AddTasksResponse {
        // Checked and read here, on the caller's task: a large request costs the loop only what needs its state.
        let incoming: IncomingJob
        do {
            incoming = try IncomingJob(checking: request)
        } catch {
            throw RPCError(code: .invalidArgument, message: error.message)
        }
        let added = try await coordinator.request { .add(incoming, reply: $0) }
        var response = Trellis_V1_AddTasksResponse()
        response.jobID = added.job
        response.taskIds = added.tasks
        return response
    }

    func play(request: Trellis_V1_TaskSelection, context: ServerContext) async throws -> Trellis_V1_ChangeResponse {
        try await change(.play, request)
    }

    func cancel(request: Trellis_V1_TaskSelection, context: ServerContext) async throws -> Trellis_V1_ChangeResponse {
        try await change(.cancel, request)
    }

    func kill(request: Trellis_V1_TaskSelection, context: ServerContext) async throws -> Trellis_V1_ChangeResponse {
        try await change(.kill, request)
    }

    func pause(request: Trellis_V1_TaskSelection, context: ServerContext) async throws -> Trellis_V1_ChangeResponse {
        try await change(.pause, request)
    }

    func resume(request: Trellis_V1_TaskSelection, context: ServerContext) async throws -> Trellis_V1_ChangeResponse {
        try await change(.resume, request)
    }

    private func change(
        _ change: RemoteChange, _ request: Trellis_V1_TaskSelection
    ) async throws
        -> Trellis_V1_ChangeResponse
    {
        let selection = RemoteSelection(request)
        guard !selection.isEmpty else {
            throw RPCError(code: .invalidArgument, message: "select tasks by id, by job, or all")
        }
        let changed: Int = try await coordinator.request { .change(change, selection, reply: $0) }
        var response = Trellis_V1_ChangeResponse()
        response.changed = UInt32(changed)
        return response
    }

    func listTasks(
        request: Trellis_V1_ListTasksRequest, context: ServerContext
    ) async throws -> Trellis_V1_ListTasksResponse {
        let query = RemoteTaskQuery(request)
        var response = Trellis_V1_ListTasksResponse()
        response.tasks = try await coordinator.request { .listTasks(query, reply: $0) }.map(Trellis_V1_TaskInfo.init)
        return response
    }

    func showTask(request: Trellis_V1_ShowTaskRequest, context: ServerContext) async throws -> Trellis_V1_TaskInfo {
        Trellis_V1_TaskInfo(try await coordinator.request { .showTask(request.taskID, reply: $0) })
    }

    /// Most events a watch may have waiting to go out, beyond its first picture of the job.
    static var watchBacklog: Int { 100_000 }

    func watchJob(
        request: Trellis_V1_WatchJobRequest, response: RPCWriter<Trellis_V1_JobEvent>, context: ServerContext
    ) async throws {
        let events = JobWatcher(
            limit: Self.watchBacklog,
            overflow: RPCError(
                code: .resourceExhausted,
                message: "this watch fell more than \(Self.watchBacklog) events behind its job; watch the job again"))
        await coordinator.send(.watch(job: request.jobID, events))
        try await events.drain { try await response.write(contentsOf: $0.map(Trellis_V1_JobEvent.init)) }
    }

    func listWorkers(
        request: Trellis_V1_ListWorkersRequest, context: ServerContext
    ) async throws -> Trellis_V1_ListWorkersResponse {
        var response = Trellis_V1_ListWorkersResponse()
        response.workers = try await coordinator.request { .listWorkers(reply: $0) }.map(Trellis_V1_WorkerInfo.init)
        return response
    }

    func listJobs(
        request: Trellis_V1_ListJobsRequest, context: ServerContext
    ) async throws -> Trellis_V1_ListJobsResponse {
        var response = Trellis_V1_ListJobsResponse()
        let job = request.jobID == 0 ? nil : request.jobID
        response.jobs = try await coordinator.request { .listJobs(job, reply: $0) }.map(Trellis_V1_JobInfo.init)
        return response
    }

    /// Most chunks a log reader may have waiting to go out.
    static var logBacklog: Int { 10_000 }

    func taskLogs(
        request: Trellis_V1_TaskLogsRequest, response: RPCWriter<Trellis_V1_TaskLogsChunk>, context: ServerContext
    ) async throws {
        let chunks = LogFollower(
            limit: Self.logBacklog,
            overflow: RPCError(
                code: .resourceExhausted,
                message: "this reader fell more than \(Self.logBacklog) chunks behind the task's output; ask again"))
        await coordinator.send(
            .taskLogs(
                job: request.jobID, task: request.taskID, attempt: Int(request.attempt), follow: request.follow, chunks)
        )
        try await chunks.drain { outputs in
            try await response.write(
                contentsOf: outputs.map { output in
                    var chunk = Trellis_V1_TaskLogsChunk()
                    chunk.stream = output.stream == .stdout ? .stdout : .stderr
                    chunk.data = Data(output.data)
                    chunk.attempt = UInt32(clamping: output.attempt)
                    chunk.taskID = output.task
                    return chunk
                })
        }
    }

    func forgetJobs(
        request: Trellis_V1_ForgetJobsRequest, context: ServerContext
    ) async throws -> Trellis_V1_ForgetJobsResponse {
        guard !request.jobIds.isEmpty, request.jobIds.count <= 100_000 else {
            throw RPCError(code: .invalidArgument, message: "name between 1 and 100000 jobs to forget")
        }
        var response = Trellis_V1_ForgetJobsResponse()
        response.tasksForgotten = UInt64(try await coordinator.request { .forget(request.jobIds, reply: $0) })
        return response
    }

    func broadcast(
        request: Trellis_V1_BroadcastRequest, context: ServerContext
    ) async throws -> Trellis_V1_BroadcastResponse {
        guard !request.message.isEmpty, request.message.utf8.count <= 64 * 1024 else {
            throw RPCError(code: .invalidArgument, message: "a broadcast message must be 1 byte to 64 KiB")
        }
        var response = Trellis_V1_BroadcastResponse()
        response.delivered = UInt32(
            try await coordinator.request { .broadcast(type: request.workerType, message: request.message, reply: $0) })
        return response
    }
}
