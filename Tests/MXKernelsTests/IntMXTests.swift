import XCTest
import Support
import MXFormats
import TestSupport
@testable import MXKernels
import MXKernelsC

/// Integer MX × MX (IntKernels.swift): every path this CPU can run (the portable Swift path
/// always; AVX-512 VNNI when the CPU has it — the C code is compiled for it with target
/// attributes even in this debug build) against (1) the unit-value block-scaled MX × MX
/// (`blockScaledGemm`) bit for bit and (2) the fake-quant fp32 reference within the fp32
/// reassociation bound.
final class IntMXTests: XCTestCase {
    private var paths: [IntMXPath] { IntMXPath.allCases.filter(\.isSupported) }

    /// Y of the unit-value fp32 block-scaled tile on the MX-encoded X (the old MX × MX path for M > 8).
    private func blockScaled(_ x: [Float], m: Int, k: Int, acts: MXConfig, w: MXTensor, threads: Int = 1) -> [Float] {
        let xq = MXTensor(encoding: x, rows: m, cols: k, config: acts)
        var y = [Float](repeating: .nan, count: m * w.rows)
        withPacked(xq) { px in withPacked(w) { pw in y.withUnsafeMutableBufferPointer {
            blockScaledGemm(xq: px, w: pw, y: $0.baseAddress!, ldy: w.rows, threads: threads)
        } } }
        return y
    }

