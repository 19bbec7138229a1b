// Elementwise building blocks of the Llama forward pass: RMSNorm, RoPE tables and
// rotation, a vectorised exp (softmax, SiLU, log-softmax), SwiGLU.
// All functions work on one row at a time and write only their own outputs, so the
// callers can run rows in parallel and stay bit-identical for any thread count.
import Foundation
import Support
import ModelIO

// MARK: - exp

/// exp(x) for 16 lanes, accurate to about 2 ulp over the float range (Cephes `expf`
/// polynomial with Cody–Waite range reduction). Inputs are clamped to [-87.3, 88.3],
/// so exp of very negative numbers (and of -inf) returns ~1e-38 rather than 0; callers
/// that need exact zeros (masked attention) write them explicitly.
@inline(__always)
func expVector(_ xIn: SIMD16<Float>) -> SIMD16<Float> {
    // (Mask-and-replace compiles to vector compares/blends; the generic clamped/pointwiseMax
    // do not always.)
    var x = xIn
    let lo = SIMD16<Float>(repeating: -87.3), hi = SIMD16<Float>(repeating: 88.3)
    x.replace(with: lo, where: .!(x .>= lo))   // also maps NaN to lo
    x.replace(with: hi, where: x .> hi)
    // n = round(x / ln 2) via the 1.5·2^23 trick (round-to-nearest-even, exact for |n| < 2^22).
    let magic = SIMD16<Float>(repeating: 12_582_912.0)
    let t = x * 1.442_695_040_888_963_4 + magic
    let n = t - magic
    var r = x - n * 0.693_359_375
    r = r - n * (-2.121_944_400_546_905_827_68e-4)
    var p = SIMD16<Float>(repeating: 1.987_569_150_0e-4)
    p = p * r + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    let y = p * (r * r) + r + 1
    // 2^n: integer n sits in the low mantissa bits of t.
    let ni = unsafeBitCast(t, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
    let pow2 = unsafeBitCast((ni &+ 127) &<< 23, to: SIMD16<Float>.self)
    return y * pow2
}

/// Scalar exp with the same algorithm as `expVector` (used for row tails so that a value's
/// result does not depend on its position in the row).
@inline(__always)
func expScalar(_ x: Float) -> Float {
    expVector(SIMD16(repeating: x))[0]
}

// MARK: - RMSNorm

/// y[c] = x[c] / sqrt(mean(x²) + eps) · w[c] for one row of `n` values.
/// The sum of squares is accumulated in Double (fixed order).
@inline(__always)
func rmsNormRow(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                n: Int, eps: Float) {
    var ss = 0.0
    for c in 0..<n { let v = Double(x[c]); ss += v * v }
    let inv = Float(1.0 / (ss / Double(n) + Double(eps)).squareRoot())
    for c in 0..<n { y[c] = (x[c] * inv) * w[c] }
}

/// `rmsNormRow` of 8 consecutive rows (row stride n) with the same bits: lane r of the Double
/// vector is row r's sum of squares, added in the same order as `rmsNormRow`'s chain (x² is exact
/// in Double, so only the adds round). Eight independent chains instead of one: the serial chain is
/// bound by the add latency (`mxq bench ptq`: 2.35–2.95× for 2048 × 576 on Zen 4).
@inline(__always)
func rmsNormRows8(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                  n: Int, eps: Float) {
    var ss = SIMD8<Double>()
    for c in 0..<n {
        var f = SIMD8<Float>()
        for r in 0..<8 { f[r] = x[r * n + c] }
        let v = SIMD8<Double>(f)
        ss += v * v
    }
    for r in 0..<8 {
        let inv = Float(1.0 / (ss[r] / Double(n) + Double(eps)).squareRoot())
        let xr = x + r * n, yr = y + r * n
        for c in 0..<n { yr[c] = (xr[c] * inv) * w[c] }
    }
}

/// RMSNorm of `rows` rows of `n` values (row-major), parallel over rows; every row has
/// `rmsNormRow`'s bits (groups of 8 rows through `rmsNormRows8`, the rest one by one).
func rmsNorm(_ x: UnsafePointer<Float>, weight w: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
             rows: Int, n: Int, eps: Float, threads: Int? = nil) {
    let xs = UncheckedSendable(x), ws = UncheckedSendable(w), ys = UncheckedSendable(y)
    Parallel.forRanges(rows, threads: threads, minChunk: 16) { range in
        var r = range.lowerBound
        while r + 8 <= range.upperBound {
            rmsNormRows8(xs.value + r * n, ws.value, ys.value + r * n, n: n, eps: eps)
            r += 8
        }
        while r < range.upperBound {
            rmsNormRow(xs.value + r * n, ws.value, ys.value + r * n, n: n, eps: eps)
            r += 1
        }
    }
}

// MARK: - RoPE

/// Precomputed cos/sin for positions 0..<maxPositions and pair index i in 0..<headDim/2:
/// angle = pos · invFreq[i] (theta^(-2i/headDim) unless RoPE scaling changes it, see
/// `RopeScaling.inverseFrequencies`), computed in Double and rounded to Float.
struct RopeTables {
    let headDim: Int
    let positions: Int
    let cos: [Float]  // [positions * headDim/2]
    let sin: [Float]

    init(headDim: Int, positions: Int, theta: Double) {
        self.init(headDim: headDim, positions: positions,
                  inverseFrequencies: RopeScaling.none.inverseFrequencies(headDim: headDim, theta: theta))
    }

    init(headDim: Int, positions: Int, inverseFrequencies inv: [Double]) {
        precondition(headDim % 2 == 0 && headDim > 0, "RoPE head dimension must be even")
        let half = headDim / 2
        precondition(inv.count == half, "RoPE: one inverse frequency per pair")
        self.headDim = headDim
        self.positions = positions
        var c = [Float](repeating: 0, count: positions * half)
        var s = [Float](repeating: 0, count: positions * half)
        for i in 0..<half {
            let invFreq = inv[i]
            for p in 0..<positions {
                let a = Double(p) * invFreq
                c[p * half + i] = Float(Foundation.cos(a))
                s[p * half + i] = Float(Foundation.sin(a))
            }
        }
        cos = c; sin = s
    }

    /// Rotates one head vector `x[headDim]` in place for position `pos`.
    @inline(__always)
    func rotate(_ x: UnsafeMutablePointer<Float>, pos: Int, layout: RopeLayout,
                cosBase: UnsafePointer<Float>, sinBase: UnsafePointer<Float>) {
        let half = headDim / 2
        let cp = cosBase + pos * half, sp = sinBase + pos * half
        switch layout {
        case .halves:
            for i in 0..<half {
                let a = x[i], b = x[i + half]
                x[i] = a * cp[i] - b * sp[i]
                x[i + half] = b * cp[i] + a * sp[i]
            }
        case .interleaved:
            for i in 0..<half {
                let a = x[2 * i], b = x[2 * i + 1]
                x[2 * i] = a * cp[i] - b * sp[i]
                x[2 * i + 1] = b * cp[i] + a * sp[i]
            }
        }
    }
}

// MARK: - SwiGLU

/// gate[i] ← silu(gate[i]) · up[i] = gate[i] / (1 + exp(-gate[i])) · up[i], for `n` values.
@inline(__always)
func swiGLU(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, n: Int) {
    var i = 0
    while i + 16 <= n {
        let g = UnsafeRawPointer(gate + i).loadUnaligned(as: SIMD16<Float>.self)
        let u = UnsafeRawPointer(up + i).loadUnaligned(as: SIMD16<Float>.self)
        let r = g / (1 + expVector(-g)) * u
        UnsafeMutableRawPointer(gate + i).storeBytes(of: r, as: SIMD16<Float>.self)
        i += 16
    }
    while i < n {
        let g = gate[i]
        gate[i] = g / (1 + expScalar(-g)) * up[i]
        i += 1
    }
}

// MARK: - softmax helpers

/// max of `n` floats (n ≥ 1).
@inline(__always)
func rowMax(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var m = SIMD16<Float>(repeating: -.infinity)
    var i = 0
    while i + 16 <= n {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
        m.replace(with: v, where: v .> m)
        i += 16
    }
    var s = m.max()
    while i < n { s = max(s, x[i]); i += 1 }
    return s
}

/// x[j] ← exp(x[j] - shift) for j < n; returns Σ x[j] (16 lane partial sums, then lanes in order,
/// then the tail: a fixed order).
@inline(__always)
func expShiftSum(_ x: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> Float {
    var acc = SIMD16<Float>(repeating: 0)
    let sh = SIMD16<Float>(repeating: shift)
    var i = 0
    while i + 16 <= n {
        let e = expVector(UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self) - sh)
        UnsafeMutableRawPointer(x + i).storeBytes(of: e, as: SIMD16<Float>.self)
        acc += e
        i += 16
    }
    var s = acc.sum()
    while i < n { let e = expScalar(x[i] - shift); x[i] = e; s += e; i += 1 }
    return s
}

/// Σ exp(x[j] - shift) for j < n without writing (same order as `expShiftSum`).
@inline(__always)
func sumExpShift(_ x: UnsafePointer<Float>, _ n: Int, shift: Float) -> Float {
    var acc = SIMD16<Float>(repeating: 0)
    let sh = SIMD16<Float>(repeating: shift)
    var i = 0
    while i + 16 <= n {
        acc += expVector(UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self) - sh)
        i += 16
    }
    var s = acc.sum()
    while i < n { s += expScalar(x[i] - shift); i += 1 }
    return s
}

