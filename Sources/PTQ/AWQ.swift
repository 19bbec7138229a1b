#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import Support
import MXFormats
import MXKernels

/// AWQ settings.
public struct AWQOptions: Hashable, Sendable {
    /// α grid: α = i / gridPoints for i in 0..<gridPoints (α = 0, i.e. RTN, is always tried).
    public var gridPoints: Int = 20
    /// Clipping: max shrink ratio (1.0 down to 1 − maxShrink, exclusive) and grid resolution.
    public var maxShrink: Double = 0.5
    public var clipGrid: Int = 20
    /// Tokens used by the clipping search per block (evenly strided subsample).
    public var clipTokens: Int = 512
    /// Tokens used by the scale search and the per-row clipping guard (evenly strided
    /// subsample of the pipeline's per-layer sample, itself `PTQOptions.recordTokens` evenly
    /// strided positions of every calibration sequence; no randomness, so deterministic).
    /// The search costs about `gridPoints` GEMMs of [searchTokens, K]·[N, K]ᵀ per input group.
    /// AWQ's reference searches 128×512 tokens; 2048 keeps the search near GPTQ's cost.
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
    /// Output squared error (summed over the group) for every α of the grid. A candidate whose
    /// partial sum already exceeded the best loss was not evaluated further: its entry is that
    /// partial sum (a lower bound, above the chosen loss).
    public var losses: [Double]
    /// Whether the quantized products ran on the integer MX kernels (`searchScales(integer:)`).
    public var integer = false
}

