import Support

// Dequant GEMV (M = 1…8) for packed MX weights, bound by the bytes of W.
//
// Fast path (block 32, every format): a row of W is read as 32-bit words (8 nibbles
// or 4 bytes each; for 6-bit formats 3-byte groups of 4 codes) in chunks of 16, 8 or 4 words. Element j of
// every word of a chunk is decoded at once with integer ops into a float vector
// (INT: magic-number conversion; FP: the element's exponent|mantissa bits placed at
// the bottom of an fp32, then one exact multiply by 2^(127−bias)); X is permuted once
// per call to the same lane order. Per chunk, the unscaled partial dot product is
// multiplied by the per-lane block scale and accumulated. All of this is exact
// decoding; only the fp32 summation order differs from the reference.
// Other formats and block sizes: decode each block to floats through a lookup table,
// then SIMD FMAs.

/// Lane-order permutation of one X row for the word-chunk layout: chunk at word `w0`
/// with `g` lanes and `e` elements per word stores x[(w0 + l)·e + j] at w0·e + j·g + l.
@usableFromInline
func wordChunks(rowWords: Int) -> [(w0: Int, g: Int)] {
    var out: [(w0: Int, g: Int)] = []
    var w = 0
    while w + 16 <= rowWords { out.append((w, 16)); w += 16 }
    if w + 8 <= rowWords { out.append((w, 8)); w += 8 }
    if w + 4 <= rowWords { out.append((w, 4)); w += 4 }
    precondition(w == rowWords, "row words must be a multiple of 4")
    return out
}

/// Arithmetic (sign-propagating) right shift of every 32-bit lane by `s`.
@inline(__always) @usableFromInline
func sraLanes<V: SIMD>(_ v: V, _ s: Int) -> V where V.Scalar == UInt32 {
    var r = V()
    for i in 0..<V.scalarCount { r[i] = UInt32(bitPattern: Int32(bitPattern: v[i]) >> Int32(s)) }
    return r
}

@inline(__always) @usableFromInline
func shiftBy<V: SIMD>(_ v: V, _ s: Int) -> V where V.Scalar == UInt32 {
    s >= 0 ? v &<< UInt32(s) : v &>> UInt32(-s)
}

/// Word decoders: element `j` of each 32-bit word to fp32 (unscaled by the block scale).
/// One type per element kind so that every kernel below is specialised per kind.
@usableFromInline protocol WordDecoder {
    static var elemsPerWord: Int { get }
    static var checksBadCodes: Bool { get }
    static func decode<V: SIMD, F: SIMD>(_ w: V, _ j: Int, _: F.Type) -> F where V.Scalar == UInt32, F.Scalar == Float
    /// Bytes of NaN/Inf codes set bit 7 of the returned bytes.
    static func probe<V: SIMD>(_ w: V) -> V where V.Scalar == UInt32
    /// Bytes per lane unit (4: one 32-bit word; 3: four 6-bit codes).
    static var unitBytes: Int { get }
    /// Loads `V.scalarCount` units starting at `p` (may read up to 1 byte past them when
    /// `unitBytes` is 3; callers pass a padded copy at the end of an array).
    static func load<V: SIMD>(_ p: UnsafeRawPointer, _: V.Type) -> V where V.Scalar == UInt32
}

extension WordDecoder {
    @inline(__always) @usableFromInline static var checksBadCodes: Bool { false }
    @inline(__always) @usableFromInline static func probe<V: SIMD>(_ w: V) -> V where V.Scalar == UInt32 { V() }
    @inline(__always) @usableFromInline static var unitBytes: Int { 4 }
    @inline(__always) @usableFromInline
    static func load<V: SIMD>(_ p: UnsafeRawPointer, _: V.Type) -> V where V.Scalar == UInt32 { p.loadUnaligned(as: V.self) }
}

