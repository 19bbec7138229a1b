import Support
import XCTest
@testable import MXFormats

/// Zeros, near-zero values and partial blocks for every format × block size × scale rule ×
/// rounding (issue #12 §1). Every expectation is derived here from docs/mx-numerics.md with
/// the format constants restated from its table (not read from the code under test); the
/// fast paths and `MXReference` are each compared with them, not only with each other.
///
/// Inputs are built so the expected encoding follows from a few contract rules:
/// - a block's largest magnitude is either 0 (then E = -127, byte 0x00), 2^-149 (E clamps to
///   -127), or an "anchor" 2^k, for which floor and ceil agree: E = clamp(k - emax_elem), since
///   no format's max normal is a power of two (2^emax < max < 2^(emax+1));
/// - the anchor is then 2^(k-E), an exact element value (a normal FP value; INT: k = 2^M);
/// - every other element is ±0 or f · s · 2^E with s the smallest positive element value and
///   f in [0, 1): it becomes 0 or s by the rounding rule (even: f > 1/2; away: f >= 1/2;
///   stochastic: floor(f · 2^32) + random >= 2^32);
/// - FP codes keep the sign of a zero result (sign bit only), INT has one zero (code 0).
final class ZeroEdgeTests: XCTestCase {
    /// Format constants from the table of docs/mx-numerics.md.
    struct Spec {
        let format: MXFormat
        let bits: Int, isInt: Bool, mant: Int, bias: Int, emax: Int
        /// Smallest positive element value: FP subnormal 2^(1-bias-M), INT 2^-M.
        var smallest: Double { isInt ? pow(2, Double(-mant)) : pow(2, Double(1 - bias - mant)) }
        var signBit: UInt8 { UInt8(1 << (bits - 1)) }
        var mask: UInt8 { UInt8((1 << bits) - 1) }
    }

    static let specs: [Spec] = [
        Spec(format: .mxfp8_e5m2, bits: 8, isInt: false, mant: 2, bias: 15, emax: 15),
        Spec(format: .mxfp8_e4m3, bits: 8, isInt: false, mant: 3, bias: 7, emax: 8),
        Spec(format: .mxfp6_e3m2, bits: 6, isInt: false, mant: 2, bias: 3, emax: 4),
        Spec(format: .mxfp6_e2m3, bits: 6, isInt: false, mant: 3, bias: 1, emax: 2),
        Spec(format: .mxfp4_e2m1, bits: 4, isInt: false, mant: 1, bias: 1, emax: 2),
        Spec(format: .mxint8, bits: 8, isInt: true, mant: 6, bias: 0, emax: 0),
        Spec(format: .mxint4, bits: 4, isInt: true, mant: 2, bias: 0, emax: 0),
    ]

    /// One input element, described by what the contract makes of it.
    enum Elem {
        case zero(neg: Bool)
        /// ±2^k, the block's unique largest magnitude.
        case anchor(k: Int, neg: Bool)
        /// ±f · smallest · 2^E (E: the block's exponent), 0 <= f < 1.
        case frac(Double, neg: Bool)
        /// ±2^-149, the smallest fp32 subnormal.
        case tiniest(neg: Bool)
    }

    /// A case: blocks of element descriptions (the last one may be shorter than B: partial block).
    struct Case { let name: String; let blocks: [[Elem]] }

