import Foundation

/// A process-wide pool of reusable, 64-byte-aligned scratch buffers, so that per-call
/// packing buffers do not pay for fresh pages (page faults) on every product.
@usableFromInline
enum Scratch {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var free: [(UnsafeMutableRawPointer, Int)] = []

    /// A buffer of at least `bytes` bytes; return it with `give`.
    @usableFromInline
    static func take(bytes: Int) -> (UnsafeMutableRawPointer, Int) {
        lock.lock()
        // Smallest free buffer that fits.
        var best = -1
        for (i, b) in free.enumerated() where b.1 >= bytes {
            if best < 0 || b.1 < free[best].1 { best = i }
        }
        if best >= 0 {
            let b = free.remove(at: best)
            lock.unlock()
            return b
        }
        lock.unlock()
        let size = max(bytes, 4096)
        return (UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64), size)
    }

    @usableFromInline
    static func give(_ b: (UnsafeMutableRawPointer, Int)) {
        lock.lock()
        free.append(b)
        // Keep the pool bounded: drop the smallest buffers beyond 16.
        if free.count > 16 {
            free.sort { $0.1 > $1.1 }
            while free.count > 16 { free.removeLast().0.deallocate() }
        }
        lock.unlock()
    }

    /// Runs `body` with a Float buffer of at least `count` elements.
    @inlinable
    static func withFloats<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        let b = take(bytes: max(1, count) * 4)
        defer { give(b) }
        return try body(b.0.bindMemory(to: Float.self, capacity: b.1 / 4))
    }
}

/// How a blocked GEMM splits its work into tasks: blocks of W column panels, times chunks
/// of X row panels when there are too few column blocks to keep every thread busy.
/// At least 4 tasks per thread when N allows (tasks are claimed dynamically, which keeps
/// both cores busy when the machine is shared). Task `t` covers column block `t / mChunks`
/// (panels `[b·pPerBlock, …)`) and row chunk `t % mChunks` (panels `[c·mpPerChunk, …)`).
struct PanelTaskPlan {
    let pPerBlock: Int, mChunks: Int, mpPerChunk: Int, tasks: Int, workers: Int

    init(nPanels: Int, mPanels: Int, panelsPerBlockMax: Int, threads T: Int) {
        var nBlocks = max((nPanels + panelsPerBlockMax - 1) / panelsPerBlockMax, min(nPanels, 4 * T))
        pPerBlock = (nPanels + nBlocks - 1) / nBlocks
        nBlocks = (nPanels + pPerBlock - 1) / pPerBlock
        var chunks = nBlocks < T ? min(mPanels, (T + nBlocks - 1) / nBlocks) : 1
        mpPerChunk = (mPanels + chunks - 1) / chunks
        chunks = (mPanels + mpPerChunk - 1) / mpPerChunk
        mChunks = chunks
        tasks = nBlocks * chunks
        workers = min(T, tasks)
    }
}
