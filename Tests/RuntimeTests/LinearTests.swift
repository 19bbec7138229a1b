import XCTest
import Support
import MXFormats
@testable import Runtime

final class LinearTests: XCTestCase {
    /// W[N=4, K=32] = first four rows of the identity, so Y[r] = X[r, 0..<4].
    func identityLinear() -> Linear {
        var w = [Float](repeating: 0, count: 4 * 32)
        for n in 0..<4 { w[n * 32 + n] = 1 }
        return Linear(name: "test", outFeatures: 4, inFeatures: 32, weight: w)
    }

    func testPlainProduct() {
        let lin = Linear(name: "p", outFeatures: 3, inFeatures: 5, weight: [1, 2, 3, 4, 5,
                                                                              0, 0, 0, 0, 1,
                                                                              -1, 0, 1, 0, 0.5])
        let y = lin.forward([1, 1, 1, 1, 1, 2, 0, 0, 0, -2], rows: 2)
        XCTAssertEqual(y, [15, 1, 0.5, -8, -2, -3])
    }

    func testActivationQuantizationMXFP4ByHand() {
        // One block of 32 with amax 6: floor rule gives shared exponent floor(log2 6) - emax(e2m1 = 2) = 0,
        // so elements round to the e2m1 grid {0, 0.5, 1, 1.5, 2, 3, 4, 6}:
        // 6 → 6, 2.6 → 3, 0.74 → 0.5, 1.25 → 1 (tie to even mantissa).
        let lin = identityLinear()
        lin.actQuant = MXConfig(format: .mxfp4_e2m1)
        var x = [Float](repeating: 0, count: 32)
        x[0] = 6; x[1] = 2.6; x[2] = 0.74; x[3] = 1.25
        var seen: [Float] = []
        let y = lin.forward(x, rows: 1, observer: { _, buf, m in XCTAssertEqual(m, 1); seen = Array(buf) })
        XCTAssertEqual(y, [6, 3, 0.5, 1])
        XCTAssertEqual(Array(seen[0..<4]), [6, 3, 0.5, 1], "the observer sees the quantized input")
        XCTAssertEqual(x[1], 2.6, "the caller's input is not modified")
        lin.actQuant = nil
        XCTAssertEqual(lin.forward(x, rows: 1), [6, 2.6, 0.74, 1.25])
    }

    func testPackedWeightsUsedInsteadOfFP32() {
        // Small integers are exact in MXINT8 (block amax 3: scale 2^(1-6), codes 64·v), so the
        // packed product equals the fp32 one; then zero the fp32 weight to show it is not used.
        let N = 3, K = 40
        var g = SplitMix64(seed: 3)
        let w = (0..<(N * K)).map { _ in Float(Int(g.next() % 7) - 3) }
        let x = (0..<(2 * K)).map { _ in g.nextGaussian() }
        let lin = Linear(name: "q", outFeatures: N, inFeatures: K, weight: w)
        let want = lin.forward(x, rows: 2)
        lin.packed = MXTensor(encoding: w, rows: N, cols: K, config: MXConfig(format: .mxint8))
        lin.weight = [Float](repeating: 0, count: N * K)
        let got = lin.forward(x, rows: 2)
        for i in 0..<want.count { XCTAssertEqual(got[i], want[i], accuracy: 1e-5) }
        lin.packed = nil
        XCTAssertEqual(lin.forward(x, rows: 2), [Float](repeating: 0, count: 2 * N))
    }
}
