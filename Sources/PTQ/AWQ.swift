import Support
import MXFormats

/// AWQ settings.
public struct AWQOptions: Hashable, Sendable {
    /// α grid: α = i / gridPoints for i in 0..<gridPoints (α = 0, i.e. RTN, is always tried).
    public var gridPoints: Int = 20
    /// Clipping: max shrink ratio (1.0 down to 1 − maxShrink, exclusive) and grid resolution.
    public var maxShrink: Double = 0.5
    public var clipGrid: Int = 20
    /// Tokens used by the clipping search per block (evenly strided subsample).
    public var clipTokens: Int = 512
    /// Tokens used by the scale search and the per-row clipping guard (evenly strided subsample).
    public var searchTokens: Int = 2048
    public init() {}
}

/// One linear of an AWQ group: its weight [rows, K] and the formats it will run with.
public struct AWQLinear {
    public var weight: [Float]
    public var rows: Int
    public var weightConfig: MXConfig
    public var actConfig: MXConfig?
    public init(weight: [Float], rows: Int, weightConfig: MXConfig, actConfig: MXConfig?) {
        self.weight = weight; self.rows = rows; self.weightConfig = weightConfig; self.actConfig = actConfig
    }
}

public struct AWQScaleResult: Sendable {
    /// Per input channel scale s [K]: weights are multiplied by s, inputs divided by s.
    public var scales: [Float]
    public var bestAlpha: Double
    /// Output squared error (summed over the group) for every α of the grid.
    public var losses: [Double]
}

public enum AWQ {
    /// Evenly strided subsample of at most `maxRows` of the `rows` rows of X [rows, k].
    static func subsample(_ x: [Float], rows: Int, k: Int, maxRows: Int) -> (x: [Float], rows: Int) {
        if rows <= maxRows { return (x, rows) }
        var out = [Float](repeating: 0, count: maxRows * k)
        for i in 0..<maxRows {
            let src = (i * rows) / maxRows
            for j in 0..<k { out[i * k + j] = x[src * k + j] }
        }
        return (out, maxRows)
    }

    /// Output of a linear as it runs at inference after scaling: Q_a(X / s) · Q_w(W · s)ᵀ,
    /// where the weight is already scaled and quantized (`wq`).
    static func scaledOutput(x: [Float], tokens t: Int, k: Int, invScales: [Float]?, act: MXConfig?,
                             wq: [Float], rows n: Int) -> [Float] {
        var xs = x
        if let inv = invScales {
            for r in 0..<t { for j in 0..<k { xs[r * k + j] *= inv[j] } }
        }
        if let a = act {
            _ = xs.withUnsafeMutableBufferPointer { mxFakeQuantize($0, rows: t, cols: k, config: a) }
        }
        return MatOps.gemm(xs, wq, m: t, n: n, k: k)
    }

    /// Searches per-channel scales s = actMean^α / sqrt(max·min) over the α grid for a group of
    /// linears that share the input `x` ([tokens, K]); the loss is the summed squared error of the
    /// group's outputs, Q_a(X/s)·Q_w(W·s)ᵀ against the fp32 X·Wᵀ. `actMean` is the per-channel mean |x|
    /// (callers may tie channels by passing equal values). α = 0 gives s = 1, i.e. plain RTN, so the
    /// chosen loss is never above RTN's on `x`. Does not modify the weights.
    public static func searchScales(x: [Float], tokens t: Int, k: Int, actMean: [Float],
                                    group: [AWQLinear], options: AWQOptions = AWQOptions()) -> AWQScaleResult {
        precondition(actMean.count == k && x.count == t * k)
        let refs = group.map { MatOps.gemm(x, $0.weight, m: t, n: $0.rows, k: k) }
        var losses: [Double] = []
        var best = Double.infinity, bestAlpha = 0.0
        var bestScales = [Float](repeating: 1, count: k)
        for gi in 0..<max(1, options.gridPoints) {
            let alpha = Double(gi) / Double(max(1, options.gridPoints))
            var s = [Float](repeating: 1, count: k)
            if alpha > 0 {
                var mx: Float = 0, mn = Float.infinity
                for j in 0..<k {
                    s[j] = max(Float(pow(Double(actMean[j]), alpha)), 1e-4)
                    mx = max(mx, s[j]); mn = min(mn, s[j])
                }
                let norm = Float((Double(mx) * Double(mn)).squareRoot())
                for j in 0..<k { s[j] /= norm }
            }
            let inv = alpha > 0 ? s.map { 1 / $0 } : nil
            var loss = 0.0
            for (li, l) in group.enumerated() {
                var ws = l.weight
                if alpha > 0 { for r in 0..<l.rows { for j in 0..<k { ws[r * k + j] *= s[j] } } }
                RTN.quantize(weight: &ws, rows: l.rows, cols: k, config: l.weightConfig)
                let y = scaledOutput(x: x, tokens: t, k: k, invScales: inv, act: l.actConfig, wq: ws, rows: l.rows)
                loss += ErrorStats.sse(y, reference: refs[li]).err
            }
            losses.append(loss)
            if loss < best { best = loss; bestAlpha = alpha; bestScales = s }
        }
        return AWQScaleResult(scales: bestScales, bestAlpha: bestAlpha, losses: losses)
    }

