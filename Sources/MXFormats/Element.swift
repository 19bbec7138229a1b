// Per-element MX numerics by bit manipulation on fp32 (no searching). These are the
// building blocks of the fast tensor paths and of other modules (kernels, GPTQ).
// `MXReference` holds the independent brute-force definitions they are tested against.

/// E8M0 scale bytes.
public enum E8M0 {
    /// Scale byte meaning NaN (block held a NaN or an infinity).
    public static let nan: UInt8 = 0xFF
    /// Byte for exponent E ∈ [-127, 127].
    @inlinable public static func byte(exponent e: Int) -> UInt8 {
        precondition(e >= -127 && e <= 127, "E8M0 exponent out of range: \(e)")
        return UInt8(e + 127)
    }
    /// Exponent of a non-NaN byte, or nil for 0xFF.
    @inlinable public static func exponent(_ byte: UInt8) -> Int? { byte == nan ? nil : Int(byte) - 127 }
    /// 2^E as fp32 (exact; 2^-127 is an fp32 subnormal), NaN for byte 0xFF.
    @inlinable public static func value(_ byte: UInt8) -> Float {
        if byte == nan { return .nan }
        return pow2(Int(byte) - 127)
    }
    /// 2^e as fp32 for e ∈ [-149, 127] (exact).
    @inlinable public static func pow2(_ e: Int) -> Float {
        precondition(e >= -149 && e <= 127)
        if e >= -126 { return Float(bitPattern: UInt32(e + 127) << 23) }
        return Float(bitPattern: UInt32(1) << UInt32(e + 149))
    }
}

/// Internal rounding selector without the seed (the random bits are passed separately).
@usableFromInline enum RoundKind: Sendable { case even, away, stochastic }

extension MXRounding {
    @inlinable var kind: RoundKind {
        switch self {
        case .even: return .even
        case .away: return .away
        case .stochastic: return .stochastic
        }
    }
    @inlinable var seed: UInt64 {
        if case .stochastic(let s) = self { return s }
        return 0
    }
}

/// The numeric fields of `MXFormatTraits` (no strings, so hot loops copy it for free),
/// with the bit-manipulation element encoder/decoder used by every fast path.
@usableFromInline struct ElementParams: Sendable {
    @usableFromInline let elementBits: Int, isInteger: Bool, mantissaBits: Int, bias: Int
    @usableFromInline let emaxElem: Int, eminElem: Int, maxCodeMagnitude: Int
    @usableFromInline let codeMask: UInt8, signBit: UInt8, codeCount: Int
    /// Mantissa (23-bit field) of `maxNormal`, for the `ceil` rule and saturation counts.
    @usableFromInline let maxNormalMantissa: UInt32
    /// FP magnitude code of infinity (E5M2), or -1.
    @usableFromInline let infinityCodeMagnitude: Int
    /// fp32 bit pattern of `maxNormal`.
    @usableFromInline let maxNormalBits: UInt32

    init(_ t: MXFormatTraits) {
        elementBits = t.elementBits; isInteger = t.isInteger; mantissaBits = t.mantissaBits; bias = t.bias
        emaxElem = t.emaxElem; eminElem = t.eminElem; maxCodeMagnitude = Int(t.maxCodeMagnitude)
        codeMask = t.codeMask; signBit = t.signBit; codeCount = t.codeCount
        maxNormalMantissa = t.maxNormal.bitPattern & 0x7F_FFFF
        infinityCodeMagnitude = t.infinityCodeMagnitude.map { Int($0) } ?? -1
        maxNormalBits = t.maxNormal.bitPattern
    }

