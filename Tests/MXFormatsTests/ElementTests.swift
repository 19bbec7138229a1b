import Support
import TestSupport
import XCTest
@testable import MXFormats

/// Element-level numerics: tables, exhaustive code round trips, nearest-value rounding.
/// Expected values are derived by hand from docs/mx-numerics.md.
final class ElementTests: XCTestCase {
    func testTraitsMatchSpecTable() {
        // (format, bits, bias, emax, max normal) as in the spec's table.
        let spec: [(MXFormat, Int, Int, Int, Float)] = [
            (.mxfp8_e5m2, 8, 15, 15, 57344), (.mxfp8_e4m3, 8, 7, 8, 448), (.mxfp6_e3m2, 6, 3, 4, 28),
            (.mxfp6_e2m3, 6, 1, 2, 7.5), (.mxfp4_e2m1, 4, 1, 2, 6), (.mxint8, 8, 0, 0, 127.0 / 64),
            (.mxint4, 4, 0, 0, 7.0 / 4),
        ]
        XCTAssertEqual(spec.count, MXFormat.allCases.count)
        for (f, bits, bias, emax, maxN) in spec {
            XCTAssertEqual(f.elementBits, bits, "\(f)")
            XCTAssertEqual(f.traits.bias, bias, "\(f)")
            XCTAssertEqual(f.traits.emaxElem, emax, "\(f)")
            XCTAssertEqual(f.traits.maxNormal, maxN, "\(f)")
            // The reference derives the max from the code fields; it must agree with the table.
            XCTAssertEqual(MXReference.maxValue(f), Double(maxN), "\(f)")
            XCTAssertEqual(f.traits.name, f.rawValue)
        }
        XCTAssertEqual(MXFormat.mxfp4_e2m1.storageBitsPerElement(block: 32), 4.25)
        XCTAssertEqual(MXFormat.mxfp6_e2m3.storageBitsPerElement(block: 16), 6.5)
    }

    func testParsingAndAliases() throws {
        XCTAssertEqual(try MXFormat(parsing: "mxfp8"), .mxfp8_e4m3)
        XCTAssertEqual(try MXFormat(parsing: "mxfp6"), .mxfp6_e2m3)
        XCTAssertEqual(try MXFormat(parsing: "mxfp4"), .mxfp4_e2m1)
        XCTAssertEqual(try MXFormat(parsing: "MXINT8"), .mxint8)
        for f in MXFormat.allCases { XCTAssertEqual(try MXFormat(parsing: f.rawValue), f) }
        XCTAssertThrowsError(try MXFormat(parsing: "mxfp5")) { e in
            let d = "\(e)"
            XCTAssertTrue(d.contains("mxfp5") && d.contains("mxint4") && d.contains("mxfp4_e2m1"), d)
        }
        XCTAssertThrowsError(try MXScaleRule(parsing: "round"))
        XCTAssertEqual(try MXRounding(parsing: "stochastic", seed: 7), .stochastic(seed: 7))
        XCTAssertThrowsError(try MXRounding(parsing: "nearest"))
        XCTAssertThrowsError(try MXConfig.checkBlock(3))
        XCTAssertThrowsError(try MXConfig.checkBlock(0))
        XCTAssertNoThrow(try MXConfig.checkBlock(2))
    }

