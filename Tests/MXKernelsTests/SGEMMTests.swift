import XCTest
import Support
import TestSupport
@testable import MXKernels

/// Worst-case error bound of an fp32 dot product summed in any order (with or without
/// FMA) against the exact value: |ŝ − s| ≤ (K−1)·u·Σ|x_k w_k| with u = 2⁻²⁴ (Higham,
/// Thm 3.1, first order); +2 covers the reference's final rounding and the second order.
func dotTolerance(k: Int, absSum: Double) -> Double {
    Double(k + 2) * 0x1p-24 * absSum + 1e-30
}

/// Σ_k |x[i,k]|·|w[j,k]| for each output, for the tolerance above.
func absProducts(m: Int, n: Int, k: Int, x: [Float], w: [Float]) -> [Double] {
    var out = [Double](repeating: 0, count: m * n)
    for i in 0..<m { for j in 0..<n {
        var s = 0.0
        for kk in 0..<k { s += abs(Double(x[i * k + kk]) * Double(w[j * k + kk])) }
        out[i * n + j] = s
    } }
    return out
}

final class SGEMMTests: XCTestCase {
    /// (M, K, N): M = 1 and the GEMV range, odd N, K not a multiple of 16 or of the tile,
    /// a K above the 640 block length (several K blocks), tiny and moderate sizes.
    let shapes: [(Int, Int, Int)] = [
        (1, 1, 1), (1, 37, 5), (1, 64, 48), (2, 17, 3), (3, 100, 7), (8, 33, 50), (8, 16, 9),
        (9, 5, 1), (9, 31, 49), (13, 64, 97), (17, 128, 48), (24, 7, 96), (31, 700, 33), (40, 1300, 21), (70, 96, 145),
        (19, 1024, 50),  // row stride a multiple of 4 KiB: X is packed
    ]

    func testSgemmMatchesReferenceOnRandomShapes() {
        for (si, (m, k, n)) in shapes.enumerated() {
            let x = randomFloats(m * k, seed: UInt64(100 + si))
            let w = randomFloats(n * k, seed: UInt64(200 + si))
            var ref = [Float](repeating: 0, count: m * n)
            KernelsReference.sgemm(m: m, n: n, k: k, x: x, w: w, y: &ref)
            let bound = absProducts(m: m, n: n, k: k, x: x, w: w)
            let fast = Kernels.sgemm(m: m, n: n, k: k, x: x, w: w, threads: 2)
            for i in 0..<(m * n) {
                let err = abs(Double(fast[i]) - Double(ref[i]))
                XCTAssertLessThanOrEqual(err, dotTolerance(k: k, absSum: bound[i]), "M=\(m) K=\(k) N=\(n) at \(i)")
            }
        }
    }

    func testBothTilesAndAllThreadCountsAgreeBitwise() {
        // Thread count must not change a single bit; the tile shape must not either
        // (all sum each K block in increasing k from zero), for FMA and for mul+add (where the
        // scalar tile of debug builds must equal the SIMD ones).
        for (m, k, n) in [(37, 700, 101), (21, 1024, 60)] {
            let x = randomFloats(m * k, seed: 7), w = randomFloats(n * k, seed: 8)
            var ref = [Float](repeating: 0, count: m * n)
            KernelsReference.sgemm(m: m, n: n, k: k, x: x, w: w, y: &ref)
            for ma in 0..<2 {
            var results: [[Float]] = []
            let tiles = ma == 0 ? [TileConfig.wide(FusedMA.self), .mid(FusedMA.self), .narrow(FusedMA.self)]
                                : [TileConfig.wide(SplitMA.self), .mid(SplitMA.self), .narrow(SplitMA.self), .scalar]
            for tile in tiles {
                for t in [1, 3] {
                    var y = [Float](repeating: .nan, count: m * n)
                    x.withUnsafeBufferPointer { xb in w.withUnsafeBufferPointer { wb in y.withUnsafeMutableBufferPointer { yb in
                        packedGemm(m: m, n: n, k: k, x: xb.baseAddress!, ldx: k, y: yb.baseAddress!, ldy: n, threads: t, tile: tile) {
                            dst, j0, jn, k0, kc, nr in
                            packTransposed(dst: dst, src: wb.baseAddress! + j0 * k + k0, ld: k, rows: jn, kc: kc, nr: nr)
                        }
                    } } }
                    results.append(y)
                }
            }
            for (ri, r) in results.enumerated() { XCTAssertTrue(r == results[0], "result \(ri) differs bitwise from result 0") }
            XCTAssertLessThan(maxRelativeError(results[0], ref, floor: 1), 1e-4)
            }
        }
        // GEMV path (M ≤ 8) across thread counts.
        let (k, n) = (700, 101)
        let x = randomFloats(5 * k, seed: 17), w = randomFloats(n * k, seed: 18)
        let g1 = Kernels.sgemm(m: 5, n: n, k: k, x: x, w: w, threads: 1)
        let g3 = Kernels.sgemm(m: 5, n: n, k: k, x: x, w: w, threads: 3)
        XCTAssertTrue(g1 == g3, "GEMV differs between 1 and 3 threads")
    }