    /// Shared exponent E from the fp32 bit pattern of a finite, non-negative amax.
    @inlinable func sharedExponent(amaxBits a: UInt32, rule: MXScaleRule) -> Int {
        if a == 0 { return -127 }
        let ef = Int(a >> 23)
        var mant = a & 0x7F_FFFF
        var fl: Int   // floor(log2(amax)), exact
        if ef != 0 {
            fl = ef - 127
        } else {
            let bw = 32 - mant.leadingZeroBitCount          // amax = mant · 2^-149
            fl = -150 + bw
            mant = (mant << UInt32(24 - bw)) & 0x7F_FFFF      // normalized mantissa field
        }
        var e = fl - emaxElem
        if rule == .ceil && mant > maxNormalMantissa { e += 1 }
        return Swift.min(127, Swift.max(-127, e))
    }

    /// Whether |v| / 2^e > maxNormal for finite fp32 bits (the element was clipped).
    @inlinable func exceedsMax(bits: UInt32, scaleExponent e: Int) -> Bool {
        let a = bits & 0x7FFF_FFFF
        if a == 0 { return false }
        let ef = Int(a >> 23)
        var mant = a & 0x7F_FFFF
        var fl: Int
        if ef != 0 { fl = ef - 127 } else {
            let bw = 32 - mant.leadingZeroBitCount
            fl = -150 + bw
            mant = (mant << UInt32(24 - bw)) & 0x7F_FFFF
        }
        let x = fl - e
        return x > emaxElem || (x == emaxElem && mant > maxNormalMantissa)
    }

    /// Element code of fp32 `bits` in a block with shared exponent `e` (E ∈ [-127, 127]):
    /// nearest element value to `v · 2^-e` (exact, no fp32 underflow), saturating to ±max.
    /// NaN encodes to 0 (callers mark such blocks with scale 0xFF); ±Inf saturates.
    @inlinable func encode(bits: UInt32, scaleExponent e: Int, kind: RoundKind, random: UInt32) -> UInt8 {
        let a = bits & 0x7FFF_FFFF
        if a > 0x7F80_0000 { return 0 }
        let mag: Int
        if a == 0 {
            mag = 0
        } else if a == 0x7F80_0000 {
            mag = maxCodeMagnitude
        } else {
            let ef = Int(a >> 23)
            let m = UInt64(ef != 0 ? (a & 0x7F_FFFF) | 0x80_0000 : a & 0x7F_FFFF)
            let p = Swift.max(ef, 1) - 150                      // |v| = m · 2^p
            let x = p + (63 - m.leadingZeroBitCount) - e        // floor(log2(|v| / 2^e))
            if x > emaxElem {
                mag = maxCodeMagnitude
            } else {
                let xc = Swift.max(x, eminElem)
                let q = isInteger ? -mantissaBits : xc - mantissaBits   // exponent of the element quantum
                let sh = UInt64(Swift.min(q - p + e, 63))                 // bits to drop; >= 1 here
                let n0 = m >> sh
                let rem = m & ((1 << sh) &- 1)
                let half: UInt64 = 1 << (sh &- 1)
                let up: Bool
                switch kind {
                case .even: up = rem > half || (rem == half && n0 & 1 == 1)
                case .away: up = rem >= half
                case .stochastic: up = ((rem << 32) >> sh) + UInt64(random) >= (1 << 32)
                }
                let n = Int(n0) + (up ? 1 : 0)
                let base = isInteger ? 0 : (xc - eminElem) << mantissaBits
                mag = Swift.min(base + n, maxCodeMagnitude)
            }
        }
        let neg = bits >> 31 != 0
        if isInteger {
            return UInt8(truncatingIfNeeded: neg ? -mag : mag) & codeMask
        }
        return UInt8(mag) | (neg ? signBit : 0)
    }

