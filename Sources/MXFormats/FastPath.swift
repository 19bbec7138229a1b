// Fast row encoder/decoder. All numerics come from `ElementParams` (derived from the one
// traits table); the only per-format code is the element-width switch of the packers and
// unpackers. Encoding works on fp32 bit patterns, 16 lanes at a time; decoding is a table
// lookup times 2^E. Both are bit-identical to `MXReference` (see MXFormatsTests).

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
        for f in MXFormat.allCases { d[f] = (0..<f.traits.codeCount).map { f.params.decode(UInt8($0)) } }
        return d
    }()

    /// Values of both codes of every packed 4-bit byte (low nibble first), `[256]`; 4-bit formats only.
    static let pairTables: [MXFormat: [SIMD2<Float>]] = {
        var d: [MXFormat: [SIMD2<Float>]] = [:]
        for f in MXFormat.allCases where f.elementBits == 4 {
            let t = f.elementValueTable
            d[f] = (0..<256).map { SIMD2(t[$0 & 15], t[$0 >> 4]) }
        }
        return d
    }()
}

/// Compile-time selection of the outputs of `RowCodec.encodeRow` (packed codes, fake-quantized
/// values, diagnostics), so each combination gets its own specialised loop.
protocol Flag { static var on: Bool { get } }
enum Yes: Flag { static var on: Bool { true } }
enum No: Flag { static var on: Bool { false } }
protocol RowOutputs {
    static var packs: Bool { get }; static var fakes: Bool { get }; static var counts: Bool { get }
    static var stochastic: Bool { get }
}
enum Outputs<P: Flag, F: Flag, C: Flag, S: Flag>: RowOutputs {
    static var packs: Bool { P.on }
    static var fakes: Bool { F.on }
    static var counts: Bool { C.on }
    static var stochastic: Bool { S.on }
}

/// Immortal copies of the decode tables, so hot loops use raw pointers without retain/release.
final class DecodeTables: @unchecked Sendable {
    let values: UnsafeMutablePointer<Float>           // [2^bits]
    let pairs: UnsafeMutablePointer<SIMD2<Float>>     // [256] for 4-bit formats, else [1]

    init(_ f: MXFormat) {
        let v = f.elementValueTable
        values = .allocate(capacity: v.count)
        values.initialize(from: v, count: v.count)
        let p = MXFormat.pairTables[f] ?? [SIMD2<Float>(0, 0)]
        pairs = .allocate(capacity: p.count)
        pairs.initialize(from: p, count: p.count)
    }

    /// Tables by `MXFormat.allCases` order (an array, not a dictionary: looked up per row).
    static let all: [DecodeTables] = MXFormat.allCases.map { DecodeTables($0) }

    static func of(_ f: MXFormat) -> DecodeTables { all[f.ordinal] }
}

/// Encoder/decoder of single rows for one configuration. Blocks whose size is a multiple of
/// 16 and that hold no fp32 subnormals take the SIMD path (16 lanes of integer arithmetic on
/// the fp32 bit patterns, any rounding); other blocks use the scalar `ElementParams.encode`.
struct RowCodec {
    let p: ElementParams
    let block: Int, bytesPerBlock: Int
    let kind: RoundKind, seed: UInt64, rule: MXScaleRule
    let values: UnsafeMutablePointer<Float>, pairs: UnsafeMutablePointer<SIMD2<Float>>
    let simd: Bool
    let lc: Lanes   // loop-invariant lane constants of the SIMD path

    /// Per-format constants as vectors, built once (keeps LLVM from splitting the hot loop).
    struct Lanes {
        let c23M, emin, xsMin, xuMin, zeroX, emax, maxMag, maxMant, maxBits, away, even, intQexp: V
        init(_ p: ElementParams, _ kind: RoundKind) {
            let M = Int32(p.mantissaBits), emin = Int32(p.eminElem)
            c23M = V(repeating: 23 - M); self.emin = V(repeating: emin)
            xsMin = V(repeating: emin - M - 8); xuMin = V(repeating: emin - M - 40)
            zeroX = V(repeating: -(1 << 16))   // x of a zero lane: below xsMin/xuMin, far from Int32 overflow
            emax = V(repeating: Int32(p.emaxElem)); maxMag = V(repeating: Int32(p.maxCodeMagnitude))
            maxMant = V(repeating: Int32(p.maxNormalMantissa)); maxBits = V(repeating: Int32(bitPattern: p.maxNormalBits))
            away = V(repeating: kind == .away ? 1 : 0); even = V(repeating: kind == .even ? 1 : 0)
            intQexp = V(repeating: -M)
        }
    }

