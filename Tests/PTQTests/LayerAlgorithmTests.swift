import XCTest
import Foundation
import Support
import MXFormats
import TestSupport
@testable import PTQ

/// Random inputs X[T, K] with correlated channels: X = Z·A with A = I + 0.6·(random), plus
/// a few channels with a large gain (outliers), as real LLM activations have.
func correlatedInputs(tokens t: Int, k: Int, seed: UInt64, outliers: [Int: Float] = [:]) -> [Float] {
    let z = randomFloats(t * k, seed: seed)
    var a = randomFloats(k * k, seed: seed &+ 1, scale: 0.6 / Float(k).squareRoot())
    for i in 0..<k { a[i * k + i] += 1 }
    // x[t, j] = Σ_i z[t, i] a[i, j]
    var x = [Float](repeating: 0, count: t * k)
    for r in 0..<t { for i in 0..<k { let zv = z[r * k + i]; for j in 0..<k { x[r * k + j] += zv * a[i * k + j] } } }
    for (j, g) in outliers { for r in 0..<t { x[r * k + j] *= g } }
    return x
}

/// ‖X·Wᵀ − X'·Qᵀ‖² in Double, naive loops (the reference for every error comparison here).
func outputSSE(x: [Float], xq: [Float]? = nil, w: [Float], q: [Float], tokens t: Int, rows n: Int, k: Int) -> Double {
    let xx = xq ?? x
    var e = 0.0
    for r in 0..<t {
        for o in 0..<n {
            var y = 0.0, yq = 0.0
            for j in 0..<k { y += Double(x[r * k + j]) * Double(w[o * k + j]); yq += Double(xx[r * k + j]) * Double(q[o * k + j]) }
            e += (y - yq) * (y - yq)
        }
    }
    return e
}

func naiveHessian(_ x: [Float], tokens t: Int, k: Int) -> [Double] {
    var h = [Double](repeating: 0, count: k * k)
    for r in 0..<t { for i in 0..<k { for j in 0..<k { h[i * k + j] += Double(x[r * k + i]) * Double(x[r * k + j]) } } }
    return h.map { $0 * 2 / Double(t) }
}

final class LayerAlgorithmTests: XCTestCase {
    let allFormats = MXFormat.allCases

    func testGlobAndPlanResolution() throws {
        XCTAssertTrue(globMatch("layers.0.*", "layers.0.self_attn.q_proj"))
        XCTAssertFalse(globMatch("layers.0.*", "layers.10.self_attn.q_proj"))
        XCTAssertTrue(globMatch("*.down_proj", "layers.12.mlp.down_proj"))
        XCTAssertFalse(globMatch("*.down_proj", "layers.12.mlp.up_proj"))
        XCTAssertTrue(globMatch("layers.?.mlp.*", "layers.3.mlp.up_proj"))
        XCTAssertFalse(globMatch("layers.?.mlp.*", "layers.13.mlp.up_proj"))
        XCTAssertTrue(globMatch("*", "lm_head"))
        let w4 = MXConfig(format: .mxint4), a8 = MXConfig(format: .mxint8)
        var plan = QuantPlan(defaults: QuantSpec(weight: w4, act: a8))
        plan.overrides.append(try QuantPlan.parseOverride("layers.0.*=mxint8", base: w4))
        plan.overrides.append(try QuantPlan.parseOverride("*.down_proj=-,none", base: w4))
        XCTAssertEqual(plan.spec(for: "layers.1.self_attn.q_proj"), QuantSpec(weight: w4, act: a8))
        XCTAssertEqual(plan.spec(for: "layers.0.self_attn.q_proj"), QuantSpec(weight: MXConfig(format: .mxint8), act: a8))
        XCTAssertEqual(plan.spec(for: "layers.0.mlp.down_proj"), QuantSpec(weight: MXConfig(format: .mxint8), act: nil))
        XCTAssertEqual(plan.spec(for: "layers.5.mlp.down_proj"), QuantSpec(weight: w4, act: nil))
        XCTAssertEqual(plan.spec(for: "lm_head"), .fp32, "LM head stays fp32 unless asked")
        plan.quantizeLMHead = true
        XCTAssertEqual(plan.spec(for: "lm_head"), QuantSpec(weight: w4, act: a8))
        XCTAssertThrowsError(try QuantPlan.parseOverride("layers.0.*", base: w4))
        XCTAssertThrowsError(try QuantPlan.parseOverride("x=mxint3", base: w4))
        XCTAssertEqual(LinearKind.parse("layers.7.mlp.down_proj")?.layer, 7)
        XCTAssertEqual(LinearKind.parse("layers.7.mlp.down_proj")?.kind, .down)
        XCTAssertNil(LinearKind.parse("layers.x.mlp.down_proj"))
    }