    private func run(_ path: IntMXPath, _ x: [Float], m: Int, acts: MXConfig, w: MXTensor, threads: Int) -> [Float] {
        var y = [Float](repeating: .nan, count: m * w.rows)
        x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { yb in
            Kernels.intmxgemm(m: m, x: xb.baseAddress!, acts: acts, w: w, y: yb.baseAddress!, threads: threads, path: path)
        } }
        return y
    }

    private func same(_ a: [Float], _ b: [Float]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
    }

    func testBitIdenticalToBlockScaledAndWithinReassociationOfFakeQuant() {
        XCTAssertTrue(paths.contains(.portable))
        print("IntMXTests: paths tested: \(paths.map(\.name)); build path \(IntMXPath.build.name)")
        // M = 1 and ≤ 8 (GEMV), > 8 (GEMM, partial MR panels); K not a multiple of 32;
        // N odd, below / above / not a multiple of 16 and 48; several K chunks (K > 640); a GEMV over
        // 1 MiB of packed weights (split over threads; smaller ones run on one thread).
        let shapes: [(Int, Int, Int)] = [(1, 32, 16), (1, 100, 33), (3, 77, 50), (8, 64, 48), (1, 700, 17),
                                         (9, 64, 49), (13, 700, 97), (30, 96, 70), (5, 1, 3), (17, 1345, 20),
                                         (1, 1100, 2003)]
        let acts = MXConfig(format: .mxint8)
        for f in [MXFormat.mxint4, .mxint8] {
            for (si, (m, k, n)) in shapes.enumerated() {
                let x = randomFloats(m * k, seed: UInt64(7000 + si)), wf = randomFloats(n * k, seed: UInt64(8000 + si), scale: 0.2)
                let w = MXTensor(encoding: wf, rows: n, cols: k, config: MXConfig(format: f))
                let want = blockScaled(x, m: m, k: k, acts: acts, w: w)
                var ref = [Float](repeating: 0, count: m * n)
                KernelsReference.mxmxgemm(m: m, x: x, acts: acts, w: w, y: &ref)
                var xq = x
                xq.withUnsafeMutableBufferPointer { mxFakeQuantize($0, rows: m, cols: k, config: acts, threads: 1) }
                for p in paths {
                    for t in [1, 2] {
                        let got = run(p, x, m: m, acts: acts, w: w, threads: t)
                        XCTAssertTrue(same(got, want), "\(p.name) \(f) \(m)x\(k)x\(n) threads \(t): not bit-identical to the block-scaled MX × MX"
                                      + " (first difference \(zip(got, want).enumerated().first { $0.1.0 != $0.1.1 }.map { "\($0.0): \($0.1)" } ?? "-"))")
                    }
                    assertWithinReassociation(run(p, x, m: m, acts: acts, w: w, threads: 2), ref, x: xq, wDecoded: w.decoded(),
                                              m: m, n: n, k: k, "\(p.name) \(f) \(m)x\(k)x\(n)")
                }
                // The public entry point takes the integer path and agrees too.
                XCTAssertTrue(same(Kernels.mxmxgemm(m: m, x: x, acts: acts, w: w), want), "mxmxgemm \(f) \(m)x\(k)x\(n)")
            }
        }
    }

    func testSingleBlockIsExactAndStridesAndSpecialRows() {
        // K ≤ 32: one block, so Y is the exactly rounded dot product of the fake-quantized operands.
        let acts = MXConfig(format: .mxint8)
        for f in [MXFormat.mxint4, .mxint8] {
            for (m, k, n) in [(1, 13, 21), (11, 32, 53)] {
                let x = randomFloats(m * k, seed: UInt64(k + m)), wf = randomFloats(n * k, seed: UInt64(100 + k))
                let w = MXTensor(encoding: wf, rows: n, cols: k, config: MXConfig(format: f))
                var ref = [Float](repeating: 0, count: m * n)
                KernelsReference.mxmxgemm(m: m, x: x, acts: acts, w: w, y: &ref)
                for p in paths { XCTAssertTrue(same(run(p, x, m: m, acts: acts, w: w, threads: 2), ref), "\(p.name) \(f) K=\(k) not exact") }
            }
        }
        // Leading dimensions; a zero row, a NaN row and huge/tiny rows (scale extremes).
        let (m, k, n) = (10, 70, 35)
        var x = randomFloats(m * k, seed: 5)
        for kk in 0..<k { x[2 * k + kk] = 0; x[3 * k + kk] = kk == 5 ? .nan : 1; x[4 * k + kk] *= 1e30; x[5 * k + kk] *= 1e-36 }
        let w = MXTensor(encoding: randomFloats(n * k, seed: 6), rows: n, cols: k, config: MXConfig(format: .mxint4))
        let want = blockScaled(x, m: m, k: k, acts: acts, w: w)
        XCTAssertTrue((0..<n).allSatisfy { want[2 * n + $0] == 0 && want[3 * n + $0].isNaN })
        let ldx = k + 3, ldy = n + 5
        var xs = [Float](repeating: 9, count: m * ldx)
        for i in 0..<m { for kk in 0..<k { xs[i * ldx + kk] = x[i * k + kk] } }
        for p in paths {
            for mm in [1, 4, m] {   // GEMV and GEMM
                var y = [Float](repeating: -1, count: m * ldy)
                xs.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { yb in
                    Kernels.intmxgemm(m: mm, x: xb.baseAddress!, acts: acts, w: w, y: yb.baseAddress!, threads: 2, ldx: ldx, ldy: ldy, path: p)
                } }
                let wantM = mm == m ? want : blockScaled(Array(x[0..<(mm * k)]), m: mm, k: k, acts: acts, w: w)
                for i in 0..<mm {
                    XCTAssertTrue(same(Array(y[(i * ldy)..<(i * ldy + n)]), Array(wantM[(i * n)..<(i * n + n)])), "\(p.name) M=\(mm) row \(i)")
                    XCTAssertTrue(y[(i * ldy + n)..<(i * ldy + ldy)].allSatisfy { $0 == -1 }, "\(p.name) M=\(mm) row \(i): wrote past N")
                }
            }
        }
    }

    func testGEMVWithSpecialWeightScales() {
        // MXINT4 GEMV (K = 300: 10 blocks; two groups of 16 rows and 8 more) with weight blocks
        // of scale byte 0 (an all-zero block; a row of subnormal values whose codes are not zero,
        // scale 2^−127: its outputs are tiny, not 0) and 0xFF (a NaN), on one and two threads.
        let (k, n) = (300, 40)
        let acts = MXConfig(format: .mxint8)
        var wf = randomFloats(n * k, seed: 91, scale: 0.3)
        for kk in 0..<32 { wf[0 * k + 32 + kk] = 0; wf[20 * k + 192 + kk] = 0 }
        for kk in 0..<k { wf[5 * k + kk] = Float(kk % 7) * 1e-39 }   // every block of row 5: y[5] is tiny, not 0
        wf[17 * k + 3] = .nan
        wf[33 * k + 290] = .nan                      // in the tail step, a row of the portable remainder
        let w = MXTensor(encoding: wf, rows: n, cols: k, config: MXConfig(format: .mxint4))
        XCTAssertEqual(w.scales[0 * w.blocksPerRow + 1], 0)
        XCTAssertEqual(w.scales[5 * w.blocksPerRow + 4], 0)
        XCTAssertEqual(w.scales[17 * w.blocksPerRow + 0], 0xFF)
        for m in [1, 3] {
            let x = randomFloats(m * k, seed: UInt64(92 + m))
            let want = blockScaled(x, m: m, k: k, acts: acts, w: w)
            XCTAssertTrue((0..<m).allSatisfy { want[$0 * n + 17].isNaN && want[$0 * n + 5] != 0 && !want[$0 * n + 5].isNaN })
            for p in paths {
                for t in [1, 2] {
                    XCTAssertTrue(same(run(p, x, m: m, acts: acts, w: w, threads: t), want), "\(p.name) M=\(m) threads \(t)")
                }
            }
        }
    }

    func testCQuantizerEqualsMXFormatsEncoder() {
        // mxq_ik_quant_row_int8 (the SIMD paths' fused activation quantizer) against
        // MXFormats' encoder: random rows at many magnitudes, K not a multiple of 32, zero,
        // subnormal, huge, NaN/Inf blocks, exact ties (k + 0.5 steps) and saturation.
        let enc = MXRowEncoder(MXConfig(format: .mxint8))
        var rows: [[Float]] = []
        for (i, sc) in [Float(1), 1e-3, 1e30, 1e-38, 1e-42, 3e38].enumerated() {
            rows.append(randomFloats(77, seed: UInt64(40 + i), scale: sc))
        }
        rows.append([Float](repeating: 0, count: 64))
        // amax in [1, 2): E = 0, v·64 = 64 + i/2, an exact tie at every odd i (ties to even k).
        rows.append((0..<40).map { (1.0 + Float($0) / 128) * (($0 & 2) == 0 ? 1 : -1) })
        // 1.999·64 = 127.936 rounds to 128 and saturates to 127.
        rows.append((0..<40).map { 1.999 * (($0 & 1) == 0 ? 1 : -1) })
        var special = randomFloats(96, seed: 9)
        special[5] = .nan; special[40] = .infinity; special[70] = -.infinity
        rows.append(special)
        for (ri, r) in rows.enumerated() {
            let k = r.count, nb = (k + 31) / 32
            var c1 = [UInt8](repeating: 1, count: nb * 32), s1 = [UInt8](repeating: 1, count: nb)
            var c2 = [UInt8](repeating: 2, count: nb * 32), s2 = [UInt8](repeating: 2, count: nb)
            r.withUnsafeBufferPointer { rb in
                enc.encodeRow(rb.baseAddress!, cols: k, row: 0, scales: &s1, packed: &c1)
                mxq_ik_quant_row_int8(rb.baseAddress!, k, &c2, &s2)
            }
            XCTAssertEqual(s2, s1, "row \(ri): scale bytes")
            XCTAssertEqual(c2, c1, "row \(ri): codes")
        }
    }

    func testOnlyIntegerFormatsAtBlock32UseTheIntegerPath() {
        XCTAssertTrue(Kernels.intMXApplies(acts: MXConfig(format: .mxint8), weights: MXConfig(format: .mxint4)))
        XCTAssertTrue(Kernels.intMXApplies(acts: MXConfig(format: .mxint8), weights: MXConfig(format: .mxint8)))
        XCTAssertFalse(Kernels.intMXApplies(acts: MXConfig(format: .mxint4), weights: MXConfig(format: .mxint4)))
        XCTAssertFalse(Kernels.intMXApplies(acts: MXConfig(format: .mxint8), weights: MXConfig(format: .mxfp4_e2m1)))
        XCTAssertFalse(Kernels.intMXApplies(acts: MXConfig(format: .mxint8, block: 16), weights: MXConfig(format: .mxint4, block: 16)))
    }

    /// Activations packed once (`IntMXPackedActs`) and used by several products give the bytes
    /// of `intmxgemm(x:)` per product: bit-identical outputs, any thread count, both weight formats.
    func testPackedActivationsSharedByProductsAreBitIdentical() {
        let acts = MXConfig(format: .mxint8)
        let simd = paths.filter { $0 != .portable }
        print("IntMXTests: shared activation packing tested on \(simd.map(\.name))")
        for p in simd {
            for (si, (m, k)) in [(9, 64), (30, 100), (17, 700)].enumerated() {
                let x = randomFloats(m * k, seed: UInt64(9100 + si))
                let ws = [(MXFormat.mxint4, 49), (.mxint4, 16), (.mxint8, 33)].enumerated().map { (j, fn) in
                    MXTensor(encoding: randomFloats(fn.1 * k, seed: UInt64(9200 + 10 * si + j), scale: 0.2), rows: fn.1, cols: k,
                             config: MXConfig(format: fn.0))
                }
                for t in [1, 3] {
                    let xa = x.withUnsafeBufferPointer { IntMXPackedActs(m: m, k: k, x: $0.baseAddress!, acts: acts, threads: t, path: p) }
                    for w in ws where IntMXPackedActs.applies(m: m, acts: acts, weights: w.config, path: p) {
                        var got = [Float](repeating: .nan, count: m * w.rows)
                        got.withUnsafeMutableBufferPointer { Kernels.intmxgemm(packed: xa, w: w, y: $0.baseAddress!, threads: t) }
                        XCTAssertTrue(same(got, run(p, x, m: m, acts: acts, w: w, threads: t)), "\(p.name) \(w.config.format) \(m)x\(k)x\(w.rows) threads \(t)")
                    }
                }
            }
        }
        // GEMV sizes, the portable path and MXINT8 weights on AVX2 never share a packing
        XCTAssertFalse(IntMXPackedActs.applies(m: 8, acts: acts, weights: MXConfig(format: .mxint4), path: .vnni))
        XCTAssertFalse(IntMXPackedActs.applies(m: 64, acts: acts, weights: MXConfig(format: .mxint4), path: .portable))
        XCTAssertFalse(IntMXPackedActs.applies(m: 64, acts: acts, weights: MXConfig(format: .mxint8), path: .avx2))
        XCTAssertFalse(IntMXPackedActs.applies(m: 64, acts: acts, weights: MXConfig(format: .mxfp4_e2m1), path: .vnni))
    }
}
