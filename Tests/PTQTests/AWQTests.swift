import XCTest
import Foundation
import Support
import MXFormats
import TestSupport
@testable import PTQ

/// The fast AWQ searches against plain reference computations of the same definitions
/// (naive loops in Double, written from the documented formulas, not from the implementation).
final class AWQTests: XCTestCase {
    /// Naive loss of one α: Σ over the group of ‖Q_a(X/s)·Q_w(W·s)ᵀ − X·Wᵀ‖².
    func naiveLoss(x: [Float], t: Int, k: Int, s: [Float], group: [AWQLinear]) -> Double {
        var loss = 0.0
        for l in group {
            var xs = x
            for r in 0..<t { for j in 0..<k { xs[r * k + j] *= 1 / s[j] } }
            if let a = l.actConfig { xs.withUnsafeMutableBufferPointer { _ = mxFakeQuantize($0, rows: t, cols: k, config: a) } }
            var ws = l.weight
            for r in 0..<l.rows { for j in 0..<k { ws[r * k + j] *= s[j] } }
            let q = RTN.quantized(ws, rows: l.rows, cols: k, config: l.weightConfig)
            loss += outputSSE(x: x, xq: xs, w: l.weight, q: q, tokens: t, rows: l.rows, k: k)
        }
        return loss
    }

    /// s(α) = max(mean^α, 1e-4) / sqrt(max·min), hand-checked on a 3-channel example.
    func testCandidateScales() {
        let s = AWQ.candidateScales(actMean: [4, 1, 0.25], alpha: 0.5)
        // mean^0.5 = 2, 1, 0.5; sqrt(2·0.5) = 1
        XCTAssertEqual(s[0], 2, accuracy: 1e-6); XCTAssertEqual(s[1], 1, accuracy: 1e-6); XCTAssertEqual(s[2], 0.5, accuracy: 1e-6)
        XCTAssertEqual(AWQ.candidateScales(actMean: [4, 1, 0.25], alpha: 0), [1, 1, 1])
        XCTAssertEqual(AWQ.searchOrder(5), [2, 1, 3, 0, 4])
        XCTAssertEqual(Set(AWQ.searchOrder(20)), Set(0..<20))
        XCTAssertEqual(AWQ.searchOrder(20).count, 20)
    }

    /// The scale search chooses the naive argmin (ties to the smaller α); losses of fully
    /// evaluated candidates equal the naive ones, abandoned ones are lower bounds above the best;
    /// the early stop (small token chunks) does not change the choice; two linears with different
    /// activation formats in one group are each measured with their own.
    func testScaleSearchMatchesNaiveDefinition() {
        let t = 48, k = 40
        let x = correlatedInputs(tokens: t, k: k, seed: 51, outliers: [1: 10, 22: 6])
        var mean = [Float](repeating: 0, count: k)
        for r in 0..<t { for j in 0..<k { mean[j] += abs(x[r * k + j]) / Float(t) } }
        let w4 = MXConfig(format: .mxint4, block: 16), a8 = MXConfig(format: .mxint8, block: 16)
        let group = [AWQLinear(weight: randomFloats(6 * k, seed: 52, scale: 0.2), rows: 6, weightConfig: w4, actConfig: a8),
                     AWQLinear(weight: randomFloats(5 * k, seed: 53, scale: 0.2), rows: 5, weightConfig: w4, actConfig: nil),
                     AWQLinear(weight: randomFloats(3 * k, seed: 54, scale: 0.2), rows: 3, weightConfig: w4, actConfig: a8)]
        var opts = AWQOptions()
        opts.gridPoints = 8
        let naive = (0..<8).map { naiveLoss(x: x, t: t, k: k, s: AWQ.candidateScales(actMean: mean, alpha: Double($0) / 8), group: group) }
        let best = naive.indices.min { naive[$0] < naive[$1] || (naive[$0] == naive[$1] && $0 < $1) }!
        for chunk in [1024, 7] {
            let res = AWQ.searchScales(x: x, tokens: t, k: k, actMean: mean, group: group, options: opts, chunkRows: chunk)
            XCTAssertEqual(res.bestAlpha, Double(best) / 8, "chunk \(chunk)")
            XCTAssertEqual(res.scales, AWQ.candidateScales(actMean: mean, alpha: Double(best) / 8))
            var abandoned = 0
            for i in 0..<8 {
                // fp32 GEMM outputs vs the Double reference: agreement to ~1e-6 relative
                if res.losses[i] < naive[i] * (1 - 1e-5) {
                    abandoned += 1
                    XCTAssertGreaterThan(res.losses[i], res.losses[best], "chunk \(chunk) α index \(i): abandoned below the best")
                } else {
                    XCTAssertEqual(res.losses[i], naive[i], accuracy: 1e-5 * naive[i], "chunk \(chunk) α index \(i)")
                }
            }
            if chunk == 1024 { XCTAssertEqual(abandoned, 0) } else { XCTAssertGreaterThan(abandoned, 0, "early stop not exercised") }
        }
    }

