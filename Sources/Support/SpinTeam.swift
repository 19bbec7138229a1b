import Foundation
import Synchronization

/// Fork-join for jobs of a few tens of microseconds (a GEMV), where waking a Dispatch worker
/// and joining it costs about as much as the job (`mxq bench kernels`: a 28 µs GEMV took
/// 45–50 µs on two Dispatch threads). Helper threads (started on first use, `threads − 1` of
/// them; they and the team live as long as the process) spin on a job counter for
/// `spinSeconds` after each job, then sleep on a condition variable until the next one.
///
/// One job at a time: a call made while another runs (another thread's, or nested inside a
/// job) runs through `Parallel.forEach` instead. Parts are numbered 0..<parts; part p runs
/// on worker p mod (helpers + 1) (worker 0 is the caller), so which parts share a thread is
/// fixed, and a body that writes only its own outputs gives the same results for any count.
public final class SpinTeam: @unchecked Sendable {
    /// The team of `Parallel.defaultThreads` workers (read at first use).
    public static let shared = SpinTeam(threads: Parallel.defaultThreads)

    /// How long an idle helper spins before it sleeps.
    public static let spinSeconds = 100e-6

    public let threads: Int
    private let generation = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let cond = NSCondition()
    private var sleepers = 0                  // guarded by cond
    private var job: ((Int) -> Void)? = nil   // published by the generation's release store
    private var parts = 0
    private var started = false

    public init(threads: Int) { self.threads = max(1, threads) }

    /// Runs `body(p)` for p in 0..<parts on up to `threads` workers (the caller among them)
    /// and returns when all have finished.
    public func run(_ parts: Int, _ body: (Int) -> Void) {
        if parts <= 0 { return }
        let workers = min(threads, parts)
        if workers <= 1 {
            for p in 0..<parts { body(p) }
            return
        }
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            Parallel.forEach(parts, threads: workers, body)
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        if !started { startHelpers() }
        withoutActuallyEscaping(body) { b in
            job = b
            self.parts = parts
            pending.store(threads - 1, ordering: .relaxed)
            generation.add(1, ordering: .releasing)
            cond.lock()
            if sleepers > 0 { cond.broadcast() }
            cond.unlock()
            for p in stride(from: 0, to: parts, by: threads) { b(p) }
            // Wait for the helpers; past the spin time (a helper not scheduled yet, e.g. on a
            // loaded machine) yield the core instead of spinning on it.
            SpinTeam.spin(until: { pending.load(ordering: .acquiring) == 0 }, idle: { sched_yield() })
            job = nil
        }
    }

    private func startHelpers() {
        started = true
        let g0 = generation.load(ordering: .acquiring)   // before this job's increment
        for h in 1..<threads {
            // The helpers keep the team alive: it lives as long as the process.
            let t = Thread { self.helperLoop(index: h, seen: g0) }
            t.stackSize = 1 << 20
            t.start()
        }
    }

    private func helperLoop(index: Int, seen start: Int) {
        var seen = start
        while true {
            // Spin for the next job, then sleep until it comes.
            SpinTeam.spin(until: { generation.load(ordering: .acquiring) != seen }, idle: {
                cond.lock()
                sleepers += 1
                while generation.load(ordering: .acquiring) == seen { cond.wait() }
                sleepers -= 1
                cond.unlock()
            })
            seen = generation.load(ordering: .acquiring)
            if let b = job {
                for p in stride(from: index, to: parts, by: threads) { b(p) }
            }
            pending.subtract(1, ordering: .releasing)
        }
    }

    /// Spins until `done()`; once it has spun for `spinSeconds`, calls `idle()` between checks
    /// (the clock is read every 1024 checks).
    @inline(__always)
    private static func spin(until done: () -> Bool, idle: () -> Void) {
        var spins = 0, deadline = 0.0
        while !done() {
            spins += 1
            if spins & 1023 == 0 {
                let now = monotonicSeconds()
                if deadline == 0 { deadline = now + spinSeconds } else if now > deadline { idle() }
            }
        }
    }
}
