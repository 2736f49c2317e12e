internal import Foundation

#if canImport(Glibc)
    internal import Glibc
#endif

/// Gives the operating system back the memory glibc's allocator keeps from what was freed. A large
/// submission decodes, converts and journals its tasks through short-lived buffers; without this, the
/// coordinator's resident size stays at that peak long after the tasks became a few compact records each.
enum HeapTrim {
    /// A turn that added at least this many tasks is followed by a trim (one costs a few milliseconds; turns
    /// that only run tasks never trim).
    static let threshold = 10_000

    #if canImport(Glibc)
        private typealias Trim = @convention(c) (Int) -> Int32
        /// `malloc_trim`, looked up once (glibc's malloc.h is not part of the Glibc module).
        private static let trim: Trim? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim")
            .map { unsafeBitCast($0, to: Trim.self) }
    #endif

    static func now() {
        #if canImport(Glibc)
            _ = trim?(0)
        #endif
    }
}