    func testHandDecodedCodes() {
        // (format, code, value) derived from the bit fields by hand.
        let cases: [(MXFormat, UInt8, Float)] = [
            (.mxfp4_e2m1, 0x1, 0.5), (.mxfp4_e2m1, 0x2, 1), (.mxfp4_e2m1, 0x3, 1.5), (.mxfp4_e2m1, 0x5, 3),
            (.mxfp4_e2m1, 0x7, 6), (.mxfp4_e2m1, 0xF, -6), (.mxfp4_e2m1, 0x9, -0.5),
            (.mxfp8_e4m3, 0x01, 0x1p-9), (.mxfp8_e4m3, 0x08, 0x1p-6), (.mxfp8_e4m3, 0x38, 1),
            (.mxfp8_e4m3, 0x7E, 448), (.mxfp8_e4m3, 0xFE, -448), (.mxfp8_e4m3, 0x77, 240),
            (.mxfp8_e5m2, 0x01, 0x1p-16), (.mxfp8_e5m2, 0x3C, 1), (.mxfp8_e5m2, 0x7B, 57344),
            (.mxfp8_e5m2, 0x7C, .infinity), (.mxfp8_e5m2, 0xFC, -.infinity),
            (.mxfp6_e3m2, 0x01, 0.0625), (.mxfp6_e3m2, 0x1F, 28), (.mxfp6_e3m2, 0x0C, 1),
            (.mxfp6_e2m3, 0x01, 0.125), (.mxfp6_e2m3, 0x08, 1), (.mxfp6_e2m3, 0x1F, 7.5), (.mxfp6_e2m3, 0x21, -0.125),
            (.mxint8, 0x01, 0x1p-6), (.mxint8, 0x7F, 127.0 / 64), (.mxint8, 0x81, -127.0 / 64), (.mxint8, 0xFF, -0x1p-6),
            (.mxint8, 0x80, -2), (.mxint4, 0x7, 1.75), (.mxint4, 0x9, -1.75), (.mxint4, 0xF, -0.25), (.mxint4, 0x8, -2),
        ]
        for (f, c, v) in cases {
            XCTAssertEqual(f.decodeElement(c), v, "\(f) code \(c)")
            XCTAssertEqual(MXReference.elementValue(f, c), Double(v), "\(f) code \(c)")
        }
        XCTAssertTrue(MXFormat.mxfp8_e4m3.decodeElement(0x7F).isNaN)
        XCTAssertTrue(MXFormat.mxfp8_e4m3.decodeElement(0xFF).isNaN)
        XCTAssertTrue(MXFormat.mxfp8_e5m2.decodeElement(0x7D).isNaN)
        XCTAssertEqual(MXFormat.mxfp4_e2m1.decodeElement(0x8).bitPattern, 0x8000_0000)  // -0
        // MXFP4's non-negative values are exactly {0, 0.5, 1, 1.5, 2, 3, 4, 6}.
        XCTAssertEqual(MXReference.nonNegativeValues(.mxfp4_e2m1).map(\.value), [0, 0.5, 1, 1.5, 2, 3, 4, 6])
        XCTAssertEqual(MXReference.nonNegativeValues(.mxint4).map(\.value), [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75])
        XCTAssertEqual(MXReference.nonNegativeValues(.mxfp8_e4m3).count, 127)   // 0x00...0x7E
        XCTAssertEqual(MXReference.nonNegativeValues(.mxfp8_e5m2).count, 124)   // 0x00...0x7B
    }

    func testValueTableMatchesReferenceForEveryCode() {
        for f in MXFormat.allCases {
            let table = f.elementValueTable
            XCTAssertEqual(table.count, 1 << f.elementBits)
            for c in 0..<table.count {
                let r = MXReference.elementValue(f, UInt8(c))
                if r.isNaN { XCTAssertTrue(table[c].isNaN, "\(f) \(c)"); continue }
                XCTAssertEqual(table[c].bitPattern, Float(r).bitPattern, "\(f) code \(c)")
            }
        }
    }

    /// Every code the encoder can emit decodes and re-encodes to itself, at several block scales.
    func testExhaustiveCodeRoundTrip() {
        for f in MXFormat.allCases {
            let t = f.traits
            var checked = 0
            for c in 0..<(1 << t.elementBits) {
                let code = UInt8(c)
                let v = f.decodeElement(code)
                if !v.isFinite { continue }
                if t.isInteger && code == t.signBit { continue }   // -2^(bits-1): unused, saturates
                checked += 1
                for e in [-127, -20, 0, 1, 100] where !(e > 0 && Double(v) * pow(2.0, Double(e)) > Double(Float.greatestFiniteMagnitude)) {
                    let x = v * E8M0.pow2(e)   // exact
                    for r in [MXRounding.even, .away, .stochastic(seed: 3)] {
                        XCTAssertEqual(f.encodeElement(x, scaleExponent: e, rounding: r, random: 0xFFFF_FFFF), code,
                                       "\(f) code \(c) E \(e) \(r)")
                    }
                    XCTAssertEqual(MXReference.encodeElement(x, scaleExponent: e, format: f), code, "ref \(f) \(c) E \(e)")
                    XCTAssertEqual(f.quantizeElement(x, scaleExponent: e).bitPattern, x.bitPattern)
                }
            }
            // FP: all codes minus specials; INT: all but one.
            let expected: [MXFormat: Int] = [.mxint8: 255, .mxint4: 15, .mxfp8_e4m3: 254, .mxfp8_e5m2: 248,
                                             .mxfp6_e3m2: 64, .mxfp6_e2m3: 64, .mxfp4_e2m1: 16]
            XCTAssertEqual(checked, expected[f], "\(f)")
        }
    }

