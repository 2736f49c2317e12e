internal import SwiftProtobuf
internal import TrellisCore
internal import TrellisProtocol
internal import TrellisStore

/// Turns a validated `AddTasks` request into the store's batch: tasks, then `on_success`, then `on_failure`,
/// needs by name resolved to positions, and each task's rank under the request's policy.
enum TaskIntake {
    static let policies = ["", "fifo", "critical-path", "output-first"]

    static func batch(_ request: Trellis_V1_AddTasksRequest) throws -> NewTasks {
        let groups: [(TaskRole, [Trellis_V1_TaskSpec])] = [
            (.main, request.tasks), (.onSuccess, request.onSuccess), (.onFailure, request.onFailure),
        ]
        let specs = groups.flatMap { role, specs in specs.map { (role, $0) } }
        var position: [String: Int] = [:]
        for (index, (_, spec)) in specs.enumerated() { position[spec.name] = index }
        let needs: [[NewNeed]] = specs.map { _, spec in
            spec.needs.compactMap { need in
                let output = need.output.isEmpty ? nil : need.output
                switch need.target {
                case .taskID(let id): return NewNeed(.id(id), output: output)
                case .name(let name): return position[name].map { NewNeed(.position($0), output: output) }
                case nil: return nil
                }
            }
        }
        let ranks = rank(specs.map(\.1), needs: needs, policy: request.policy)
        var tasks: [NewTask] = []
        tasks.reserveCapacity(specs.count)
        for (index, (role, spec)) in specs.enumerated() {
            tasks.append(
                NewTask(
                    name: spec.name, spec: try spec.serializedBytes(), needs: needs[index], outputs: spec.outputs,
                    maxAttempts: Int(spec.retries) + 1, role: role, rank: ranks[index]))
        }
        return NewTasks(job: request.jobID, jobName: request.jobName, tasks: tasks, play: request.play)
    }

    /// Critical-path: the longest chain of estimates (1 s where unknown) from the task to the end of the request's graph.
    /// Output-first: the task's depth, so tasks nearer a final result go first. FIFO: 0 (id order decides).
    static func rank(_ specs: [Trellis_V1_TaskSpec], needs: [[NewNeed]], policy: String) -> [Double] {
        guard policy == "critical-path" || policy == "output-first" else {
            return Array(repeating: 0, count: specs.count)
        }
        var parents: [[Int]] = Array(repeating: [], count: specs.count)
        var children: [[Int]] = Array(repeating: [], count: specs.count)
        for (child, list) in needs.enumerated() {
            for need in list {
                if case .position(let parent) = need.target {
                    parents[child].append(parent)
                    children[parent].append(child)
                }
            }
        }
        // Kahn's order (the request was checked for cycles).
        var indegree = parents.map(\.count)
        var order = indegree.indices.filter { indegree[$0] == 0 }
        var next = 0
        while next < order.count {
            for child in children[order[next]] {
                indegree[child] -= 1
                if indegree[child] == 0 { order.append(child) }
            }
            next += 1
        }
        var rank = Array(repeating: 0.0, count: specs.count)
        if policy == "output-first" {
            for node in order { rank[node] = (parents[node].map { rank[$0] }.max() ?? -1) + 1 }
        } else {
            for node in order.reversed() {
                rank[node] =
                    (specs[node].estimateSeconds > 0 ? specs[node].estimateSeconds : 1)
                    + (children[node].map { rank[$0] }.max() ?? 0)
            }
        }
        return rank
    }
}
