import Foundation
import MXFormats
import Support

/// Help text of `mxq bench formats` (for `mxq help bench`).
let benchFormatsHelp = """
mxq bench formats [--rows R] [--cols C] [--block B] [--reps N] [--format F]
                  [--scale-rule floor|ceil] [--rounding even|away|stochastic] [--thread-counts LIST]

Encode (fp32 -> packed MX), decode (packed -> fp32) and fake-quant (mxFakeQuantize with
diagnostics) throughput in Melem/s per MX format, on a [R, C] Gaussian tensor (default
16384 x 4096 = 64 Mi elements, 256 MiB, far larger than the caches). Before timing, each format's
fast path is checked bit for bit against MXReference on the first rows. Prints the CPU model,
thread count and load average; rates are given per wall-clock second and per CPU-second.

options:
  --rows R, --cols C      tensor shape (default 16384, 4096)
  --block B               block size (default 32)
  --reps N                repetitions, best is reported (default 3)
  --format F              one format only (default: all seven)
  --scale-rule R          floor (default) or ceil
  --rounding M            even (default), away or stochastic (seed 1)
  --thread-counts LIST    comma-separated thread counts (default: 1 and --threads / all cores)
"""

/// `mxq bench formats`: encode/decode throughput per MX format.
func runBenchFormats(_ args: inout Args) throws {
    let rows = try args.int("--rows") ?? 16384
    let cols = try args.int("--cols") ?? 4096
    let block = try args.int("--block") ?? 32
    let reps = try args.int("--reps") ?? 3
    var threadCounts = [1]
    if let list = try args.option("--thread-counts") {
        let parsed = list.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parsed.isEmpty, parsed.allSatisfy({ ($0 ?? 0) >= 1 }) else {
            throw UsageError("--thread-counts expects a comma-separated list of positive integers, got '\(list)'")
        }
        threadCounts = parsed.map { $0! }
    } else if Parallel.defaultThreads > 1 {
        threadCounts.append(Parallel.defaultThreads)
    }
    let rule = try MXScaleRule(parsing: try args.option("--scale-rule") ?? "floor")
    let rounding = try MXRounding(parsing: try args.option("--rounding") ?? "even", seed: 1)
    var formats = MXFormat.allCases
    if let f = try args.option("--format") { formats = [try MXFormat(parsing: f)] }
    guard rows >= 1, cols >= 1, reps >= 1 else { throw UsageError("--rows, --cols and --reps must be at least 1") }
    try MXConfig.checkBlock(block, what: "--block")
    try args.finish()

    let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    func field(_ name: String) -> String? {
        cpuinfo.split(separator: "\n").first { $0.hasPrefix(name) }?
            .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces)
    }
    let flags = Set((field("flags") ?? "").split(separator: " ").map(String.init))
    let isa = flags.contains("avx512f") ? "AVX-512" : flags.contains("avx2") ? "AVX2" : "no AVX2"
    let cpu = (field("model name") ?? "unknown CPU") + " (\(isa))"
    let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?
        .split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
    let n = rows * cols
    print("CPU: \(cpu); \(ProcessInfo.processInfo.activeProcessorCount) hardware threads; load average \(load)")
    print("tensor [\(rows), \(cols)] = \(n) elements (\((n * 4) >> 20) MiB fp32), block \(block), \(rule.rawValue), \(rounding), best of \(reps)")

    // Gaussian data with per-row scale spread, generated in parallel (deterministic per row).
    var x = [Float](repeating: 0, count: n)
    x.withUnsafeMutableBufferPointer { xb in
        let p = UncheckedSendable(xb.baseAddress!)
        Parallel.forEach(rows) { r in
            var g = SplitMix64(seed: 1).fork(UInt64(r))
            let s = Float(1 + r % 7)
            for c in 0..<cols { p.value[r * cols + c] = g.nextGaussian() * s }
        }
    }
    var out = [Float](repeating: 0, count: n)

    print("Melem/s from wall-clock time; 'per CPU-s' divides by the CPU time the process actually got")
    print("(the honest per-core figure on a loaded machine).")
    print("fake-quant = mxFakeQuantize in place (quantize + dequantize + diagnostics).")
    print("format        threads  encode Melem/s  per CPU-s  decode Melem/s  per CPU-s  fake-quant Melem/s  per CPU-s")
    for f in formats {
        let cfg = MXConfig(format: f, block: block, scaleRule: rule, rounding: rounding)
        // Verify fast == reference on a slice first.
        let sliceRows = min(rows, 8)
        let slice = Array(x[0..<(sliceRows * cols)])
        let fast = MXTensor(encoding: slice, rows: sliceRows, cols: cols, config: cfg)
        let ref = MXReference.encode(slice, rows: sliceRows, cols: cols, config: cfg)
        guard fast == ref, fast.decoded().map(\.bitPattern) == MXReference.decode(ref).map(\.bitPattern) else {
            throw UsageError("bench formats: fast path differs from the reference for \(f) (a bug; please report)")
        }
        for t in threadCounts {
            var tensor: MXTensor? = nil
            var bestEnc = Double.infinity, bestDec = Double.infinity, cpuEnc = Double.infinity, cpuDec = Double.infinity
            for _ in 0..<reps {
                tensor = nil
                let t0 = monotonicSeconds(), c0 = processCPUSeconds()
                tensor = x.withUnsafeBufferPointer { MXTensor(encoding: $0, rows: rows, cols: cols, config: cfg, threads: t) }
                bestEnc = min(bestEnc, monotonicSeconds() - t0)
                cpuEnc = min(cpuEnc, processCPUSeconds() - c0)
            }
            for _ in 0..<reps {
                let t0 = monotonicSeconds(), c0 = processCPUSeconds()
                out.withUnsafeMutableBufferPointer { tensor!.decode(into: $0.baseAddress!, threads: t) }
                bestDec = min(bestDec, monotonicSeconds() - t0)
                cpuDec = min(cpuDec, processCPUSeconds() - c0)
            }
            var bestFQ = Double.infinity, cpuFQ = Double.infinity
            for _ in 0..<reps {
                out.withUnsafeMutableBufferPointer { o in x.withUnsafeBufferPointer { o.baseAddress!.update(from: $0.baseAddress!, count: n) } }
                let t0 = monotonicSeconds(), c0 = processCPUSeconds()
                out.withUnsafeMutableBufferPointer { _ = mxFakeQuantize($0, rows: rows, cols: cols, config: cfg, threads: t) }
                bestFQ = min(bestFQ, monotonicSeconds() - t0)
                cpuFQ = min(cpuFQ, processCPUSeconds() - c0)
            }
            let m = Double(n) / 1e6
            print(f.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)
                  + String(format: "  %7d  %14.0f  %9.0f  %14.0f  %9.0f  %18.0f  %9.0f", t, m / bestEnc, m / cpuEnc, m / bestDec, m / cpuDec, m / bestFQ, m / cpuFQ))
        }
    }
}

/// CPU time consumed by this process (all threads), in seconds.
private func processCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
