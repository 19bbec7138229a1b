import Foundation
import Support
import MXFormats
import MXKernels
import PTQ

/// Help text for `mxq bench ptq`.
let benchPTQHelp = """
mxq bench ptq [--rows N] [--reps R]

Times the calibration building blocks of PTQ on SmolLM2-135M's shapes (K = 576 and 1536 input
features, N = --rows tokens per call, default 2048): the GPTQ Hessian accumulation (fp32 inputs
and MXINT8-quantized inputs), the fp32 GEMM of the same size for comparison, activation
fake-quantization, and GPTQ's quantization of one weight matrix (MXINT4) from its Hessian.
Wall clock, best of --reps (default 3). Before timing, the half (upper-triangle) Hessian is
checked against the full GEMM's product, bit for bit.
"""

func runBenchPTQ(_ args: inout Args) throws {
    let n = try args.int("--rows") ?? 2048
    let reps = try args.int("--reps") ?? 3
    guard n >= 1, reps >= 1 else { throw UsageError("bench ptq: --rows and --reps must be positive") }
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
            for p in [48, 96, 144, 192, 288, 384, 576, 768] where p <= k {
                let a = HessianAccumulator(k: k, panelRows: p)
                let t1 = best { a.add(xp.baseAddress!, rows: n) }
                row("hessian add (fp32, panel \(p))", k, n, t1, sym)
            }
            let acc = HessianAccumulator(k: k)
            let t2 = best { acc.add(xp.baseAddress!, rows: n, quantizedBy: a8) }
            row("hessian add (mxint8 inputs)", k, n, t2, sym)
            let t3 = best(fullSquare)
            row("sgemm XᵀX (full square)", k, n, t3, 2.0 * Double(n) * Double(k) * Double(k) / 1e9)
            var q = x
            let t4 = best { q.withUnsafeMutableBufferPointer { qp in
                qp.baseAddress!.update(from: xp.baseAddress!, count: n * k)
                _ = mxFakeQuantize(qp, rows: n, cols: k, config: a8, diagnostics: false) } }
            row("fake-quantize mxint8 (+copy)", k, n, t4, nil)
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
    print("verified before timing: each Hessian accumulation equals the full XᵀX GEMM's upper triangle (bitwise, symmetric)")
}

private struct BenchPTQFailure: UserFacingError {
    let description: String
}

private func row(_ what: String, _ k: Int, _ n: Int, _ s: Double, _ gflop: Double?) {
    print(pad(what, 36) + lpad("\(k)", 6) + lpad(n > 0 ? "\(n)" : "-", 6) + lpad(String(format: "%.2f", s * 1e3), 10)
          + lpad(gflop.map { String(format: "%.1f", $0 / s) } ?? "-", 9))
}