    init(_ c: MXConfig) {
        p = c.format.params
        block = c.block
        bytesPerBlock = (c.block * p.elementBits + 7) / 8
        kind = c.rounding.kind; seed = c.rounding.seed; rule = c.scaleRule
        let t = DecodeTables.of(c.format)
        values = t.values; pairs = t.pairs
        simd = c.block % 16 == 0
        lc = Lanes(p, kind)
    }

    typealias V = SIMD16<Int32>

    // Mask-free lane helpers (Swift's SIMD comparisons and masks compile to per-lane loops).
    // Masks are 0 / -1 lanes; operands stay far from Int32 overflow here (|values| < 2^30).
    @inline(__always) static func lt(_ a: V, _ b: V) -> V { (a &- b) &>> 31 }
    @inline(__always) static func isZero(_ a: V) -> V { (a &- 1) &>> 31 & ~(a &>> 31) }
    @inline(__always) static func select(_ m: V, _ a: V, _ b: V) -> V { b ^ ((a ^ b) & m) }
    @inline(__always) static func vmin(_ a: V, _ b: V) -> V { select(lt(a, b), a, b) }
    @inline(__always) static func vmax(_ a: V, _ b: V) -> V { select(lt(a, b), b, a) }

    /// Result of encoding 16 lanes.
    struct Chunk {
        var codes: V       // element codes
        var mag: V         // code magnitudes (FP: without sign; INT: |k|)
        var x: V           // floor(log2(|v| / 2^e)) (unclamped; zero lanes -2^16)
        var value: SIMD16<Float>   // |element value| (not scaled), exact
        var negative: V    // -1 where the stored code carries a minus sign (INT: non-zero negative)
    }

    /// Encodes 16 finite, non-subnormal fp32 patterns `bi` under shared exponent `e`. Same
    /// arithmetic as `ElementParams.encode` with 32-bit lanes; `random` (stochastic rounding
    /// only) holds each lane's `MXRounding.randomBits`.
    @inline(__always)
    func encodeChunk(_ bi: V, e: Int32, random: SIMD16<UInt32>, stochastic: Bool) -> Chunk {
        let M = Int32(p.mantissaBits), emin = lc.emin
        let a = bi & 0x7FFF_FFFF
        let ef = a &>> 23
        let m = (a & 0x7F_FFFF) | ((0 &- ((ef &+ 0xFF) &>> 8)) & 0x80_0000)   // implicit bit unless ef == 0
        // Zero lanes (±0) get a very negative x, below every clamp: n = 0 and no exponent
        // field in the code. `ef - (127 + e)` alone is not enough: for E <= -127 - emin_elem
        // (all-zero blocks and zero padding at E = -127, blocks of tiny values) it is >= emin_elem
        // for a zero lane, which used to encode ±0 as a non-zero code (E4M3 0x30 at E = -127).
        let x = RowCodec.select(RowCodec.isZero(a), lc.zeroX, ef &- (127 &+ e))
        // Clamp x from below so that the shift stays <= 31 (lanes that low round to 0 anyway,
        // except under stochastic rounding, handled below with the unclamped shift).
        let xs = RowCodec.vmax(x, lc.xsMin)
        let xc = RowCodec.vmax(xs, emin)
        let sc = p.isInteger ? lc.c23M &- xs : lc.c23M &+ (xc &- xs)   // >= 1 unless saturated
        let n: V
        if !stochastic {
            // n = round(m / 2^sc): ties to even (tie bit = LSB of the truncated quotient) or away.
            let half = V(repeating: 1) &<< (sc &- 1)
            let tie = lc.away | ((m &>> sc) & lc.even)
            n = (m &+ half &- 1 &+ tie) &>> sc
        } else {
            // Round up iff floor(rem · 2^32 / 2^shift) + random >= 2^32 (carry out of a 32-bit add).
            let n0 = m &>> sc
            let rem = m & ((V(repeating: 1) &<< sc) &- 1)
            let xu = RowCodec.vmax(x, lc.xuMin)
            let su = p.isInteger ? lc.c23M &- xu : lc.c23M &+ (RowCodec.vmax(xu, emin) &- xu)   // true shift, <= 63
            let big = RowCodec.lt(V(repeating: 32), su)
            let t32 = RowCodec.select(big, m &>> (su &- 32), rem &<< (32 &- su))
            let t = SIMD16<UInt32>(truncatingIfNeeded: t32)
            let carry = ((t & random) | ((t | random) & ~(t &+ random))) &>> 31
            n = n0 &+ V(truncatingIfNeeded: carry)
        }
        let base = p.isInteger ? V(repeating: 0) : (xc &- emin) &<< M
        let maxMag = lc.maxMag
        let clamped = RowCodec.lt(lc.emax, x) | ~RowCodec.lt(base &+ n, maxMag)
        let mag = RowCodec.select(clamped, maxMag, base &+ n)
        let sign = (bi &>> 31) & 1
        let codes: V, negative: V
        if p.isInteger {
            codes = ((mag ^ (0 &- sign)) &+ sign) & Int32(p.codeMask)
            negative = (0 &- sign) & ~RowCodec.isZero(mag)
        } else {
            codes = mag | (sign &<< Int32(p.elementBits - 1))
            negative = 0 &- sign
        }
        // |value| = n · 2^(quantum exponent), or maxNormal when clamped; both exact in fp32.
        let qexp = p.isInteger ? lc.intQexp : xc &- M
        let unitBits = (qexp &+ 127) &<< 23
        let scaled = SIMD16<Float>(n) * unsafeBitCast(unitBits, to: SIMD16<Float>.self)
        let valueBits = RowCodec.select(clamped, lc.maxBits, unsafeBitCast(scaled, to: V.self))
        return Chunk(codes: codes, mag: mag, x: x, value: unsafeBitCast(valueBits, to: SIMD16<Float>.self), negative: negative)
    }