    func testRecipeParsingAndContradictions() throws {
        let r = try Recipe.parse("smoothquant(alpha=0.6),awq,gptq(act_order)")
        XCTAssertEqual(r.stages, [.smoothQuant(alpha: 0.6), .awq, .gptq(actOrder: true)])
        XCTAssertEqual(try Recipe.parse("sq -> awq -> gptq").stages, [.smoothQuant(alpha: 0.5), .awq, .gptq(actOrder: false)])
        XCTAssertEqual(try Recipe.parse("awq").effectiveStages, [.awq, .rtn])
        XCTAssertEqual(try Recipe.parse("awq,smoothquant").stages, [.awq, .smoothQuant(alpha: 0.5)], "any order of transforms")
        for bad in ["gptq,awq", "rtn,gptq", "awq,awq", "sq,sq(0.3)", "gptq,rtn", "foo", "sq(alpha=2)", "gptq(fast)", "awq,,gptq"] {
            XCTAssertThrowsError(try Recipe.parse(bad), bad) { e in
                XCTAssertTrue(e is UserFacingError, bad)
                XCTAssertFalse("\(e)".isEmpty)
            }
        }
        XCTAssertThrowsError(try Recipe.parse("awq,gptq").validate(weightsQuantized: false, actsQuantized: true))
        XCTAssertThrowsError(try Recipe.parse("sq").validate(weightsQuantized: false, actsQuantized: false))
        XCTAssertNoThrow(try Recipe.parse("sq").validate(weightsQuantized: false, actsQuantized: true))
        XCTAssertNoThrow(try Recipe.rtn.validate(weightsQuantized: false, actsQuantized: true))
    }

    func testPlanFromCommandLineStrings() throws {
        let p = try QuantPlan.make(weights: "mxfp4", acts: "mxint8", block: 16, scaleRule: "ceil", rounding: "away",
                                   recipe: "sq(alpha=0.7),gptq", overrides: ["*.down_proj=mxint8,-"], lmHead: true)
        let w = MXConfig(format: .mxfp4_e2m1, block: 16, scaleRule: .ceil, rounding: .away)
        let a = MXConfig(format: .mxint8, block: 16, scaleRule: .ceil, rounding: .away)
        XCTAssertEqual(p.spec(for: "layers.2.self_attn.v_proj"), QuantSpec(weight: w, act: a))
        XCTAssertEqual(p.spec(for: "layers.2.mlp.down_proj").weight?.format, .mxint8)
        XCTAssertEqual(p.spec(for: "layers.2.mlp.down_proj").act, a)
        XCTAssertEqual(p.spec(for: "lm_head"), QuantSpec(weight: w, act: a))
        XCTAssertEqual(p.recipe.stages, [.smoothQuant(alpha: 0.7), .gptq(actOrder: false)])
        let none = try QuantPlan.make(weights: "none", acts: nil)
        XCTAssertEqual(none.spec(for: "layers.0.mlp.up_proj"), .fp32)
        XCTAssertThrowsError(try QuantPlan.make(weights: "none", acts: "mxint8", recipe: "gptq"))   // no weights to round
        XCTAssertThrowsError(try QuantPlan.make(weights: "mxint4", acts: nil, block: 7))           // odd block
        XCTAssertThrowsError(try QuantPlan.make(weights: "mxint5", acts: nil))
        XCTAssertThrowsError(try QuantPlan.make(weights: "mxint4", acts: nil, rounding: "up"))
    }

