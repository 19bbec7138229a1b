import Foundation
import Support
import MXFormats
import MXKernels
import ModelIO

/// Help text for `mxq bench kernels` (shown by `mxq bench --help` users via the issue text too).
let benchKernelsHelp = """
mxq bench kernels [--json] [--shape MxKxN[,...]] [--reps R] [--no-openblas] [--no-mx] [--no-int] [--portable] [--no-rotate] [--cpu-time]

Times the matrix products of the harness on the SmolLM2-135M linear-layer shapes
(K×N = 576×576, 576×192, 576×1536, 1536×576, 576×49152) at M = 1 and M = 512, and
M = 2048 for fp32: fp32 GEMM/GEMV, the same with bf16 weights widened while packed (row
"bf16", checked bit for bit against fp32 on the widened weights), fp32 × packed MX (every
format) and MX × MX.
At M = 1 and M = 2048: integer MX × MX (MXINT8 activations × MXINT4/MXINT8 weights) of
the build's path (and the portable Swift path with --portable) and the unit-value fp32
MX × MX, timed alternately with the fp32 GEMM/GEMV in the same repetitions ("gemm fp32"
row: ratios of that group are to it), after a bit-for-bit check against the block-scaled
MX × MX and the fake-quant reference.
Every kernel is verified against the scalar reference (sampled rows) before it is timed.
GEMV (M ≤ 8) weights rotate through copies larger than the L3 cache, so that they
stream from memory as in a real forward pass.

  --json           print one JSON array, one object per measurement:
                   {"kernel": "gemm"|"gemv"|"mxmx", "weights", "acts", "m", "k", "n", "threads",
                    "seconds", "gflops", "weight_gbps", "ratio_to_fp32"[, "openblas_gflops"]}
  --shape LIST     only these shapes, MxKxN[,MxKxN...] (e.g. 512x576x1536,1x576x49152)
  --reps R         timed repetitions per measurement, best kept (default 5)
  --no-openblas    skip the OpenBLAS comparison (python3 + numpy, run only when present)
  --no-mx          fp32 kernels only
  --no-int         skip the integer MX × MX rows
  --portable       also time the other integer paths this CPU runs: the portable Swift
                   path (M ≤ 8, or N ≤ 1536) and AVX2 (MXINT4 weights) on an AVX-512 build
  --no-rotate      GEMV: time one cache-resident copy of the weights (decode cost
                   without memory traffic) instead of rotating copies > L3
  --cpu-time       time with CPU clocks instead of the wall clock, robust to other jobs
                   on a loaded machine (they still share caches and memory bandwidth):
                   1 thread: the calling thread's CPU time; T threads: the process's CPU
                   time / T (equals wall time only if all T threads ran all the time;
                   idle waits and load imbalance are not counted)
  --threads T      (global) thread count
"""

private struct Measurement {
    var kernel: String, weights: String, acts: String
    var m: Int, k: Int, n: Int, threads: Int
    var seconds: Double, gflops: Double, weightGBps: Double
    var ratioToFP32: Double?
    var openblas: Double?
}

private struct BenchFailure: UserFacingError {
    let description: String
}

