import XCTest
import Support
import MXFormats
@testable import MXKernels

final class BF16SyrkTests: XCTestCase {
    /// MXINT8-like rows: per token and block of 32 features a power-of-two scale 2^e
    /// (e in [-12, 4]) times integer codes in [-127, 127] (some zero, some −0): exact bf16 values.
    func mxRows(tokens: Int, lda: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        var a = [Float](repeating: 0, count: tokens * lda)
        for t in 0..<tokens {
            var e = 0
            for j in 0..<lda {
                if j % 32 == 0 { e = Int(rng.next() % 17) - 12 }
                let code = Int(rng.next() % 255) - 127
                let v = Float(code) * Float(sign: .plus, exponent: e, significand: 1)
                a[t * lda + j] = code == 0 && rng.next() % 2 == 0 ? -0.0 : v
            }
        }
        return a
    }

    /// The contract written out: per K block of the fp32 GEMM (`gemmKBlocks`), Σ from +0 over
    /// tokens in increasing order, each step one fused multiply-add; blocks added in order.
    func reference(_ a: [Float], n: Int, k: Int, lda: Int) -> [Float] {
        var y = [Float](repeating: 0, count: n * n)
        let kb = gemmKBlocks(k)
        for i in 0..<n {
            for j in i..<n {
                var total: Float = 0
                for (bi, (k0, kc)) in kb.enumerated() {
                    var s: Float = 0
                    for t in k0..<(k0 + kc) { s = s.addingProduct(a[t * lda + i], a[t * lda + j]) }
                    total = bi == 0 ? s : total + s
                }
                y[i * n + j] = total
            }
        }
        return y
    }

    func run(_ a: [Float], n: Int, k: Int, lda: Int, threads: Int, y: inout [Float]) -> Bool {
        a.withUnsafeBufferPointer { ab in y.withUnsafeMutableBufferPointer { yb in
            Kernels.syrkUpperBF16(n: n, k: k, a: ab.baseAddress!, y: yb.baseAddress!, threads: threads, lda: lda, ldy: n)
        } }
    }

    func testBF16SyrkIsTheFP32SyrkBitwiseOnMXQuantizedRows() throws {
        // Sizes that are not multiples of the 8 × 48 tile, the 16-feature panel or a token pair;
        // K = 700 and 1283: two and three K blocks, 1283's of odd length (a padded last pair).
        for (n, k, lda) in [(1, 1, 1), (7, 13, 9), (17, 3, 17), (50, 33, 53), (57, 700, 57), (49, 1283, 50), (100, 41, 100)] {
            let a = mxRows(tokens: k, lda: lda, seed: UInt64(n * 1000 + k))
            var y = [Float](repeating: .nan, count: n * n)
            let took = run(a, n: n, k: k, lda: lda, threads: 1, y: &y)
            if !Kernels.syrkBF16Supported {
                XCTAssertFalse(took, "no AVX-512 BF16 here: the bf16 path must decline")
                XCTAssertTrue(y.allSatisfy { $0.isNaN }, "declined: Y untouched")
                continue
            }
            XCTAssertTrue(took, "n \(n) k \(k): MX-quantized rows qualify")
            let ref = reference(a, n: n, k: k, lda: lda)
            var fp32 = [Float](repeating: .nan, count: n * n)
            a.withUnsafeBufferPointer { ab in fp32.withUnsafeMutableBufferPointer { yb in
                _ = Kernels.syrkUpper(n: n, k: k, a: ab.baseAddress!, y: yb.baseAddress!, threads: 2, lda: lda, ldy: n,
                                      allowBF16: false)
            } }
            var y3 = [Float](repeating: .nan, count: n * n)
            XCTAssertTrue(run(a, n: n, k: k, lda: lda, threads: 3, y: &y3))
            for i in 0..<n {
                for j in i..<n {
                    let e = ref[i * n + j]
                    XCTAssertEqual(y[i * n + j].bitPattern, e.bitPattern, "n \(n) k \(k) [\(i),\(j)]")
                    XCTAssertEqual(y3[i * n + j].bitPattern, e.bitPattern, "3 threads, n \(n) k \(k) [\(i),\(j)]")
                    XCTAssertEqual(fp32[i * n + j].bitPattern, e.bitPattern, "fp32 path, n \(n) k \(k) [\(i),\(j)]")
                }
            }
        }
    }