/// 6-bit element streams: a lane holds one 3-byte group = 4 codes (bits 6j…6j+5).
@usableFromInline protocol SixBitDecoder: WordDecoder {}
extension SixBitDecoder {
    @usableFromInline static var elemsPerWord: Int { 4 }
    @inline(__always) @usableFromInline static var unitBytes: Int { 3 }
    @inline(__always) @usableFromInline
    static func load<V: SIMD>(_ p: UnsafeRawPointer, _: V.Type) -> V where V.Scalar == UInt32 {
        var v = V()
        for l in 0..<V.scalarCount { v[l] = p.loadUnaligned(fromByteOffset: 3 * l, as: UInt32.self) }
        return v
    }
}

/// MXFP6 E2M3 / E3M2 without fp32 subnormals: magnitude bits under the exponent offset
/// (127 − bias) give the value of every code with a non-zero exponent; for exponent 0
/// (subnormal codes) the exact value is 2·f − 2^(1−bias), chosen by a lane mask.
/// Shared FP6 decode: `magBits` = magnitude bits under the exponent offset (a normal fp32
/// for every code), `expBits` = the code's exponent field (0 for subnormal codes), `corr`
/// = 2^(1−bias). Lane selection with integer ops only (generic SIMD masks scalarise).
@inline(__always) @usableFromInline
func fp6Value<V: SIMD, F: SIMD>(_ g: V, magBits: V, expBits: V, signShift: Int, corr: Float, _: F.Type) -> F
    where V.Scalar == UInt32, F.Scalar == Float {
    let f = unsafeBitCast(magBits, to: F.self)
    let sub = f * F(repeating: 2) - F(repeating: corr)   // both steps exact
    // normal = all ones when expBits ≠ 0 ((expBits + 0x7FFFFFFF) then has bit 31 set), else 0.
    let normal = V() &- ((expBits &+ 0x7FFF_FFFF) &>> 31)
    let fb = unsafeBitCast(f, to: V.self), sb = unsafeBitCast(sub, to: V.self)
    let v = (fb & normal) | (sb & ~normal) | (shiftBy(g, signShift) & 0x8000_0000)
    return unsafeBitCast(v, to: F.self)
}

@usableFromInline enum DecodeE2M3: SixBitDecoder {
    @inline(__always) @usableFromInline
    static func decode<V: SIMD, F: SIMD>(_ g: V, _ j: Int, _: F.Type) -> F where V.Scalar == UInt32, F.Scalar == Float {
        fp6Value(g, magBits: (shiftBy(g, 20 - 6 * j) & 0x01F0_0000) &+ (126 << 23),
                 expBits: g & V(repeating: UInt32(0x18) << UInt32(6 * j)), signShift: 26 - 6 * j, corr: 1, F.self)
    }
}

@usableFromInline enum DecodeE3M2: SixBitDecoder {
    @inline(__always) @usableFromInline
    static func decode<V: SIMD, F: SIMD>(_ g: V, _ j: Int, _: F.Type) -> F where V.Scalar == UInt32, F.Scalar == Float {
        fp6Value(g, magBits: (shiftBy(g, 21 - 6 * j) & 0x03E0_0000) &+ (124 << 23),
                 expBits: g & V(repeating: UInt32(0x1C) << UInt32(6 * j)), signShift: 26 - 6 * j, corr: 0.25, F.self)
    }
}

/// MXINT4: (nibble ^ 8) | 0x4B000000 = 2^23 + k + 8 → k exactly; ×2^-2 folded into the scale.
@usableFromInline enum DecodeInt4: WordDecoder {
    @usableFromInline static var elemsPerWord: Int { 8 }
    @inline(__always) @usableFromInline
    static func decode<V: SIMD, F: SIMD>(_ w: V, _ j: Int, _: F.Type) -> F where V.Scalar == UInt32, F.Scalar == Float {
        let u = ((w &>> UInt32(4 * j)) & 0xF) ^ 0x4B00_0008
        return unsafeBitCast(u, to: F.self) - F(repeating: 8_388_616)
    }
}