/// `mxq bench kernels` (owned by the kernels work).
func runBenchKernels(_ args: inout Args) throws {
    let json = args.flag("--json")
    let noOpenBLAS = args.flag("--no-openblas")
    let noMX = args.flag("--no-mx")
    let noRotate = args.flag("--no-rotate")
    let noInt = args.flag("--no-int")
    let portable = args.flag("--portable")
    useThreadCPUTime = args.flag("--cpu-time")
    let reps = try args.int("--reps") ?? 5
    guard reps >= 1 else { throw UsageError("bench kernels: --reps must be at least 1, got \(reps)") }
    var shapeFilter: [(Int, Int, Int)] = []
    for s in (try args.option("--shape"))?.split(separator: ",").map(String.init) ?? [] {
        let parts = s.lowercased().split(separator: "x").map { Int($0) }
        guard parts.count == 3, let m = parts[0], let k = parts[1], let n = parts[2], m > 0, k > 0, n > 0 else {
            throw UsageError("bench kernels: --shape expects MxKxN with positive integers, got '\(s)'")
        }
        shapeFilter.append((m, k, n))
    }
    let T = Parallel.defaultThreads
    cpuTimeDivisor = Double(T)

    let kn = [(576, 576), (576, 192), (576, 1536), (1536, 576), (576, 49152)]
    var shapes: [(m: Int, k: Int, n: Int)] = []
    if shapeFilter.isEmpty {
        for m in [1, 512, 2048] { for (k, n) in kn { shapes.append((m, k, n)) } }
    } else {
        shapes = shapeFilter.map { (m: $0.0, k: $0.1, n: $0.2) }
    }

    let l3 = l3CacheBytes()
    if !json {
        print("mxq bench kernels")
        print("cpu: \(CPUInfo.model)")
        let interesting = ["avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile"]
        print("flags: " + interesting.filter { CPUInfo.flags.contains($0) }.joined(separator: " "))
        print("threads: \(T)   gemm tile: \(CPUInfo.gemmTile)   L3: \(l3 >> 20) MiB   load average: \(loadAverage())")
        print("integer MX × MX path (compile time): \(IntMXPath.build.name)" + (IntMXPath.build == .portable && IntMXPath.vnni.isSupported
              ? " (this CPU has AVX-512 VNNI: `make build` compiles the C kernels for it)" : ""))
        print("timing: " + (useThreadCPUTime ? (T == 1 ? "thread CPU time" : "process CPU time / \(T)") + " (OpenBLAS column: wall clock)" : "wall clock")
              + (noRotate ? "; GEMV weights cache-resident (--no-rotate)" : ""))
        if CPUInfo.multiplyAdd != "fma" && CPUInfo.flags.contains("fma") {
            print("note: built without -DMXQ_NATIVE_FMA (portable kernels, multiply then add); `make build` builds for this CPU")
        }
        print("")
    }

    var results: [Measurement] = []
    let openblas = noOpenBLAS ? nil : OpenBLASRunner(threads: T, reps: reps)
    defer { openblas?.close() }
    let progress = ProgressReporter("bench kernels", total: shapes.count)
    for s in shapes {
        let (m, k, n) = s
        var g = SplitMix64(seed: 0xBE4C_0000 &+ UInt64(m * 31 + k * 7 + n))
        let x = (0..<(m * k)).map { _ in g.nextGaussian() }
        let w = (0..<(n * k)).map { _ in g.nextGaussian() * 0.05 }
        let small = m <= 8
        let rotate = small && !noRotate
        let kernelName = small ? "gemv" : "gemm"

        // fp32
        var fp = try measureFP32(m: m, k: k, n: n, x: x, w: w, threads: T, reps: reps, rotate: rotate, l3: l3)
        fp.kernel = kernelName
        if !small { fp.openblas = openblas?.gflops(m: m, k: k, n: n) }
        results.append(fp)
        results.append(try measureBF16(m: m, k: k, n: n, x: x, w: w, threads: T, reps: reps, rotate: rotate, l3: l3, fp32: fp))
        if !noMX && m <= 512 {
            results += try benchMX(m: m, k: k, n: n, x: x, w: w, threads: T, reps: reps, rotate: rotate, l3: l3, fp32: fp)
        }
        if !noMX && !noInt && (m <= 8 || m >= 2048) {
            results += try benchInt(m: m, k: k, n: n, x: x, w: w, threads: T, reps: reps, rotate: rotate, l3: l3,
                                    portable: portable && (m <= 8 || n <= 1536))
        }
        progress.advance(detail: "\(m)x\(k)x\(n)")
    }
    progress.finish()

    if json {
        print("[")
        for (i, r) in results.enumerated() {
            var s = "  {\"kernel\": \"\(r.kernel)\", \"weights\": \"\(r.weights)\", \"acts\": \"\(r.acts)\", "
            s += "\"m\": \(r.m), \"k\": \(r.k), \"n\": \(r.n), \"threads\": \(r.threads), "
            s += "\"seconds\": \(jsonNumber(r.seconds)), \"gflops\": \(jsonNumber(r.gflops)), \"weight_gbps\": \(jsonNumber(r.weightGBps)), "
            s += "\"ratio_to_fp32\": \(r.ratioToFP32.map(jsonNumber) ?? "null")"
            if let o = r.openblas { s += ", \"openblas_gflops\": \(jsonNumber(o))" }
            s += "}" + (i + 1 < results.count ? "," : "")
            print(s)
        }
        print("]")
    } else {
        print(pad("kernel", 24) + pad("weights", 12) + pad("acts", 12) + lpad("M", 6) + lpad("K", 6) + lpad("N", 7)
              + lpad("ms", 10) + lpad("GFLOP/s", 9) + lpad("W GB/s", 8) + lpad("×fp32", 7) + lpad("OpenBLAS", 10) + lpad("×OB", 6))
        for r in results {
            var line = pad(r.kernel, 24) + pad(r.weights, 12) + pad(r.acts, 12) + lpad("\(r.m)", 6) + lpad("\(r.k)", 6) + lpad("\(r.n)", 7)
            line += lpad(String(format: "%.3f", r.seconds * 1e3), 10) + lpad(String(format: "%.1f", r.gflops), 9)
            line += lpad(String(format: "%.1f", r.weightGBps), 8)
            line += lpad(r.ratioToFP32.map { String(format: "%.2f", $0) } ?? "", 7)
            line += lpad(r.openblas.map { String(format: "%.1f", $0) } ?? "", 10)
            line += lpad(r.openblas.map { String(format: "%.2f", r.gflops / $0) } ?? "", 6)
            print(line)
        }
        print("")
        print("load average after: \(loadAverage())")
        if !noMX { printPackedSizeCheck() }
    }
}

