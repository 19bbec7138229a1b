import XCTest
import Support
import MXFormats
import TestSupport
@testable import MXKernels

final class MXMXTests: XCTestCase {
    private func fakeQuant(_ x: [Float], m: Int, k: Int, _ c: MXConfig) -> [Float] {
        var q = x
        q.withUnsafeMutableBufferPointer { mxFakeQuantize($0, rows: m, cols: k, config: c, threads: 1) }
        return q
    }

    func testMatchesFakeQuantReferenceUpToReassociation() {
        // Tolerance: (K+2)·2⁻²⁴·Σ|Q(x)·w| — the fp32 reassociation bound of the fake-quant product.
        let combos: [(MXFormat, MXFormat)] = [(.mxint8, .mxint8), (.mxint8, .mxint4), (.mxfp8_e4m3, .mxfp4_e2m1),
                                              (.mxint8, .mxfp8_e5m2), (.mxfp6_e2m3, .mxint4), (.mxint4, .mxfp6_e3m2)]
        let shapes: [(Int, Int, Int)] = [(1, 32, 5), (1, 100, 33), (4, 77, 3), (7, 64, 40), (13, 700, 37), (30, 96, 70)]
        for (ci, (a, f)) in combos.enumerated() {
            for (si, (m, k, n)) in shapes.enumerated() {
                let x = randomFloats(m * k, seed: UInt64(3000 + 10 * ci + si))
                let wf = randomFloats(n * k, seed: UInt64(4000 + 10 * ci + si), scale: 0.2)
                let w = MXTensor(encoding: wf, rows: n, cols: k, config: MXConfig(format: f))
                let acts = MXConfig(format: a)
                var ref = [Float](repeating: 0, count: m * n)
                KernelsReference.mxmxgemm(m: m, x: x, acts: acts, w: w, y: &ref)
                let y2 = Kernels.mxmxgemm(m: m, x: x, acts: acts, w: w, threads: 2)
                let y1 = Kernels.mxmxgemm(m: m, x: x, acts: acts, w: w, threads: 1)
                XCTAssertTrue(y1 == y2, "\(a)×\(f) \(m)x\(k)x\(n): thread counts differ")
                assertWithinReassociation(y2, ref, x: fakeQuant(x, m: m, k: k, acts), wDecoded: w.decoded(), m: m, n: n, k: k,
                                          "\(a)×\(f) \(m)x\(k)x\(n)")
            }
        }
    }

    func testIntegerBlocksAreExact() {
        // With a single block (K ≤ 32) of MXINT8 × MXINT8/MXINT4, the block sum is an exact
        // integer below 2^24 times a power of two, so Y equals the exactly rounded dot
        // product of the fake-quantized operands bit for bit.
        for f in [MXFormat.mxint8, .mxint4] {
            for k in [1, 13, 32] {
                let (m, n) = (9, 50)
                let x = randomFloats(m * k, seed: UInt64(k)), wf = randomFloats(n * k, seed: UInt64(100 + k))
                let w = MXTensor(encoding: wf, rows: n, cols: k, config: MXConfig(format: f))
                let acts = MXConfig(format: .mxint8)
                var ref = [Float](repeating: 0, count: m * n)
                KernelsReference.mxmxgemm(m: m, x: x, acts: acts, w: w, y: &ref)
                let y = Kernels.mxmxgemm(m: m, x: x, acts: acts, w: w)
                XCTAssertTrue(y == ref, "mxint8×\(f) K=\(k): block result is not exact")
            }
        }
    }

    func testBothBlockTilesAgreeBitwise() {
        // The 8×48, 6×16 and 6×8 block-scaled tiles do the same arithmetic per output element
        // (for each multiply-add flavour).
        let (m, k, n) = (20, 700, 70)
        let x = randomFloats(m * k, seed: 77), wf = randomFloats(n * k, seed: 78)
        let w = MXTensor(encoding: wf, rows: n, cols: k, config: MXConfig(format: .mxint4))
        let xq = MXTensor(encoding: x, rows: m, cols: k, config: MXConfig(format: .mxint8))
        for tiles in [[BlockTile.wide(FusedMA.self), .mid(FusedMA.self), .narrow(FusedMA.self)],
                      [BlockTile.wide(SplitMA.self), .mid(SplitMA.self), .narrow(SplitMA.self)]] {
            var outs: [[Float]] = []
            for tile in tiles {
                for t in [1, 2] {
                    var y = [Float](repeating: .nan, count: m * n)
                    withPacked(xq) { px in withPacked(w) { pw in y.withUnsafeMutableBufferPointer {
                        blockScaledGemm(xq: px, w: pw, y: $0.baseAddress!, ldy: n, threads: t, tile: tile)
                    } } }
                    outs.append(y)
                }
            }
            for (i, o) in outs.enumerated() { XCTAssertTrue(o == outs[0], "variant \(i) differs") }
            XCTAssertFalse(outs[0].contains { $0.isNaN })
        }
    }