    static func cases(block B: Int) -> [Case] {
        var out: [Case] = []
        func zeros(_ n: Int, _ neg: (Int) -> Bool) -> [Elem] { (0..<n).map { .zero(neg: neg($0)) } }
        out.append(Case(name: "all +0", blocks: [zeros(B, { _ in false }), zeros(B, { _ in false })]))
        out.append(Case(name: "all -0", blocks: [zeros(B, { _ in true }), zeros(B, { _ in true })]))
        out.append(Case(name: "mixed zeros", blocks: [zeros(B, { $0 % 3 != 1 }), zeros(B, { $0 % 2 == 0 })]))
        // One non-zero among zeros; k = -118 puts E5M2 (and E4M3: -126) at or near the -127 clamp,
        // with zero lanes beside normal values in the SIMD path.
        for (i, k) in [0, -118, -126, 127].enumerated() {
            let p = [0, B - 1, B / 2, 1 % B][i % 4]
            var b = zeros(B, { ($0 + i) % 2 == 0 })
            b[p] = .anchor(k: k, neg: i % 2 == 1)      // row 0 holds the other sign
            out.append(Case(name: "one 2^\(k) at \(p)", blocks: i == 0 ? [b, zeros(B, { $0 % 2 == 1 })] : [b]))
        }
        // The smallest subnormal alone among zeros, and beside an anchor (flushes).
        var b = zeros(B, { $0 % 2 == 0 })
        b[B - 1] = .tiniest(neg: false)
        out.append(Case(name: "2^-149", blocks: [b]))
        var c = zeros(B, { $0 % 2 == 1 })
        c[0] = .anchor(k: -3, neg: false)
        c[1] = .tiniest(neg: true)
        out.append(Case(name: "2^-149 beside 2^-3", blocks: [c]))
        // Values that flush to zero or round up to the smallest element (ties, both sides).
        let fracs: [Double] = [0x1p-30, 0.25, 0.5, 0.5 + 0x1p-20, 0.75, 0.5 - 0x1p-20]
        for k in [0, -118, 40] {
            var b = zeros(B, { $0 % 3 == 0 })
            b[0] = .anchor(k: k, neg: k < 0)
            for j in 1..<B { b[j] = .frac(fracs[(j - 1) % fracs.count], neg: j % 2 == 0) }
            out.append(Case(name: "flush beside 2^\(k)", blocks: [b]))
        }
        // Partial last blocks (zero padding): an all-zero one and one holding a value.
        for r in Set([1, B / 2 + 1, B - 1]).sorted() where r < B {
            let first = zeros(B, { $0 % 2 == 0 }).enumerated().map { $0.offset == 3 % B ? Elem.anchor(k: 1, neg: false) : $0.element }
            out.append(Case(name: "partial \(r) of zeros", blocks: [first, zeros(r, { $0 % 2 == 1 })]))
            var last = zeros(r, { $0 % 2 == 0 })
            last[r - 1] = .anchor(k: -120, neg: true)
            out.append(Case(name: "partial \(r) with 2^-120", blocks: [first, last]))
            var lastTiny = zeros(r, { $0 % 2 == 1 })
            lastTiny[0] = .tiniest(neg: false)
            out.append(Case(name: "partial \(r) with 2^-149", blocks: [lastTiny]))
        }
        return out
    }