    func testUpperCholeskyOfInverse() {
        for n in [1, 5, 37] {
            let b = randomFloats(n * n, seed: UInt64(n))
            var a = [Double](repeating: 0, count: n * n)
            for i in 0..<n { for j in 0..<n { for t in 0..<n { a[i * n + j] += Double(b[i * n + t]) * Double(b[j * n + t]) } } }
            for i in 0..<n { a[i * n + i] += 0.5 }
            guard let u = Linalg.upperCholeskyOfInverse(a, n: n) else { return XCTFail("SPD matrix rejected") }
            // upper triangular, and A·(UᵀU) = I
            for i in 0..<n { for j in 0..<i { XCTAssertEqual(u[i * n + j], 0) } }
            var inv = [Double](repeating: 0, count: n * n)
            for i in 0..<n { for j in 0..<n { for t in 0..<n { inv[i * n + j] += u[t * n + i] * u[t * n + j] } } }
            for i in 0..<n {
                for j in 0..<n {
                    var s = 0.0
                    for t in 0..<n { s += a[i * n + t] * inv[t * n + j] }
                    XCTAssertEqual(s, i == j ? 1 : 0, accuracy: 1e-8)
                }
            }
        }
        XCTAssertNil(Linalg.upperCholeskyOfInverse([1, 2, 2, 1], n: 2), "indefinite matrix")
    }

    /// The panelled Cholesky and triangular inverse are the column/row-wise reference
    /// algorithms reorganized: bit-identical results for any panel size (rows are independent
    /// within a panel step, so the thread count cannot matter either).
    func testPanelledFactorizationsAreBitIdentical() {
        // 203: row groups of 4 with a tail, column chunks of 16 with a tail, rows split over
        // threads; the banded case has zero factor entries (the skipped terms)
        for (n, band) in [(1, 0), (7, 0), (45, 0), (100, 0), (203, 0), (70, 5)] {
            let b = randomFloats(n * n, seed: UInt64(100 + n))
            var a = [Double](repeating: 0, count: n * n)
            for i in 0..<n { for j in 0..<n { for t in 0..<n { a[i * n + j] += Double(b[i * n + t]) * Double(b[j * n + t]) } } }
            if band > 0 {   // zero outside the band, diagonally dominant
                for i in 0..<n { for j in 0..<n where abs(i - j) > band { a[i * n + j] = 0 } }
                for i in 0..<n { a[i * n + i] += Double(n) }
            }
            for i in 0..<n { a[i * n + i] += 0.1 }
            var ref = a
            XCTAssertTrue(Linalg.choleskyLowerReference(&ref, n: n))
            var refInv = ref
            Linalg.invertLowerReference(&refInv, n: n)
            if band > 0 {
                XCTAssertTrue(ref.enumerated().contains { $0.offset % n < $0.offset / n && $0.element == 0 }, "zeros below the diagonal")
            }
            for panel in [1, 8, 32] {
                var l = a
                XCTAssertTrue(Linalg.choleskyLower(&l, n: n, panel: panel))
                XCTAssertEqual(l, ref, "cholesky n=\(n) panel=\(panel)")
                var inv = ref
                Linalg.invertLower(&inv, n: n, panel: panel)
                XCTAssertEqual(inv, refInv, "inverse n=\(n) panel=\(panel)")
            }
        }
        var bad: [Double] = [1, 2, 2, 1]
        XCTAssertFalse(Linalg.choleskyLower(&bad, n: 2))
    }

    func testHessianAccumulatorMatchesNaiveSum() {
        let t = 75, k = 13
        let x = randomFloats(t * k, seed: 3)
        let acc = HessianAccumulator(k: k, chunkRows: 16)   // several chunks, last one partial
        acc.add(Array(x[0..<(40 * k)]), rows: 40)
        acc.add(Array(x[(40 * k)...]), rows: 35)
        XCTAssertEqual(acc.count, t)
        let ref = naiveHessian(x, tokens: t, k: k)
        let h = acc.hessian
        for i in 0..<(k * k) { XCTAssertEqual(h[i], ref[i], accuracy: 1e-5 * max(1, abs(ref[i]))) }
        // K above the tile sizes (the last tiles partial): the half product is the full
        // product's upper triangle bit for bit, and the result is exactly symmetric
        let k2 = 8 * 2 + 9, t2 = 21
        let x2 = randomFloats(t2 * k2, seed: 4)
        let acc2 = HessianAccumulator(k: k2, chunkRows: 16)
        acc2.add(x2, rows: t2)
        var full = [Double](repeating: 0, count: k2 * k2)
        for (r0, n) in [(0, 16), (16, 5)] {
            let xt = MatOps.transpose(Array(x2[(r0 * k2)..<((r0 + n) * k2)]), rows: n, cols: k2)
            let g = MatOps.gemm(xt, xt, m: k2, n: k2, k: n)
            for i in 0..<(k2 * k2) { full[i] += Double(g[i]) }
        }
        let s2 = acc2.sum
        XCTAssertEqual(s2, full)
        let ref2 = naiveHessian(x2, tokens: t2, k: k2)
        let h2 = acc2.hessian
        for i in stride(from: 0, to: k2 * k2, by: 7) { XCTAssertEqual(h2[i], ref2[i], accuracy: 1e-5 * max(1, abs(ref2[i]))) }
    }