// MARK: - measurements

private func measureFP32(m: Int, k: Int, n: Int, x: [Float], w: [Float], threads: Int, reps: Int,
                         rotate: Bool, l3: Int) throws -> Measurement {
    // Verify on sampled rows against the scalar reference.
    var y = [Float](repeating: .nan, count: m * n)
    x.withUnsafeBufferPointer { xb in w.withUnsafeBufferPointer { wb in y.withUnsafeMutableBufferPointer { yb in
        Kernels.sgemm(m: m, n: n, k: k, x: xb.baseAddress!, w: wb.baseAddress!, y: yb.baseAddress!, threads: threads)
    } } }
    try verifyRows(what: "fp32 \(m)x\(k)x\(n)", m: m, n: n, k: k, y: y, x: x) { rows, xs, yr in
        KernelsReference.sgemm(m: rows, n: n, k: k, x: xs, w: w, y: yr)
    } absBound: { i, j in
        var s = 0.0
        for kk in 0..<k { s += abs(Double(x[i * k + kk]) * Double(w[j * k + kk])) }
        return s
    }
    let weightBytes = n * k * 4
    let copies = rotate ? rotationCopies(bytes: weightBytes, l3: l3) : 1
    let wcopies = UnsafeMutablePointer<Float>.allocate(capacity: copies * n * k)
    defer { wcopies.deallocate() }
    for c in 0..<copies { w.withUnsafeBufferPointer { (wcopies + c * n * k).update(from: $0.baseAddress!, count: n * k) } }
    let secs = y.withUnsafeMutableBufferPointer { yb in x.withUnsafeBufferPointer { xb in
        timeBest(reps: reps, copies: copies) { c in
            Kernels.sgemm(m: m, n: n, k: k, x: xb.baseAddress!, w: wcopies + c * n * k, y: yb.baseAddress!, threads: threads)
        }
    } }
    return Measurement(kernel: "gemm", weights: "fp32", acts: "fp32", m: m, k: k, n: n, threads: threads, seconds: secs,
                       gflops: 2.0 * Double(m * n * k) / secs / 1e9, weightGBps: Double(weightBytes) / secs / 1e9,
                       ratioToFP32: 1.0, openblas: nil)
}