    /// Ties exactly halfway between neighbouring values: even picks the even magnitude code,
    /// away the larger magnitude; negative ties mirror.
    func testExactTies() {
        for f in MXFormat.allCases {
            let vals = MXReference.nonNegativeValues(f)
            for i in 0..<(vals.count - 1) {
                let lo = vals[i], hi = vals[i + 1]
                let mid = Float((lo.value + hi.value) / 2)
                XCTAssertEqual(Double(mid), (lo.value + hi.value) / 2)   // exact in fp32
                let evenCode = lo.code & 1 == 0 ? lo.code : hi.code
                XCTAssertNotEqual(lo.code & 1, hi.code & 1)
                XCTAssertEqual(f.encodeElement(mid, rounding: .even), evenCode, "\(f) tie \(mid)")
                XCTAssertEqual(f.encodeElement(mid, rounding: .away), hi.code, "\(f) tie \(mid)")
                XCTAssertEqual(MXReference.encodeElement(mid, scaleExponent: 0, format: f, rounding: .even), evenCode)
                XCTAssertEqual(MXReference.encodeElement(mid, scaleExponent: 0, format: f, rounding: .away), hi.code)
                // Negative: same magnitude, negative code.
                let negEven = f.encodeElement(-mid, rounding: .even)
                XCTAssertEqual(f.decodeElement(negEven), -f.decodeElement(evenCode), "\(f) tie \(-mid)")
                // Just off the tie, both modes pick the nearer value.
                let below = mid.nextDown, above = mid.nextUp
                XCTAssertEqual(f.encodeElement(below, rounding: .away), lo.code)
                XCTAssertEqual(f.encodeElement(above, rounding: .even), hi.code)
            }
        }
    }

    /// Random values at many magnitudes and block exponents: fast encoder == brute-force nearest.
    func testNearestMatchesBruteForce() {
        var g = SplitMix64(seed: 11)
        for f in MXFormat.allCases {
            for _ in 0..<1500 {
                let e = Int(g.next() % 40) - 20 + (g.next() % 8 == 0 ? (g.next() % 2 == 0 ? -100 : 100) : 0)
                // Magnitudes from far below the smallest subnormal to beyond max.
                let mag = Float(Double(g.next() >> 11) / 9_007_199_254_740_992.0) * 2 * Float(f.traits.maxNormal)
                let shrink = E8M0.pow2(-Int(g.next() % 24))
                var v = mag * shrink * E8M0.pow2(max(-126, min(e, 120)))
                if g.next() % 2 == 0 { v = -v }
                let ec = max(-127, min(e, 127))
                for r in [MXRounding.even, .away] {
                    XCTAssertEqual(f.encodeElement(v, scaleExponent: ec, rounding: r),
                                   MXReference.encodeElement(v, scaleExponent: ec, format: f, rounding: r),
                                   "\(f) v=\(v) (0x\(String(v.bitPattern, radix: 16))) E=\(ec) \(r)")
                }
                let rb = UInt32(truncatingIfNeeded: g.next())
                XCTAssertEqual(f.encodeElement(v, scaleExponent: ec, rounding: .stochastic(seed: 0), random: rb),
                               MXReference.encodeElement(v, scaleExponent: ec, format: f, rounding: .stochastic(seed: 0), random: rb),
                               "\(f) v=\(v) E=\(ec) stochastic \(rb)")
            }
        }
    }

