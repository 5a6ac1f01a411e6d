#if canImport(Glibc)
import Glibc
#endif
import CSpawn

/// A pthread mutex for the few process-wide caches (programs are single-threaded but the
/// runner is not).
public final class Mutex: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    public init() { pthread_mutex_init(&mutex, nil) }
    public func lock() { pthread_mutex_lock(&mutex) }
    public func unlock() { pthread_mutex_unlock(&mutex) }

    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// The process's heap.
public enum Heap {
    /// Gives free heap pages back to the system (glibc's malloc_trim): for a long-lived
    /// process that just freed much (a TLS handshake, a big response) and now waits.
    public static func returnFreePages() { _ = postamt_malloc_trim() }
}