/// MXINT8: as MXINT4 with bytes; ×2^-6 folded into the scale.
@usableFromInline enum DecodeInt8: WordDecoder {
    @usableFromInline static var elemsPerWord: Int { 4 }
    @inline(__always) @usableFromInline
    static func decode<V: SIMD, F: SIMD>(_ w: V, _ j: Int, _: F.Type) -> F where V.Scalar == UInt32, F.Scalar == Float {
        let u = ((w &>> UInt32(8 * j)) & 0xFF) ^ 0x4B00_0080
        return unsafeBitCast(u, to: F.self) - F(repeating: 8_388_736)
    }
}

/// MXFP4 E2M1: twice the magnitude is an integer 0,1,2,3,4,6,8,12, read from the nibble
/// table 0xC8643210 with a per-lane variable shift, converted exactly by the magic-number
/// trick, signed by OR-ing bit 31; the factor 1/2 is folded into the block scale.
/// (No fp32 subnormals anywhere: those would take slow microcode assists.)
@usableFromInline enum DecodeE2M1: WordDecoder {
    @usableFromInline static var elemsPerWord: Int { 8 }
    @inline(__always) @usableFromInline
    static func decode<V: SIMD, F: SIMD>(_ w: V, _ j: Int, _: F.Type) -> F where V.Scalar == UInt32, F.Scalar == Float {
        let c4 = shiftBy(w, 2 - 4 * j) & 0x1C                  // 4 · (magnitude code)
        let mag = ((V(repeating: 0xC864_3210) &>> c4) & 0xF) | 0x4B00_0000
        let f = unsafeBitCast(mag, to: F.self) - F(repeating: 8_388_608)
        let sign = shiftBy(w, 28 - 4 * j) & 0x8000_0000
        return unsafeBitCast(unsafeBitCast(f, to: V.self) | sign, to: F.self)
    }
}

/// MXFP8 E4M3: exponent|mantissa at fp32 bits 20–26, ×2^120; S.1111.111 (NaN) probed.
@usableFromInline enum DecodeE4M3: WordDecoder {
    @usableFromInline static var elemsPerWord: Int { 4 }
    @usableFromInline static var checksBadCodes: Bool { true }
    @inline(__always) @usableFromInline
    static func decode<V: SIMD, F: SIMD>(_ w: V, _ j: Int, _: F.Type) -> F where V.Scalar == UInt32, F.Scalar == Float {
        // Byte j to the top, arithmetic shift right by 4 (sign stays at bit 31), keep sign and
        // exponent|mantissa: 3 integer ops instead of 4.
        let u = sraLanes(shiftBy(w, 24 - 8 * j), 4) & 0x87F0_0000
        return unsafeBitCast(u, to: F.self) * F(repeating: 0x1p120)
    }
    @inline(__always) @usableFromInline
    static func probe<V: SIMD>(_ w: V) -> V where V.Scalar == UInt32 { (w & 0x7F7F_7F7F) &+ 0x0101_0101 }
}

/// MXFP8 E5M2: exponent|mantissa at fp32 bits 21–27, ×2^112; exponent 31 (Inf/NaN) probed.
@usableFromInline enum DecodeE5M2: WordDecoder {
    @usableFromInline static var elemsPerWord: Int { 4 }
    @usableFromInline static var checksBadCodes: Bool { true }
    @inline(__always) @usableFromInline
    static func decode<V: SIMD, F: SIMD>(_ w: V, _ j: Int, _: F.Type) -> F where V.Scalar == UInt32, F.Scalar == Float {
        let u = sraLanes(shiftBy(w, 24 - 8 * j), 3) & 0x8FE0_0000
        return unsafeBitCast(u, to: F.self) * F(repeating: 0x1p112)
    }
    @inline(__always) @usableFromInline
    static func probe<V: SIMD>(_ w: V) -> V where V.Scalar == UInt32 { (w & 0x7C7C_7C7C) &+ 0x0404_0404 }
}

