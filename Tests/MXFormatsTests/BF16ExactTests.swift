import Support
import XCTest
@testable import MXFormats

/// Issue #14 says bf16 "holds every MX value exactly", which is why quantized weights of a 16-bit
/// model are stored as bf16 (`Linear.weight`'s setter). Derivation: an MX value is
/// element × 2^E, E in [-127, 127]; elements have at most 7 significant bits (MXINT8: |i| ≤ 127
/// times 2^-6; MXINT4 3 bits; FP8 E4M3 4 bits, E5M2 3; FP6 ≤ 4; FP4 2), and bf16 holds 8
/// significant bits at every normal exponent (the fp32 range), so every value ≥ 2^-126 in
/// magnitude is exact. Below 2^-126 bf16's spacing is 2^-133: INT and FP4/FP6 values are
/// multiples of it (finest element step 2^-6 for MXINT8, at E ≥ -127), FP8 values are not always
/// (E4M3's 2^-9 step, E5M2's 2^-16): the claim fails there, hence the setter's exactness check
/// with an fp32 fallback. Checked here for every format, both block sizes and scale rules.
final class BF16ExactTests: XCTestCase {
    func isBF16(_ x: Float) -> Bool { x.bitPattern & 0xFFFF == 0 }

    func fakeQuant(_ x: [Float], cols: Int, _ c: MXConfig) -> [Float] {
        var y = x
        y.withUnsafeMutableBufferPointer { _ = mxFakeQuantize($0, rows: x.count / cols, cols: cols, config: c, threads: 1) }
        return y
    }

    func testEveryMXValueOfNormalMagnitudeIsBF16() {
        var g = SplitMix64(seed: 14)
        let cols = 64
        // one row per binade 2^-120 ... 2^120 (step 3), Gaussian values, so blocks cover every scale
        var x: [Float] = []
        for e in stride(from: -120, through: 120, by: 3) {
            for _ in 0..<cols { x.append(Float(g.nextGaussian()) * Float(sign: .plus, exponent: e, significand: 1)) }
        }
        for f in MXFormat.allCases {
            for block in [32, 8] {
                for rule in [MXScaleRule.floor, .ceil] {
                    let y = fakeQuant(x, cols: cols, MXConfig(format: f, block: block, scaleRule: rule))
                    let bad = y.filter { $0.isFinite && abs($0) >= 0x1p-126 && !isBF16($0) }
                    XCTAssertEqual(bad.count, 0, "\(f) block \(block) \(rule): \(bad.prefix(3)) not bf16")
                }
            }
        }
    }

    func testTinyScalesExactExceptFP8() {
        // Blocks whose largest value is 1.5·2^-120 (E clamps at or near -127) with a small element
        // 1.3·2^-133 beside it: the elements land on multiples of 2^-133 except for FP8.
        let cols = 32
        var x = [Float](repeating: 0, count: cols)
        x[0] = 0x1.8p-120; x[1] = 1.3 * 0x1p-133; x[2] = -0x1p-125; x[3] = 0x1.4p-131
        for f in MXFormat.allCases {
            let y = fakeQuant(x, cols: cols, MXConfig(format: f))
            let inexact = y.filter { !isBF16($0) }
            let fp8 = f == .mxfp8_e4m3 || f == .mxfp8_e5m2
            if fp8 {
                XCTAssertGreaterThan(inexact.count, 0, "\(f): expected an fp32-subnormal value bf16 cannot hold")
            } else {
                XCTAssertEqual(inexact, [], "\(f)")
            }
        }
    }
}