/// The fp32 GEMM/GEMV with bf16 weights (`Kernels.sgemm16`: W stays 16-bit, widened while packed),
/// checked bit for bit against `sgemm` on the widened weights first; ratio to the fp32 row.
private func measureBF16(m: Int, k: Int, n: Int, x: [Float], w: [Float], threads: Int, reps: Int,
                         rotate: Bool, l3: Int, fp32: Measurement) throws -> Measurement {
    let bits = w.map(floatToBF16Bits)
    let wide = bits.map(widenBF16)
    var y = [Float](repeating: .nan, count: m * n), y32 = [Float](repeating: .nan, count: m * n)
    x.withUnsafeBufferPointer { xb in
        bits.withUnsafeBufferPointer { bb in y.withUnsafeMutableBufferPointer { yb in
            Kernels.sgemm16(m: m, n: n, k: k, x: xb.baseAddress!, w: bb.baseAddress!, format: .bf16, y: yb.baseAddress!, threads: threads)
        } }
        wide.withUnsafeBufferPointer { wb in y32.withUnsafeMutableBufferPointer { yb in
            Kernels.sgemm(m: m, n: n, k: k, x: xb.baseAddress!, w: wb.baseAddress!, y: yb.baseAddress!, threads: threads)
        } }
    }
    if let i = (0..<(m * n)).first(where: { y[$0].bitPattern != y32[$0].bitPattern }) {
        throw BenchFailure(description: "bench kernels: bf16 \(m)x\(k)x\(n): Y[\(i / n),\(i % n)] = \(y[i]) but the fp32 GEMM on the widened weights gives \(y32[i]); kernel is wrong")
    }
    let weightBytes = n * k * 2
    let copies = rotate ? rotationCopies(bytes: weightBytes, l3: l3) : 1
    let wcopies = UnsafeMutablePointer<UInt16>.allocate(capacity: copies * n * k)
    defer { wcopies.deallocate() }
    for c in 0..<copies { bits.withUnsafeBufferPointer { (wcopies + c * n * k).update(from: $0.baseAddress!, count: n * k) } }
    let secs = y.withUnsafeMutableBufferPointer { yb in x.withUnsafeBufferPointer { xb in
        timeBest(reps: reps, copies: copies) { c in
            Kernels.sgemm16(m: m, n: n, k: k, x: xb.baseAddress!, w: wcopies + c * n * k, format: .bf16, y: yb.baseAddress!, threads: threads)
        }
    } }
    return Measurement(kernel: m <= 8 ? "gemv" : "gemm", weights: "bf16", acts: "fp32", m: m, k: k, n: n, threads: threads,
                       seconds: secs, gflops: 2.0 * Double(m * n * k) / secs / 1e9, weightGBps: Double(weightBytes) / secs / 1e9,
                       ratioToFP32: fp32.seconds / secs, openblas: nil)
}

private func benchMX(m: Int, k: Int, n: Int, x: [Float], w: [Float], threads: Int, reps: Int,
                     rotate: Bool, l3: Int, fp32: Measurement) throws -> [Measurement] {
    var out: [Measurement] = []
    let kernelName = m <= 8 ? "gemv" : "gemm"
    var y = [Float](repeating: .nan, count: m * n)
    for f in MXFormat.allCases {
        let cfg = MXConfig(format: f)
        let wq = MXTensor(encoding: w, rows: n, cols: k, config: cfg, threads: threads)
        let wd = wq.decoded(threads: threads)
        x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { yb in
            Kernels.mxgemm(m: m, x: xb.baseAddress!, w: wq, y: yb.baseAddress!, threads: threads)
        } }
        try verifyRows(what: "\(f.rawValue) \(m)x\(k)x\(n)", m: m, n: n, k: k, y: y, x: x) { rows, xs, yr in
            wd.withUnsafeBufferPointer { KernelsReference.sgemm(m: rows, n: n, k: k, x: xs, w: $0.baseAddress!, y: yr) }
        } absBound: { i, j in
            var s = 0.0
            for kk in 0..<k { s += abs(Double(x[i * k + kk]) * Double(wd[j * k + kk])) }
            return s
        }
        let bytes = wq.scales.count + wq.elements.count
        let copies = rotate ? rotationCopies(bytes: bytes, l3: l3) : 1
        var ws = [MXTensor](repeating: wq, count: copies)
        for c in 1..<max(1, copies) {   // distinct storage for every copy
            ws[c].scales.withUnsafeMutableBufferPointer { _ in }
            ws[c].elements.withUnsafeMutableBufferPointer { _ in }
        }
        let secs = x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { yb in
            timeBest(reps: reps, copies: copies) { c in
                Kernels.mxgemm(m: m, x: xb.baseAddress!, w: ws[c], y: yb.baseAddress!, threads: threads)
            }
        } }
        ws = []
        let gf = 2.0 * Double(m * n * k) / secs / 1e9
        out.append(Measurement(kernel: kernelName, weights: f.rawValue, acts: "fp32", m: m, k: k, n: n, threads: threads,
                               seconds: secs, gflops: gf, weightGBps: Double(bytes) / secs / 1e9,
                               ratioToFP32: fp32.seconds / secs, openblas: nil))
    }
    // MX × MX: activations quantized on the fly.
    let combos: [(MXFormat, MXFormat)] = [(.mxint8, .mxint8), (.mxint8, .mxint4), (.mxfp8_e4m3, .mxfp4_e2m1)]
    for (a, f) in combos {
        let acts = MXConfig(format: a)
        let wq = MXTensor(encoding: w, rows: n, cols: k, config: MXConfig(format: f), threads: threads)
        let wd = wq.decoded(threads: threads)
        x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { yb in
            Kernels.mxmxgemm(m: m, x: xb.baseAddress!, acts: acts, w: wq, y: yb.baseAddress!, threads: threads)
        } }
        var xq = x
        _ = xq.withUnsafeMutableBufferPointer { mxFakeQuantize($0, rows: m, cols: k, config: acts, threads: threads) }
        try verifyRows(what: "\(a.rawValue)x\(f.rawValue) \(m)x\(k)x\(n)", m: m, n: n, k: k, y: y, x: x) { rows, _, yr in
            // Reference on the fake-quantized rows (Q acts row by row, so rows can be sampled).
            let sample = Array(Set([0, m / 2, m - 1])).sorted()
            var xs = [Float]()
            for i in sample { xs += xq[(i * k)..<(i * k + k)] }
            xs.withUnsafeBufferPointer { xb in wd.withUnsafeBufferPointer {
                KernelsReference.sgemm(m: rows, n: n, k: k, x: xb.baseAddress!, w: $0.baseAddress!, y: yr)
            } }
        } absBound: { i, j in
            var s = 0.0
            for kk in 0..<k { s += abs(Double(xq[i * k + kk]) * Double(wd[j * k + kk])) }
            return s
        }
        let bytes = wq.scales.count + wq.elements.count
        let copies = rotate ? rotationCopies(bytes: bytes, l3: l3) : 1
        var ws = [MXTensor](repeating: wq, count: copies)
        for c in 1..<max(1, copies) {
            ws[c].scales.withUnsafeMutableBufferPointer { _ in }
            ws[c].elements.withUnsafeMutableBufferPointer { _ in }
        }
        let secs = x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { yb in
            timeBest(reps: reps, copies: copies) { c in
                Kernels.mxmxgemm(m: m, x: xb.baseAddress!, acts: acts, w: ws[c], y: yb.baseAddress!, threads: threads)
            }
        } }
        ws = []
        out.append(Measurement(kernel: "mxmx", weights: f.rawValue, acts: a.rawValue, m: m, k: k, n: n, threads: threads,
                               seconds: secs, gflops: 2.0 * Double(m * n * k) / secs / 1e9, weightGBps: Double(bytes) / secs / 1e9,
                               ratioToFP32: fp32.seconds / secs, openblas: nil))
    }
    return out
}