    /// The 32 random bits of columns `col0 ..< col0+16` (stochastic rounding).
    @inline(__always)
    static func randomLanes(rowKey: UInt64, col0: Int) -> SIMD16<UInt32> {
        let golden: UInt64 = 0x9E37_79B9_7F4A_7C15
        let lanes = SIMD8<UInt64>(0, 1, 2, 3, 4, 5, 6, 7)
        func mix(_ c: SIMD8<UInt64>) -> SIMD8<UInt32> {
            var z = SIMD8<UInt64>(repeating: rowKey) &+ c &* golden
            z = (z ^ (z &>> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z &>> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z &>> 31
            return SIMD8<UInt32>(truncatingIfNeeded: z &>> 32)
        }
        let c = SIMD8<UInt64>(repeating: UInt64(truncatingIfNeeded: col0)) &+ lanes
        return SIMD16(lowHalf: mix(c), highHalf: mix(c &+ 8))
    }

    /// Stores 16 codes packed at `out` (2·bits bytes).
    @inline(__always)
    func packChunk(_ c: V, into out: UnsafeMutablePointer<UInt8>) {
        switch p.elementBits {
        case 8:
            UnsafeMutableRawPointer(out).storeBytes(of: SIMD16<UInt8>(truncatingIfNeeded: c), as: SIMD16<UInt8>.self)
        case 4:
            let w = unsafeBitCast(c, to: SIMD8<UInt64>.self)     // lane j = c[2j] | c[2j+1] << 32
            let b = (w | (w &>> 28)) & 0xFF
            UnsafeMutableRawPointer(out).storeBytes(of: SIMD8<UInt8>(truncatingIfNeeded: b), as: SIMD8<UInt8>.self)
        default:
            let w = unsafeBitCast(c, to: SIMD8<UInt64>.self)
            let pr = (w | (w &>> 26)) & 0xFFF                    // 12-bit pairs
            for k in 0..<4 {
                let t = UInt32(truncatingIfNeeded: pr[2 * k] | (pr[2 * k + 1] << 12))
                out[3 * k] = UInt8(truncatingIfNeeded: t)
                out[3 * k + 1] = UInt8(truncatingIfNeeded: t >> 8)
                out[3 * k + 2] = UInt8(truncatingIfNeeded: t >> 16)
            }
        }
    }

    /// Encodes one row of `cols` values. Writes scale bytes / packed codes / fake-quantized
    /// values where the pointers are non-nil (`fakeOut` may alias `src`). Returns the row's
    /// (Σ err², Σ v²) in the fixed 16-lane order when `stats` is given, else zeros.
    func encodeRow(_ src: UnsafePointer<Float>, cols: Int, row: Int,
                   scales: UnsafeMutablePointer<UInt8>?, packed: UnsafeMutablePointer<UInt8>?,
                   fakeOut: UnsafeMutablePointer<Float>?, stats: UnsafeMutablePointer<RowStats>?) -> (Double, Double) {
        // Specialise the common output combinations so dead work and branches compile away.
        func go<S: Flag>(_: S.Type) -> (Double, Double) {
            switch (packed != nil, fakeOut != nil, stats != nil) {
            case (true, false, false): return encodeRow(Outputs<Yes, No, No, S>.self, src, cols, row, scales, packed, fakeOut, stats)
            case (true, false, true): return encodeRow(Outputs<Yes, No, Yes, S>.self, src, cols, row, scales, packed, fakeOut, stats)
            case (false, true, true): return encodeRow(Outputs<No, Yes, Yes, S>.self, src, cols, row, scales, packed, fakeOut, stats)
            case (false, true, false): return encodeRow(Outputs<No, Yes, No, S>.self, src, cols, row, scales, packed, fakeOut, stats)
            default: return encodeRow(Outputs<Yes, Yes, Yes, S>.self, src, cols, row, scales, packed, fakeOut, stats)
            }
        }
        return kind == .stochastic ? go(Yes.self) : go(No.self)
    }

    private func encodeRow<O: RowOutputs>(_: O.Type, _ src: UnsafePointer<Float>, _ cols: Int, _ row: Int,
                                          _ scales: UnsafeMutablePointer<UInt8>?, _ packed: UnsafeMutablePointer<UInt8>?,
                                          _ fakeOut: UnsafeMutablePointer<Float>?, _ stats: UnsafeMutablePointer<RowStats>?) -> (Double, Double) {
        let nb = (cols + block - 1) / block
        let rowKey = O.stochastic ? MXRounding.rowKey(seed: seed, row: row) : 0
        var sseLo = SIMD8<Double>(), sseHi = SIMD8<Double>(), sssLo = SIMD8<Double>(), sssHi = SIMD8<Double>()
        var satLanes = V(), ftzLanes = V()   // per-lane counts (as negatives) of the SIMD path
        let wantQ = O.fakes || O.counts
        // Scratch: one padded block of inputs, its codes, and its dequantized values.
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 2 * block)
        let codeBuf = UnsafeMutablePointer<UInt8>.allocate(capacity: block)
        defer { scratch.deallocate(); codeBuf.deallocate() }
        let qBuf = scratch + block
        for blk in 0..<nb {
            let start = blk * block, n = min(block, cols - start)
            var x = src + start
            if n < block {   // partial last block: zero padding never changes amax
                scratch.update(from: x, count: n)
                (scratch + n).update(repeating: 0, count: block - n)
                x = UnsafePointer(scratch)
            }
            // amax as the largest |bit pattern| (orders like the values; >= 0x7F800000: NaN/Inf)
            var amax: UInt32 = 0
            var vectorBlock = simd        // SIMD path unless the block holds fp32 subnormals
            if simd {
                var mv = SIMD16<UInt32>(), sub = V()
                for k in stride(from: 0, to: block, by: 16) {
                    let a = UnsafeRawPointer(x + k).loadUnaligned(as: V.self) & 0x7FFF_FFFF
                    mv = pointwiseMax(mv, SIMD16<UInt32>(truncatingIfNeeded: a))
                    sub |= RowCodec.lt(a, V(repeating: 0x80_0000)) & ~RowCodec.isZero(a)
                }
                amax = mv.max()
                if sub.min() < 0 { vectorBlock = false }
            } else {
                for i in 0..<block { amax = max(amax, x[i].bitPattern & 0x7FFF_FFFF) }
            }
            if amax >= 0x7F80_0000 {
                scales?[blk] = 0xFF
                if O.packs, let pk = packed { (pk + blk * bytesPerBlock).update(repeating: 0, count: bytesPerBlock) }
                if O.fakes, let f = fakeOut { (f + start).update(repeating: .nan, count: n) }
                if O.counts, let s = stats { s.pointee.nonFiniteBlocks += 1; s.pointee.histogram[255] += 1 }
                continue
            }
            let e = p.sharedExponent(amaxBits: amax, rule: rule)
            scales?[blk] = UInt8(e + 127)
            let scale = E8M0.pow2(e)
            if O.counts, let s = stats { s.pointee.histogram[e + 127] += 1; s.pointee.finiteElements += n }
            var saturated = 0, flushed = 0
            if vectorBlock {
                for k in stride(from: 0, to: block, by: 16) {
                    let bi = UnsafeRawPointer(x + k).loadUnaligned(as: V.self)
                    let a = bi & 0x7FFF_FFFF
                    let rnd = O.stochastic ? RowCodec.randomLanes(rowKey: rowKey, col0: start + k) : SIMD16<UInt32>()
                    let r = encodeChunk(bi, e: Int32(e), random: rnd, stochastic: O.stochastic)
                    if O.packs, let pk = packed { packChunk(r.codes, into: pk + blk * bytesPerBlock + k * p.elementBits / 8) }
                    if wantQ {
                        // q = ±value · 2^e (exact); the sign bit goes on after scaling.
                        let qBits = unsafeBitCast(r.value * scale, to: V.self) | (r.negative & Int32(bitPattern: 0x8000_0000))
                        let q = unsafeBitCast(qBits, to: SIMD16<Float>.self)
                        if O.counts {
                            let over = RowCodec.lt(lc.emax, r.x)
                                | (RowCodec.isZero(r.x &- lc.emax) & RowCodec.lt(lc.maxMant, a & 0x7F_FFFF))
                            satLanes &+= over
                            // q == 0 exactly when the code magnitude is 0 (products here never underflow to 0).
                            ftzLanes &+= ~RowCodec.isZero(a) & RowCodec.isZero(r.mag)
                            let v = unsafeBitCast(bi, to: SIMD16<Float>.self)
                            let vl = SIMD8<Double>(v.lowHalf), vh = SIMD8<Double>(v.highHalf)
                            let el = vl - SIMD8<Double>(q.lowHalf), eh = vh - SIMD8<Double>(q.highHalf)
                            sseLo += el * el; sseHi += eh * eh
                            sssLo += vl * vl; sssHi += vh * vh
                        }
                        if O.fakes, let f = fakeOut {
                            if k + 16 <= n {
                                UnsafeMutableRawPointer(f + start + k).storeBytes(of: q, as: SIMD16<Float>.self)
                            } else {
                                for i in 0..<max(0, n - k) { f[start + k + i] = q[i] }
                            }
                        }
                    }
                }
            } else {
                for i in 0..<n {
                    let c = start + i
                    let v = x[i]
                    let r = O.stochastic ? MXRounding.randomBits(rowKey: rowKey, col: c) : 0
                    let code = p.encode(bits: v.bitPattern, scaleExponent: e, kind: kind, random: r)
                    codeBuf[i] = code
                    if wantQ {
                        let q = values[Int(code)] * scale
                        if O.counts {
                            if p.exceedsMax(bits: v.bitPattern, scaleExponent: e) { saturated += 1 }
                            if v != 0 && q == 0 { flushed += 1 }
                            let err = Double(v) - Double(q)
                            if c & 15 < 8 {
                                sseLo[c & 7] += err * err; sssLo[c & 7] += Double(v) * Double(v)
                            } else {
                                sseHi[c & 7] += err * err; sssHi[c & 7] += Double(v) * Double(v)
                            }
                        }
                        qBuf[i] = q
                    }
                }
                if O.fakes, let f = fakeOut { (f + start).update(from: qBuf, count: n) }
                if O.packs, let pk = packed {
                    (codeBuf + n).update(repeating: 0, count: block - n)
                    packBlock(codeBuf, into: pk + blk * bytesPerBlock)
                }
            }
            if O.counts, let s = stats { s.pointee.saturated += saturated; s.pointee.flushedToZero += flushed }
        }
        if O.counts, let st = stats {
            st.pointee.saturated -= Int(satLanes.wrappedSum())
            st.pointee.flushedToZero -= Int(ftzLanes.wrappedSum())
        }
        var e = 0.0, s = 0.0
        for l in 0..<8 { e += sseLo[l]; s += sssLo[l] }
        for l in 0..<8 { e += sseHi[l]; s += sssHi[l] }
        return (e, s)
    }

    /// Packs `block` codes into `bytesPerBlock` bytes (scalar; any even block size).
    func packBlock(_ c: UnsafePointer<UInt8>, into out: UnsafeMutablePointer<UInt8>) {
        switch p.elementBits {
        case 8:
            out.update(from: c, count: block)
        case 4:
            for i in 0..<(block / 2) { out[i] = c[2 * i] | (c[2 * i + 1] << 4) }
        default:
            var i = 0, o = 0
            while i + 4 <= block {
                let w = UInt32(c[i]) | UInt32(c[i + 1]) << 6 | UInt32(c[i + 2]) << 12 | UInt32(c[i + 3]) << 18
                out[o] = UInt8(truncatingIfNeeded: w); out[o + 1] = UInt8(truncatingIfNeeded: w >> 8)
                out[o + 2] = UInt8(truncatingIfNeeded: w >> 16)
                i += 4; o += 3
            }
            if i < block {   // block ≡ 2 (mod 4): two codes in 12 bits, 2 bytes
                let w = UInt16(c[i]) | UInt16(c[i + 1]) << 6
                out[o] = UInt8(truncatingIfNeeded: w); out[o + 1] = UInt8(truncatingIfNeeded: w >> 8)
            }
        }
    }

    /// Decodes one row: `out[c] = value(code) · 2^E` (table lookup, exact), NaN for scale 0xFF.
    func decodeRow(scales: UnsafePointer<UInt8>, packed: UnsafePointer<UInt8>, cols: Int, out: UnsafeMutablePointer<Float>) {
        let nb = (cols + block - 1) / block
        for blk in 0..<nb {
            let start = blk * block
            decodeBlock(scale: scales[blk], packed: packed + blk * bytesPerBlock, count: min(block, cols - start), out: out + start)
        }
    }

    /// Decodes the first `n` (<= block) elements of one packed block.
    @inline(__always)
    func decodeBlock(scale s: UInt8, packed pb: UnsafePointer<UInt8>, count n: Int, out o: UnsafeMutablePointer<Float>) {
        let lut = UnsafePointer(values)
        if s == 0xFF { o.update(repeating: .nan, count: n); return }
        let scale = E8M0.pow2(Int(s) - 127)
        switch p.elementBits {
        case 8:
            for i in 0..<n { o[i] = lut[Int(pb[i])] * scale }
        case 4:
            let s2 = SIMD2<Float>(repeating: scale)
            let pairs = UnsafeRawPointer(self.pairs)
            for j in 0..<(n / 2) {
                let v = pairs.load(fromByteOffset: Int(pb[j]) * 8, as: SIMD2<Float>.self) * s2
                UnsafeMutableRawPointer(o + 2 * j).storeBytes(of: v, as: SIMD2<Float>.self)
            }
            if n & 1 == 1 { o[n - 1] = lut[Int(pb[n / 2] & 15)] * scale }
        default:
            var i = 0, b = 0
            while i + 4 <= n {
                let w = Int(pb[b]) | Int(pb[b + 1]) << 8 | Int(pb[b + 2]) << 16
                o[i] = lut[w & 63] * scale
                o[i + 1] = lut[(w >> 6) & 63] * scale
                o[i + 2] = lut[(w >> 12) & 63] * scale
                o[i + 3] = lut[w >> 18] * scale
                i += 4; b += 3
            }
            while i < n { o[i] = lut[Int(unpackCode(pb, index: i, bits: 6))] * scale; i += 1 }
        }
    }
}

/// Reusable decoder of packed MX rows/blocks for kernels (e.g. dequant-matmul): decode a block
/// into a small fp32 buffer, then run SIMD FMAs on it. Same results as `MXTensor.decoded()`.
public struct MXDecoder: @unchecked Sendable {
    let codec: RowCodec
    public let config: MXConfig
    public init(_ config: MXConfig) { self.config = config; codec = RowCodec(config) }

    /// Bytes of packed codes per block: ceil(block · elementBits / 8).
    public var bytesPerBlock: Int { codec.bytesPerBlock }

    /// Decodes the first `count` (<= block) elements of the block at `packed` with scale byte
    /// `scale` into `out`: `value(code) · 2^E` exactly; NaN for scale 0xFF.
    @inlinable public func decodeBlock(scale: UInt8, packed: UnsafePointer<UInt8>, count: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(count >= 0 && count <= config.block)
        _decodeBlock(scale, packed, count, out)
    }

    @usableFromInline func _decodeBlock(_ s: UInt8, _ p: UnsafePointer<UInt8>, _ n: Int, _ o: UnsafeMutablePointer<Float>) {
        codec.decodeBlock(scale: s, packed: p, count: n, out: o)
    }

    /// Decodes a row of `cols` elements stored as `ceil(cols/block)` scale bytes and packed blocks.
    public func decodeRow(scales: UnsafePointer<UInt8>, packed: UnsafePointer<UInt8>, cols: Int, into out: UnsafeMutablePointer<Float>) {
        codec.decodeRow(scales: scales, packed: packed, cols: cols, out: out)
    }
}