/// One chunk of words of one W row against one or two X rows (x1 == nil: one row).
@inline(__always) @usableFromInline
func gemvChunk<D: WordDecoder, V: SIMD, F: SIMD>(_: D.Type, _ wp: UnsafeRawPointer, _ x0: UnsafeRawPointer, _ x1: UnsafeRawPointer?,
                                                 _ sv: F, _ acc0: inout F, _ acc1: inout F, _ bad: inout V)
    where V.Scalar == UInt32, F.Scalar == Float {
    let w = D.load(wp, V.self)
    let stride = MemoryLayout<F>.size
    if D.checksBadCodes { bad = bad | D.probe(w) }
    // Written out for j = 0…7 (no helper closures) so that every shift amount is a
    // compile-time constant; two partial sums (even and odd j) halve the FMA chain.
    let d0 = D.decode(w, 0, F.self), d1 = D.decode(w, 1, F.self)
    var p0 = d0 * x0.loadUnaligned(as: F.self), q0 = d1 * x0.loadUnaligned(fromByteOffset: stride, as: F.self)
    var p1 = F(), q1 = F()
    if let x1 = x1 { p1 = d0 * x1.loadUnaligned(as: F.self); q1 = d1 * x1.loadUnaligned(fromByteOffset: stride, as: F.self) }
    do {
        let d = D.decode(w, 2, F.self)
        madd(&p0, d, x0.loadUnaligned(fromByteOffset: 2 * stride, as: F.self))
        if let x1 = x1 { madd(&p1, d, x1.loadUnaligned(fromByteOffset: 2 * stride, as: F.self)) }
    }
    do {
        let d = D.decode(w, 3, F.self)
        madd(&q0, d, x0.loadUnaligned(fromByteOffset: 3 * stride, as: F.self))
        if let x1 = x1 { madd(&q1, d, x1.loadUnaligned(fromByteOffset: 3 * stride, as: F.self)) }
    }
    if D.elemsPerWord == 8 {
        do {
            let d = D.decode(w, 4, F.self)
            madd(&p0, d, x0.loadUnaligned(fromByteOffset: 4 * stride, as: F.self))
            if let x1 = x1 { madd(&p1, d, x1.loadUnaligned(fromByteOffset: 4 * stride, as: F.self)) }
        }
        do {
            let d = D.decode(w, 5, F.self)
            madd(&q0, d, x0.loadUnaligned(fromByteOffset: 5 * stride, as: F.self))
            if let x1 = x1 { madd(&q1, d, x1.loadUnaligned(fromByteOffset: 5 * stride, as: F.self)) }
        }
        do {
            let d = D.decode(w, 6, F.self)
            madd(&p0, d, x0.loadUnaligned(fromByteOffset: 6 * stride, as: F.self))
            if let x1 = x1 { madd(&p1, d, x1.loadUnaligned(fromByteOffset: 6 * stride, as: F.self)) }
        }
        do {
            let d = D.decode(w, 7, F.self)
            madd(&q0, d, x0.loadUnaligned(fromByteOffset: 7 * stride, as: F.self))
            if let x1 = x1 { madd(&q1, d, x1.loadUnaligned(fromByteOffset: 7 * stride, as: F.self)) }
        }
    }
    p0 += q0
    if x1 != nil { p1 += q1; madd(&acc1, p1, sv) }
    madd(&acc0, p0, sv)
}

@inline(__always) @usableFromInline
func hsum8(_ v: SIMD8<Float>) -> Float {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    return b[0] + b[1]
}

@inline(__always) @usableFromInline
func hsum4(_ v: SIMD4<Float>) -> Float {
    let a = v.lowHalf + v.highHalf
    return a[0] + a[1]
}