    func testSaturationSignAndZeros() {
        // Round-up past max saturates (never Inf/NaN codes).
        XCTAssertEqual(MXFormat.mxfp8_e4m3.encodeElement(470), 0x7E)     // nearest would be 480 = NaN code
        XCTAssertEqual(MXFormat.mxfp8_e4m3.encodeElement(1e9), 0x7E)
        XCTAssertEqual(MXFormat.mxfp8_e4m3.encodeElement(-1e9), 0xFE)
        XCTAssertEqual(MXFormat.mxfp8_e5m2.encodeElement(61000), 0x7B)   // 61440 would be Inf
        XCTAssertEqual(MXFormat.mxfp8_e5m2.encodeElement(.infinity), 0x7B)
        XCTAssertEqual(MXFormat.mxfp4_e2m1.encodeElement(7.9), 0x7)
        XCTAssertEqual(MXFormat.mxint4.encodeElement(1.9), 0x7)          // k = 7.6 -> 8 -> saturate 7
        XCTAssertEqual(MXFormat.mxint4.encodeElement(-1.9), 0x9)         // -7
        XCTAssertEqual(MXFormat.mxint8.encodeElement(-5), 0x81)          // -127
        // Zeros: FP keeps the sign, INT has one zero.
        XCTAssertEqual(MXFormat.mxfp4_e2m1.encodeElement(-0.0), 0x8)
        XCTAssertEqual(MXFormat.mxfp4_e2m1.encodeElement(-0.2), 0x8)
        XCTAssertEqual(MXFormat.mxfp6_e3m2.encodeElement(-0.01), 0x20)
        XCTAssertEqual(MXFormat.mxint8.encodeElement(-0.0), 0)
        XCTAssertEqual(MXFormat.mxint8.encodeElement(-0x1p-8), 0)
        XCTAssertEqual(MXFormat.mxint4.encodeElement(-0.1), 0)
        // Smallest subnormals and half of them.
        XCTAssertEqual(MXFormat.mxfp8_e4m3.encodeElement(0x1p-10), 0x00)           // tie -> even (0)
        XCTAssertEqual(MXFormat.mxfp8_e4m3.encodeElement(0x1p-10, rounding: .away), 0x01)
        XCTAssertEqual(MXFormat.mxfp8_e4m3.encodeElement(0.001), 0x01)             // 0.001 > 2^-10
        XCTAssertEqual(MXFormat.mxfp8_e5m2.encodeElement(0x1.8p-16), 0x02)         // 1.5·2^-16: tie 1/2 -> 2
        // fp32 subnormal inputs with the smallest block scale.
        XCTAssertEqual(MXFormat.mxint8.encodeElement(Float(bitPattern: 0x0018_0000), scaleExponent: -127), 24)  // 3·2^-130
        XCTAssertEqual(MXFormat.mxfp8_e4m3.encodeElement(0x1p-120, scaleExponent: -127), 0x70)                  // 2^7
        XCTAssertEqual(MXFormat.mxfp4_e2m1.encodeElement(Float.leastNonzeroMagnitude, scaleExponent: -127), 0)
        XCTAssertEqual(MXFormat.mxfp4_e2m1.encodeElement(-Float.leastNonzeroMagnitude, scaleExponent: -127), 0x8)
    }

    func testSharedExponent() {
        // floor rule: floor(log2 amax) - emax.
        XCTAssertEqual(MXFormat.mxfp4_e2m1.sharedExponent(amax: 7), 0)
        XCTAssertEqual(MXFormat.mxfp4_e2m1.sharedExponent(amax: 4), 0)            // power of two
        XCTAssertEqual(MXFormat.mxfp4_e2m1.sharedExponent(amax: 3.999), -1)
        XCTAssertEqual(MXFormat.mxfp8_e4m3.sharedExponent(amax: 448), 0)
        XCTAssertEqual(MXFormat.mxfp8_e5m2.sharedExponent(amax: 1), -15)
        XCTAssertEqual(MXFormat.mxint8.sharedExponent(amax: 100), 6)
        XCTAssertEqual(MXFormat.mxint8.sharedExponent(amax: 0), -127)
        XCTAssertEqual(MXFormat.mxint8.sharedExponent(amax: -2), 1)
        XCTAssertEqual(MXFormat.mxfp4_e2m1.sharedExponent(amax: .greatestFiniteMagnitude), 125)
        XCTAssertEqual(MXFormat.mxint8.sharedExponent(amax: .greatestFiniteMagnitude), 127)
        XCTAssertEqual(MXFormat.mxint8.sharedExponent(amax: 0x1p-140), -127)      // clamped
        XCTAssertEqual(MXFormat.mxint8.sharedExponent(amax: Float(bitPattern: 0x0018_0000)), -127)
        XCTAssertEqual(MXFormat.mxfp4_e2m1.sharedExponent(amax: 0x1p-120), -122)
        // ceil rule: smallest E with amax <= max · 2^E.
        XCTAssertEqual(MXFormat.mxfp4_e2m1.sharedExponent(amax: 7, rule: .ceil), 1)
        XCTAssertEqual(MXFormat.mxfp4_e2m1.sharedExponent(amax: 6, rule: .ceil), 0)
        XCTAssertEqual(MXFormat.mxfp4_e2m1.sharedExponent(amax: 4, rule: .ceil), 0)
        XCTAssertEqual(MXFormat.mxfp4_e2m1.sharedExponent(amax: 3, rule: .ceil), -1)
        XCTAssertEqual(MXFormat.mxint8.sharedExponent(amax: 2, rule: .ceil), 1)
        XCTAssertEqual(MXFormat.mxint8.sharedExponent(amax: 3.96875, rule: .ceil), 1)   // = 127/64 · 2
        XCTAssertEqual(MXFormat.mxint8.sharedExponent(amax: 3.97, rule: .ceil), 2)
        XCTAssertEqual(MXFormat.mxfp4_e2m1.sharedExponent(amax: .greatestFiniteMagnitude, rule: .ceil), 126)
        XCTAssertEqual(MXFormat.mxint8.sharedExponent(amax: .greatestFiniteMagnitude, rule: .ceil), 127)
        XCTAssertEqual(MXFormat.mxint8.sharedExponent(amax: 0, rule: .ceil), -127)
        // Agreement with the reference on random amax of all magnitudes, both rules.
        var g = SplitMix64(seed: 5)
        for _ in 0..<3000 {
            let a = Float(bitPattern: UInt32(truncatingIfNeeded: g.next()) & 0x7F7F_FFFF)
            for f in MXFormat.allCases {
                for rule in [MXScaleRule.floor, .ceil] {
                    XCTAssertEqual(f.sharedExponent(amax: a, rule: rule),
                                   MXReference.sharedExponent(amax: a, format: f, rule: rule), "\(f) \(a) \(rule)")
                }
            }
        }
    }