/// `--cpu-time`: time with CPU clocks (thread clock for 1 thread, process clock / T otherwise).
nonisolated(unsafe) private var useThreadCPUTime = false
nonisolated(unsafe) private var cpuTimeDivisor = 1.0

private func benchClock() -> Double {
    if useThreadCPUTime {
        var ts = timespec()
        clock_gettime(cpuTimeDivisor == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_PROCESS_CPUTIME_ID, &ts)
        return (Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9) / cpuTimeDivisor
    }
    return monotonicSeconds()
}

/// Runs `body(copy)` over all copies `reps` times (plus one warm-up pass) and returns
/// the best average seconds per call.
private func timeBest(reps: Int, copies: Int, _ body: (Int) -> Void) -> Double {
    for c in 0..<min(copies, 2) { body(c) }
    var best = Double.infinity
    // Short calls: repeat until each timed sample lasts ≥ 20 ms.
    var inner = 1
    let t0 = benchClock()
    for c in 0..<copies { body(c) }
    let one = max(benchClock() - t0, 1e-7)
    if one < 0.02 { inner = min(1000, Int(0.02 / one) + 1) }
    for _ in 0..<reps {
        let t = benchClock()
        for _ in 0..<inner { for c in 0..<copies { body(c) } }
        best = min(best, (benchClock() - t) / Double(inner * copies))
    }
    return best
}