/// Fast word-path dot products of W row `r` with one or two permuted X rows.
/// Returns false if the row holds NaN/Inf element codes (caller falls back to the table path).
@inline(__always) @usableFromInline
func gemvRowFast<D: WordDecoder>(_ dec: D.Type, _ w: PackedMX, row r: Int, rowWords: Int, scaleMul: Float,
                 xp0: UnsafePointer<Float>, xp1: UnsafePointer<Float>?, out0: inout Float, out1: inout Float) -> Bool {
    let wordsPerBlock = D.elemsPerWord == 8 ? 4 : 8
    let rowBytes = UnsafeRawPointer(w.elements + r * w.blocksPerRow * w.bytesPerBlock)
    let sc = w.scales + r * w.blocksPerRow
    let e = D.elemsPerWord
    var a16 = SIMD16<Float>(), b16 = SIMD16<Float>(), a8 = SIMD8<Float>(), b8 = SIMD8<Float>()
    var a4 = SIMD4<Float>(), b4 = SIMD4<Float>()
    var bad16 = SIMD16<UInt32>(), bad8 = SIMD8<UInt32>(), bad4 = SIMD4<UInt32>()
    @inline(__always) func s(_ b: Int) -> Float { w.scaleLUT[Int(sc[b])] * scaleMul }
    // A 3-byte-unit load may read 1 byte past its chunk: the last chunk of the array is
    // read from a padded copy.
    var padBuf: UnsafeMutableRawPointer? = nil
    defer { padBuf?.deallocate() }
    let lastRow = D.unitBytes == 3 && r == w.rows - 1
    // Chunks of 16 units, then at most one of 8 and one of 4 (see wordChunks).
    var w0 = 0
    while w0 < rowWords {
        let g = rowWords - w0 >= 16 ? 16 : (rowWords - w0 >= 8 ? 8 : 4)
        defer { w0 += g }
        var wp = rowBytes + w0 * D.unitBytes
        if lastRow && w0 + g == rowWords {
            let b = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 16)
            b.initializeMemory(as: UInt8.self, repeating: 0, count: 64)
            b.copyMemory(from: wp, byteCount: g * 3)
            padBuf = b
            wp = UnsafeRawPointer(b)
        }
        let x0 = UnsafeRawPointer(xp0 + w0 * e), x1 = xp1.map { UnsafeRawPointer($0 + w0 * e) }
        let b0 = w0 / wordsPerBlock
        switch g {
        case 16:
            let sv: SIMD16<Float>
            if wordsPerBlock == 4 {
                sv = SIMD16(lowHalf: SIMD8(lowHalf: SIMD4(repeating: s(b0)), highHalf: SIMD4(repeating: s(b0 + 1))),
                            highHalf: SIMD8(lowHalf: SIMD4(repeating: s(b0 + 2)), highHalf: SIMD4(repeating: s(b0 + 3))))
            } else {
                sv = SIMD16(lowHalf: SIMD8(repeating: s(b0)), highHalf: SIMD8(repeating: s(b0 + 1)))
            }
            gemvChunk(D.self, wp, x0, x1, sv, &a16, &b16, &bad16)
        case 8:
            let sv: SIMD8<Float> = wordsPerBlock == 4
                ? SIMD8(lowHalf: SIMD4(repeating: s(b0)), highHalf: SIMD4(repeating: s(b0 + 1)))
                : SIMD8(repeating: s(b0))
            gemvChunk(D.self, wp, x0, x1, sv, &a8, &b8, &bad8)
        default:
            gemvChunk(D.self, wp, x0, x1, SIMD4<Float>(repeating: s(b0)), &a4, &b4, &bad4)
        }
    }
    if D.checksBadCodes {
        let any = (bad16 & 0x8080_8080) | SIMD16(lowHalf: bad8 & 0x8080_8080, highHalf: SIMD8(lowHalf: bad4 & 0x8080_8080, highHalf: SIMD4()))
        if any != SIMD16<UInt32>() { return false }
    }
    @inline(__always) func total(_ v16: SIMD16<Float>, _ v8: SIMD8<Float>, _ v4: SIMD4<Float>) -> Float {
        let t8 = v16.lowHalf + v16.highHalf + v8
        let t4 = t8.lowHalf + t8.highHalf + v4
        return hsum4(t4)
    }
    out0 = total(a16, a8, a4)
    if xp1 != nil { out1 = total(b16, b8, b4) }
    return true
}