    /// With its own block exponent, the fixed-grid rounding is the format layer's rounding.
    func testGridMatchesFormatLayer() {
        for f in allFormats {
            for rule in [MXScaleRule.floor, .ceil] {
                for rounding in [MXRounding.even, .away, .stochastic(seed: 99)] {
                    let cfg = MXConfig(format: f, block: 16, scaleRule: rule, rounding: rounding)
                    var v = randomFloats(3 * 37, seed: 11, scale: 3)
                    v[5] = 0; v[40] = 1e-30; v[41] = -0.75   // zero, tiny, a tie-ish value
                    var ref = v
                    ref.withUnsafeMutableBufferPointer { _ = mxFakeQuantize($0, rows: 3, cols: 37, config: cfg) }
                    var mine = v
                    let g = MXGrid(cfg)
                    mine.withUnsafeMutableBufferPointer { p in
                        for r in 0..<3 { g.fakeQuantizeRow(p.baseAddress! + r * 37, count: 37, row: r) }
                    }
                    for i in 0..<v.count {
                        XCTAssertEqual(mine[i].bitPattern == ref[i].bitPattern || (mine[i] == 0 && ref[i] == 0), true,
                                       "\(f) \(rule) \(rounding) i=\(i): \(mine[i]) vs \(ref[i]) (input \(v[i]))")
                    }
                }
            }
        }
    }

    /// mx-numerics.md: an all-zero block has E = -127 and all-zero elements, so it decodes to 0.
    /// (PTQ relies on it: dead channels and zero-padded weights must stay exactly 0.)
    func testAllZeroBlockStaysZero() {
        for f in allFormats {
            var v = [Float](repeating: 0, count: 48)
            v[40] = 1
            v.withUnsafeMutableBufferPointer { _ = mxFakeQuantize($0, rows: 1, cols: 48, config: MXConfig(format: f, block: 16)) }
            XCTAssertEqual(v[0], 0, "format layer: mxFakeQuantize of an all-zero \(f) block gives \(v[0])")
            XCTAssertEqual(MXGrid(MXConfig(format: f, block: 16)).quantize(0, exponent: -127), 0)
        }
    }

    /// H = c·I: the inverse's Cholesky is diagonal, no error is propagated, so GPTQ is exactly RTN.
    func testGPTQWithIdentityHessianIsRTN() {
        let n = 6, k = 45
        let w = randomFloats(n * k, seed: 5)
        var h = [Double](repeating: 0, count: k * k)
        for i in 0..<k { h[i * k + i] = 2 }
        for f in [MXFormat.mxint4, .mxfp4_e2m1, .mxint8] {
            let cfg = MXConfig(format: f)
            var g = w
            let res = GPTQ.quantize(weight: &g, rows: n, cols: k, hessian: h, config: cfg, options: GPTQOptions(blockSize: 16))
            let r = RTN.quantized(w, rows: n, cols: k, config: cfg)
            XCTAssertEqual(g, r, "\(f)")
            XCTAssertEqual(res.deadColumns, 0)
            XCTAssertEqual(res.diagnostics.elements, n * k)
        }
    }