/// Compares rows {0, M/2, M−1} of `y` with the reference computed on those rows only;
/// tolerance (K+2)·2⁻²⁴·Σ|x·w| per element (fp32 reassociation bound) unless `tolerance` says otherwise.
func verifyRows(what: String, m: Int, n: Int, k: Int, y: [Float], x: [Float],
                reference: (Int, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void,
                absBound: (Int, Int) -> Double,
                tolerance: ((Double, Int) -> Double)? = nil) throws {
    let rows = Array(Set([0, m / 2, m - 1])).sorted()
    var xs = [Float](), ref = [Float](repeating: 0, count: rows.count * n)
    for i in rows { xs += x[(i * k)..<(i * k + k)] }
    xs.withUnsafeBufferPointer { xb in ref.withUnsafeMutableBufferPointer { rb in reference(rows.count, xb.baseAddress!, rb.baseAddress!) } }
    for (ri, i) in rows.enumerated() {
        for j in 0..<n {
            let got = y[i * n + j], want = ref[ri * n + j]
            let bound = absBound(i, j)
            let tol = tolerance?(bound, k) ?? (Double(k + 2) * 0x1p-24 * bound + 1e-30)
            if !(abs(Double(got) - Double(want)) <= tol) && !(got.isNaN && want.isNaN) {
                throw BenchFailure(description: "bench kernels: \(what): Y[\(i),\(j)] = \(got) but the reference gives \(want) (tolerance \(tol)); kernel is wrong")
            }
        }
    }
}

private func rotationCopies(bytes: Int, l3: Int) -> Int {
    max(2, min(4000, (2 * l3 + bytes - 1) / max(bytes, 1)))
}

private func l3CacheBytes() -> Int {
    let base = "/sys/devices/system/cpu/cpu0/cache/"
    var best = 0
    for i in 0..<8 {
        guard let lvl = try? String(contentsOfFile: base + "index\(i)/level", encoding: .utf8),
              let size = try? String(contentsOfFile: base + "index\(i)/size", encoding: .utf8) else { continue }
        if Int(lvl.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 >= 3 {
            let s = size.trimmingCharacters(in: .whitespacesAndNewlines)
            var v = Int(s.filter(\.isNumber)) ?? 0
            if s.hasSuffix("K") { v <<= 10 } else if s.hasSuffix("M") { v <<= 20 }
            best = max(best, v)
        }
    }
    return best > 0 ? best : 256 << 20
}

func loadAverage() -> String {
    guard let s = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "?" }
    return s.split(separator: " ").prefix(3).joined(separator: " ")
}

// MARK: - OpenBLAS (numpy) comparison

/// numpy's `x @ w.T` (OpenBLAS sgemm) in a persistent python3 process, so that each
/// shape is timed right after mxq's kernel under the same machine load.
private final class OpenBLASRunner {
    private let process = Process()
    private let input = Pipe(), output = Pipe()
    private var buffer = Data()
    private(set) var alive = false

    init(threads: Int, reps: Int) {
        let script = """
        import sys, time
        import numpy as np
        rng = np.random.default_rng(0)
        print("ready", flush=True)
        for line in sys.stdin:
            m, k, n = map(int, line.split())
            x = rng.standard_normal((m, k), dtype=np.float32); w = rng.standard_normal((n, k), dtype=np.float32)
            y = x @ w.T
            best = 1e9
            for _ in range(\(reps)):
                t = time.perf_counter(); y = x @ w.T; best = min(best, time.perf_counter() - t)
            print(2.0 * m * n * k / best / 1e9, flush=True)
        """
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "OPENBLAS_CORETYPE")
        env.removeValue(forKey: "OPENBLAS_L2_SIZE")
        env["OPENBLAS_NUM_THREADS"] = "\(threads)"
        process.environment = env
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        do { try process.run() } catch { return }
        alive = readLine() == "ready"
    }

    private func readLine() -> String? {
        while true {
            if let nl = buffer.firstIndex(of: 10) {
                let line = String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...nl)
                return line
            }
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { return nil }
            buffer.append(chunk)
        }
    }

    /// GFLOP/s for one shape, nil if python3/numpy is unavailable or failed.
    func gflops(m: Int, k: Int, n: Int) -> Double? {
        guard alive else { return nil }
        input.fileHandleForWriting.write("\(m) \(k) \(n)\n".data(using: .utf8)!)
        guard let line = readLine(), let v = Double(line) else { alive = false; return nil }
        return v
    }

    func close() {
        try? input.fileHandleForWriting.close()
        if process.isRunning { process.waitUntilExit() }
    }
}

// MARK: - packed size of SmolLM2-135M's linear weights