    func testSyrkUpperIsTheFullProductsUpperTriangleBitwise() {
        // Aᵀ·A's upper triangle through the tile-skipping driver, with X packed from A itself
        // (xTransposed), equals the full packed product of the transposed copy element for
        // element, for every tile shape, multiply-add policy and thread count, over sizes that are
        // not multiples of any tile (N) or K block (K > 640: two blocks); tiles wholly below the
        // diagonal are not written.
        for (n, k, lda) in [(1, 5, 1), (7, 13, 9), (25, 21, 25), (50, 33, 53), (57, 700, 57), (130, 40, 131)] {
            let a = randomFloats(k * lda, seed: UInt64(900 + n))
            var at = [Float](repeating: 0, count: n * k)
            for kk in 0..<k { for j in 0..<n { at[j * k + kk] = a[kk * lda + j] } }
            var ref = [Float](repeating: 0, count: n * n)
            KernelsReference.sgemmNN(m: n, n: n, k: k, x: at, b: (0..<(k * n)).map { a[($0 / n) * lda + $0 % n] }, y: &ref)
            for tile in [TileConfig.wide(FusedMA.self), .mid(FusedMA.self), .narrow(SplitMA.self), .scalar] {
                for t in [1, 3] {
                    var full = [Float](repeating: .nan, count: n * n), up = full
                    for upper in [false, true] {
                        var y = [Float](repeating: .nan, count: n * n)
                        at.withUnsafeBufferPointer { tb in a.withUnsafeBufferPointer { ab in y.withUnsafeMutableBufferPointer { yb in
                            packedGemm(m: n, n: n, k: k, x: upper ? ab.baseAddress! : tb.baseAddress!, ldx: upper ? lda : k,
                                       y: yb.baseAddress!, ldy: n, threads: t, tile: tile, upper: upper, xTransposed: upper) {
                                dst, j0, jn, k0, kc, nr in
                                for kk in 0..<kc {
                                    let src = ab.baseAddress! + (k0 + kk) * lda + j0, d = dst + kk * nr
                                    d.update(from: src, count: jn)
                                    if jn < nr { (d + jn).update(repeating: 0, count: nr - jn) }
                                }
                            }
                        } } }
                        if upper { up = y } else { full = y }
                    }
                    for i in 0..<n {
                        for j in i..<n {
                            XCTAssertEqual(up[i * n + j].bitPattern, full[i * n + j].bitPattern, "N=\(n) K=\(k) \(tile.name) t=\(t) (\(i), \(j))")
                        }
                        // tiles wholly below the diagonal stay untouched (NaN)
                        for j in 0..<i where (i / tile.mr) * tile.mr >= (j / tile.nr) * tile.nr + tile.nr {
                            XCTAssertTrue(up[i * n + j].isNaN, "N=\(n) \(tile.name): (\(i), \(j)) written below the diagonal")
                        }
                    }
                    XCTAssertLessThan(maxRelativeError(full, ref, floor: 1), 1e-4)
                }
            }
            // the public entry point (this build's tile)
            var y = [Float](repeating: .nan, count: n * n)
            a.withUnsafeBufferPointer { ab in y.withUnsafeMutableBufferPointer { yb in
                Kernels.syrkUpper(n: n, k: k, a: ab.baseAddress!, y: yb.baseAddress!, lda: lda)
            } }
            for i in 0..<n { for j in i..<n {
                XCTAssertLessThanOrEqual(abs(Double(y[i * n + j]) - Double(ref[i * n + j])), 1e-4 * max(1, abs(Double(ref[i * n + j]))))
            } }
        }
    }

