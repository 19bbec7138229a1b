import XCTest
import Support
import MXFormats
import TestSupport
@testable import MXKernels

/// Checks `got` against the reference with the fp32 reassociation bound (K+2)·2⁻²⁴·Σ|x·w|.
func assertWithinReassociation(_ got: [Float], _ ref: [Float], x: [Float], wDecoded: [Float], m: Int, n: Int, k: Int,
                               _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    let bound = absProducts(m: m, n: n, k: k, x: x, w: wDecoded)
    var bad = 0
    for i in 0..<(m * n) {
        if ref[i].isNaN { if !got[i].isNaN { bad += 1 }; continue }
        if !(abs(Double(got[i]) - Double(ref[i])) <= dotTolerance(k: k, absSum: bound[i])) {
            if bad == 0 { XCTFail("\(what): Y[\(i / n),\(i % n)] = \(got[i]), reference \(ref[i])", file: file, line: line) }
            bad += 1
        }
    }
    XCTAssertEqual(bad, 0, "\(what): \(bad) elements outside tolerance", file: file, line: line)
}

final class MXGemmTests: XCTestCase {
    func testElementTablesMatchFormatLayerDecodeForEveryCodeAndScale() {
        // A tensor whose blocks hold every element code, under scales 0, 1, 100, 127, 200, 254, 255.
        for f in MXFormat.allCases {
            let bits = f.elementBits
            let codes = 1 << bits
            let block = 32
            let scaleBytes: [UInt8] = [0, 1, 100, 127, 200, 254, 255]
            let blocksPerRow = (codes + block - 1) / block
            let cols = blocksPerRow * block
            let rows = scaleBytes.count
            let bpb = (block * bits + 7) / 8
            var elements = [UInt8](repeating: 0, count: rows * blocksPerRow * bpb)
            var scales = [UInt8]()
            for r in 0..<rows {
                for b in 0..<blocksPerRow {
                    scales.append(scaleBytes[r])
                    // Pack codes (b*32 + i) % codes by the storage rules of mx-numerics.md.
                    let base = (r * blocksPerRow + b) * bpb
                    for i in 0..<block {
                        let c = UInt32((b * block + i) % codes)
                        let bit = i * bits
                        for t in 0..<bits where (c >> UInt32(t)) & 1 == 1 {
                            elements[base + (bit + t) / 8] |= UInt8(1 << ((bit + t) % 8))
                        }
                    }
                }
            }
            let t = MXTensor(rows: rows, cols: cols, config: MXConfig(format: f), scales: scales, elements: elements)
            let want = t.decoded(threads: 1)
            var got = [Float](repeating: 0, count: rows * cols)
            withPacked(t) { p in
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: block) { c in
                    got.withUnsafeMutableBufferPointer { gb in
                        for r in 0..<rows { p.decode(row: r, k0: 0, kc: cols, into: gb.baseAddress! + r * cols, codes: c.baseAddress!) }
                    }
                }
            }
            for i in 0..<(rows * cols) {
                XCTAssertTrue(got[i].bitPattern == want[i].bitPattern || (got[i].isNaN && want[i].isNaN),
                              "\(f): element \(i) decodes to \(got[i]), format layer gives \(want[i])")
            }
        }
    }

    func testMxgemmMatchesReferenceForEveryFormat() {
        // M = 1, 2, 5, 8 (GEMV), 9 and 23 (GEMM); K not a multiple of 32 or 16; N odd.
        let shapes: [(Int, Int, Int)] = [(1, 32, 7), (1, 200, 33), (2, 96, 5), (5, 77, 19), (8, 160, 9), (9, 50, 13), (23, 700, 51)]
        for (fi, f) in MXFormat.allCases.enumerated() {
            for (si, (m, k, n)) in shapes.enumerated() {
                let x = randomFloats(m * k, seed: UInt64(1000 + 10 * fi + si))
                let wf = randomFloats(n * k, seed: UInt64(2000 + 10 * fi + si), scale: 0.1)
                let w = MXTensor(encoding: wf, rows: n, cols: k, config: MXConfig(format: f))
                var ref = [Float](repeating: 0, count: m * n)
                KernelsReference.mxgemm(m: m, x: x, w: w, y: &ref)
                let got2 = Kernels.mxgemm(m: m, x: x, w: w, threads: 2)
                let got1 = Kernels.mxgemm(m: m, x: x, w: w, threads: 1)
                XCTAssertTrue(got1 == got2, "\(f) \(m)x\(k)x\(n): 1 and 2 threads differ")
                assertWithinReassociation(got2, ref, x: x, wDecoded: w.decoded(), m: m, n: n, k: k, "\(f) \(m)x\(k)x\(n)")
            }
        }
    }

    func testOtherBlockSizesUseTablePath() {
        for (f, b) in [(MXFormat.mxint4, 16), (.mxfp8_e4m3, 64), (.mxfp6_e2m3, 128), (.mxint8, 16)] {
            for m in [1, 3, 12] {
                let (k, n) = (150, 11)
                let x = randomFloats(m * k, seed: 5), wf = randomFloats(n * k, seed: 6)
                let w = MXTensor(encoding: wf, rows: n, cols: k, config: MXConfig(format: f, block: b))
                var ref = [Float](repeating: 0, count: m * n)
                KernelsReference.mxgemm(m: m, x: x, w: w, y: &ref)
                assertWithinReassociation(Kernels.mxgemm(m: m, x: x, w: w, threads: 2), ref, x: x, wDecoded: w.decoded(),
                                          m: m, n: n, k: k, "\(f) block \(b) M=\(m)")
            }
        }
    }

    func testNaNCodesAndNaNScalesPropagate() {
        // Row 1 of an E4M3 tensor gets a NaN element code (0x7F); row 2 of every tensor a NaN scale.
        for f in [MXFormat.mxfp8_e4m3, .mxfp8_e5m2, .mxint4] {
            let (m, k, n) = (1, 64, 4)
            let x = randomFloats(m * k, seed: 9), wf = randomFloats(n * k, seed: 10)
            var w = MXTensor(encoding: wf, rows: n, cols: k, config: MXConfig(format: f))
            if f == .mxfp8_e4m3 { w.elements[1 * w.blocksPerRow * w.bytesPerBlock + 3] = 0x7F }
            if f == .mxfp8_e5m2 { w.elements[1 * w.blocksPerRow * w.bytesPerBlock + 40] = 0xFD }
            w.scales[2 * w.blocksPerRow + 1] = 0xFF
            for mm in [1, 10] {
                let xs = (0..<mm).flatMap { _ in x }
                let y = Kernels.mxgemm(m: mm, x: xs, w: w)
                for i in 0..<mm {
                    XCTAssertTrue(y[i * n + 2].isNaN, "\(f) M=\(mm): NaN scale must give NaN")
                    XCTAssertFalse(y[i * n + 0].isNaN)
                    XCTAssertEqual(y[i * n + 1].isNaN, f != .mxint4, "\(f) M=\(mm): NaN element code must give NaN")
                }
            }
        }
    }

    func testPanelDecodeEqualsTableDecodeBitwise() {
        // The dequant GEMM's panel packer (word decoders on whole blocks, table decoder on
        // partial blocks and NaN/Inf codes) must write exactly the table decoder's values:
        // K ranges that start and end inside blocks, a range inside one block, N not a
        // multiple of the panel width, NaN/Inf element codes and a NaN scale.
        let (n, k) = (7, 150)
        for (fi, f) in MXFormat.allCases.enumerated() {
            let wf = randomFloats(n * k, seed: UInt64(300 + fi), scale: 0.2)
            var w = MXTensor(encoding: wf, rows: n, cols: k, config: MXConfig(format: f))
            if f == .mxfp8_e4m3 { w.elements[2 * w.blocksPerRow * w.bytesPerBlock + 35] = 0x7F }   // NaN code
            if f == .mxfp8_e5m2 { w.elements[2 * w.blocksPerRow * w.bytesPerBlock + 35] = 0x7C }   // +Inf code
            w.scales[4 * w.blocksPerRow + 2] = 0xFF                                                  // NaN scale
            withPacked(w) { pw in
                let sTab = (0..<256).map { pw.scaleLUT[$0] * wordDecoderFactor(pw.kind) }
                for (k0, kc) in [(0, 150), (0, 64), (5, 100), (33, 20), (40, 110), (64, 1), (96, 54)] {
                    let nr = 8
                    var got = [Float](repeating: -1, count: kc * nr), want = [Float](repeating: -2, count: kc * nr)
                    sTab.withUnsafeBufferPointer { st in got.withUnsafeMutableBufferPointer { g in
                        packMXPanel(pw, sTab: st.baseAddress!, dst: g.baseAddress!, j0: 0, jn: n, k0: k0, kc: kc, nr: nr)
                    } }
                    var codes = [UInt8](repeating: 0, count: 32)
                    want.withUnsafeMutableBufferPointer { wb in codes.withUnsafeMutableBufferPointer { cb in
                        for j in 0..<n { pw.decode(row: j, k0: k0, kc: kc, into: wb.baseAddress! + j, stride: nr, codes: cb.baseAddress!) }
                        for kk in 0..<kc { wb[kk * nr + n] = 0 }
                    } }
                    var mismatches = 0
                    for i in 0..<(kc * nr) where got[i].bitPattern != want[i].bitPattern && !(got[i].isNaN && want[i].isNaN) { mismatches += 1 }
                    XCTAssertEqual(mismatches, 0, "\(f) k0=\(k0) kc=\(kc): \(mismatches) panel values differ from the table decoder")
                    if f == .mxfp8_e5m2 && k0 <= 35 && 35 < k0 + kc { XCTAssertEqual(got[(35 - k0) * nr + 2], .infinity) }
                }
            }
        }
    }

    func testWordDecodersGiveEveryCodeExactly() {
        // Every element code through each word decoder (as the GEMV, panel and MX×MX paths
        // use them) equals the code table value / format factor, bitwise; NaN/Inf codes are
        // flagged by the probe instead (bit 7 of their byte).
        func check<D: WordDecoder>(_ d: D.Type, _ kind: ElementKind) {
            let bits = kind.bits, nCodes = 1 << bits
            let table = kind.table, factor = wordDecoderFactor(kind)
            // Code c at element position c (codes packed little-endian, `bits` bits each),
            // padded so that 4-byte loads over 3-byte units stay inside the buffer.
            var bytes = [UInt8](repeating: 0, count: nCodes * bits / 8 + 8)
            for c in 0..<nCodes { for b in 0..<bits where (c >> b) & 1 == 1 { bytes[(c * bits + b) / 8] |= UInt8(1 << ((c * bits + b) % 8)) } }
            let e = D.elemsPerWord, units = nCodes / e
            bytes.withUnsafeBytes { raw in
                for u0 in stride(from: 0, to: units, by: 4) {
                    let w = D.load(raw.baseAddress! + u0 * D.unitBytes, SIMD4<UInt32>.self)
                    let bad = D.probe(w)
                    for j in 0..<e {
                        let v = D.decode(w, j, SIMD4<Float>.self)
                        for l in 0..<4 {
                            let c = (u0 + l) * e + j
                            if c >= nCodes { continue }
                            let want = table[c]
                            if want.isNaN || want.isInfinite {
                                XCTAssertTrue(D.checksBadCodes, "\(kind) code \(c) is NaN/Inf but the decoder has no probe")
                                XCTAssertNotEqual((bad[l] >> UInt32(8 * j + 7)) & 1, 0, "\(kind) code \(c): probe misses NaN/Inf")
                            } else {
                                XCTAssertEqual((v[l] * factor).bitPattern, want.bitPattern, "\(kind) code \(c): \(v[l] * factor) vs \(want)")
                                if D.checksBadCodes { XCTAssertEqual((bad[l] >> UInt32(8 * j + 7)) & 1, 0, "\(kind) code \(c) flagged") }
                            }
                        }
                    }
                }
            }
        }
        check(DecodeInt8.self, .int8); check(DecodeInt4.self, .int4); check(DecodeE2M1.self, .e2m1)
        check(DecodeE4M3.self, .e4m3); check(DecodeE5M2.self, .e5m2); check(DecodeE2M3.self, .e2m3); check(DecodeE3M2.self, .e3m2)
    }
}
