import XCTest
import Support
import MXFormats
import MXKernels
@testable import Runtime

final class LinearIntMXTests: XCTestCase {
    /// Packed MXINT4 weights with MXINT8 activation quantization run the integer MX × MX
    /// kernels on the raw input: equal to the fake-quant route (quantized copy × decoded
    /// weights) up to fp32 summation order, and bit-identical to `Kernels.mxmxgemm`.
    func testPackedIntegerRouteMatchesFakeQuant() {
        let (m, k, n) = (11, 100, 37)
        var g = SplitMix64(seed: 21)
        let w = (0..<(n * k)).map { _ in g.nextGaussian() * 0.1 }
        let x = (0..<(m * k)).map { _ in g.nextGaussian() }
        let acts = MXConfig(format: .mxint8)
        let packed = MXTensor(encoding: w, rows: n, cols: k, config: MXConfig(format: .mxint4))
        let lin = Linear(name: "int", outFeatures: n, inFeatures: k, weight: packed.decoded())
        lin.actQuant = acts
        let fake = lin.forward(x, rows: m)          // fp32 weights = decoded values, fake-quant input
        lin.packed = packed
        let got = lin.forward(x, rows: m)
        XCTAssertEqual(got, Kernels.mxmxgemm(m: m, x: x, acts: acts, w: packed))
        var xq = x
        xq.withUnsafeMutableBufferPointer { mxFakeQuantize($0, rows: m, cols: k, config: acts, threads: 1) }
        let wd = packed.decoded()
        for i in 0..<m {
            for j in 0..<n {
                var bound = 0.0
                for kk in 0..<k { bound += abs(Double(xq[i * k + kk]) * Double(wd[j * k + kk])) }
                XCTAssertEqual(Double(got[i * n + j]), Double(fake[i * n + j]), accuracy: 2 * Double(k + 2) * 0x1p-24 * bound + 1e-30)
            }
        }
        // With an observer the layer keeps the fake-quant copy (the observer sees it).
        var seen: [Float] = []
        _ = lin.forward(x, rows: m, observer: { _, b, _ in seen = Array(b) })
        XCTAssertEqual(seen, xq)
    }
}