    func testStochasticRoundingIsDeterministicAndUnbiased() {
        let f = MXFormat.mxfp4_e2m1
        for (v, target) in [(Float(1.25), 1.25), (1.1, 1.1), (-2.6, -2.6), (0.05, 0.05)] {
            var sum = 0.0
            let n = 20000
            for c in 0..<n {
                let r = MXRounding.randomBits(seed: 42, row: 3, col: c)
                let code = f.encodeElement(v, rounding: .stochastic(seed: 42), random: r)
                sum += Double(f.decodeElement(code))
                XCTAssertEqual(code, f.encodeElement(v, rounding: .stochastic(seed: 42), random: r))
            }
            // Neighbour gap <= 1 here; std of the mean <= 0.5/sqrt(n) ~ 0.0035.
            XCTAssertEqual(sum / Double(n), Double(Float(target)), accuracy: 0.02, "mean of stochastic \(v)")
        }
        XCTAssertEqual(MXRounding.randomBits(seed: 1, row: 2, col: 3), MXRounding.randomBits(seed: 1, row: 2, col: 3))
        XCTAssertNotEqual(MXRounding.randomBits(seed: 1, row: 2, col: 3), MXRounding.randomBits(seed: 2, row: 2, col: 3))
        XCTAssertNotEqual(MXRounding.randomBits(seed: 1, row: 2, col: 3), MXRounding.randomBits(seed: 1, row: 3, col: 2))
        // Exact values never move; random = 0 always rounds down, all-ones rounds up unless exact.
        XCTAssertEqual(f.encodeElement(1.5, rounding: .stochastic(seed: 0), random: 0xFFFF_FFFF), 0x3)
        XCTAssertEqual(f.encodeElement(1.25, rounding: .stochastic(seed: 0), random: 0), 0x2)
        XCTAssertEqual(f.encodeElement(1.25, rounding: .stochastic(seed: 0), random: 0xFFFF_FFFF), 0x3)
        XCTAssertEqual(f.encodeElement(1.25, rounding: .stochastic(seed: 0), random: 0x7FFF_FFFF), 0x2)  // 2^31 + 2^31-1 < 2^32
        XCTAssertEqual(f.encodeElement(1.25, rounding: .stochastic(seed: 0), random: 0x8000_0000), 0x3)
        XCTAssertEqual(f.encodeElement(7, rounding: .stochastic(seed: 0), random: 0xFFFF_FFFF), 0x7)     // saturates
    }
}

final class OrdinalTests: XCTestCase {
    func testOrdinalIsAllCasesOrder() {
        for (i, f) in MXFormat.allCases.enumerated() { XCTAssertEqual(f.ordinal, i) }
    }
}
