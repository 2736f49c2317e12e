internal import Foundation

/// Finds processes left by a killed owner and kills them before their tasks run again. An owner marks every
/// process it starts with one environment variable (`TRELLIS_STATE=<dir>` for a local run,
/// `TRELLIS_WORKER=<name>` for a worker); children inherit it, so a whole task is found, whatever process
/// group it moved to.
package enum OrphanReaper {
    /// The mark of a local run's processes.
    package static let runKey = "TRELLIS_STATE"
    /// The mark of a worker's processes.
    package static let workerKey = "TRELLIS_WORKER"

    /// Kills every process of this user whose environment holds `key=value`; returns their pids.
    @discardableResult
    package static func reap(_ key: String, _ value: String) -> [Int32] {
        #if os(Linux)
            let needle = Array("\(key)=\(value)".utf8)
            let me = getpid()
            guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
            var killed: [Int32] = []
            for entry in entries {
                guard let pid = Int32(entry), pid != me,
                    let environment = FileManager.default.contents(atPath: "/proc/\(pid)/environ")
                else { continue }
                let found = environment.split(separator: 0).contains { $0.elementsEqual(needle) }
                if found, kill(pid, SIGKILL) == 0 { killed.append(pid) }
            }
            return killed
        #else
            return []
        #endif
    }
}
