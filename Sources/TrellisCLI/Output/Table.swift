internal import Foundation
internal import TrellisCore
internal import TrellisEngine
internal import TrellisWorkflow

/// Plain-text tables for the summary and `status`.
enum Table {
    static func render(_ rows: [[String]], rightAligned: Set<Int> = []) -> String {
        guard let first = rows.first else { return "" }
        var widths = [Int](repeating: 0, count: first.count)
        for row in rows {
            for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.count) }
        }
        return rows.map { row in
            row.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return rightAligned.contains(column) ? pad + cell : cell + pad
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }

    static func runHeader(_ snapshot: RunSnapshot, directory: String) -> String {
        var line =
            "\(snapshot.identity.workflow) (\(snapshot.identity.file)): \(snapshot.status), \(snapshot.sessions) session"
            + (snapshot.sessions == 1 ? "" : "s")
        if let start = snapshot.startedAt {
            let end = snapshot.endedAt ?? Date().timeIntervalSince1970
            line += ", \(DurationText.format(seconds: max(0, end - start))) since the first start"
        }
        return line + "\nstate: \(directory)"
    }

    static func counts(_ snapshot: RunSnapshot) -> String {
        let counts = snapshot.counts
        let rows =
            [["state", "tasks"]]
            + TaskStatus.allCases.compactMap { state in counts[state].map { [state.rawValue, String($0)] } }
        return render(rows, rightAligned: [1])
    }

    /// Tasks as rows; with a local run's state directory, a failed task's row names its stderr log.
    static func tasks(_ tasks: [StoredTask], directory: String?) -> String {
        let options = directory.map { RunOptions(stateDirectory: $0, baseDirectory: "") }
        var rows = [["task", "state", "attempts", "exit", "time", "detail"]]
        for task in tasks {
            let time: String =
                if let start = task.attempts.last?.startedAt {
                    DurationText.format(
                        seconds: max(
                            0, (task.finishedAt ?? task.attempts.last?.endedAt ?? Date().timeIntervalSince1970) - start)
                    )
                } else { "" }
            var detail = task.message ?? ""
            if task.state == .failed, let options, let attempt = task.attempts.last?.number {
                let stderr = options.logPaths(task: task.id, attempt: attempt).stderr
                if FileManager.default.fileExists(atPath: stderr) {
                    detail += (detail.isEmpty ? "" : "; ") + "stderr: " + stderr
                }
            }
            rows.append([
                task.id, task.state.rawValue, String(task.attempts.count), task.exitCode.map(String.init) ?? "", time,
                detail,
            ])
        }
        return render(rows, rightAligned: [2, 3, 4])
    }
}