    /// The acceptance check: on a random linear with correlated inputs, GPTQ's output error is
    /// below RTN's for every format, in natural and act order, with several lazy batches.
    func testGPTQBeatsRTNForEveryFormat() {
        let t = 160, k = 72, n = 10
        let x = correlatedInputs(tokens: t, k: k, seed: 21, outliers: [3: 6, 40: 4])
        let w = randomFloats(n * k, seed: 22, scale: 0.2)
        let h = naiveHessian(x, tokens: t, k: k)
        for f in allFormats {
            let cfg = MXConfig(format: f, block: 32)
            let rtn = RTN.quantized(w, rows: n, cols: k, config: cfg)
            let eR = outputSSE(x: x, w: w, q: rtn, tokens: t, rows: n, k: k)
            for actOrder in [false, true] {
                var g = w
                let res = GPTQ.quantize(weight: &g, rows: n, cols: k, hessian: h, config: cfg,
                                        options: GPTQOptions(blockSize: 32, actOrder: actOrder))
                let eG = outputSSE(x: x, w: w, q: g, tokens: t, rows: n, k: k)
                XCTAssertLessThan(eG, eR, "\(f) actOrder=\(actOrder)")
                XCTAssertTrue(res.loss.isFinite)
                // every output value lies on an MX grid: re-encoding with the natural scales is exact
                // (holds for INT and for FP formats whose max normal tops its binade; see GPTQ docs)
                if f != .mxfp8_e4m3 {
                    XCTAssertEqual(RTN.quantized(g, rows: n, cols: k, config: cfg), g, "\(f) actOrder=\(actOrder): off-grid value")
                }
            }
        }
    }

    func testGPTQDeadColumnsAndLazyBatchInvariance() {
        let t = 90, k = 40, n = 5
        var x = correlatedInputs(tokens: t, k: k, seed: 31)
        for r in 0..<t { x[r * k + 7] = 0 }   // channel 7 never fires
        let w = randomFloats(n * k, seed: 32)
        let h = naiveHessian(x, tokens: t, k: k)
        let cfg = MXConfig(format: .mxint4, block: 16)
        var a = w, b = w
        let ra = GPTQ.quantize(weight: &a, rows: n, cols: k, hessian: h, config: cfg, options: GPTQOptions(blockSize: 8))
        _ = GPTQ.quantize(weight: &b, rows: n, cols: k, hessian: h, config: cfg, options: GPTQOptions(blockSize: 128))
        XCTAssertEqual(ra.deadColumns, 1)
        for r in 0..<n { XCTAssertEqual(a[r * k + 7], 0) }
        // lazy batching is an exact reorganization of the same updates: results agree up to fp32 rounding,
        // which may flip a rounding decision only rarely
        var differ = 0
        for i in 0..<(n * k) where a[i] != b[i] { differ += 1 }
        XCTAssertLessThanOrEqual(differ, n * k / 50)
        // act-order: with one-column batches every update is applied at once (no pending lazy
        // updates), so the values a block scale is frozen from are the reference for the batched
        // sweep, which must apply the pending updates of out-of-batch columns itself.
        func frozenValues(_ bs: Int) -> [String: [Float]] {
            var seen: [String: [Float]] = [:]
            let lock = NSLock()
            var c = w
            _ = GPTQ.quantize(weight: &c, rows: n, cols: k, hessian: h, config: cfg,
                              options: GPTQOptions(blockSize: bs, actOrder: true)) { r, b, v in
                lock.lock(); seen["\(r),\(b)"] = v; lock.unlock()
            }
            return seen
        }
        let ref = frozenValues(1), batched = frozenValues(6)
        XCTAssertEqual(ref.count, n * 3)
        XCTAssertEqual(Set(ref.keys), Set(batched.keys))
        for (key, v) in ref {
            let u = batched[key]!
            for i in 0..<v.count { XCTAssertEqual(u[i], v[i], accuracy: 1e-4 * max(1, abs(v[i])), "row,block \(key) col \(i)") }
        }
    }

