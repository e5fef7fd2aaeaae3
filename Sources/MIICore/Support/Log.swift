#if canImport(Glibc)
import Glibc
#endif

/// The library's only way to say something: an optional process-wide sink (the C API's log callback).
/// Without a sink, nothing is printed.
public enum Log {
    public enum Level: Int32, Sendable { case error = 0, warn = 1, info = 2, debug = 3 }
    public typealias Sink = @Sendable (Level, String) -> Void

    nonisolated(unsafe) private static var sink: Sink?
    nonisolated(unsafe) private static var maxLevel: Level = .info
    nonisolated(unsafe) private static var lock: pthread_mutex_t = {
        var m = pthread_mutex_t()
        pthread_mutex_init(&m, nil)
        return m
    }()

    public static func setSink(_ s: Sink?, maxLevel level: Level) {
        pthread_mutex_lock(&lock)
        sink = s
        maxLevel = level
        pthread_mutex_unlock(&lock)
    }

    public static func write(_ level: Level, _ message: @autoclosure () -> String) {
        pthread_mutex_lock(&lock)
        let s = sink
        let enabled = level.rawValue <= maxLevel.rawValue
        pthread_mutex_unlock(&lock)
        if let s, enabled { s(level, message()) }
    }
}