/// Packed MXINT4 (block 32) bytes of SmolLM2-135M's linear weights against fp32, from
/// the shapes: 30 layers × (q 576×576, k 192×576, v 192×576, o 576×576, gate/up 1536×576,
/// down 576×1536), plus the tied 49152×576 LM head reported separately.
private func printPackedSizeCheck() {
    let layer = [(576, 576), (192, 576), (192, 576), (576, 576), (1536, 576), (1536, 576), (576, 1536)]
    let cfg = MXConfig(format: .mxint4)
    func packedBytes(_ rows: Int, _ cols: Int) -> Int {
        // Bytes of an actual packed MXTensor of this shape (scales + elements).
        let t = MXTensor(encoding: [Float](repeating: 0.5, count: rows * cols), rows: rows, cols: cols, config: cfg)
        return t.scales.count + t.elements.count
    }
    var fp = 0, q = 0
    var sizes: [String: Int] = [:]
    for (r, c) in layer {
        let b = sizes["\(r)x\(c)"] ?? packedBytes(r, c)
        sizes["\(r)x\(c)"] = b
        fp += 30 * r * c * 4; q += 30 * b
    }
    let limit = Double(fp) * 4.25 / 32
    print(String(format: "packed MXINT4 size, SmolLM2-135M linear weights (30 layers): %d bytes vs fp32 %d bytes = %.5f (limit 4.25/32 = %.5f): ",
                 q, fp, Double(q) / Double(fp), 4.25 / 32) + (Double(q) <= limit + 4096 ? "OK" : "EXCEEDED"))
    let head = packedBytes(49152, 576)
    print(String(format: "  with the 49152×576 LM head: %d vs %d bytes = %.5f", q + head, fp + 49152 * 576 * 4,
                 Double(q + head) / Double(fp + 49152 * 576 * 4)))
}

// MARK: - formatting

func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s + " " : s + String(repeating: " ", count: w - s.count) }
func lpad(_ s: String, _ w: Int) -> String { s.count >= w ? " " + s : String(repeating: " ", count: w - s.count) + s }
private func jsonNumber(_ v: Double) -> String { v.isFinite ? String(format: "%.6g", v) : "null" }

// MARK: - integer MX × MX (MXINT8 activations × MXINT4/MXINT8 weights)

