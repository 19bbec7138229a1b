import Foundation

/// Monotonic wall-clock seconds.
@inlinable public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Writes a line to standard error (never to stdout, which carries results).
public func printErr(_ s: String) {
    FileHandle.standardError.write((s + "\n").data(using: .utf8)!)
}

/// Progress on stderr with rate and ETA, throttled to a few updates per second.
/// Silent when `MXQ_QUIET=1`.
public final class ProgressReporter: @unchecked Sendable {
    public let label: String
    public let total: Int
    private let start = monotonicSeconds()
    private var lastPrint = 0.0
    private var done = 0
    private let lock = NSLock()
    private let quiet = ProcessInfo.processInfo.environment["MXQ_QUIET"] == "1"
    private let isTTY = isatty(2) != 0

    public init(_ label: String, total: Int) {
        self.label = label
        self.total = max(total, 1)
    }

    /// Advances by `n` units; `detail` is shown after the counts.
    public func advance(_ n: Int = 1, detail: String = "") {
        lock.lock(); defer { lock.unlock() }
        done += n
        let now = monotonicSeconds()
        if now - lastPrint < (isTTY ? 0.25 : 5.0) && done < total { return }
        lastPrint = now
        emit(now: now, detail: detail, final: false)
    }

    /// Prints the final line with the elapsed time.
    public func finish(_ detail: String = "") {
        lock.lock(); defer { lock.unlock() }
        emit(now: monotonicSeconds(), detail: detail, final: true)
    }

    private func emit(now: Double, detail: String, final: Bool) {
        if quiet { return }
        let el = now - start
        let frac = Double(done) / Double(total)
        var s = "\(label): \(done)/\(total) (\(Int(frac * 100))%) \(formatDuration(el))"
        if !final && done > 0 && done < total {
            s += ", ETA \(formatDuration(el / frac - el))"
        }
        if !detail.isEmpty { s += " — " + detail }
        if isTTY && !final {
            FileHandle.standardError.write(("\r\u{1B}[K" + s).data(using: .utf8)!)
        } else {
            FileHandle.standardError.write(((isTTY ? "\r\u{1B}[K" : "") + s + "\n").data(using: .utf8)!)
        }
    }
}

/// "1h02m", "3m05s", "12.3s".
public func formatDuration(_ s: Double) -> String {
    if !s.isFinite { return "?" }
    if s < 60 { return String(format: "%.1fs", s) }
    let t = Int(s.rounded())
    if t < 3600 { return String(format: "%dm%02ds", t / 60, t % 60) }
    return String(format: "%dh%02dm", t / 3600, (t % 3600) / 60)
}