    func testSmoothQuantScaleFormula() {
        // s = sqrt(actMax) / sqrt(weightMax) at α = 0.5; weight max clamped at 1e-5
        let s = SmoothQuant.scales(actMax: [4, 1, 9], weightMax: [1, 4, 0], alpha: 0.5)
        XCTAssertEqual(s[0], 2, accuracy: 1e-6)
        XCTAssertEqual(s[1], 0.5, accuracy: 1e-6)
        XCTAssertEqual(s[2], Float(3 / (1e-5 as Double).squareRoot()), accuracy: 1)
        let s1 = SmoothQuant.scales(actMax: [4], weightMax: [2], alpha: 1)
        XCTAssertEqual(s1[0], 4, accuracy: 1e-6)
        XCTAssertEqual(SmoothQuant.columnMax([[1, -3, 2, 0.5], [-4, 1]], k: 2), [4, 3])
    }

    /// α = 0 is in the grid, so on the data it searched AWQ (scales, then clipping with the
    /// per-row guard) is never worse than RTN — and with outlier channels it is better.
    func testAWQNeverWorseThanRTN() {
        let t = 128, k = 64, n = 12
        let x = correlatedInputs(tokens: t, k: k, seed: 41, outliers: [2: 12, 33: 8, 50: 5])
        let w1 = randomFloats(n * k, seed: 42, scale: 0.2)
        let w2 = randomFloats(8 * k, seed: 43, scale: 0.2)
        for (wf, af) in [(MXFormat.mxint4, MXFormat?.none), (.mxfp4_e2m1, .mxint8), (.mxint8, .mxint8)] {
            let wc = MXConfig(format: wf), ac = af.map { MXConfig(format: $0) }
            var mean = [Float](repeating: 0, count: k)
            for r in 0..<t { for j in 0..<k { mean[j] += abs(x[r * k + j]) / Float(t) } }
            let group = [AWQLinear(weight: w1, rows: n, weightConfig: wc, actConfig: ac),
                         AWQLinear(weight: w2, rows: 8, weightConfig: wc, actConfig: ac)]
            var opts = AWQOptions()
            opts.gridPoints = 10         // α = 0, 0.1, …, 0.9 (debug speed; α = 0 is what matters)
            let res = AWQ.searchScales(x: x, tokens: t, k: k, actMean: mean, group: group, options: opts)
            XCTAssertEqual(res.losses.count, 10)
            var xq = x
            if let a = ac { xq.withUnsafeMutableBufferPointer { _ = mxFakeQuantize($0, rows: t, cols: k, config: a) } }
            var rtnLoss = 0.0
            for l in group {
                rtnLoss += outputSSE(x: x, xq: xq, w: l.weight, q: RTN.quantized(l.weight, rows: l.rows, cols: k, config: wc),
                                     tokens: t, rows: l.rows, k: k)
            }
            XCTAssertEqual(res.losses[0], rtnLoss, accuracy: 1e-4 * rtnLoss, "α = 0 is RTN")
            // apply the scales and clip, then measure as inference would run it
            let inv = res.scales.map { 1 / $0 }
            var xs = x
            for r in 0..<t { for j in 0..<k { xs[r * k + j] *= inv[j] } }
            var xsq = xs
            if let a = ac { xsq.withUnsafeMutableBufferPointer { _ = mxFakeQuantize($0, rows: t, cols: k, config: a) } }
            var awqLoss = 0.0
            for l in group {
                var ws = l.weight
                for r in 0..<l.rows { for j in 0..<k { ws[r * k + j] *= res.scales[j] } }
                AWQ.clip(weight: &ws, rows: l.rows, k: k, weightConfig: wc, actConfig: ac, x: xs, tokens: t, options: opts)
                let q = RTN.quantized(ws, rows: l.rows, cols: k, config: wc)
                // compare against the original fp32 output X·Wᵀ (X·Wᵀ = (X/s)·(W·s)ᵀ)
                var e = 0.0
                for r in 0..<t {
                    for o in 0..<l.rows {
                        var y = 0.0, yq = 0.0
                        for j in 0..<k {
                            y += Double(x[r * k + j]) * Double(l.weight[o * k + j])
                            yq += Double(xsq[r * k + j]) * Double(q[o * k + j])
                        }
                        e += (y - yq) * (y - yq)
                    }
                }
                awqLoss += e
            }
            XCTAssertLessThanOrEqual(awqLoss, rtnLoss * (1 + 1e-5), "\(wf)/\(String(describing: af))")
            if wf == .mxint4 { XCTAssertLessThan(awqLoss, rtnLoss * 0.95, "outliers: AWQ should help at 4 bits") }
        }
    }
}
