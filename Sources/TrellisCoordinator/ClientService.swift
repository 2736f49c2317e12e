internal import Foundation
internal import GRPCCore
internal import SwiftProtobuf
internal import TrellisProtocol
internal import TrellisStore

/// The operators' service: reads go straight to the store; changes go through the coordinator's loop.
struct ClientService<C: Clock>: Trellis_V1_ClientService.SimpleServiceProtocol where C.Duration == Duration {
    let coordinator: Coordinator<C>
    var store: any CoordinatorStore { coordinator.store }

    func addTasks(
        request: Trellis_V1_AddTasksRequest, context: ServerContext
    ) async throws -> Trellis_V1_AddTasksResponse {
        var problems = RequestValidation.problems(request) { id in (try? store.task(id)) != nil }
        if !TaskIntake.policies.contains(request.policy) {
            problems.append("unknown policy '\(request.policy)' (fifo, critical-path or output-first)")
        }
        guard problems.isEmpty else {
            throw RPCError(code: .invalidArgument, message: problems.joined(separator: "\n"))
        }
        return try await coordinator.request { .add(request, reply: $0) }
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
        _ change: TaskChange, _ selection: Trellis_V1_TaskSelection
    ) async throws
        -> Trellis_V1_ChangeResponse
    {
        guard !selection.taskIds.isEmpty || selection.jobID != 0 || selection.all else {
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
        let states = Set(request.states.compactMap(RemoteTaskState.init))
        let limit = request.limit == 0 ? 1_000 : min(Int(request.limit), 10_000)
        // `ready` and `waiting` are one stored state; when only one of them is asked for, the other is left out.
        let wantsReady = request.states.contains(.ready)
        let wantsWaiting = request.states.contains(.waiting)
        func wanted(_ task: RemoteTask) -> Bool {
            guard task.state == .ready, wantsReady != wantsWaiting else { return true }
            return (task.unmet > 0) == wantsWaiting
        }
        var response = Trellis_V1_ListTasksResponse()
        var after = request.afterID
        while response.tasks.count < limit {
            let page = try store.tasks(
                states: states, job: request.jobID == 0 ? nil : request.jobID, afterID: after, limit: limit)
            for task in page where wanted(task) && response.tasks.count < limit {
                response.tasks.append(TaskInfoConversion.info(task))
            }
            guard page.count == limit, let last = page.last else { break }
            after = last.id
        }
        return response
    }

    func showTask(request: Trellis_V1_ShowTaskRequest, context: ServerContext) async throws -> Trellis_V1_TaskInfo {
        guard let task = try store.task(request.taskID) else {
            throw RPCError(code: .notFound, message: "there is no task \(request.taskID)")
        }
        return TaskInfoConversion.info(task)
    }

    func watchJob(
        request: Trellis_V1_WatchJobRequest, response: RPCWriter<Trellis_V1_JobEvent>, context: ServerContext
    ) async throws {
        let (events, continuation) = AsyncThrowingStream.makeStream(of: Trellis_V1_JobEvent.self)
        await coordinator.send(.watch(job: request.jobID, continuation))
        for try await event in events { try await response.write(event) }
    }

    func listWorkers(
        request: Trellis_V1_ListWorkersRequest, context: ServerContext
    ) async throws -> Trellis_V1_ListWorkersResponse {
        var response = Trellis_V1_ListWorkersResponse()
        response.workers = try await coordinator.request { .listWorkers(reply: $0) }
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

/// Remote tasks on the wire.
enum TaskInfoConversion {
    static func info(_ task: RemoteTask) -> Trellis_V1_TaskInfo {
        var info = Trellis_V1_TaskInfo()
        info.id = task.id
        info.jobID = task.job
        info.name = task.name
        info.state = Trellis_V1_TaskState(task)
        if let spec = try? Trellis_V1_TaskSpec(serializedBytes: task.spec) { info.spec = spec }
        info.attempts = UInt32(task.attempt)
        info.worker = task.worker ?? ""
        if let code = task.exitCode { info.exitCode = code }
        info.message = task.message ?? ""
        info.outputsSignalled = task.signalled
        info.createdMs = UInt64((task.createdAt * 1000).rounded())
        info.startedMs = task.startedAt.map { UInt64(($0 * 1000).rounded()) } ?? 0
        info.finishedMs = task.finishedAt.map { UInt64(($0 * 1000).rounded()) } ?? 0
        if let value = task.value { info.value = Data(value) }
        return info
    }
}

extension Trellis_V1_TaskState {
    /// What a task is, as users see it: a played task whose needs are not all met is `waiting`, not `ready`.
    init(_ task: RemoteTask) {
        self = task.state == .ready && task.unmet > 0 ? .waiting : Trellis_V1_TaskState(task.state)
    }

    init(_ state: RemoteTaskState) {
        switch state {
        case .created: self = .created
        case .ready: self = .ready
        case .assigned: self = .assigned
        case .running: self = .running
        case .succeeded: self = .succeeded
        case .failed: self = .failed
        case .cancelled: self = .cancelled
        case .killed: self = .killed
        case .paused: self = .paused
        case .upstreamFailed: self = .upstreamFailed
        case .skipped: self = .skipped
        }
    }
}

extension RemoteTaskState {
    init?(_ state: Trellis_V1_TaskState) {
        switch state {
        case .created: self = .created
        case .ready: self = .ready
        case .assigned: self = .assigned
        case .running: self = .running
        case .succeeded: self = .succeeded
        case .failed: self = .failed
        case .cancelled: self = .cancelled
        case .killed: self = .killed
        case .paused: self = .paused
        case .upstreamFailed: self = .upstreamFailed
        case .skipped: self = .skipped
        // The store keeps waiting tasks as ready ones with needs left; listings tell them apart.
        case .waiting: self = .ready
        case .unspecified, .UNRECOGNIZED: return nil
        }
    }
}