    /// The fp32 input and the expected (scale bytes, codes, decoded bit patterns, flushed count)
    /// of one row, from the rules in the type comment.
    static func expect(_ c: Case, _ s: Spec, rounding: MXRounding, row: Int, block B: Int)
        -> (values: [Float], scales: [UInt8], codes: [UInt8], decoded: [UInt32], flushed: Int) {
        var values: [Float] = [], scales: [UInt8] = [], codes: [UInt8] = [], decoded: [UInt32] = []
        var flushed = 0
        for (bi, blk) in c.blocks.enumerated() {
            var E = -127
            for e in blk { if case .anchor(let k, _) = e { E = min(127, max(-127, k - s.emax)) } }
            scales.append(UInt8(E + 127))
            let unit = s.smallest * pow(2, Double(E))          // value of the smallest code, scaled
            for (i, e) in blk.enumerated() {
                let col = bi * B + i
                func signed(_ mag: Double, _ neg: Bool) -> Float { Float(neg ? -mag : mag) }
                /// Code and decoded value of f · unit (f < 1) with sign `neg`.
                func small(_ f: Double, _ neg: Bool) -> (UInt8, Float) {
                    let up: Bool
                    switch rounding {
                    case .even: up = f > 0.5
                    case .away: up = f >= 0.5
                    case .stochastic(let seed):
                        let r = Double(MXRounding.randomBits(seed: seed, row: row, col: col))
                        up = (f * 4294967296.0).rounded(.down) + r >= 4294967296.0
                    }
                    if s.isInt {
                        return up ? (neg ? s.mask : 1, signed(unit, neg)) : (0, 0)
                    }
                    return ((up ? 1 : 0) | (neg ? s.signBit : 0), signed(up ? unit : 0, neg))
                }
                switch e {
                case .zero(let neg):
                    values.append(neg ? -0.0 : 0)
                    let (code, d) = small(0, neg)
                    codes.append(code); decoded.append(d.bitPattern)
                case .anchor(let k, let neg):
                    values.append(signed(pow(2, Double(k)), neg))
                    let j = k - E                                  // element value 2^j
                    let mag = s.isInt ? UInt8(1 << (s.mant + j)) : UInt8((j + s.bias) << s.mant)
                    codes.append(s.isInt ? (neg ? (~mag &+ 1) & s.mask : mag) : mag | (neg ? s.signBit : 0))
                    decoded.append(values.last!.bitPattern)
                case .frac(let f0, let neg):
                    // f · unit must be an fp32 value (blocks near 2^-127 have too few bits below): else ±0.
                    let f = Double(Float(f0 * unit)) == f0 * unit ? f0 : 0
                    let v = signed(f * unit, neg)
                    values.append(v)
                    let (code, d) = small(f, neg)
                    codes.append(code); decoded.append(d.bitPattern)
                    if d == 0 && v != 0 { flushed += 1 }
                case .tiniest(let neg):
                    let v = Float(bitPattern: 1 | (neg ? 0x8000_0000 : 0))
                    values.append(v)
                    let (code, d) = small(0x1p-149 / unit, neg)
                    codes.append(code); decoded.append(d.bitPattern)
                    if d == 0 { flushed += 1 }
                }
            }
        }
        return (values, scales, codes, decoded, flushed)
    }

    /// LSB-first bit stream per block (docs/mx-numerics.md, Storage), zero padding.
    static func pack(_ codes: [UInt8], bits: Int, block B: Int) -> [UInt8] {
        let nb = (codes.count + B - 1) / B, bpb = (B * bits + 7) / 8
        var out = [UInt8](repeating: 0, count: nb * bpb)
        for (idx, c) in codes.enumerated() {
            let base = (idx / B) * bpb * 8 + (idx % B) * bits
            for j in 0..<bits where (c >> j) & 1 == 1 { out[(base + j) / 8] |= 1 << ((base + j) % 8) }
        }
        return out
    }

    func testZerosAndNearZeroEveryConfiguration() {
        var checked = 0
        for s in ZeroEdgeTests.specs {
            for B in [2, 16, 32, 64, 128] {
                for rule in [MXScaleRule.floor, .ceil] {
                    for rounding in [MXRounding.even, .away, .stochastic(seed: 5)] {
                        let config = MXConfig(format: s.format, block: B, scaleRule: rule, rounding: rounding)
                        for c in ZeroEdgeTests.cases(block: B) {
                            check(c, s, config)
                            checked += 1
                        }
                    }
                }
            }
        }
        XCTAssertGreaterThan(checked, 7 * 5 * 2 * 3 * 12)
    }

