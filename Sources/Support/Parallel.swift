import Dispatch
import Foundation

/// Hands out the indices 0..<count to concurrent workers, each exactly once, in increasing
/// order. Which worker takes an index must not change its result (each writes its own outputs).
public final class WorkQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var nextIndex = 0
    private let count: Int
    public init(count: Int) { self.count = count }
    /// The next index, or nil when all have been handed out.
    public func next() -> Int? {
        lock.lock(); defer { lock.unlock() }
        if nextIndex >= count { return nil }
        nextIndex += 1
        return nextIndex - 1
    }
}

/// Thread-count policy and a deterministic parallel-for.
///
/// Work is split into contiguous chunks by index; every chunk writes only its own
/// outputs, so results never depend on the number of threads as long as the body
/// does not reduce across chunks (callers that reduce must do so in a fixed order).
public enum Parallel {
    /// Threads used when a caller passes `nil`. Defaults to `MXQ_THREADS` or the
    /// number of active processors; set it once at start-up (e.g. from `--threads`).
    nonisolated(unsafe) public static var defaultThreads: Int = {
        if let s = ProcessInfo.processInfo.environment["MXQ_THREADS"], let n = Int(s), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Runs `body(i)` for every `i` in `0..<count`, using up to `threads` threads.
    /// With one thread (or one item) it runs inline on the caller's thread.
    @inlinable
    public static func forEach(_ count: Int, threads: Int? = nil, _ body: (Int) -> Void) {
        let t = min(max(1, threads ?? defaultThreads), count)
        if count <= 0 { return }
        if t <= 1 {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { b in
            let box = UncheckedSendable(b)
            DispatchQueue.concurrentPerform(iterations: count) { i in box.value(i) }
        }
    }

    /// Splits `0..<count` into `parts` contiguous ranges of near-equal size
    /// (at most `threads` parts) and runs `body(range)` on each in parallel.
    @inlinable
    public static func forRanges(_ count: Int, threads: Int? = nil, minChunk: Int = 1,
                                 _ body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        let t = max(1, threads ?? defaultThreads)
        let parts = max(1, min(t, (count + max(1, minChunk) - 1) / max(1, minChunk)))
        if parts == 1 { body(0..<count); return }
        forEach(parts, threads: t) { p in
            let lo = count * p / parts, hi = count * (p + 1) / parts
            if lo < hi { body(lo..<hi) }
        }
    }
}

/// Wraps a non-Sendable value (pointer, closure) for use in `@Sendable` closures.
/// The caller guarantees that concurrent uses touch disjoint memory.
public struct UncheckedSendable<T>: @unchecked Sendable {
    public var value: T
    @inlinable public init(_ value: T) { self.value = value }
}