/// Implementation notes (speed, session 2). The searches compute exactly the quantities of the
/// first implementation, organised for speed:
/// - scale search: per α, one activation fake-quant of the scaled inputs per distinct
///   activation format (was: one per linear) and one GEMM over the group's concatenated
///   weights (the GEMM sums every output element in an order fixed by K alone, so each output
///   is bit-identical to the per-linear GEMM); the loss is summed in Double over chunks of
///   `searchChunkRows` tokens in fixed pieces (was: one sequential Double sum per linear) — a
///   reassociation of the same sum; candidates are evaluated from the middle of the grid
///   outwards and abandoned once their partial loss exceeds the best complete loss (the
///   remaining terms are ≥ 0, so the choice — least loss, ties to the smaller α — is unchanged);
/// - clipping search: the block's partial-product error Σ_t (x_t·(q − w))² over the token
///   subsample is evaluated as (q − w)ᵀ·G·(q − w) with the block's Gram matrix G = X_bᵀX_b in
///   Double (was: fp32 GEMM outputs X_b·qᵀ and X_b·wᵀ subtracted), the same quantity without the
///   cancellation, about 16× fewer operations at 512 tokens;
/// - per-row guard: unchanged arithmetic; the clipped GEMM only over rows that clipping changed.
/// All parallel loops split work in chunks that do not depend on the thread count.
/// Numbers: a choice can differ from the first implementation's only where two candidates'
/// losses agree to within fp32/Double rounding. On the fixed check case (SmolLM2-135M, MXINT4
/// weights / MXINT8 acts, PTB calibration 16×512, seed 0) every chosen α, every clipped-element
/// count, the whole per-layer CSV and the perplexity (24.502232502545297, WikiText-2 window 1)
/// came out identical to the first implementation's.
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

    /// Token rows per GEMM of the scale search: the loss is summed chunk by chunk (in order), and a
    /// candidate is abandoned as soon as its partial loss exceeds the best complete one.
    static let searchChunkRows = 1024

    /// Order in which the α grid is evaluated: from the middle outwards (10, 9, 11, 8, … for 20
    /// points), so a good candidate is found early and worse ones are abandoned after few chunks.
    /// The choice does not depend on the order: least loss, ties to the smaller α.
    static func searchOrder(_ points: Int) -> [Int] {
        var out: [Int] = []
        let mid = points / 2
        for d in 0...points {
            if mid - d >= 0 && d > 0 { out.append(mid - d) }
            if mid + d < points { out.append(mid + d) }
        }
        return out
    }

    /// Σ (a[i] − b[i])² in Double over `count` elements: fixed chunks of 16,384 elements, each
    /// summed in order with 4 lanes, chunks added in order (same result for any thread count).
    static func sse(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Double {
        let chunk = 16_384
        let nc = (count + chunk - 1) / chunk
        if nc == 0 { return 0 }
        var parts = [Double](repeating: 0, count: nc)
        let ab = UncheckedSendable(a), bb = UncheckedSendable(b)
        parts.withUnsafeMutableBufferPointer { P in
            let pb = UncheckedSendable(P.baseAddress!)
            Parallel.forRanges(nc, minChunk: 8) { cr in
                for c in cr {
                    let lo = c * chunk, hi = min(count, lo + chunk)
                    let a = ab.value + lo, b = bb.value + lo
                    let n = hi - lo
                    var acc = SIMD4<Double>()
                    var i = 0
                    while i + 4 <= n {
                        let d = SIMD4<Double>(Double(a[i]) - Double(b[i]), Double(a[i + 1]) - Double(b[i + 1]),
                                              Double(a[i + 2]) - Double(b[i + 2]), Double(a[i + 3]) - Double(b[i + 3]))
                        acc += d * d
                        i += 4
                    }
                    var s = acc.sum()
                    while i < n { let d = Double(a[i]) - Double(b[i]); s += d * d; i += 1 }
                    pb.value[c] = s
                }
            }
        }
        return parts.reduce(0, +)
    }

    /// Rows of `p` ([rows, k]) times `v` [k], in place, split over threads by rows.
    static func scaleColumns(_ p: UnsafeMutablePointer<Float>, rows: Int, k: Int, by v: [Float]) {
        let pb = UncheckedSendable(p)
        v.withUnsafeBufferPointer { V in
            let vb = UncheckedSendable(V.baseAddress!)
            Parallel.forRanges(rows, minChunk: 64) { rr in
                let p = pb.value, v = vb.value
                for r in rr { let row = p + r * k; for j in 0..<k { row[j] *= v[j] } }
            }
        }
    }

    /// The candidate scales of grid point α: s = max(actMean^α, 1e-4) / sqrt(max·min); all 1 at α = 0.
    static func candidateScales(actMean: [Float], alpha: Double) -> [Float] {
        let k = actMean.count
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
        return s
    }

    /// Searches per-channel scales s = actMean^α / sqrt(max·min) over the α grid for a group of
    /// linears that share the input `x` ([tokens, K]); the loss is the summed squared error of the
    /// group's outputs, Q_a(X/s)·Q_w(W·s)ᵀ against the fp32 X·Wᵀ. `actMean` is the per-channel mean |x|
    /// (callers may tie channels by passing equal values). α = 0 gives s = 1, i.e. plain RTN, so the
    /// chosen loss is never above RTN's on `x`. Does not modify the weights.
    ///
    /// `integer`: when every linear of the group runs on the integer MX kernels
    /// (`Kernels.intMXApplies`: MXINT8 activations × MXINT4/MXINT8 weights, block 32), the
    /// quantized products Q_a(X/s)·Q_w(W·s)ᵀ are computed there (X/s quantized while packed, W·s
    /// encoded straight to packed MX) — the product inference runs, equal to the fake-quant fp32
    /// product up to fp32 summation order, so the losses agree to fp32 rounding (a choice can
    /// differ only where two candidates' losses agree that closely). Otherwise, or with `integer`
    /// false, the fp32 fake-quant product.
    public static func searchScales(x: [Float], tokens t: Int, k: Int, actMean: [Float],
                                    group: [AWQLinear], options: AWQOptions = AWQOptions(),
                                    integer: Bool = false) -> AWQScaleResult {
        searchScales(x: x, tokens: t, k: k, actMean: actMean, group: group, options: options, chunkRows: searchChunkRows,
                     integer: integer)
    }

    /// Whether the scale search of `group` runs on the integer MX kernels (see `searchScales`).
    static func integerSearchApplies(_ group: [AWQLinear]) -> Bool {
        !group.isEmpty && group.allSatisfy { l in l.actConfig.map { Kernels.intMXApplies(acts: $0, weights: l.weightConfig) } ?? false }
    }

    /// `searchScales` with the token chunk of the loss sums given (tests exercise the early stop).
    static func searchScales(x: [Float], tokens t: Int, k: Int, actMean: [Float], group: [AWQLinear],
                             options: AWQOptions, chunkRows: Int, integer: Bool = false) -> AWQScaleResult {
        precondition(actMean.count == k && x.count == t * k && chunkRows > 0)
        if integer && integerSearchApplies(group) {
            var r = searchScalesInteger(x: x, tokens: t, k: k, actMean: actMean, group: group, options: options, chunkRows: chunkRows)
            r.integer = true
            return r
        }
        // Linears with the same activation format share the quantized input: one GEMM over their rows.
        var classes: [(act: MXConfig?, members: [Int])] = []
        for (i, l) in group.enumerated() {
            precondition(l.weight.count == l.rows * k)
            if let c = classes.firstIndex(where: { $0.act == l.actConfig }) { classes[c].members.append(i) }
            else { classes.append((l.actConfig, [i])) }
        }
        let cat: [[Float]] = classes.map { c in c.members.flatMap { group[$0].weight } }
        let catRows = classes.map { c in c.members.reduce(0) { $0 + group[$1].rows } }
        let refs = zip(cat, catRows).map { MatOps.gemm(x, $0, m: t, n: $1, k: k) }
        let maxRows = catRows.max() ?? 0
        let chunk = max(1, min(t, chunkRows))
        var xs = classes.map { _ in [Float](repeating: 0, count: t * k) }
        var wq = zip(classes, catRows).map { [Float](repeating: 0, count: $1 * k) }
        var y = [Float](repeating: 0, count: chunk * maxRows)
        return gridSearch(tokens: t, chunk: chunk, actMean: actMean, points: max(1, options.gridPoints), prepare: { alpha, s, inv in
            for (ci, c) in classes.enumerated() {
                let nr = catRows[ci]
                xs[ci].withUnsafeMutableBufferPointer { X in
                    let xp = X.baseAddress!
                    x.withUnsafeBufferPointer { xp.update(from: $0.baseAddress!, count: t * k) }
                    if alpha > 0 { scaleColumns(xp, rows: t, k: k, by: inv) }
                    if let a = c.act { _ = mxFakeQuantize(X, rows: t, cols: k, config: a, diagnostics: false) }
                }
                wq[ci].withUnsafeMutableBufferPointer { WQ in
                    let wp = WQ.baseAddress!
                    cat[ci].withUnsafeBufferPointer { wp.update(from: $0.baseAddress!, count: nr * k) }
                    if alpha > 0 { scaleColumns(wp, rows: nr, k: k, by: s) }
                    var r0 = 0
                    for m in c.members {
                        let l = group[m]
                        _ = mxFakeQuantize(UnsafeMutableBufferPointer(start: wp + r0 * k, count: l.rows * k),
                                           rows: l.rows, cols: k, config: l.weightConfig, diagnostics: false)
                        r0 += l.rows
                    }
                }
            }
        }, accumulate: { r0, m, loss in
            for ci in 0..<classes.count {
                let nr = catRows[ci]
                xs[ci].withUnsafeBufferPointer { X in wq[ci].withUnsafeBufferPointer { WQ in y.withUnsafeMutableBufferPointer { Y in
                    MatOps.gemm(m: m, n: nr, k: k, x: X.baseAddress! + r0 * k, w: WQ.baseAddress!, y: Y.baseAddress!)
                    refs[ci].withUnsafeBufferPointer { loss += sse(Y.baseAddress!, $0.baseAddress! + r0 * nr, count: m * nr) }
                } } }
            }
        })
    }

    /// The α grid walk of both scale searches: candidates in `searchOrder`; for each, `prepare(α,
    /// s, 1/s)` readies its operands, then `accumulate(r0, m, &loss)` adds the loss of token rows
    /// r0..<r0+m, chunk by chunk in order, until the tokens are done or the partial loss exceeds
    /// the best complete one (the remaining terms are ≥ 0). Least loss wins, ties to the smaller α.
    static func gridSearch(tokens t: Int, chunk: Int, actMean: [Float], points: Int,
                           prepare: (_ alpha: Double, _ s: [Float], _ inv: [Float]) -> Void,
                           accumulate: (_ r0: Int, _ m: Int, _ loss: inout Double) -> Void) -> AWQScaleResult {
        var losses = [Double](repeating: 0, count: points)
        var best = Double.infinity, bestIndex = 0
        var bestScales = [Float](repeating: 1, count: actMean.count)
        for gi in searchOrder(points) {
            let alpha = Double(gi) / Double(points)
            let s = candidateScales(actMean: actMean, alpha: alpha)
            prepare(alpha, s, s.map { 1 / $0 })
            var loss = 0.0
            var r0 = 0
            while r0 < t {
                let m = min(chunk, t - r0)
                accumulate(r0, m, &loss)
                r0 += m
                if loss > best { break }
            }
            losses[gi] = loss
            if loss < best || (loss == best && gi < bestIndex) { best = loss; bestIndex = gi; bestScales = s }
        }
        return AWQScaleResult(scales: bestScales, bestAlpha: Double(bestIndex) / Double(points), losses: losses)
    }

    /// The scale search with the quantized products on the integer MX kernels (every linear of
    /// `group` passes `integerSearchApplies`). Same grid, order, early stop and choice rule as the
    /// fp32 search; per α: X/s once (quantized to each activation format while packed, once per
    /// format and token chunk), each W·s encoded to packed MX; the loss is summed per chunk of
    /// tokens in order, linears in group order within each activation format, against each
    /// linear's fp32 X·Wᵀ. Bit-identical for any thread count (the kernels and `sse` are).
    static func searchScalesInteger(x: [Float], tokens t: Int, k: Int, actMean: [Float], group: [AWQLinear],
                                    options: AWQOptions, chunkRows: Int) -> AWQScaleResult {
        var classes: [(act: MXConfig, members: [Int])] = []
        for (i, l) in group.enumerated() {
            precondition(l.weight.count == l.rows * k)
            let a = l.actConfig!
            if let c = classes.firstIndex(where: { $0.act == a }) { classes[c].members.append(i) } else { classes.append((a, [i])) }
        }
        let refs = group.map { MatOps.gemm(x, $0.weight, m: t, n: $0.rows, k: k) }
        let maxRows = group.map(\.rows).max() ?? 0
        let chunk = max(1, min(t, chunkRows))
        var xs = [Float](repeating: 0, count: t * k)
        var ws = [Float](repeating: 0, count: maxRows * k)
        var y = [Float](repeating: 0, count: chunk * maxRows)
        var wq: [MXTensor] = []
        return gridSearch(tokens: t, chunk: chunk, actMean: actMean, points: max(1, options.gridPoints), prepare: { alpha, s, inv in
            xs.withUnsafeMutableBufferPointer { X in
                x.withUnsafeBufferPointer { X.baseAddress!.update(from: $0.baseAddress!, count: t * k) }
                if alpha > 0 { scaleColumns(X.baseAddress!, rows: t, k: k, by: inv) }
            }
            wq = group.map { l in
                ws.withUnsafeMutableBufferPointer { W in
                    let wp = W.baseAddress!
                    l.weight.withUnsafeBufferPointer { wp.update(from: $0.baseAddress!, count: l.rows * k) }
                    if alpha > 0 { scaleColumns(wp, rows: l.rows, k: k, by: s) }
                    return MXTensor(encoding: UnsafeBufferPointer(start: wp, count: l.rows * k), rows: l.rows, cols: k,
                                    config: l.weightConfig)
                }
            }
        }, accumulate: { r0, m, loss in
            xs.withUnsafeBufferPointer { X in y.withUnsafeMutableBufferPointer { Y in
                let xp = X.baseAddress! + r0 * k, yp = Y.baseAddress!
                for c in classes {
                    let shared = c.members.allSatisfy { IntMXPackedActs.applies(m: m, acts: c.act, weights: group[$0].weightConfig) }
                        ? IntMXPackedActs(m: m, k: k, x: xp, acts: c.act) : nil
                    for i in c.members {
                        if let xa = shared { Kernels.intmxgemm(packed: xa, w: wq[i], y: yp) }
                        else { Kernels.intmxgemm(m: m, x: xp, acts: c.act, w: wq[i], y: yp) }
                        refs[i].withUnsafeBufferPointer { loss += sse(yp, $0.baseAddress! + r0 * group[i].rows, count: m * group[i].rows) }
                    }
                }
            } }
        })
    }

    /// What the clipping searches of the linears sharing one input need: the input quantized
    /// like at inference (full `tokens` rows, for the per-row guard) and, per MX block of
    /// columns, the Gram matrix G_b = X_bᵀ·X_b (Double) of the clip-search token subsample.
    struct ClipInputs {
        let x: [Float]
        let xq: [Float]
        let t: Int
        let k: Int
        let block: Int
        let act: MXConfig?
        /// Gram matrix of block blk at offset blk·block² (row-major [len, len], len = min(block, k − blk·block)).
        let grams: [Double]

        init(x: [Float], tokens t: Int, k: Int, block b: Int, actConfig: MXConfig?, clipTokens: Int) {
            precondition(x.count == t * k && b > 0)
            var xq = x
            if let a = actConfig {
                _ = xq.withUnsafeMutableBufferPointer { mxFakeQuantize($0, rows: t, cols: k, config: a, diagnostics: false) }
            }
            let (xc, tc) = AWQ.subsample(xq, rows: t, k: k, maxRows: clipTokens)
            let nb = (k + b - 1) / b
            var grams = [Double](repeating: 0, count: nb * b * b)
            grams.withUnsafeMutableBufferPointer { G in
                let gb = UncheckedSendable(G.baseAddress!)
                xc.withUnsafeBufferPointer { XC in
                    let xb = UncheckedSendable(XC.baseAddress!)
                    Parallel.forEach(nb) { blk in
                        let c0 = blk * b, len = min(b, k - c0)
                        let g = gb.value + blk * b * b
                        var row = [Double](repeating: 0, count: len)
                        for r in 0..<tc {
                            let src = xb.value + r * k + c0
                            for i in 0..<len { row[i] = Double(src[i]) }
                            for i in 0..<len {
                                let vi = row[i]
                                if vi == 0 { continue }
                                for j in i..<len { g[i * len + j] += vi * row[j] }
                            }
                        }
                        for i in 0..<len { for j in 0..<i { g[i * len + j] = g[j * len + i] } }
                    }
                }
            }
            self.x = x; self.xq = xq; self.t = t; self.k = k; self.block = b; self.act = actConfig; self.grams = grams
        }
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
        let inputs = ClipInputs(x: x, tokens: t, k: k, block: weightConfig.block, actConfig: actConfig,
                                clipTokens: options.clipTokens)
        return clip(weight: &weight, rows: n, weightConfig: weightConfig, inputs: inputs, options: options)
    }

    /// dᵀ·G·d for a symmetric [len, len] G (Double): t = Σ_i d_i·G[i, :] (rows with d_i = 0
    /// skipped), then Σ_j d_j·t_j in order. Vectorized over j (SIMD8) when len is a multiple of 8.
    @inline(__always)
    static func quadraticForm(_ g: UnsafePointer<Double>, d dp: UnsafePointer<Double>, tmp tp: UnsafeMutablePointer<Double>,
                              len: Int) -> Double {
        if len % 32 == 0 {
            // t in registers, 32 columns at a time (same per-column order as below)
            let graw = UnsafeRawPointer(g), traw = UnsafeMutableRawPointer(tp)
            var j0 = 0
            while j0 < len {
                var a0 = SIMD8<Double>(), a1 = SIMD8<Double>(), a2 = SIMD8<Double>(), a3 = SIMD8<Double>()
                for i in 0..<len where dp[i] != 0 {
                    let di = SIMD8<Double>(repeating: dp[i])
                    let off = (i * len + j0) * 8
                    a0 = a0 + di * graw.loadUnaligned(fromByteOffset: off, as: SIMD8<Double>.self)
                    a1 = a1 + di * graw.loadUnaligned(fromByteOffset: off + 64, as: SIMD8<Double>.self)
                    a2 = a2 + di * graw.loadUnaligned(fromByteOffset: off + 128, as: SIMD8<Double>.self)
                    a3 = a3 + di * graw.loadUnaligned(fromByteOffset: off + 192, as: SIMD8<Double>.self)
                }
                traw.storeBytes(of: a0, toByteOffset: j0 * 8, as: SIMD8<Double>.self)
                traw.storeBytes(of: a1, toByteOffset: j0 * 8 + 64, as: SIMD8<Double>.self)
                traw.storeBytes(of: a2, toByteOffset: j0 * 8 + 128, as: SIMD8<Double>.self)
                traw.storeBytes(of: a3, toByteOffset: j0 * 8 + 192, as: SIMD8<Double>.self)
                j0 += 32
            }
            var s = 0.0
            for j in 0..<len { s += dp[j] * tp[j] }
            return s
        }
        tp.update(repeating: 0, count: len)
        if len % 8 == 0 {
            let traw = UnsafeMutableRawPointer(tp), graw = UnsafeRawPointer(g)
            for i in 0..<len where dp[i] != 0 {
                let di = SIMD8<Double>(repeating: dp[i])
                var j = 0
                while j < len {
                    let off = j * 8
                    let acc = traw.loadUnaligned(fromByteOffset: off, as: SIMD8<Double>.self)
                    let gv = graw.loadUnaligned(fromByteOffset: (i * len) * 8 + off, as: SIMD8<Double>.self)
                    traw.storeBytes(of: acc + di * gv, toByteOffset: off, as: SIMD8<Double>.self)
                    j += 8
                }
            }
        } else {
            for i in 0..<len where dp[i] != 0 {
                let di = dp[i], gi = g + i * len
                for j in 0..<len { tp[j] += di * gi[j] }
            }
        }
        var s = 0.0
        for j in 0..<len { s += dp[j] * tp[j] }
        return s
    }

    /// `clip` with the shared inputs prepared once (`inputs.block` must be the weight block size).
    static func clip(weight: inout [Float], rows n: Int, weightConfig: MXConfig, inputs: ClipInputs,
                     options: AWQOptions) -> Int {
        let k = inputs.k, t = inputs.t
        let b = weightConfig.block
        precondition(inputs.block == b && weight.count == n * k)
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
        var bestErr = [Double](repeating: .infinity, count: n * nb)
        var bestRatio = [Double](repeating: 1, count: n * nb)
        var c = [Float](repeating: 0, count: n * k)
        for st in 0..<steps {
            let ratio = 1 - Double(st) / Double(options.clipGrid)
            // clamp every block to ratio·amax, then one fake-quant of the whole matrix (own block scales)
            weight.withUnsafeBufferPointer { W in
            c.withUnsafeMutableBufferPointer { C in
            amax.withUnsafeBufferPointer { A in
                let wb = UncheckedSendable(W.baseAddress!), cb = UncheckedSendable(C.baseAddress!), ab = UncheckedSendable(A.baseAddress!)
                Parallel.forRanges(n, minChunk: 16) { rr in
                    let w = wb.value, c = cb.value, amax = ab.value
                    for r in rr {
                        for blk in 0..<nb {
                            let lim = Float(Double(amax[r * nb + blk]) * ratio)
                            let c0 = blk * b, len = min(b, k - c0)
                            for j in c0..<(c0 + len) { c[r * k + j] = min(max(w[r * k + j], -lim), lim) }
                        }
                    }
                }
                _ = mxFakeQuantize(C, rows: n, cols: k, config: weightConfig, diagnostics: false)
            } } }
            // error of every (row, block): dᵀ·G_b·d with d = q − w over the block's columns
            weight.withUnsafeBufferPointer { W in
            c.withUnsafeBufferPointer { C in
            inputs.grams.withUnsafeBufferPointer { GR in
            bestErr.withUnsafeMutableBufferPointer { BE in
            bestRatio.withUnsafeMutableBufferPointer { BR in
                let wb = UncheckedSendable(W.baseAddress!), cb = UncheckedSendable(C.baseAddress!), gb = UncheckedSendable(GR.baseAddress!)
                let eb = UncheckedSendable(BE.baseAddress!), rb = UncheckedSendable(BR.baseAddress!)
                Parallel.forRanges(n, minChunk: 8) { rr in
                    let w = wb.value, c = cb.value, grams = gb.value, be = eb.value, br = rb.value
                    let d = UnsafeMutablePointer<Double>.allocate(capacity: 2 * b)
                    defer { d.deallocate() }
                    let tmp = d + b
                    for r in rr {
                        for blk in 0..<nb {
                            let c0 = blk * b, len = min(b, k - c0)
                            var any = false
                            for j in 0..<len {
                                d[j] = Double(c[r * k + c0 + j]) - Double(w[r * k + c0 + j])
                                if d[j] != 0 { any = true }
                            }
                            let err = any ? quadraticForm(grams + blk * b * b, d: d, tmp: tmp, len: len) : 0
                            if err < be[r * nb + blk] { be[r * nb + blk] = err; br[r * nb + blk] = ratio }
                        }
                    }
                }
            } } } } }
        }
        var clipped = weight
        var changedRows: [Int] = []
        for r in 0..<n {
            var changed = false
            for blk in 0..<nb where bestRatio[r * nb + blk] < 1 {
                let lim = Float(Double(amax[r * nb + blk]) * bestRatio[r * nb + blk])
                let c0 = blk * b, len = min(b, k - c0)
                for j in c0..<(c0 + len) {
                    clipped[r * k + j] = min(max(weight[r * k + j], -lim), lim)
                    if clipped[r * k + j] != weight[r * k + j] { changed = true }
                }
            }
            if changed { changedRows.append(r) }
        }
        if changedRows.isEmpty { return 0 }
        // Per-row guard on the full token set: keep a clipped row only if it does not raise the row's error.
        let ref = MatOps.gemm(inputs.x, weight, m: t, n: n, k: k)
        let y0 = MatOps.gemm(inputs.xq, RTN.quantized(weight, rows: n, cols: k, config: weightConfig), m: t, n: n, k: k)
        let cq = RTN.quantized(clipped, rows: n, cols: k, config: weightConfig)   // whole matrix: row-indexed rounding streams
        let nc = changedRows.count
        var sub = [Float](repeating: 0, count: nc * k)
        for (i, r) in changedRows.enumerated() { for j in 0..<k { sub[i * k + j] = cq[r * k + j] } }
        let y1 = MatOps.gemm(inputs.xq, sub, m: t, n: nc, k: k)
        var e0 = [Double](repeating: 0, count: nc), e1 = [Double](repeating: 0, count: nc)
        ref.withUnsafeBufferPointer { RF in y0.withUnsafeBufferPointer { Y0 in y1.withUnsafeBufferPointer { Y1 in
        e0.withUnsafeMutableBufferPointer { E0 in e1.withUnsafeMutableBufferPointer { E1 in
        changedRows.withUnsafeBufferPointer { CR in
            let rf = UncheckedSendable(RF.baseAddress!), p0 = UncheckedSendable(Y0.baseAddress!), p1 = UncheckedSendable(Y1.baseAddress!)
            let q0 = UncheckedSendable(E0.baseAddress!), q1 = UncheckedSendable(E1.baseAddress!), cr = UncheckedSendable(CR.baseAddress!)
            Parallel.forRanges(nc, minChunk: 16) { ir in
                let ref = rf.value, y0 = p0.value, y1 = p1.value, e0 = q0.value, e1 = q1.value, rows = cr.value
                for i in 0..<t {        // same order over tokens as a per-row loop: i ascending
                    for c in ir {
                        let r = rows[c]
                        let d0 = Double(y0[i * n + r] - ref[i * n + r]), d1 = Double(y1[i * nc + c] - ref[i * n + r])
                        e0[c] += d0 * d0; e1[c] += d1 * d1
                    }
                }
            }
        } } } } } }
        var kept = 0
        for (i, r) in changedRows.enumerated() where e1[i] <= e0[i] {
            for j in 0..<k where clipped[r * k + j] != weight[r * k + j] { weight[r * k + j] = clipped[r * k + j]; kept += 1 }
        }
        return kept
    }
}