    func testHandDerivedSmallProduct() {
        // X = [1, 2, 3, 4], W = [1, -1, 0.5, 0.25]: all exactly representable in MXINT8
        // (amax 4 → E = 2, elements 0.25, 0.5, 0.75, 1 are multiples of 2^-6; W: amax 1 → E = 0).
        // Y = 1 − 2 + 1.5 + 1 = 1.5.
        let w = MXTensor(encoding: [1, -1, 0.5, 0.25], rows: 1, cols: 4, config: MXConfig(format: .mxint8))
        XCTAssertEqual(Kernels.mxmxgemm(m: 1, x: [1, 2, 3, 4], acts: MXConfig(format: .mxint8), w: w), [1.5])
        XCTAssertEqual(Kernels.mxgemm(m: 1, x: [1, 2, 3, 4], w: w), [1.5])
        XCTAssertEqual(Kernels.mxgemm(m: 9, x: [Float]((0..<9).flatMap { _ in [1, 2, 3, 4] as [Float] }), w: w),
                       [Float](repeating: 1.5, count: 9))
    }

    func testUnitUnpackEqualsUnitTableBitwise() {
        // MX × MX packs unit values (integers for MXINT, element values for FP) through the
        // word decoders for block 32; they must equal the unit table for every code,
        // including E4M3 NaN and E5M2 Inf codes (which fall back to the table).
        let (n, k) = (3, 96)
        for (fi, f) in MXFormat.allCases.enumerated() {
            var w = MXTensor(encoding: randomFloats(n * k, seed: UInt64(900 + fi)), rows: n, cols: k, config: MXConfig(format: f))
            if f == .mxfp8_e4m3 { w.elements[w.blocksPerRow * w.bytesPerBlock + 40] = 0xFF }
            if f == .mxfp8_e5m2 { w.elements[w.blocksPerRow * w.bytesPerBlock + 40] = 0xFC }
            withPacked(w) { pw in
                let u = unitTables[pw.kind.rawValue]
                for r in 0..<n {
                    var got = [Float](repeating: 7, count: k), want = [Float](repeating: 8, count: k)
                    var gs = [Float](repeating: 0, count: 3), ws = [Float](repeating: 0, count: 3)
                    var codes = [UInt8](repeating: 0, count: 32)
                    u.table.withUnsafeBufferPointer { ut in codes.withUnsafeMutableBufferPointer { cb in
                        got.withUnsafeMutableBufferPointer { g in gs.withUnsafeMutableBufferPointer { sb in
                            unpackUnits(pw, row: r, b0: 0, nb: 3, unit: ut.baseAddress!, factor: u.factor, out: g.baseAddress!, stride: 1,
                                        scaleOut: sb.baseAddress!, sStride: 1, codes: cb.baseAddress!)
                        } }
                        for b in 0..<3 {
                            pw.blockCodes(row: r, block: b, into: cb.baseAddress!)
                            for i in 0..<32 { want[b * 32 + i] = ut[Int(cb[i])] }
                            ws[b] = pw.scaleLUT[Int(pw.scales[r * pw.blocksPerRow + b])] * u.factor
                        }
                    } }
                    for i in 0..<k {
                        XCTAssertTrue(got[i].bitPattern == want[i].bitPattern || (got[i].isNaN && want[i].isNaN),
                                      "\(f) row \(r) element \(i): \(got[i]) vs unit table \(want[i])")
                    }
                    XCTAssertEqual(gs, ws, "\(f) row \(r) scales")
                }
            }
        }
    }
}
