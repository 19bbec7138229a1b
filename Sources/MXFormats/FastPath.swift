// Fast row encoder/decoder. Everything is driven by `MXFormatTraits`; per-format
// specialisation happens only through the element-width switch of the packers.

/// Per-thread counters of the diagnostics (error sums are kept per row by the caller).
struct RowStats {
    var finiteElements = 0, saturated = 0, flushedToZero = 0, nonFiniteBlocks = 0
    var histogram = [Int](repeating: 0, count: 256)
}

extension MXFormat {
    /// Element value of every code, `[2^elementBits]` (exact fp32; specials as NaN/±Inf).
    public var elementValueTable: [Float] { MXFormat.valueTables[self]! }

    static let valueTables: [MXFormat: [Float]] = {
        var d: [MXFormat: [Float]] = [:]
        for f in MXFormat.allCases { d[f] = (0..<f.traits.codeCount).map { f.traits.decode(UInt8($0)) } }
        return d
    }()
}

extension MXFormatTraits {
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
}

/// Encoder/decoder of single rows for one configuration.
struct RowCodec {
    let t: MXFormatTraits
    let block: Int, bytesPerBlock: Int
    let kind: RoundKind, seed: UInt64, rule: MXScaleRule
    let lut: [Float]

    init(_ c: MXConfig) {
        t = c.format.traits
        block = c.block
        bytesPerBlock = (c.block * t.elementBits + 7) / 8
        kind = c.rounding.kind; seed = c.rounding.seed; rule = c.scaleRule
        lut = c.format.elementValueTable
    }

    /// Encodes one row of `cols` values. Writes scale bytes / packed codes / fake-quantized
    /// values where the pointers are non-nil (`fakeOut` may alias `src`). Returns the row's
    /// (Σ err², Σ v²) in the fixed 16-lane order when `stats` is given, else zeros.
    func encodeRow(_ src: UnsafePointer<Float>, cols: Int, row: Int,
                   scales: UnsafeMutablePointer<UInt8>?, packed: UnsafeMutablePointer<UInt8>?,
                   fakeOut: UnsafeMutablePointer<Float>?, stats: UnsafeMutablePointer<RowStats>?) -> (Double, Double) {
        let nb = (cols + block - 1) / block
        let rowKey = kind == .stochastic ? MXRounding.rowKey(seed: seed, row: row) : 0
        var sse = [Double](repeating: 0, count: 16), sss = [Double](repeating: 0, count: 16)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: block) { codes in
            lut.withUnsafeBufferPointer { lut in
                for blk in 0..<nb {
                    let start = blk * block, n = min(block, cols - start)
                    var amax: UInt32 = 0
                    for i in 0..<n { amax = max(amax, src[start + i].bitPattern & 0x7FFF_FFFF) }
                    for i in 0..<block { codes[i] = 0 }
                    if amax >= 0x7F80_0000 {
                        scales?[blk] = 0xFF
                        if let f = fakeOut { for i in 0..<n { f[start + i] = .nan } }
                        if let s = stats { s.pointee.nonFiniteBlocks += 1; s.pointee.histogram[255] += 1 }
                    } else {
                        let e = t.sharedExponent(amaxBits: amax, rule: rule)
                        scales?[blk] = UInt8(e + 127)
                        let scale = E8M0.pow2(e)
                        if let s = stats { s.pointee.histogram[e + 127] += 1; s.pointee.finiteElements += n }
                        for i in 0..<n {
                            let c = start + i
                            let v = src[c]
                            let r = kind == .stochastic ? MXRounding.randomBits(rowKey: rowKey, col: c) : 0
                            let code = t.encode(bits: v.bitPattern, scaleExponent: e, kind: kind, random: r)
                            codes[i] = code
                            if fakeOut != nil || stats != nil {
                                let q = lut[Int(code)] * scale
                                if let s = stats {
                                    if t.exceedsMax(bits: v.bitPattern, scaleExponent: e) { s.pointee.saturated += 1 }
                                    if v != 0 && q == 0 { s.pointee.flushedToZero += 1 }
                                    let err = Double(v) - Double(q)
                                    sse[c & 15] += err * err
                                    sss[c & 15] += Double(v) * Double(v)
                                }
                                fakeOut?[c] = q
                            }
                        }
                    }
                    if let p = packed { packBlock(UnsafePointer(codes.baseAddress!), into: p + blk * bytesPerBlock) }
                }
            }
        }
        var e = 0.0, s = 0.0
        for l in 0..<16 { e += sse[l]; s += sss[l] }
        return (e, s)
    }

    /// Packs `block` codes into `bytesPerBlock` bytes.
    func packBlock(_ c: UnsafePointer<UInt8>, into p: UnsafeMutablePointer<UInt8>) {
        switch t.elementBits {
        case 8:
            p.update(from: c, count: block)
        case 4:
            for i in 0..<(block / 2) { p[i] = c[2 * i] | (c[2 * i + 1] << 4) }
        default:
            var i = 0, o = 0
            while i + 4 <= block {
                let w = UInt32(c[i]) | UInt32(c[i + 1]) << 6 | UInt32(c[i + 2]) << 12 | UInt32(c[i + 3]) << 18
                p[o] = UInt8(truncatingIfNeeded: w); p[o + 1] = UInt8(truncatingIfNeeded: w >> 8)
                p[o + 2] = UInt8(truncatingIfNeeded: w >> 16)
                i += 4; o += 3
            }
            if i < block {   // block ≡ 2 (mod 4): two codes in 12 bits, 2 bytes
                let w = UInt16(c[i]) | UInt16(c[i + 1]) << 6
                p[o] = UInt8(truncatingIfNeeded: w); p[o + 1] = UInt8(truncatingIfNeeded: w >> 8)
            }
        }
    }

    /// Decodes one row: `out[c] = value(code) · 2^E`, NaN for scale 0xFF.
    func decodeRow(scales: UnsafePointer<UInt8>, packed: UnsafePointer<UInt8>, cols: Int, out: UnsafeMutablePointer<Float>) {
        let nb = (cols + block - 1) / block
        let bits = t.elementBits
        lut.withUnsafeBufferPointer { lut in
            for blk in 0..<nb {
                let start = blk * block, n = min(block, cols - start)
                let s = scales[blk]
                if s == 0xFF { for i in 0..<n { out[start + i] = .nan }; continue }
                let scale = E8M0.pow2(Int(s) - 127)
                let p = packed + blk * bytesPerBlock
                for i in 0..<n { out[start + i] = lut[Int(unpackCode(p, index: i, bits: bits))] * scale }
            }
        }
    }
}