    /// Clipping search for one linear (weights already scaled, `x` already divided by the scales):
    /// for every row and MX block, tries clamping the block to ratio·max|w| for ratios
    /// 1, 1−1/clipGrid, … down to (exclusive) 1 − maxShrink, keeping the ratio with the least squared
    /// error of the block's partial dot products over a token subsample (inputs quantized like at
    /// inference when `actConfig` is set). Then, per output row, the clipped row is kept only if its
    /// output error over `x` is not above the unclipped row's. Modifies `weight` (fp32, clamped, not
    /// rounded). Returns the number of weight elements whose value the kept clipping changed.
    @discardableResult
    public static func clip(weight: inout [Float], rows n: Int, k: Int, weightConfig: MXConfig, actConfig: MXConfig?,
                            x: [Float], tokens t: Int, options: AWQOptions = AWQOptions()) -> Int {
        var xq = x
        if let a = actConfig {
            _ = xq.withUnsafeMutableBufferPointer { mxFakeQuantize($0, rows: t, cols: k, config: a) }
        }
        let (xc, tc) = subsample(xq, rows: t, k: k, maxRows: options.clipTokens)
        let b = weightConfig.block
        let nb = (k + b - 1) / b
        let steps = max(1, Int((options.maxShrink * Double(options.clipGrid)).rounded(.down)))
        // per (row, block) max |w|
        var amax = [Float](repeating: 0, count: n * nb)
        for r in 0..<n {
            for blk in 0..<nb {
                let c0 = blk * b, len = min(b, k - c0)
                var m: Float = 0
                for j in c0..<(c0 + len) { m = max(m, abs(weight[r * k + j])) }
                amax[r * nb + blk] = m
            }
        }
        // the inputs of each block, contiguous: xb[blk] = X[:, block] as [tc, len]
        var xb: [[Float]] = []
        for blk in 0..<nb {
            let c0 = blk * b, len = min(b, k - c0)
            var m = [Float](repeating: 0, count: tc * len)
            for t in 0..<tc { for j in 0..<len { m[t * len + j] = xc[t * k + c0 + j] } }
            xb.append(m)
        }
        func blockSlices(_ w: [Float], _ blk: Int) -> [Float] {
            let c0 = blk * b, len = min(b, k - c0)
            var m = [Float](repeating: 0, count: n * len)
            for r in 0..<n { for j in 0..<len { m[r * len + j] = w[r * k + c0 + j] } }
            return m
        }
        // reference partial products per block: org[blk] = X_b · W_bᵀ [tc, n]
        let org = (0..<nb).map { blk in MatOps.gemm(xb[blk], blockSlices(weight, blk), m: tc, n: n, k: min(b, k - blk * b)) }
        var bestErr = [Double](repeating: .infinity, count: n * nb)
        var bestRatio = [Double](repeating: 1, count: n * nb)
        for st in 0..<steps {
            let ratio = 1 - Double(st) / Double(options.clipGrid)
            // clamp every block to ratio·amax, then one fake-quant of the whole matrix (own block scales)
            var c = weight
            for r in 0..<n {
                for blk in 0..<nb {
                    let lim = Float(Double(amax[r * nb + blk]) * ratio)
                    let c0 = blk * b, len = min(b, k - c0)
                    for j in c0..<(c0 + len) { c[r * k + j] = min(max(c[r * k + j], -lim), lim) }
                }
            }
            RTN.quantize(weight: &c, rows: n, cols: k, config: weightConfig)
            for blk in 0..<nb {
                let len = min(b, k - blk * b)
                let y = MatOps.gemm(xb[blk], blockSlices(c, blk), m: tc, n: n, k: len)
                let o = org[blk]
                for r in 0..<n {
                    var err = 0.0
                    for t in 0..<tc { let d = Double(y[t * n + r] - o[t * n + r]); err += d * d }
                    if err < bestErr[r * nb + blk] { bestErr[r * nb + blk] = err; bestRatio[r * nb + blk] = ratio }
                }
            }
        }
        var clipped = weight
        for r in 0..<n {
            for blk in 0..<nb where bestRatio[r * nb + blk] < 1 {
                let lim = Float(Double(amax[r * nb + blk]) * bestRatio[r * nb + blk])
                let c0 = blk * b, len = min(b, k - c0)
                for j in c0..<(c0 + len) { clipped[r * k + j] = min(max(weight[r * k + j], -lim), lim) }
            }
        }
        // Per-row guard on the full token set: keep a clipped row only if it does not raise the row's error.
        let ref = MatOps.gemm(x, weight, m: t, n: n, k: k)
        let y0 = MatOps.gemm(xq, RTN.quantized(weight, rows: n, cols: k, config: weightConfig), m: t, n: n, k: k)
        let y1 = MatOps.gemm(xq, RTN.quantized(clipped, rows: n, cols: k, config: weightConfig), m: t, n: n, k: k)
        var kept = 0
        for r in 0..<n {
            var e0 = 0.0, e1 = 0.0
            for i in 0..<t {
                let d0 = Double(y0[i * n + r] - ref[i * n + r]), d1 = Double(y1[i * n + r] - ref[i * n + r])
                e0 += d0 * d0; e1 += d1 * d1
            }
            if e1 <= e0 {
                for j in 0..<k where clipped[r * k + j] != weight[r * k + j] { weight[r * k + j] = clipped[r * k + j]; kept += 1 }
            }
        }
        return kept
    }
}

#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
