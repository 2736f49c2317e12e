internal import Dispatch
internal import Foundation

#if canImport(Glibc)
    internal import Glibc
#endif

/// Waits for files in some directories to change (Linux's inotify), so a follower reads when there is something
/// new to read instead of looking every so often.
final class DirectoryWatch: Sendable {
    private let descriptor: Int32

    /// Watches `directories` (those that do not exist yet are skipped; `add` them once they do).
    init(_ directories: [String]) throws {
        descriptor = inotify_init1(Int32(IN_CLOEXEC))
        guard descriptor >= 0 else { throw CocoaError(.fileReadUnknown, userInfo: ["errno": errno]) }
        for directory in directories { add(directory) }
    }

    deinit { close(descriptor) }

    /// Watches one more directory, if it exists (watching one twice changes nothing).
    func add(_ directory: String) {
        let events = UInt32(IN_MODIFY) | UInt32(IN_CREATE) | UInt32(IN_CLOSE_WRITE) | UInt32(IN_MOVED_TO)
        _ = inotify_add_watch(descriptor, directory, events)
    }

    /// Returns once something changed in a watched directory since the last call (at once if it already has).
    /// The wait blocks a thread of Dispatch's, not one of the cooperative pool.
    func next() async {
        let descriptor = descriptor
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                var buffer = [UInt8](repeating: 0, count: 4096)
                while read(descriptor, &buffer, buffer.count) < 0, errno == EINTR {}
                continuation.resume()
            }
        }
    }
}