    func testSgemmNNMatchesReferenceAndIsThreadInvariant() {
        for (si, (m, k, n)) in [(1, 9, 5), (4, 33, 64), (19, 70, 17), (50, 650, 64), (9, 128, 130)].enumerated() {
            let x = randomFloats(m * k, seed: UInt64(300 + si))
            let b = randomFloats(k * n, seed: UInt64(400 + si))
            var ref = [Float](repeating: 0, count: m * n)
            KernelsReference.sgemmNN(m: m, n: n, k: k, x: x, b: b, y: &ref)
            // The bound needs Σ|x||b|: transpose b to reuse absProducts.
            var bt = [Float](repeating: 0, count: k * n)
            for kk in 0..<k { for j in 0..<n { bt[j * k + kk] = b[kk * n + j] } }
            let bound = absProducts(m: m, n: n, k: k, x: x, w: bt)
            var y1 = [Float](repeating: .nan, count: m * n), y2 = y1
            Kernels.sgemmNN(m: m, n: n, k: k, x: x, b: b, y: &y1, threads: 1)
            Kernels.sgemmNN(m: m, n: n, k: k, x: x, b: b, y: &y2, threads: 2)
            XCTAssertTrue(y1 == y2, "sgemmNN differs between 1 and 2 threads")
            for i in 0..<(m * n) {
                XCTAssertLessThanOrEqual(abs(Double(y1[i]) - Double(ref[i])), dotTolerance(k: k, absSum: bound[i]), "M=\(m) K=\(k) N=\(n)")
            }
            // Same product through sgemm with the transposed matrix: same tolerance.
            let viaNT = Kernels.sgemm(m: m, n: n, k: k, x: x, w: bt, threads: 2)
            for i in 0..<(m * n) {
                XCTAssertLessThanOrEqual(abs(Double(viaNT[i]) - Double(ref[i])), dotTolerance(k: k, absSum: bound[i]))
            }
        }
    }

    func testLeadingDimensionsSelectSubmatrices() {
        // X is columns 3..<3+K of a [M, 50] array, W rows of stride 60, Y written into
        // columns 2..<2+N of a [M, 40] array whose other entries must stay untouched.
        for m in [3, 20] {
            let (k, n) = (41, 29)
            let xa = randomFloats(m * 50, seed: 11), wa = randomFloats(n * 60, seed: 12)
            var ya = [Float](repeating: -7, count: m * 40)
            xa.withUnsafeBufferPointer { xb in wa.withUnsafeBufferPointer { wb in ya.withUnsafeMutableBufferPointer { yb in
                Kernels.sgemm(m: m, n: n, k: k, x: xb.baseAddress! + 3, w: wb.baseAddress!, y: yb.baseAddress! + 2,
                              threads: 2, ldx: 50, ldw: 60, ldy: 40)
            } } }
            var x = [Float](), w = [Float]()
            for i in 0..<m { x += xa[(i * 50 + 3)..<(i * 50 + 3 + k)] }
            for j in 0..<n { w += wa[(j * 60)..<(j * 60 + k)] }
            var ref = [Float](repeating: 0, count: m * n)
            KernelsReference.sgemm(m: m, n: n, k: k, x: x, w: w, y: &ref)
            let bound = absProducts(m: m, n: n, k: k, x: x, w: w)
            for i in 0..<m {
                for c in 0..<40 {
                    let v = ya[i * 40 + c]
                    if c >= 2 && c < 2 + n {
                        XCTAssertLessThanOrEqual(abs(Double(v) - Double(ref[i * n + c - 2])), dotTolerance(k: k, absSum: bound[i * n + c - 2]))
                    } else {
                        XCTAssertEqual(v, -7, "element outside Y was written")
                    }
                }
            }
        }
    }

    func testZeroKGivesZeros() {
        var y = [Float](repeating: 5, count: 12 * 3)
        Kernels.sgemm(m: 12, n: 3, k: 0, x: [], w: [], y: &y)
        XCTAssertEqual(y, [Float](repeating: 0, count: 36))
        var y2 = [Float](repeating: 5, count: 2 * 3)
        Kernels.sgemm(m: 2, n: 3, k: 0, x: [], w: [], y: &y2)
        XCTAssertEqual(y2, [Float](repeating: 0, count: 6))
    }

    func testExactSmallProductByHand() {
        // X = [[1, 2], [3, 4]], W = [[5, 6], [7, 8], [0, -1]] → Y = X·Wᵀ = [[17, 23, -2], [39, 53, -4]].
        XCTAssertEqual(Kernels.sgemm(m: 2, n: 3, k: 2, x: [1, 2, 3, 4], w: [5, 6, 7, 8, 0, -1]), [17, 23, -2, 39, 53, -4])
        var y = [Float](repeating: 0, count: 9 * 3)
        let x9 = (0..<9).flatMap { i -> [Float] in [Float(i), 1] }
        Kernels.sgemm(m: 9, n: 3, k: 2, x: x9, w: [5, 6, 7, 8, 0, -1], y: &y)
        for i in 0..<9 { XCTAssertEqual(Array(y[(i * 3)..<(i * 3 + 3)]), [Float(5 * i + 6), Float(7 * i + 8), -1]) }
        // B = Wᵀ as [K=2, N=3]: same product through sgemmNN.
        var z = [Float](repeating: 0, count: 6)
        Kernels.sgemmNN(m: 2, n: 3, k: 2, x: [1, 2, 3, 4], b: [5, 7, 0, 6, 8, -1], y: &z)
        XCTAssertEqual(z, [17, 23, -2, 39, 53, -4])
    }
}
