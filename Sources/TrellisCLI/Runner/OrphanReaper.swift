internal import Foundation

/// Finds processes left by a killed session of the same run (they carry `TRELLIS_STATE=<dir>` in their
/// environment, and so do their children) and kills them before their tasks run again.
enum OrphanReaper {
    static let environmentKey = "TRELLIS_STATE"

    /// Kills every process of this user whose environment names `stateDirectory`; returns their pids.
    @discardableResult
    static func reap(stateDirectory: String) -> [Int32] {
        #if os(Linux)
            let needle = Array("\(environmentKey)=\(stateDirectory)".utf8)
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