/// Times, alternating within every repetition (so machine load hits every side alike):
/// fp32 (sgemm on the fp32 weights), the integer MX × MX kernel of this build's path, the
/// unit-value fp32 MX × MX (`mxmxgemm(integer: false)`), and the portable Swift integer path
/// when the build path is SIMD and `portable` is set. Before timing, every integer path is
/// checked bit for bit against the unit-value block-scaled product and against the fake-quant
/// reference (sampled rows, reassociation bound).
private func benchInt(m: Int, k: Int, n: Int, x: [Float], w: [Float], threads: Int, reps: Int,
                      rotate: Bool, l3: Int, portable: Bool) throws -> [Measurement] {
    var out: [Measurement] = []
    let acts = MXConfig(format: .mxint8)
    let build = IntMXPath.build
    let small = m <= 8
    for f in [MXFormat.mxint4, .mxint8] {
        let wq = MXTensor(encoding: w, rows: n, cols: k, config: MXConfig(format: f), threads: threads)
        let wd = wq.decoded(threads: threads)
        var want = [Float](repeating: .nan, count: m * n)
        x.withUnsafeBufferPointer { xb in want.withUnsafeMutableBufferPointer { yb in
            Kernels.blockScaledMXMX(m: m, x: xb.baseAddress!, acts: acts, w: wq, y: yb.baseAddress!, threads: threads)
        } }
        var xq = x
        _ = xq.withUnsafeMutableBufferPointer { mxFakeQuantize($0, rows: m, cols: k, config: acts, threads: threads) }
        var paths = [build]
        if portable {   // every other path this CPU runs (AVX2 only for MXINT4 weights)
            paths += IntMXPath.allCases.reversed().filter { $0 != build && $0.isSupported && !($0 == .avx2 && f == .mxint8) }
        }
        for p in paths {
            var y = [Float](repeating: .nan, count: m * n)
            x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { yb in
                Kernels.intmxgemm(m: m, x: xb.baseAddress!, acts: acts, w: wq, y: yb.baseAddress!, threads: threads, path: p)
            } }
            for i in 0..<(m * n) where !(y[i].bitPattern == want[i].bitPattern || (y[i].isNaN && want[i].isNaN)) {
                throw BenchFailure(description: "bench kernels: integer \(p.name) mxint8x\(f.rawValue) \(m)x\(k)x\(n): Y[\(i / n),\(i % n)] = \(y[i]) but the block-scaled MX × MX gives \(want[i]); kernel is wrong")
            }
            try verifyRows(what: "integer \(p.name) mxint8x\(f.rawValue) \(m)x\(k)x\(n)", m: m, n: n, k: k, y: y, x: x) { rows, _, yr in
                let sample = Array(Set([0, m / 2, m - 1])).sorted()
                var xs = [Float]()
                for i in sample { xs += xq[(i * k)..<(i * k + k)] }
                xs.withUnsafeBufferPointer { xb in wd.withUnsafeBufferPointer {
                    KernelsReference.sgemm(m: rows, n: n, k: k, x: xb.baseAddress!, w: $0.baseAddress!, y: yr)
                } }
            } absBound: { i, j in
                var s = 0.0
                for kk in 0..<k { s += abs(Double(xq[i * k + kk]) * Double(wd[j * k + kk])) }
                return s
            }
        }
        // Weight copies for GEMV rotation (fp32 and MX), as in the fp32 / MX measurements.
        let mxBytes = wq.scales.count + wq.elements.count, fpBytes = n * k * 4
        let mxCopies = rotate ? rotationCopies(bytes: mxBytes, l3: l3) : 1
        let fpCopies = rotate ? rotationCopies(bytes: fpBytes, l3: l3) : 1
        var ws = [MXTensor](repeating: wq, count: mxCopies)
        for c in 1..<max(1, mxCopies) {
            ws[c].scales.withUnsafeMutableBufferPointer { _ in }
            ws[c].elements.withUnsafeMutableBufferPointer { _ in }
        }
        let wcopies = UnsafeMutablePointer<Float>.allocate(capacity: fpCopies * n * k)
        defer { wcopies.deallocate() }
        for c in 0..<fpCopies { w.withUnsafeBufferPointer { (wcopies + c * n * k).update(from: $0.baseAddress!, count: n * k) } }
        var y = [Float](repeating: 0, count: m * n)
        var sides: [(name: String, copies: Int, body: (Int) -> Void)] = []
        x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { yb in
            let xp = xb.baseAddress!, yp = yb.baseAddress!
            sides.append(("fp32", fpCopies, { c in Kernels.sgemm(m: m, n: n, k: k, x: xp, w: wcopies + c * n * k, y: yp, threads: threads) }))
            for p in paths {
                sides.append(("int:" + p.name, mxCopies, { c in Kernels.intmxgemm(m: m, x: xp, acts: acts, w: ws[c], y: yp, threads: threads, path: p) }))
            }
            sides.append(("mxmx-fp32", mxCopies, { c in Kernels.mxmxgemm(m: m, x: xp, acts: acts, w: ws[c], y: yp, threads: threads, integer: false) }))
        } }
        let secs = y.withUnsafeMutableBufferPointer { _ in timeAlternating(reps: reps, sides: sides.map { ($0.copies, $0.body) }) }
        ws = []
        for (si, s) in sides.enumerated() {
            let bytes = si == 0 ? fpBytes : mxBytes
            out.append(Measurement(kernel: (small ? "gemv " : "gemm ") + s.name, weights: si == 0 ? "fp32" : f.rawValue,
                                   acts: si == 0 ? "fp32" : "mxint8", m: m, k: k, n: n, threads: threads, seconds: secs[si],
                                   gflops: 2.0 * Double(m * n * k) / secs[si] / 1e9, weightGBps: Double(bytes) / secs[si] / 1e9,
                                   ratioToFP32: secs[0] / secs[si], openblas: nil))
        }
    }
    return out
}

/// Best seconds per call of every side, the sides timed in turn within each repetition
/// (after one warm-up call each); short calls repeat until a sample lasts ≥ 20 ms.
private func timeAlternating(reps: Int, sides: [(copies: Int, body: (Int) -> Void)]) -> [Double] {
    var inner = [Int](repeating: 1, count: sides.count)
    for (i, s) in sides.enumerated() {
        for c in 0..<min(s.copies, 2) { s.body(c) }
        let t0 = benchClock()
        for c in 0..<s.copies { s.body(c) }
        let one = max(benchClock() - t0, 1e-7)
        if one < 0.02 { inner[i] = min(1000, Int(0.02 / one) + 1) }
    }
    var best = [Double](repeating: .infinity, count: sides.count)
    for _ in 0..<reps {
        for (i, s) in sides.enumerated() {
            // Let the integer GEMV's spinning helpers (SpinTeam) go to sleep first, so that they
            // do not compete with the next side's threads.
            usleep(UInt32(SpinTeam.spinSeconds * 2e6))
            let t = benchClock()
            for _ in 0..<inner[i] { for c in 0..<s.copies { s.body(c) } }
            best[i] = min(best[i], (benchClock() - t) / Double(inner[i] * s.copies))
        }
    }
    return best
}
