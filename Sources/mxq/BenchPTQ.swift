import Foundation
import Support
import MXFormats
import MXKernels
import PTQ
import Runtime

/// Help text for `mxq bench ptq`.
let benchPTQHelp = """
mxq bench ptq [--rows N] [--reps R] [--ctx T]

Times the calibration building blocks of PTQ on SmolLM2-135M's shapes (K = 576 and 1536 input
features, N = --rows tokens per call, default 2048): the GPTQ Hessian accumulation (fp32 inputs
and MXINT8-quantized inputs), the syrk alone on MXINT8-quantized rows through fp32 FMAs and,
on builds for AVX-512 BF16, through the bf16 path (same bits), the fp32 GEMM of the same size
for comparison, activation fake-quantization, GPTQ's quantization of one weight matrix (MXINT4) from its Hessian, and the
forward pass's causal attention at T positions (default 2048; 9 heads of 64, 3 KV heads) beside
an fp32 GEMM with T rows, RMSNorm of T × 576 rows in 8-row groups against row by row (one
thread), and the SHA-256 of one K = 1536 Hessian cache file (Swift against the SHA extensions). Wall clock, best of --reps (default 3); the last lines give the
Hessian's and the attention's GFLOP/s as a share of the GEMM's in the same run. Before timing,
the half (upper-triangle) Hessian is checked against the full GEMM's product, the Hessian of
MXINT8 inputs and the bf16 syrk against the fp32 syrk of the fake-quantized rows, and the grouped
RMSNorm against the row-by-row one, bit for bit, and the attention against a Double reference on sampled rows (1e-4 relative).
"""

