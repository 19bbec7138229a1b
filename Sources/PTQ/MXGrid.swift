import MXFormats

/// The MX rounding grid seen by one row segment of a weight matrix: the shared
/// block exponent of a set of values, and the rounding of single elements under a
/// *fixed* exponent. GPTQ needs the latter (a block's scale is frozen when the sweep
/// first reaches the block, later columns are rounded on that frozen grid), which the
/// whole-tensor fake-quantizer cannot do.
///
/// Implements docs/mx-numerics.md (shared exponent floor/ceil, clamped to [-127, 127],
/// all-zero block → -127; round-to-nearest with ties even/away or stochastic; saturate
/// to ±max normal; INT: k·2^(2-bits) with |k| ≤ 2^(bits-1)-1). For a block whose exponent
/// is its own (not frozen) the result equals `mxFakeQuantize`, a test checks it.
struct MXGrid {
    let config: MXConfig
    /// Element format parameters.
    let isInt: Bool
    let mantissaBits: Int      // FP: explicit mantissa bits; INT: fraction bits (bits-2)
    let minExponent: Int       // FP: exponent of the smallest normal (1 - bias)
    let maxNormal: Double
    let emaxElem: Int

    init(_ config: MXConfig) {
        self.config = config
        switch config.format {
        case .mxint8: isInt = true; mantissaBits = 6; minExponent = 0; maxNormal = 127.0 / 64; emaxElem = 0
        case .mxint4: isInt = true; mantissaBits = 2; minExponent = 0; maxNormal = 7.0 / 4; emaxElem = 0
        case .mxfp8_e4m3: isInt = false; mantissaBits = 3; minExponent = -6; maxNormal = 448; emaxElem = 8
        case .mxfp8_e5m2: isInt = false; mantissaBits = 2; minExponent = -14; maxNormal = 57344; emaxElem = 15
        case .mxfp6_e3m2: isInt = false; mantissaBits = 2; minExponent = -2; maxNormal = 28; emaxElem = 4
        case .mxfp6_e2m3: isInt = false; mantissaBits = 3; minExponent = 0; maxNormal = 7.5; emaxElem = 2
        case .mxfp4_e2m1: isInt = false; mantissaBits = 1; minExponent = 0; maxNormal = 6; emaxElem = 2
        }
    }

    /// Shared exponent E (unbiased, in [-127, 127]) for a block whose largest magnitude is `amax`.
    /// `amax` must be finite.
    func exponent(amax: Float) -> Int {
        if !(amax > 0) { return -127 }
        var e: Int
        switch config.scaleRule {
        case .floor:
            e = Int(amax.exponent) - emaxElem
        case .ceil:
            // smallest E with amax <= maxNormal * 2^E (exact comparisons in Double)
            let a = Double(amax)
            e = Int((a / maxNormal).exponent)
            while maxNormal * pow2(e) < a { e += 1 }
            while maxNormal * pow2(e - 1) >= a { e -= 1 }
        }
        return min(127, max(-127, e))
    }

    /// Largest magnitude of `n` values at `p` with stride `stride`.
    @inline(__always)
    static func amax(_ p: UnsafePointer<Float>, count n: Int, stride: Int = 1) -> Float {
        var m: Float = 0
        for i in 0..<n { m = max(m, abs(p[i * stride])) }
        return m
    }

    /// Rounds `v` onto the grid of exponent `e`: returns the dequantized value
    /// (element value × 2^e) in fp32. `u` is a uniform [0,1) draw used only by stochastic rounding.
    @inline(__always)
    func quantize(_ v: Float, exponent e: Int, uniform u: Double = 0.5) -> Float {
        var c = GridCounts()
        return quantize(v, exponent: e, uniform: u, counts: &c)
    }

    /// Same, counting saturated (|v|/2^e beyond max normal) and flushed (nonzero → 0) elements.
    @inline(__always)
    func quantize(_ v: Float, exponent e: Int, uniform u: Double = 0.5, counts: inout GridCounts) -> Float {
        let x = Double(v) * pow2(-e)
        let ax = abs(x)
        if ax > maxNormal { counts.saturated += 1 }
        var q: Double
        if isInt {
            q = roundScaled(ax * pow2(mantissaBits), u: u) * pow2(-mantissaBits)
        } else {
            let ex = ax > 0 ? max(Int(ax.exponent), minExponent) : minExponent
            let quantum = pow2(ex - mantissaBits)
            q = roundScaled(ax / quantum, u: u) * quantum
        }
        if q > maxNormal { q = maxNormal }
        let r = Float((x < 0 ? -q : q) * pow2(e))
        if r == 0 && v != 0 { counts.flushed += 1 }
        return isInt && r == 0 ? 0 : r
    }

    /// Rounds a non-negative real to an integer per the configured tie rule.
    @inline(__always)
    private func roundScaled(_ y: Double, u: Double) -> Double {
        switch config.rounding {
        case .even: return y.rounded(.toNearestOrEven)
        case .away: return y.rounded(.toNearestOrAwayFromZero)
        case .stochastic:
            let f = y.rounded(.down)
            return (y - f) > u ? f + 1 : f
        }
    }

    @inline(__always) func pow2(_ e: Int) -> Double { Double(sign: .plus, exponent: e, significand: 1) }

    /// Quantize-dequantize a row segment in place with its own block exponents
    /// (blocks of `config.block` starting at index 0). Used by AWQ's inner search,
    /// where only even/away rounding is meaningful; returns nothing.
    func fakeQuantizeRow(_ p: UnsafeMutablePointer<Float>, count n: Int) {
        let b = config.block
        var s = 0
        while s < n {
            let len = min(b, n - s)
            let e = exponent(amax: MXGrid.amax(p + s, count: len))
            for i in s..<(s + len) { p[i] = quantize(p[i], exponent: e) }
            s += len
        }
    }
}

/// Counters kept while rounding on a fixed grid.
struct GridCounts {
    var saturated = 0
    var flushed = 0
    mutating func merge(_ o: GridCounts) { saturated += o.saturated; flushed += o.flushed }
}

/// A deterministic uniform [0, 1) draw for element (row, col) under `seed`, used for
/// stochastic rounding on a frozen grid (GPTQ).
@inline(__always)
func elementUniform(seed: UInt64, row: Int, col: Int) -> Double {
    var z = seed &+ UInt64(truncatingIfNeeded: row) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(truncatingIfNeeded: col) &* 0xD1B5_4A32_D192_ED03
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    z ^= z >> 31
    return Double(z >> 11) * (1.0 / 9_007_199_254_740_992.0)
}
