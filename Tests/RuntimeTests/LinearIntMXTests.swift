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

    /// Layers reading one input (q/k/v): the grouped forward (input quantized and packed once
    /// when the build's integer GEMM runs them all) equals one `forward` per layer bit for bit,
    /// with a bias, mixed MXINT4/MXINT8 weights, and a layer that cannot share (MXFP4 weights).
    func testGroupedForwardEqualsSeparateForwards() {
        let (m, k) = (19, 96)
        var g = SplitMix64(seed: 33)
        let x = (0..<(m * k)).map { _ in g.nextGaussian() }
        func layer(_ name: String, _ n: Int, _ f: MXFormat) -> Linear {
            let w = (0..<(n * k)).map { _ in g.nextGaussian() * 0.1 }
            let p = MXTensor(encoding: w, rows: n, cols: k, config: MXConfig(format: f))
            let l = Linear(name: name, outFeatures: n, inFeatures: k, weight: p.decoded())
            l.packed = p
            l.actQuant = MXConfig(format: .mxint8)
            return l
        }
        let q = layer("q", 40, .mxint4), kk = layer("k", 16, .mxint8), v = layer("v", 16, .mxint4)
        kk.bias = (0..<16).map { Float($0) * 0.25 - 1 }
        let fp4 = layer("fp4", 24, .mxfp4_e2m1)
        for group in [[q, kk, v], [q, fp4]] {
            for t in [1, 2] {
                let want = group.map { l in x.withUnsafeBufferPointer { xb in
                    var y = [Float](repeating: .nan, count: m * l.outFeatures)
                    y.withUnsafeMutableBufferPointer { l.forward(xb.baseAddress!, rows: m, into: $0.baseAddress!, threads: t) }
                    return y
                } }
                let ptrs = group.map { l -> UnsafeMutablePointer<Float> in
                    let p = UnsafeMutablePointer<Float>.allocate(capacity: m * l.outFeatures)
                    p.initialize(repeating: .nan, count: m * l.outFeatures)
                    return p
                }
                defer { for p in ptrs { p.deallocate() } }
                x.withUnsafeBufferPointer { Linear.forward(group, $0.baseAddress!, rows: m, into: ptrs, threads: t) }
                let got = zip(group, ptrs).map { l, p in Array(UnsafeBufferPointer(start: p, count: m * l.outFeatures)) }
                for (a, b) in zip(got, want) {
                    XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "\(group.map(\.name)) threads \(t)")
                }
            }
        }
    }
}