    /// Element value of a code (exact in fp32). Codes the encoder never emits decode as the
    /// format defines them: E5M2 Inf/NaN, E4M3 NaN, INT -2^(bits-1) as -2^(bits-1) · 2^-mantissaBits.
    @inlinable func decode(_ code: UInt8) -> Float {
        let c = code & codeMask
        if isInteger {
            let k = Int(c) - ((c & signBit) != 0 ? codeCount : 0)
            return Float(k) * E8M0.pow2(-mantissaBits)
        }
        let neg = (c & signBit) != 0
        let mag = Int(c & ~signBit)
        var v: Float
        if mag > maxCodeMagnitude {
            if mag != infinityCodeMagnitude { return .nan }
            v = .infinity
        } else {
            let ef = mag >> mantissaBits
            let mf = mag & ((1 << mantissaBits) - 1)
            let sig = ef == 0 ? mf : mf | (1 << mantissaBits)
            v = Float(sig) * E8M0.pow2(Swift.max(ef, 1) - bias - mantissaBits)
        }
        return neg ? -v : v
    }
}

extension MXFormat {
    /// Numeric parameters, derived once per format from `traitsTable`.
    @inlinable var params: ElementParams { MXFormat.paramsTable[ordinal] }
    @usableFromInline static let paramsTable: [ElementParams] = MXFormat.allCases.map { ElementParams($0.traits) }

    /// Position in `allCases`.
    @inlinable var ordinal: Int {
        switch self {
        case .mxint8: return 0
        case .mxint4: return 1
        case .mxfp8_e4m3: return 2
        case .mxfp8_e5m2: return 3
        case .mxfp6_e3m2: return 4
        case .mxfp6_e2m3: return 5
        case .mxfp4_e2m1: return 6
        }
    }

    /// Shared exponent E ∈ [-127, 127] of a block with largest magnitude `amax`
    /// (finite, any sign); an all-zero block gives -127.
    @inlinable public func sharedExponent(amax: Float, rule: MXScaleRule = .floor) -> Int {
        precondition(amax.isFinite, "sharedExponent needs a finite amax")
        return params.sharedExponent(amaxBits: amax.bitPattern & 0x7FFF_FFFF, rule: rule)
    }

    /// Shared exponent of `block` (padding zeros never matter), or nil if it holds NaN/Inf
    /// (such a block is stored with scale byte 0xFF).
    @inlinable public func sharedExponent(of block: UnsafeBufferPointer<Float>, rule: MXScaleRule = .floor) -> Int? {
        var m: UInt32 = 0
        for v in block { m = Swift.max(m, v.bitPattern & 0x7FFF_FFFF) }
        if m >= 0x7F80_0000 { return nil }
        return params.sharedExponent(amaxBits: m, rule: rule)
    }

    /// Element code of an already scaled value `v` (i.e. `v / 2^E`): nearest element value,
    /// saturating. For stochastic rounding pass `random` (see `MXRounding.randomBits`).
    @inlinable public func encodeElement(_ v: Float, rounding: MXRounding = .even, random: UInt32 = 0) -> UInt8 {
        params.encode(bits: v.bitPattern, scaleExponent: 0, kind: rounding.kind, random: random)
    }

    /// Element code of `v` in a block with shared exponent `scaleExponent` (exact scaling,
    /// no fp32 underflow): what the tensor encoder stores for `v`.
    @inlinable public func encodeElement(_ v: Float, scaleExponent: Int, rounding: MXRounding = .even,
                                         random: UInt32 = 0) -> UInt8 {
        precondition(scaleExponent >= -127 && scaleExponent <= 127)
        return params.encode(bits: v.bitPattern, scaleExponent: scaleExponent, kind: rounding.kind, random: random)
    }

    /// Element value of `code` (not scaled).
    @inlinable public func decodeElement(_ code: UInt8) -> Float { params.decode(code) }

    /// Quantize-dequantize one value against a fixed block exponent (e.g. GPTQ's per-column
    /// update): `decode(encode(v / 2^E)) · 2^E` in fp32.
    @inlinable public func quantizeElement(_ v: Float, scaleExponent: Int, rounding: MXRounding = .even,
                                           random: UInt32 = 0) -> Float {
        decodeElement(encodeElement(v, scaleExponent: scaleExponent, rounding: rounding, random: random))
            * E8M0.pow2(scaleExponent)
    }
}