func runBenchPTQ(_ args: inout Args) throws {
    let n = try args.int("--rows") ?? 2048
    let reps = try args.int("--reps") ?? 3
    let ctx = try args.int("--ctx") ?? 2048
    guard n >= 1, reps >= 1, ctx >= 1 else { throw UsageError("bench ptq: --rows, --reps and --ctx must be positive") }
    func best(_ body: () -> Void) -> Double {
        body()
        var b = Double.infinity
        for _ in 0..<reps { let t = monotonicSeconds(); body(); b = min(b, monotonicSeconds() - t) }
        return b
    }
    print("mxq bench ptq   threads: \(Parallel.defaultThreads)   load average: \(loadAverage())")
    print(pad("operation", 36) + lpad("K", 6) + lpad("rows", 6) + lpad("ms", 10) + lpad("GFLOP/s", 9))
    var rng = SplitMix64(seed: 1)
    let a8 = MXConfig(format: .mxint8)
    var ratios: [String] = []
    for k in [576, 1536] {
        let x = (0..<(n * k)).map { _ in rng.nextGaussian() }
        let sym = 2.0 * Double(n) * Double(k) * Double(k + 1) / 2 / 1e9
        try x.withUnsafeBufferPointer { xp in
            // verify first: one accumulation is the full XᵀX product's upper triangle bit for bit, mirrored
            var y = [Float](repeating: 0, count: k * k)
            let xt = (0..<(n * k)).map { x[($0 % n) * k + $0 / n] }
            let fullSquare = { xt.withUnsafeBufferPointer { tp in y.withUnsafeMutableBufferPointer { yp in
                Kernels.sgemm(m: k, n: k, k: n, x: tp.baseAddress!, w: tp.baseAddress!, y: yp.baseAddress!) } } }
            fullSquare()
            let once = HessianAccumulator(k: k, chunkRows: n)
            once.add(xp.baseAddress!, rows: n)
            let sum = once.sum
            for i in 0..<k {
                for j in i..<k where sum[i * k + j] != Double(y[i * k + j]) || sum[j * k + i] != sum[i * k + j] {
                    throw BenchPTQFailure(description: "bench ptq: K=\(k): the Hessian's half product differs from the full XᵀX GEMM at (\(i), \(j))")
                }
            }
            let a = HessianAccumulator(k: k)
            let t1 = best { a.add(xp.baseAddress!, rows: n) }
            row("hessian add (fp32, upper triangle)", k, n, t1, sym)
            let acc = HessianAccumulator(k: k)
            let t2 = best { acc.add(xp.baseAddress!, rows: n, quantizedBy: a8) }
            row("hessian add (mxint8 inputs, \(acc.bf16Rows > 0 ? "bf16" : "fp32"))", k, n, t2, sym)
            let t3 = best(fullSquare)
            let gemmFlops = 2.0 * Double(n) * Double(k) * Double(k) / 1e9
            row("sgemm XᵀX (full square)", k, n, t3, gemmFlops)
            ratios.append(String(format: "hessian (fp32 inputs) at K = %d: %.0f%% of the GEMM's GFLOP/s (target ≥ 80%%)",
                                 k, 100 * (sym / t1) / (gemmFlops / t3)))
            var q = x
            let t4 = best { q.withUnsafeMutableBufferPointer { qp in
                qp.baseAddress!.update(from: xp.baseAddress!, count: n * k)
                _ = mxFakeQuantize(qp, rows: n, cols: k, config: a8, diagnostics: false) } }
            row("fake-quantize mxint8 (+copy)", k, n, t4, nil)
            // The syrk alone on MXINT8-quantized rows: fp32 FMAs, and the bf16 path where this build
            // has it (verified first: the same bits on and above the diagonal).
            var yf = [Float](repeating: .nan, count: k * k), yb = yf
            func syrk(_ out: inout [Float], _ bf16: Bool) -> SyrkPath {
                q.withUnsafeBufferPointer { qp in out.withUnsafeMutableBufferPointer { op in
                    Kernels.syrkUpper(n: k, k: n, a: qp.baseAddress!, y: op.baseAddress!, allowBF16: bf16) } }
            }
            _ = syrk(&yf, false)
            let path = syrk(&yb, true)
            for i in 0..<k {
                for j in i..<k where yf[i * k + j].bitPattern != yb[i * k + j].bitPattern {
                    throw BenchPTQFailure(description: "bench ptq: K=\(k): the \(path.rawValue) syrk differs from the fp32 syrk at (\(i), \(j))")
                }
            }
            // and the accumulator on mxint8 inputs (quantized inside the bf16 packing where built) gives
            // the fp32 syrk of the fake-quantized rows
            let check = HessianAccumulator(k: k, chunkRows: n)
            check.add(xp.baseAddress!, rows: n, quantizedBy: a8)
            let qsum = check.sum
            for i in 0..<k {
                for j in i..<k where qsum[i * k + j] != Double(yf[i * k + j]) {
                    throw BenchPTQFailure(description: "bench ptq: K=\(k): the Hessian of mxint8 inputs differs from the fp32 syrk of the fake-quantized rows at (\(i), \(j))")
                }
            }
            let t5 = best { _ = syrk(&yf, false) }
            row("syrk mxint8 rows (fp32)", k, n, t5, sym)
            if path == .bf16 {
                let t6 = best { _ = syrk(&yb, true) }
                row("syrk mxint8 rows (avx512-bf16)", k, n, t6, sym)
                ratios.append(String(format: "hessian syrk on mxint8 rows at K = %d, avx512-bf16: %.2f× the fp32 syrk, %.0f%% of the fp32 GEMM's GFLOP/s (bitwise equal)",
                                     k, t5 / t6, 100 * (sym / t6) / (gemmFlops / t3)))
            } else {
                ratios.append("hessian syrk on mxint8 rows at K = \(k): fp32 path (this build or CPU has no AVX-512 BF16)")
            }
        }
    }
    for (k, weightRows) in [(576, [576, 1536]), (1536, [576])] {
        let xs = 4096
        let x = (0..<(xs * k)).map { _ in rng.nextGaussian() }
        let acc = HessianAccumulator(k: k)
        acc.add(x, rows: xs)
        let h = acc.hessian
        let tf = best { _ = GPTQ.factor(hessian: h, k: k) }
        row("gptq factor (Cholesky, inverse)", k, 0, tf, nil)
        let f = GPTQ.factor(hessian: h, k: k)
        for rowsW in weightRows {
            let w0 = (0..<(rowsW * k)).map { _ in rng.nextGaussian() * 0.05 }
            let tq = best { var w = w0; _ = GPTQ.quantize(weight: &w, rows: rowsW, factor: f, config: MXConfig(format: .mxint4)) }
            row("gptq quantize \(rowsW) rows mxint4", k, 0, tq, nil)
        }
    }
    // Causal attention of the forward pass (SmolLM2: 9 heads of 64, 3 KV heads) at --ctx positions,
    // beside the fp32 GEMM of one of its linears at the same number of rows.
    var attnError = 0.0
    do {
        let T = ctx, threads = Parallel.defaultThreads
        let h = AttentionHarness(seqLen: T, headDim: 64, heads: 9, kvHeads: 3, threads: threads, seed: 3)
        h.run()
        attnError = h.maxError(rows: [0, 1, 31, 32, T / 2 + 5, T - 1])
        guard attnError < 1e-4 else {
            throw BenchPTQFailure(description: "bench ptq: causal attention differs from the Double reference by \(attnError)")
        }
        let ta = best { h.run() }
        row("causal attention (9 heads × 64, GQA 3)", 576, T, ta, h.flops / 1e9)
        let (m, k, nOut) = (T, 576, 1536)
        let x = (0..<(m * k)).map { _ in rng.nextGaussian() }
        let w = (0..<(nOut * k)).map { _ in rng.nextGaussian() * 0.05 }
        var y = [Float](repeating: 0, count: m * nOut)
        let tg = best { x.withUnsafeBufferPointer { xp in w.withUnsafeBufferPointer { wp in y.withUnsafeMutableBufferPointer { yp in
            Kernels.sgemm(m: m, n: nOut, k: k, x: xp.baseAddress!, w: wp.baseAddress!, y: yp.baseAddress!) } } } }
        let gf = 2.0 * Double(m * k * nOut) / 1e9
        row("sgemm \(m)×\(k)·(\(nOut)×\(k))ᵀ", k, m, tg, gf)
        ratios.append(String(format: "causal attention at %d positions: %.0f%% of the GEMM's GFLOP/s (target ≥ 70%%)",
                             T, 100 * (h.flops / 1e9 / ta) / (gf / tg)))
    }
    // RMSNorm (4 per block in GPTQ's staged pass): 8-row groups against one serial Double chain
    // per row (same bits, checked first), one thread each.
    do {
        let h = RMSNormHarness(rows: ctx, n: 576, seed: 5)
        h.runGrouped(); h.runSerial()
        guard h.sameBits else {
            throw BenchPTQFailure(description: "bench ptq: RMSNorm in 8-row groups differs from the row-by-row chain")
        }
        let ts = best { h.runSerial() }
        row("rmsnorm row by row (1 thread)", 576, ctx, ts, nil)
        let tg = best { h.runGrouped() }
        row("rmsnorm 8-row groups (1 thread)", 576, ctx, tg, nil)
        ratios.append(String(format: "rmsnorm of %d × 576: 8-row groups %.2f× row by row (bitwise equal)", ctx, ts / tg))
    }
    // The Hessian cache's checksum: SHA-256 of one K = 1536 Hessian file body (18.9 MB), Swift
    // compression against the SHA extensions where the CPU has them (same digest, checked first).
    do {
        let bytes = (0..<(1536 * 1536 * 8)).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) }
        func digest(_ software: Bool) -> [UInt8] { var h = SHA256(software: software); h.update(bytes); return h.finalize() }
        let mb = Double(bytes.count) / 1e6
        let ts = best { _ = digest(true) }
        row(String(format: "sha256 %.1f MB (swift)", mb), 1536, 0, ts, nil)
        if SHA256.hardware {
            guard digest(false) == digest(true) else {
                throw BenchPTQFailure(description: "bench ptq: SHA-256 with the SHA extensions differs from the Swift compression")
            }
            let th = best { _ = digest(false) }
            row(String(format: "sha256 %.1f MB (sha extensions)", mb), 1536, 0, th, nil)
            ratios.append(String(format: "sha256 (Hessian cache checksum): %.0f MB/s with the SHA extensions, %.0f MB/s in Swift: %.1f× (same digest)",
                                 mb / th, mb / ts, ts / th))
        } else {
            ratios.append(String(format: "sha256 (Hessian cache checksum): %.0f MB/s in Swift (no SHA extensions on this CPU)", mb / ts))
        }
    }
    print("verified before timing: each Hessian accumulation equals the full XᵀX GEMM's upper triangle (bitwise, symmetric),"
          + " on mxint8 inputs the fp32 syrk of the fake-quantized rows, the bf16 syrk the fp32 syrk, and the grouped"
          + " RMSNorm the row-by-row one (bitwise);"
          + String(format: " attention within %.1e of a Double reference on 6 rows of every head", attnError))
    for r in ratios { print(r) }
}

private struct BenchPTQFailure: UserFacingError {
    let description: String
}

private func row(_ what: String, _ k: Int, _ n: Int, _ s: Double, _ gflop: Double?) {
    print(pad(what, 36) + lpad("\(k)", 6) + lpad(n > 0 ? "\(n)" : "-", 6) + lpad(String(format: "%.2f", s * 1e3), 10)
          + lpad(gflop.map { String(format: "%.1f", $0 / s) } ?? "-", 9))
}