/// Fast-path rows `range` of W against all M permuted X rows; rows holding NaN/Inf element
/// codes go through the table path. One specialisation per decoder.
@inline(never) @usableFromInline
func gemvRowsFast<D: WordDecoder>(_ dec: D.Type, _ w: PackedMX, rows range: Range<Int>, m: Int, rowWords: Int, scaleMul: Float,
                                  xperm: UnsafePointer<Float>, xpad: UnsafePointer<Float>, padded: Int,
                                  y: UnsafeMutablePointer<Float>, ldy: Int,
                                  buf: UnsafeMutablePointer<Float>, codes: UnsafeMutablePointer<UInt8>) {
    // Row order: `gemvStreams` interleaved segments of the range (see there); every row's
    // result is computed the same way whatever its position, so this changes no bits.
    let lo = range.lowerBound, cnt = range.count
    let S = D.unitBytes == 3 ? 1 : max(1, gemvStreams), segLen = (cnt + S - 1) / S
    for idx in 0..<(S * segLen) {
        let off = (idx % S) * segLen + idx / S
        if off >= cnt { continue }
        let r = lo + off
        var i = 0
        var ok = true
        while i < m && ok {
            let two = i + 1 < m
            var o0: Float = 0, o1: Float = 0
            ok = gemvRowFast(D.self, w, row: r, rowWords: rowWords, scaleMul: scaleMul, xp0: xperm + i * padded,
                             xp1: two ? xperm + (i + 1) * padded : nil, out0: &o0, out1: &o1)
            if ok {
                y[i * ldy + r] = o0
                if two { y[(i + 1) * ldy + r] = o1 }
            }
            i += two ? 2 : 1
        }
        if !ok { gemvRowTable(w, row: r, xs: xpad, xStride: padded, m: m, out: y + r, outStride: ldy, buf: buf, codes: codes) }
    }
}

/// Rows of a task are visited from this many interleaved segments (row order s0, s1, s2,
/// s3, s0+1, …): several concurrent sequential streams keep more memory requests in flight
/// than one. Measured on the 576×49152 LM head, 1 thread, weights streamed (--cpu-time,
/// load ≈ 4.5): MXINT8 4.2–4.3 → 3.0–3.5 ms, MXINT4 2.6–2.7 → 2.4–2.5 ms, MXFP4 unchanged;
/// the 6-bit formats (bound by their 3-byte-unit loads) got ~8% slower, so they keep 1 stream.
@usableFromInline let gemvStreams = 4

/// Table-path dot product of W row `r` with X rows `xs` (each zero-padded to
/// blocksPerRow·block floats), written to `out[i]`.
@usableFromInline
func gemvRowTable(_ w: PackedMX, row r: Int, xs: UnsafePointer<Float>, xStride: Int, m: Int,
                  out: UnsafeMutablePointer<Float>, outStride: Int,
                  buf: UnsafeMutablePointer<Float>, codes: UnsafeMutablePointer<UInt8>) {
    let B = w.block
    let bv = B & ~15
    // Decode the whole row (block by block) into buf, then 16-lane FMAs per X row.
    for b in 0..<w.blocksPerRow { w.blockValues(row: r, block: b, into: buf + b * B) }
    let total = w.blocksPerRow * B
    for i in 0..<m {
        let x = xs + i * xStride
        var acc = SIMD16<Float>()
        var tail: Float = 0
        for b in 0..<w.blocksPerRow {
            var o = b * B
            let end = o + bv
            while o < end {
                madd(&acc, UnsafeRawPointer(buf + o).loadUnaligned(as: SIMD16<Float>.self),
                               UnsafeRawPointer(x + o).loadUnaligned(as: SIMD16<Float>.self))
                o += 16
            }
            for kk in (b * B + bv)..<(b * B + B) { tail = madd(tail, buf[kk], x[kk]) }
        }
        _ = total
        out[i * outStride] = hsum16(acc) + tail
    }
}