    /// dᵀ·G·d by SIMD (block multiple of 32, of 8) and scalar paths against the plain double sum.
    func testQuadraticForm() {
        for len in [32, 64, 16, 10] {
            let a = randomFloats(len * 5, seed: UInt64(len))
            var g = [Double](repeating: 0, count: len * len)
            for r in 0..<5 { for i in 0..<len { for j in 0..<len { g[i * len + j] += Double(a[r * len + i]) * Double(a[r * len + j]) } } }
            var d = randomFloats(len, seed: 99).map(Double.init)
            d[1] = 0
            var ref = 0.0
            for i in 0..<len { for j in 0..<len { ref += d[i] * g[i * len + j] * d[j] } }
            var tmp = [Double](repeating: 0, count: len)
            let v = g.withUnsafeBufferPointer { G in d.withUnsafeBufferPointer { D in tmp.withUnsafeMutableBufferPointer { T in
                AWQ.quadraticForm(G.baseAddress!, d: D.baseAddress!, tmp: T.baseAddress!, len: len) } } }
            XCTAssertEqual(v, ref, accuracy: 1e-10 * abs(ref), "len \(len)")
        }
    }

    /// The clipping search against a naive implementation of its definition: per (row, block),
    /// the ratio in 1, 1−1/grid, … (> 1 − maxShrink) minimizing Σ_t (x_t·(Q(clamp(w)) − w))² over
    /// the subsample of the act-quantized input (first ratio wins ties), then the per-row guard
    /// on all tokens. K = 40 with block 16 has a short last block.
    func testClipMatchesNaiveDefinition() {
        let t = 40, k = 40, n = 7, b = 16
        let x = correlatedInputs(tokens: t, k: k, seed: 61, outliers: [5: 8])
        var w = randomFloats(n * k, seed: 62, scale: 0.2)
        w[3] = 1.5; w[k + 20] = -2; w[2 * k + 39] = 1.2    // block outliers worth clipping
        let wc = MXConfig(format: .mxint4, block: b), ac = MXConfig(format: .mxint8, block: b)
        var opts = AWQOptions()
        opts.clipTokens = 16          // strided subsample: rows 0, 2.5→2, 5, …
        opts.clipGrid = 10; opts.maxShrink = 0.5    // ratios 1.0 … 0.6
        // naive reference
        var xq = x
        xq.withUnsafeMutableBufferPointer { _ = mxFakeQuantize($0, rows: t, cols: k, config: ac) }
        let subRows = (0..<16).map { ($0 * t) / 16 }
        let nb = 3
        var clipped = w
        for r in 0..<n {
            for blk in 0..<nb {
                let c0 = blk * b, c1 = min(k, c0 + b)
                let amax = (c0..<c1).map { abs(w[r * k + $0]) }.max()!
                var bestErr = Double.infinity, bestRatio = 1.0
                for st in 0..<5 {
                    let ratio = 1 - Double(st) / 10
                    var c = w
                    let lim = Float(Double(amax) * ratio)
                    for j in c0..<c1 { c[r * k + j] = min(max(w[r * k + j], -lim), lim) }
                    // blocks are quantized independently: quantizing the whole row gives this block's values
                    let q = RTN.quantized(c, rows: n, cols: k, config: wc)
                    var err = 0.0
                    for i in subRows {
                        var dot = 0.0
                        for j in c0..<c1 { dot += Double(xq[i * k + j]) * (Double(q[r * k + j]) - Double(w[r * k + j])) }
                        err += dot * dot
                    }
                    if err < bestErr { bestErr = err; bestRatio = ratio }
                }
                let lim = Float(Double(amax) * bestRatio)
                for j in c0..<c1 { clipped[r * k + j] = min(max(w[r * k + j], -lim), lim) }
            }
        }
        let q0 = RTN.quantized(w, rows: n, cols: k, config: wc), q1 = RTN.quantized(clipped, rows: n, cols: k, config: wc)
        var expect = w
        var expectChanged = 0
        for r in 0..<n {
            var e0 = 0.0, e1 = 0.0
            for i in 0..<t {
                var y = 0.0, y0 = 0.0, y1 = 0.0
                for j in 0..<k {
                    y += Double(x[i * k + j]) * Double(w[r * k + j])
                    y0 += Double(xq[i * k + j]) * Double(q0[r * k + j]); y1 += Double(xq[i * k + j]) * Double(q1[r * k + j])
                }
                e0 += (y0 - y) * (y0 - y); e1 += (y1 - y) * (y1 - y)
            }
            if e1 <= e0 { for j in 0..<k where clipped[r * k + j] != w[r * k + j] { expect[r * k + j] = clipped[r * k + j]; expectChanged += 1 } }
        }
        XCTAssertGreaterThan(expectChanged, 0, "the case must exercise clipping")
        var mine = w
        let changed = AWQ.clip(weight: &mine, rows: n, k: k, weightConfig: wc, actConfig: ac, x: x, tokens: t, options: opts)
        XCTAssertEqual(changed, expectChanged)
        XCTAssertEqual(mine, expect)
    }
}