/// log Σ_{j<n} exp(x[j]) in Double: the row's max plus the log of `sumExpShift` around it.
@inline(__always)
func logSumExp(_ x: UnsafePointer<Float>, _ n: Int) -> Double {
    let m = rowMax(x, n)
    return Foundation.log(Double(sumExpShift(x, n, shift: m))) + Double(m)
}

/// KL(p ‖ q) in nats for one row, p = softmax(a) given as probabilities `p` (Σ p ≈ 1) with logits
/// `a`, q = softmax(b), all [n]. With d = b − a: KL = log(Σ p e^d / S) − Σ p d / S (S = Σ p), computed
/// as log1p((B + G)/S) − B/S where B = Σ p d and G = Σ p (e^d − 1 − d), d first centred on its
/// p-weighted mean (KL does not change under a common shift of d); G is summed from a Taylor
/// polynomial where |d| < 1/2 (no cancellation: relative precision), so the result is accurate to
/// float rounding of KL itself, with no dependence on either row's log-partition function. Float
/// within runs of 1024 elements (16 lanes, then lanes in order), Double across runs: a fixed order.
@inline(__always)
func klRow(_ p: UnsafePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Double {
    @inline(__always) func g16(_ d: SIMD16<Float>) -> SIMD16<Float> {
        typealias V = SIMD16<Float>
        var t = V(repeating: 1 / 362880) * d + V(repeating: 1 / 40320)
        t = t * d + V(repeating: 1 / 5040); t = t * d + V(repeating: 1 / 720); t = t * d + V(repeating: 1 / 120)
        t = t * d + V(repeating: 1 / 24); t = t * d + V(repeating: 1 / 6); t = t * d + V(repeating: 1 / 2)
        var g = t * d * d
        let big = (d .> 0.5) .| (d .< -0.5)
        if any(big) { g.replace(with: expVector(d) - 1 - d, where: big) }
        return g
    }
    @inline(__always) func g1(_ d: Float) -> Float {
        if abs(d) >= 0.5 { return expScalar(d) - 1 - d }
        var t: Float = (1 / 362880) * d + 1 / 40320
        t = t * d + 1 / 5040; t = t * d + 1 / 720; t = t * d + 1 / 120; t = t * d + 1 / 24; t = t * d + 1 / 6; t = t * d + 1 / 2
        return t * d * d
    }
    // KL is unchanged when d shifts by a constant: d is centred on (roughly) its p-mean first, so a
    // common shift of all logits (softmax-invariant) does not make B and G large and cancelling.
    var mean = SIMD16<Float>(repeating: 0), mp = mean
    var i = 0
    while i + 16 <= n {
        let pv = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self)
        mean += pv * (UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Float>.self) - UnsafeRawPointer(a + i).loadUnaligned(as: SIMD16<Float>.self))
        mp += pv
        i += 16
    }
    var cs = mean.sum(), ps = mp.sum()
    while i < n { cs += p[i] * (b[i] - a[i]); ps += p[i]; i += 1 }
    let c = ps > 0 ? SIMD16<Float>(repeating: cs / ps) : SIMD16<Float>(repeating: 0)
    var S = 0.0, B = 0.0, G = 0.0
    i = 0
    while i < n {
        let end = min(n, i + 1024)
        var sp = SIMD16<Float>(repeating: 0), sb = sp, sg = sp
        while i + 16 <= end {
            let pv = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self)
            let d = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Float>.self) - UnsafeRawPointer(a + i).loadUnaligned(as: SIMD16<Float>.self) - c
            sp += pv; sb += pv * d; sg += pv * g16(d)
            i += 16
        }
        var fp = sp.sum(), fb = sb.sum(), fg = sg.sum()
        while i < end { let d = b[i] - a[i] - c[0]; fp += p[i]; fb += p[i] * d; fg += p[i] * g1(d); i += 1 }
        S += Double(fp); B += Double(fb); G += Double(fg)
    }
    guard S > 0 else { return .nan }
    return Foundation.log1p((B + G) / S) - B / S
}

/// x[j] ← x[j] · a for j < n.
@inline(__always)
func scaleRow(_ x: UnsafeMutablePointer<Float>, _ n: Int, by a: Float) {
    for j in 0..<n { x[j] *= a }
}