    func testBF16SyrkDeclinesValuesItCannotTakeExactly() throws {
        // Not a bf16 (fp32 low bits), subnormal-prone (2^-60: products below 2^-126), too large
        // (2^50), non-finite: the bf16 path returns false and leaves Y alone.
        let n = 37, k = 21
        for bad: Float in [1 + 0x1p-10, 0x1p-60, 0x1p50, .infinity, -.infinity, .nan] {
            for pos in [0, 5 * n + 36, (k - 1) * n + 17] {
                var a = mxRows(tokens: k, lda: n, seed: 77)
                a[pos] = bad
                var y = [Float](repeating: 42, count: n * n)
                XCTAssertFalse(run(a, n: n, k: k, lda: n, threads: 2, y: &y), "\(bad) at \(pos)")
                XCTAssertTrue(y.allSatisfy { $0 == 42 }, "\(bad) at \(pos): Y untouched")
            }
        }
        // The edges of the range are taken (when the CPU can).
        var a = mxRows(tokens: k, lda: n, seed: 78)
        a[3] = 0x1p-56; a[4] = -0x1.fep47
        var y = [Float](repeating: .nan, count: n * n)
        XCTAssertEqual(run(a, n: n, k: k, lda: n, threads: 1, y: &y), Kernels.syrkBF16Supported)
        if Kernels.syrkBF16Supported {
            let ref = reference(a, n: n, k: k, lda: n)
            for i in 0..<n { for j in i..<n { XCTAssertEqual(y[i * n + j].bitPattern, ref[i * n + j].bitPattern) } }
        }
    }

    /// Gaussian rows with blocks of 32 features at scales 2^-8 … 2^8 (and one all-zero block).
    func gaussianRows(tokens: Int, lda: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        var a = [Float](repeating: 0, count: tokens * lda)
        for t in 0..<tokens {
            var sc: Float = 1
            for j in 0..<lda {
                if j % 32 == 0 { sc = Float(sign: .plus, exponent: Int(rng.next() % 17) - 8, significand: 1) }
                a[t * lda + j] = t == 1 && j < 32 ? 0 : rng.nextGaussian() * sc
            }
        }
        return a
    }

    func fakeQuantSyrk(_ a: [Float], n: Int, k: Int, lda: Int) -> [Float] {
        // rows quantize-dequantized by MXFormats (MXINT8, block 32, floor, ties to even), then fp32
        var q = [Float](repeating: 0, count: k * n)
        for t in 0..<k { for j in 0..<n { q[t * n + j] = a[t * lda + j] } }
        q.withUnsafeMutableBufferPointer { qb in
            _ = mxFakeQuantize(qb, rows: k, cols: n, config: MXConfig(format: .mxint8), diagnostics: false)
        }
        var y = [Float](repeating: .nan, count: n * n)
        q.withUnsafeBufferPointer { qb in y.withUnsafeMutableBufferPointer { yb in
            _ = Kernels.syrkUpper(n: n, k: k, a: qb.baseAddress!, y: yb.baseAddress!, threads: 2, allowBF16: false)
        } }
        return y
    }

    func runQ(_ a: [Float], n: Int, k: Int, lda: Int, threads: Int, y: inout [Float]) -> Bool {
        a.withUnsafeBufferPointer { ab in y.withUnsafeMutableBufferPointer { yb in
            Kernels.syrkUpperBF16(n: n, k: k, a: ab.baseAddress!, y: yb.baseAddress!, threads: threads, lda: lda, ldy: n,
                                  quantizeMXINT8: true)
        } }
    }

    func testBF16SyrkQuantizingToMXINT8IsFakeQuantThenFP32SyrkBitwise() throws {
        // N not a multiple of the 32-feature MX block (a partial last block), odd K, two K blocks.
        for (n, k, lda) in [(37, 5, 37), (50, 33, 51), (96, 700, 96), (64, 3, 64)] {
            let a = gaussianRows(tokens: k, lda: lda, seed: UInt64(n + 31 * k))
            var y = [Float](repeating: .nan, count: n * n)
            let took = runQ(a, n: n, k: k, lda: lda, threads: 3, y: &y)
            XCTAssertEqual(took, Kernels.syrkBF16Supported, "n \(n) k \(k)")
            if !took { continue }
            let ref = fakeQuantSyrk(a, n: n, k: k, lda: lda)
            for i in 0..<n { for j in i..<n {
                XCTAssertEqual(y[i * n + j].bitPattern, ref[i * n + j].bitPattern, "n \(n) k \(k) [\(i),\(j)]")
            } }
        }
        guard Kernels.syrkBF16Supported else { return }
        // Block scales at the accepted edges (E = −40: amax in [2^-40, 2^-39); E = 46) are taken;
        // beyond them (E = −41, 47), a NaN or an infinity, the path declines and leaves Y alone.
        let n = 40, k = 7
        for (v, ok) in [(Float(0x1.8p-40), true), (0x1.8p46, true), (0x1.8p-41, false), (0x1.8p47, false),
                        (.nan, false), (.infinity, false)] {
            var a = gaussianRows(tokens: k, lda: n, seed: 5)
            for j in 32..<40 { a[3 * n + j] = v * (j % 2 == 0 ? 1 : -0.25) }
            var y = [Float](repeating: 42, count: n * n)
            XCTAssertEqual(runQ(a, n: n, k: k, lda: n, threads: 1, y: &y), ok, "\(v)")
            if ok {
                let ref = fakeQuantSyrk(a, n: n, k: k, lda: n)
                for i in 0..<n { for j in i..<n { XCTAssertEqual(y[i * n + j].bitPattern, ref[i * n + j].bitPattern, "\(v)") } }
            } else {
                XCTAssertTrue(y.allSatisfy { $0 == 42 }, "\(v): Y untouched")
            }
        }
    }
}
