import MXFormats

/// The MX rounding grid seen by one row segment of a weight matrix: the shared
/// block exponent of a set of values, and the rounding of single elements under a
/// *fixed* exponent. GPTQ needs the latter (a block's scale is frozen when the sweep
/// first reaches the block, later columns are rounded on that frozen grid), which the
/// whole-tensor fake-quantizer cannot do.
///
/// Delegates to the format layer (`MXFormat.sharedExponent`, `quantizeElement`); for a block
/// whose exponent is its own (not frozen) the result equals `mxFakeQuantize`, a test checks it.
struct MXGrid {
    let config: MXConfig
    let format: MXFormat
    let maxNormal: Float

    init(_ config: MXConfig) {
        self.config = config
        format = config.format
        maxNormal = config.format.traits.maxNormal
    }

    /// Shared exponent E (unbiased, in [-127, 127]) for a block whose largest magnitude is
    /// `amax` (finite), by the format layer's rule.
    @inline(__always)
    func exponent(amax: Float) -> Int { format.sharedExponent(amax: amax, rule: config.scaleRule) }

    /// Largest magnitude of `n` values at `p` with stride `stride`.
    @inline(__always)
    static func amax(_ p: UnsafePointer<Float>, count n: Int, stride: Int = 1) -> Float {
        var m: Float = 0
        for i in 0..<n { m = max(m, abs(p[i * stride])) }
        return m
    }

    /// Rounds `v` onto the grid of exponent `e` (the format layer's element rounding):
    /// returns the dequantized fp32 value. `random` feeds stochastic rounding only
    /// (`MXRounding.randomBits(seed:row:col:)`).
    @inline(__always)
    func quantize(_ v: Float, exponent e: Int, random: UInt32 = 0) -> Float {
        format.quantizeElement(v, scaleExponent: e, rounding: config.rounding, random: random)
    }

    /// Same, counting saturated (|v|/2^e beyond max normal) and flushed (nonzero → 0) elements.
    @inline(__always)
    func quantize(_ v: Float, exponent e: Int, random: UInt32 = 0, counts: inout GridCounts) -> Float {
        let q = quantize(v, exponent: e, random: random)
        if Double(abs(v)) * pow2(-e) > Double(maxNormal) { counts.saturated += 1 }
        if q == 0 && v != 0 { counts.flushed += 1 }
        return q
    }

    @inline(__always) func pow2(_ e: Int) -> Double { Double(sign: .plus, exponent: e, significand: 1) }

    /// Quantize-dequantize one row in place with its own block exponents (blocks of
    /// `config.block` from index 0); `row` selects the stochastic-rounding stream.
    func fakeQuantizeRow(_ p: UnsafeMutablePointer<Float>, count n: Int, row: Int = 0) {
        let b = config.block
        var seed: UInt64 = 0
        if case .stochastic(let s) = config.rounding { seed = s }
        var s = 0
        while s < n {
            let len = min(b, n - s)
            let e = exponent(amax: MXGrid.amax(p + s, count: len))
            for i in s..<(s + len) {
                p[i] = quantize(p[i], exponent: e, random: seed == 0 && !isStochastic ? 0 : MXRounding.randomBits(seed: seed, row: row, col: i))
            }
            s += len
        }
    }

    var isStochastic: Bool { if case .stochastic = config.rounding { return true }; return false }
}

/// Counters kept while rounding on a fixed grid.
struct GridCounts {
    var saturated = 0
    var flushed = 0
    mutating func merge(_ o: GridCounts) { saturated += o.saturated; flushed += o.flushed }
}