/// Y[M,N] = X[M,K] · decode(W)ᵀ for M ≤ 8, W packed [N,K].
@usableFromInline
func mxGemv(m: Int, x: UnsafePointer<Float>, ldx: Int, w: PackedMX, y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int) {
    let n = w.rows, k = w.cols, B = w.block
    let padded = w.blocksPerRow * B
    let fast = B == 32 && [.int4, .int8, .e2m1, .e4m3, .e5m2, .e2m3, .e3m2].contains(w.kind)
    // X rows zero-padded to whole blocks (table path) and permuted to lane order (fast path).
    Scratch.withFloats(2 * m * padded) { xb in
        let xpad = xb, xperm = xb + m * padded
        for i in 0..<m {
            let d = xpad + i * padded
            d.update(from: x + i * ldx, count: k)
            (d + k).update(repeating: 0, count: padded - k)
        }
        let rowWords = w.blocksPerRow * w.bytesPerBlock / (w.kind.bits == 6 ? 3 : 4)
        let chunks = fast ? wordChunks(rowWords: rowWords) : []
        if fast {
            let e = w.kind.bits == 4 ? 8 : 4
            for i in 0..<m {
                let src = xpad + i * padded, dst = xperm + i * padded
                for (w0, g) in chunks {
                    for j in 0..<e { for l in 0..<g { dst[w0 * e + j * g + l] = src[(w0 + l) * e + j] } }
                }
            }
        }
        let scaleMul: Float = w.kind == .int4 ? 0x1p-2 : (w.kind == .int8 ? 0x1p-6 : (w.kind == .e2m1 ? 0.5 : 1))
        let xpadAddr = Int(bitPattern: xpad), xpermAddr = Int(bitPattern: xperm)
        let chunk = 256, nChunks = (n + chunk - 1) / chunk
        Parallel.forEach(nChunks, threads: threads) { c in
            let range = (c * chunk)..<min(n, (c + 1) * chunk)
            let xpad = UnsafePointer<Float>(bitPattern: xpadAddr)!, xperm = UnsafePointer<Float>(bitPattern: xpermAddr)!
            Scratch.withFloats(padded + B) { buf in
                let codes = UnsafeMutableRawPointer(buf + padded).bindMemory(to: UInt8.self, capacity: B * 4)
                if fast {
                    switch w.kind {
                    case .int4: gemvRowsFast(DecodeInt4.self, w, rows: range, m: m, rowWords: rowWords, scaleMul: scaleMul, xperm: xperm, xpad: xpad, padded: padded, y: y, ldy: ldy, buf: buf, codes: codes)
                    case .int8: gemvRowsFast(DecodeInt8.self, w, rows: range, m: m, rowWords: rowWords, scaleMul: scaleMul, xperm: xperm, xpad: xpad, padded: padded, y: y, ldy: ldy, buf: buf, codes: codes)
                    case .e2m1: gemvRowsFast(DecodeE2M1.self, w, rows: range, m: m, rowWords: rowWords, scaleMul: scaleMul, xperm: xperm, xpad: xpad, padded: padded, y: y, ldy: ldy, buf: buf, codes: codes)
                    case .e4m3: gemvRowsFast(DecodeE4M3.self, w, rows: range, m: m, rowWords: rowWords, scaleMul: scaleMul, xperm: xperm, xpad: xpad, padded: padded, y: y, ldy: ldy, buf: buf, codes: codes)
                    case .e5m2: gemvRowsFast(DecodeE5M2.self, w, rows: range, m: m, rowWords: rowWords, scaleMul: scaleMul, xperm: xperm, xpad: xpad, padded: padded, y: y, ldy: ldy, buf: buf, codes: codes)
                    case .e2m3: gemvRowsFast(DecodeE2M3.self, w, rows: range, m: m, rowWords: rowWords, scaleMul: scaleMul, xperm: xperm, xpad: xpad, padded: padded, y: y, ldy: ldy, buf: buf, codes: codes)
                    case .e3m2: gemvRowsFast(DecodeE3M2.self, w, rows: range, m: m, rowWords: rowWords, scaleMul: scaleMul, xperm: xperm, xpad: xpad, padded: padded, y: y, ldy: ldy, buf: buf, codes: codes)
                    }
                } else {
                    for r in range {
                        gemvRowTable(w, row: r, xs: xpad, xStride: padded, m: m, out: y + r, outStride: ldy, buf: buf, codes: codes)
                    }
                }
            }
        }
    }
}