    private func check(_ c: Case, _ s: Spec, _ config: MXConfig, file: StaticString = #filePath, line: UInt = #line) {
        let B = config.block
        // Two rows (own random streams): row 0 holds the case with every sign flipped, row 1 the case.
        let x = ZeroEdgeTests.expect(c, s, rounding: config.rounding, row: 1, block: B)
        let n = x.values.count
        let what = "\(config) \(c.name)"
        let neg = Case(name: c.name, blocks: c.blocks.map { $0.map { e -> Elem in
            switch e {
            case .zero(let n): return .zero(neg: !n)
            case .anchor(let k, let n): return .anchor(k: k, neg: !n)
            case .frac(let f, let n): return .frac(f, neg: !n)
            case .tiniest(let n): return .tiniest(neg: !n)
            }
        } })
        let y = ZeroEdgeTests.expect(neg, s, rounding: config.rounding, row: 0, block: B)
        XCTAssertEqual(y.values.map(\.bitPattern), x.values.map { (-$0).bitPattern }, "test construction", file: file, line: line)
        let values = y.values + x.values
        let scales = y.scales + x.scales, codes = y.codes + x.codes, decoded = y.decoded + x.decoded
        let packed = ZeroEdgeTests.pack(y.codes, bits: s.bits, block: B) + ZeroEdgeTests.pack(x.codes, bits: s.bits, block: B)
        let flushed = y.flushed + x.flushed

        // Fast path: encoder, packed bytes, decoder, block decoder, fake quantization + diagnostics.
        for threads in [2] {   // one row per thread
            let t = MXTensor(encoding: values, rows: 2, cols: n, config: config, threads: threads)
            XCTAssertEqual(t.scales, scales, "fast scales \(what)", file: file, line: line)
            XCTAssertEqual((0..<2).flatMap { r in (0..<n).map { t.code(row: r, col: $0) } }, codes, "fast codes \(what)", file: file, line: line)
            XCTAssertEqual(t.elements, packed, "fast packed \(what)", file: file, line: line)
            XCTAssertEqual(t.decoded(threads: threads).map(\.bitPattern), decoded, "fast decoded \(what)", file: file, line: line)
            var fq = values
            let d = fq.withUnsafeMutableBufferPointer { mxFakeQuantize($0, rows: 2, cols: n, config: config, threads: threads) }
            XCTAssertEqual(fq.map(\.bitPattern), decoded, "fast fake-quant \(what)", file: file, line: line)
            XCTAssertEqual(d.flushedToZero, flushed, "fast flushed count \(what)", file: file, line: line)
            XCTAssertEqual(d.saturated, 0, "fast saturated \(what)", file: file, line: line)
        }
        let dec = MXDecoder(config)
        var out = [Float](repeating: .nan, count: B)
        for (bi, sb) in scales.enumerated() {
            let r = bi / (scales.count / 2), b = bi % (scales.count / 2)
            let cnt = min(B, n - b * B)
            packed.withUnsafeBufferPointer { p in
                dec.decodeBlock(scale: sb, packed: p.baseAddress! + bi * dec.bytesPerBlock, count: cnt, into: &out)
            }
            XCTAssertEqual(out[0..<cnt].map(\.bitPattern), Array(decoded[(r * n + b * B)..<(r * n + b * B + cnt)]),
                           "MXDecoder block \(bi) \(what)", file: file, line: line)
        }

        // Reference.
        let ref = MXReference.encode(values, rows: 2, cols: n, config: config)
        XCTAssertEqual(ref.scales, scales, "reference scales \(what)", file: file, line: line)
        XCTAssertEqual(MXReference.codes(of: ref), codes, "reference codes \(what)", file: file, line: line)
        XCTAssertEqual(ref.elements, packed, "reference packed \(what)", file: file, line: line)
        XCTAssertEqual(MXReference.decode(ref).map(\.bitPattern), decoded, "reference decoded \(what)", file: file, line: line)
    }

    /// Hand vectors of the issue: 32 × ±0 in E4M3 is byte 0x00 with codes 0x00 / 0x80 (not 0x30 / 0xB0),
    /// decoding to ±0 (not 2^-128).
    func testAllZeroBlockHandVector() {
        for f in [MXFormat.mxfp8_e4m3, .mxfp8_e5m2, .mxfp6_e3m2] {
            for z: Float in [0, -0.0] {
                let t = MXTensor(encoding: [Float](repeating: z, count: 32), rows: 1, cols: 32, config: MXConfig(format: f))
                XCTAssertEqual(t.scales, [0], "\(f)")
                let sign: UInt8 = f.elementBits == 8 ? 0x80 : 0x20
                XCTAssertEqual(Set((0..<32).map { t.code(row: 0, col: $0) }), [z.sign == .minus ? sign : 0], "\(f) \(z)")
                XCTAssertEqual(Set(t.decoded().map(\.bitPattern)), [z.bitPattern], "\(f) \(z)")
            }
        }
    }
}
