import Support
import TestSupport
import XCTest
@testable import MXFormats

/// Tensor-level numerics, packing, fast-vs-reference, diagnostics, serialization.
/// Hand vectors are derived from docs/mx-numerics.md in the comments next to them.
final class TensorTests: XCTestCase {
    private func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }
    private func bits(_ v: [Float]) -> [UInt32] { v.map(\.bitPattern) }

    /// Checks fast encode/decode/fake-quant against hand-derived expectations and the reference.
    private func check(_ values: [Float], _ config: MXConfig, scales: [UInt8], codes: [UInt8], packed: String? = nil,
                       decoded: [UInt32], file: StaticString = #filePath, line: UInt = #line) {
        for threads in [1, 2] {
            let t = MXTensor(encoding: values, rows: 1, cols: values.count, config: config, threads: threads)
            XCTAssertEqual(t.scales, scales, "scales \(config)", file: file, line: line)
            XCTAssertEqual((0..<values.count).map { t.code(row: 0, col: $0) }, codes, "codes \(config)", file: file, line: line)
            if let p = packed { XCTAssertEqual(hex(t.elements), p, "packed \(config)", file: file, line: line) }
            XCTAssertEqual(bits(t.decoded(threads: threads)), decoded, "decoded \(config)", file: file, line: line)
            var fq = values
            fq.withUnsafeMutableBufferPointer { _ = mxFakeQuantize($0, rows: 1, cols: values.count, config: config, threads: threads) }
            XCTAssertEqual(bits(fq), decoded, "fake-quant \(config)", file: file, line: line)
        }
        let r = MXReference.encode(values, rows: 1, cols: values.count, config: config)
        XCTAssertEqual(r.scales, scales, "reference scales", file: file, line: line)
        XCTAssertEqual(MXReference.codes(of: r), codes, "reference codes", file: file, line: line)
        if let p = packed { XCTAssertEqual(hex(r.elements), p, "reference packed", file: file, line: line) }
        XCTAssertEqual(bits(MXReference.decode(r)), decoded, "reference decoded", file: file, line: line)
    }

    func testMXFP4HandVector() {
        // amax 7 -> E = floor(log2 7) - 2 = 0 (byte 127). v/1: 1->0x2, 2->0x4, 3->0x5, 6.5->6 (0x7, saturated),
        // 0.25 tie 0|0.5 -> even 0, 0.75 tie 0.5|1 -> even 1 (0x2), 5 tie 4|6 -> even 4 (0x6), -0.2 -> -0 (0x8),
        // 0 -> 0, 7 -> 6 (0x7). Packed pairs low nibble first: 42 75 20 86 70 + 11 zero bytes (block of 32).
        let v: [Float] = [1, 2, 3, 6.5, 0.25, 0.75, 5, -0.2, 0, 7]
        check(v, MXConfig(format: .mxfp4_e2m1), scales: [127], codes: [2, 4, 5, 7, 0, 2, 6, 8, 0, 7],
              packed: "4275208670" + String(repeating: "00", count: 11),
              decoded: [0x3F80_0000, 0x4000_0000, 0x4040_0000, 0x40C0_0000, 0, 0x3F80_0000, 0x4080_0000, 0x8000_0000, 0, 0x40C0_0000])
        // Ties away: 0.25 -> 0.5 (0x1), 0.75 -> 1 (0x2), 5 -> 6 (0x7).
        check(v, MXConfig(format: .mxfp4_e2m1, rounding: .away), scales: [127], codes: [2, 4, 5, 7, 1, 2, 7, 8, 0, 7],
              decoded: [0x3F80_0000, 0x4000_0000, 0x4040_0000, 0x40C0_0000, 0x3F00_0000, 0x3F80_0000, 0x40C0_0000, 0x8000_0000, 0, 0x40C0_0000])
        // ceil: E = ceil(log2(7/6)) = 1 (byte 128); v/2 = .5, 1, 1.5, 3.25->3, .125->0, .375->.5, 2.5 tie 2|3 -> 2,
        // -.1 -> -0, 0, 3.5 tie 3|4 -> 4. Decoded x2: 1, 2, 3, 6, 0, 1, 4, -0, 0, 8.
        check(v, MXConfig(format: .mxfp4_e2m1, scaleRule: .ceil), scales: [128], codes: [1, 2, 3, 5, 0, 1, 4, 8, 0, 6],
              decoded: [0x3F80_0000, 0x4000_0000, 0x4040_0000, 0x40C0_0000, 0, 0x3F80_0000, 0x4080_0000, 0x8000_0000, 0, 0x4100_0000])
    }

    func testIntegerHandVectors() {
        // MXINT8: amax 100 -> E = 6 (byte 133). k = v/64·64 = v: 1 -> 1, -0.5 tie 0|-1 -> even 0, 0.3 -> 0, 100 -> 100.
        check([1, -0.5, 0.3, 100], MXConfig(format: .mxint8), scales: [133], codes: [1, 0, 0, 100], packed: "01000064" + String(repeating: "00", count: 28),
              decoded: [0x3F80_0000, 0, 0, 0x42C8_0000])
        // away: -0.5 -> -1 (0xFF) -> decoded -1.
        check([1, -0.5, 0.3, 100], MXConfig(format: .mxint8, rounding: .away), scales: [133], codes: [1, 0xFF, 0, 100],
              decoded: [0x3F80_0000, 0xBF80_0000, 0, 0x42C8_0000])
        // MXINT4, B=2: amax 3 -> E = 1 (byte 128); 0.9/2·4 = 1.8 -> 2 (0x2); -3/2·4 = -6 (0xA). Packed 0xa2.
        // Decoded 2·0.25·2 = 1, -6·0.25·2 = -3.
        check([0.9, -3], MXConfig(format: .mxint4, block: 2), scales: [128], codes: [0x2, 0xA], packed: "a2",
              decoded: [0x3F80_0000, 0xC040_0000])
        // MXINT4 round-up past max: amax 1.9 -> E = 0; k = 7.6 -> 8 -> saturates to 7 (1.75 = 0x3fe00000).
        check([1.9, 0.1], MXConfig(format: .mxint4, block: 2), scales: [127], codes: [7, 0], packed: "07",
              decoded: [0x3FE0_0000, 0])
    }

    func testSixBitPackingHandVector() {
        // MXFP6 E2M3, B=4: amax 7.5 -> E = 0. Codes 7.5 -> 0x1F, 1 -> 0x08, -0.125 -> 0x21, 2 -> 0x10.
        // Bit stream 0x1F | 0x08<<6 | 0x21<<12 | 0x10<<18 = 0x42121F -> bytes 1f 12 42.
        check([7.5, 1, -0.125, 2], MXConfig(format: .mxfp6_e2m3, block: 4), scales: [127], codes: [0x1F, 0x08, 0x21, 0x10],
              packed: "1f1242", decoded: [0x40F0_0000, 0x3F80_0000, 0xBE00_0000, 0x4000_0000])
        // B=2 (12 bits -> 2 bytes per block), two blocks, E3M2: [28, 1 | 0.5, -0.25] ->
        // block0 amax 28: E = 4 - 4 = 0: 28 -> 0x1F, 1 -> exp 3 -> 0x0C: 0x1F | 0x0C<<6 = 0x31F -> 1f 03.
        // block1 amax 0.5: E = -1 - 4 = -5: 0.5·32 = 16 -> exp 7 (0x1C), -0.25·32 = -8 -> exp 6 (0x18|0x20 = 0x38):
        // 0x1C | 0x38<<6 = 0xE1C -> 1c 0e.
        check([28, 1, 0.5, -0.25], MXConfig(format: .mxfp6_e3m2, block: 2), scales: [127, 122], codes: [0x1F, 0x0C, 0x1C, 0x38],
              packed: "1f031c0e", decoded: [0x41E0_0000, 0x3F80_0000, 0x3F00_0000, 0xBE80_0000])
    }

    func testFP8HandVectors() {
        // E4M3: amax 448 -> E = 0; 448 -> 0x7E, 1 -> 0x38, 0.001 -> 2^-9 (0x01, since 0.001 > 2^-10), -0 -> 0x80.
        check([448, 1, 0.001, -0.0], MXConfig(format: .mxfp8_e4m3, block: 4), scales: [127], codes: [0x7E, 0x38, 0x01, 0x80],
              packed: "7e380180", decoded: [0x43E0_0000, 0x3F80_0000, 0x3B00_0000, 0x8000_0000])
        // amax 480 -> E = 0; 480 saturates to 448 (0x7E), never the NaN code 0x7F.
        check([480, -470], MXConfig(format: .mxfp8_e4m3, block: 2), scales: [127], codes: [0x7E, 0xFE],
              decoded: [0x43E0_0000, 0xC3E0_0000])
        // E5M2: amax 61000 -> E = 15 - 15 = 0; 61000 -> 0x7B (57344), 1 -> 0x3C.
        check([61000, 1], MXConfig(format: .mxfp8_e5m2, block: 2), scales: [127], codes: [0x7B, 0x3C],
              decoded: [0x4760_0000, 0x3F80_0000])
    }

    func testEdgeBlocks() {
        let fp4 = MXConfig(format: .mxfp4_e2m1, block: 2)
        // All-zero block (incl. -0): E = -127 (byte 0); FP keeps the sign of zero.
        check([0, -0.0, 0, 0], fp4, scales: [0, 0], codes: [0, 8, 0, 0], packed: "80" + "00", decoded: [0, 0x8000_0000, 0, 0])
        // INT has a single zero.
        check([-0.0, 0], MXConfig(format: .mxint8, block: 2), scales: [0], codes: [0, 0], decoded: [0, 0])
        // NaN / Inf blocks: scale 0xFF, codes 0, decoded NaN; the partial last block [2] -> E = 1 - 2 = -1, 2/0.5 = 4 (0x6).
        check([1, .nan, 2], fp4, scales: [0xFF, 126], codes: [0, 0, 6], packed: "0006", decoded: [0x7FC0_0000, 0x7FC0_0000, 0x4000_0000])
        // [3, 1]: E = floor(log2 3) - 2 = -1 (byte 126); 3/0.5 = 6 (0x7), 1/0.5 = 2 (0x4).
        check([-.infinity, 1, 3, 1], fp4, scales: [0xFF, 126], codes: [0, 0, 7, 4], packed: "0047", decoded: [0x7FC0_0000, 0x7FC0_0000, 0x4040_0000, 0x3F80_0000])
        // One huge outlier: amax 1e6 -> floor(log2) = 19 -> E = 17; 1 / 2^17 -> 0 (flushed), 1e6/2^17 = 7.63 -> 6,
        // decoded 6·2^17 = 1.5·2^19 = 0x49400000.
        check([1e6, 1, -1, 0.5], MXConfig(format: .mxfp4_e2m1, block: 4), scales: [144], codes: [7, 0, 8, 0],
              decoded: [0x4940_0000, 0, 0x8000_0000, 0])
        // amax exactly a power of two: 8 -> E = 3 - 2 = 1; 8/2 = 4 (0x6), 3/2 = 1.5 (0x3). ceil: 8/6 -> E = 1 too.
        check([8, 3], fp4, scales: [128], codes: [6, 3], decoded: [0x4100_0000, 0x4040_0000])
        check([8, 3], MXConfig(format: .mxfp4_e2m1, block: 2, scaleRule: .ceil), scales: [128], codes: [6, 3], decoded: [0x4100_0000, 0x4040_0000])
        // fp32 subnormal input and output: 3·2^-130 (0x00180000), E = -129 -> clamped -127, v·2^127 = 0.375,
        // INT8 k = 24, decoded 24·2^-6·2^-127 = 3·2^-130 exactly.
        check([Float(bitPattern: 0x0018_0000), 0], MXConfig(format: .mxint8, block: 2), scales: [0], codes: [24, 0],
              decoded: [0x0018_0000, 0])
        // Near fp32 max: floor E = 127 - 2 = 125, v/2^125 = 7.99999952 -> 6 -> 1.5·2^127 = 0x7f400000.
        check([.greatestFiniteMagnitude, 1], fp4, scales: [252], codes: [7, 0], decoded: [0x7F40_0000, 0])
        // ceil: E = 126, v/2^126 = 3.99999976 -> 4 (0x6); 4·2^126 = 2^128 overflows fp32 -> +Inf.
        check([.greatestFiniteMagnitude, 1], MXConfig(format: .mxfp4_e2m1, block: 2, scaleRule: .ceil), scales: [253], codes: [6, 0],
              decoded: [0x7F80_0000, 0])
    }

    /// Random values exercising every path: per-block scales from 2^-140 to 2^120, zeros, -0,
    /// fp32 subnormals, exact element ties, outliers and occasional NaN/Inf blocks.
    static func nastyValues(_ n: Int, seed: UInt64, block: Int, nonFinite: Bool = true) -> [Float] {
        var g = SplitMix64(seed: seed)
        var v = [Float](repeating: 0, count: n)
        var scale: Float = 1
        for i in 0..<n {
            if i % block == 0 { scale = E8M0.pow2(Int(g.next() % 180) - 140 + (g.next() % 3 == 0 ? 0 : 0)) }
            switch g.next() % 16 {
            case 0: v[i] = 0
            case 1: v[i] = -0.0
            case 2: v[i] = Float(bitPattern: UInt32(truncatingIfNeeded: g.next()) & 0x807F_FFFF)   // subnormal
            case 3: v[i] = Float(Int(g.next() % 33) - 16) * 0.125 * scale                          // grid values / ties
            case 4: v[i] = g.nextGaussian() * scale * 1000                                         // outlier
            case 5 where nonFinite && g.next() % 40 == 0: v[i] = [Float.nan, .infinity, -.infinity][Int(g.next() % 3)]
            default: v[i] = g.nextGaussian() * scale
            }
        }
        return v
    }

    func testFastEqualsReferenceOnRandomShapes() {
        var g = SplitMix64(seed: 99)
        var cases = 0
        for f in MXFormat.allCases {
            for block in [2, 16, 32, 64, 128, 6] {
                let rows = Int(g.next() % 4) + 1
                let cols = Int(g.next() % 150) + 1
                let rule: MXScaleRule = g.next() % 2 == 0 ? .floor : .ceil
                let rounding: [MXRounding] = [.even, .away, .stochastic(seed: g.next())]
                let cfg = MXConfig(format: f, block: block, scaleRule: rule, rounding: rounding[Int(g.next() % 3)])
                let v = Self.nastyValues(rows * cols, seed: g.next(), block: block)
                let ref = MXReference.encode(v, rows: rows, cols: cols, config: cfg)
                let (rq, rd) = MXReference.fakeQuantize(v, rows: rows, cols: cols, config: cfg)
                for threads in [1, 3] {
                    let t = MXTensor(encoding: v, rows: rows, cols: cols, config: cfg, threads: threads)
                    XCTAssertEqual(t.scales, ref.scales, "\(cfg) [\(rows),\(cols)]")
                    XCTAssertEqual(t.elements, ref.elements, "\(cfg) [\(rows),\(cols)]")
                    XCTAssertEqual(bits(t.decoded(threads: threads)), bits(MXReference.decode(ref)), "\(cfg)")
                    var fq = v
                    let d = fq.withUnsafeMutableBufferPointer { mxFakeQuantize($0, rows: rows, cols: cols, config: cfg, threads: threads) }
                    XCTAssertEqual(bits(fq), bits(rq), "fake-quant \(cfg)")
                    XCTAssertEqual(d, rd, "diagnostics \(cfg)")
                    let (_, d2) = v.withUnsafeBufferPointer { MXTensor.encodeWithDiagnostics($0, rows: rows, cols: cols, config: cfg, threads: threads) }
                    XCTAssertEqual(d2, rd)
                    var row = [Float](repeating: 0, count: cols)
                    t.decodeRow(rows - 1, into: &row)
                    XCTAssertEqual(bits(row), bits(Array(MXReference.decode(ref)[((rows - 1) * cols)...])))
                }
                cases += 1
            }
        }
        XCTAssertEqual(cases, 42)
    }

    func testPackingRoundTripsOnOddLengths() {
        var g = SplitMix64(seed: 7)
        for f in MXFormat.allCases {
            for block in [2, 4, 6, 16, 32] {
                for cols in [1, 3, 5, 17, 33, 65] {
                    let nb = (cols + block - 1) / block
                    // Random codes with zero padding, packed by the reference bit stream.
                    var codes = [UInt8](repeating: 0, count: nb * block)
                    for i in 0..<cols { codes[i] = UInt8(truncatingIfNeeded: g.next()) & f.traits.codeMask }
                    let packed = MXReference.pack(codes, format: f, block: block)
                    XCTAssertEqual(packed.count, nb * ((block * f.elementBits + 7) / 8))
                    XCTAssertEqual(MXReference.unpack(packed, format: f, block: block, nblocks: nb), codes)
                    let t = MXTensor(rows: 1, cols: cols, config: MXConfig(format: f, block: block),
                                     scales: [UInt8](repeating: 127, count: nb), elements: packed)
                    XCTAssertEqual((0..<cols).map { t.code(row: 0, col: $0) }, Array(codes[0..<cols]), "\(f) B\(block) cols \(cols)")
                    XCTAssertEqual(MXReference.codes(of: t), Array(codes[0..<cols]))
                    // The fast packer: encode values that hit these codes exactly (E = 0 -> values are element values).
                    let vals: [Float] = (0..<cols).map { f.decodeElement(codes[$0]) }
                    if vals.allSatisfy({ $0.isFinite }) && !(f.traits.isInteger && codes.contains(f.traits.signBit)) {
                        let d = t.decoded()
                        XCTAssertEqual(bits(d), bits(vals))
                    }
                }
            }
        }
    }

    func testDiagnosticsHandCounts() {
        // MXFP4 vector of testMXFP4HandVector: saturated 6.5 and 7 (> 6 after scaling by 1);
        // flushed: 0.25 -> 0 and -0.2 -> -0; 0 is not counted. Errors: .5² + .25² + .25² + 1² + .2² + 1².
        var v: [Float] = [1, 2, 3, 6.5, 0.25, 0.75, 5, -0.2, 0, 7]
        let d = v.withUnsafeMutableBufferPointer { mxFakeQuantize($0, rows: 1, cols: 10, config: MXConfig(format: .mxfp4_e2m1)) }
        XCTAssertEqual(d.elements, 10)
        XCTAssertEqual(d.finiteElements, 10)
        XCTAssertEqual(d.saturated, 2)
        XCTAssertEqual(d.flushedToZero, 2)
        XCTAssertEqual(d.nonFiniteBlocks, 0)
        XCTAssertEqual(d.exponentHistogram[127], 1)
        XCTAssertEqual(d.blocks, 1)
        XCTAssertEqual(d.sumSquaredError, 0.25 + 0.0625 + 0.0625 + 1 + 0.04 + 1, accuracy: 1e-6)
        let signal = 1 + 4 + 9 + 42.25 + 0.0625 + 0.5625 + 25 + 0.04 + 49.0
        XCTAssertEqual(d.sumSquaredSignal, signal, accuracy: 1e-6)
        XCTAssertEqual(d.mse, 2.415 / 10, accuracy: 1e-7)
        XCTAssertEqual(d.sqnrDB, 10 * log10(signal / 2.415), accuracy: 1e-5)
        XCTAssertEqual(d.scaleExponentMin, 0); XCTAssertEqual(d.scaleExponentMax, 0); XCTAssertEqual(d.scaleExponentMedian, 0)
        // Non-finite blocks and the exponent statistics. FP4 B=2: [NaN,1 | 8,1 | 0.5,0 | 0,0]:
        // bytes 255, 128 (E=1), 124 (E=-3), 0 (E=-127). Median of {-127, -3, 1} = -3.
        var w: [Float] = [.nan, 1, 8, 1, 0.5, 0, 0, 0]
        let d2 = w.withUnsafeMutableBufferPointer { mxFakeQuantize($0, rows: 2, cols: 4, config: MXConfig(format: .mxfp4_e2m1, block: 2)) }
        XCTAssertEqual(d2.nonFiniteBlocks, 1)
        XCTAssertEqual(d2.finiteElements, 6)
        XCTAssertTrue(w[0].isNaN && w[1].isNaN)
        XCTAssertEqual(Array(w[2...]), [8, 1, 0.5, 0, 0, 0])
        XCTAssertEqual(d2.exponentHistogram[255], 1)
        XCTAssertEqual(d2.scaleExponentMin, -127); XCTAssertEqual(d2.scaleExponentMax, 1); XCTAssertEqual(d2.scaleExponentMedian, -3)
        XCTAssertEqual(d2.sqnrDB, .infinity)
        var m = d; m.merge(d2)
        XCTAssertEqual(m.elements, 18); XCTAssertEqual(m.nonFiniteBlocks, 1); XCTAssertEqual(m.saturated, 2)
        XCTAssertEqual(m.blocks, 5)
    }

    func testStochasticTensorDeterministicAcrossThreads() {
        let v = randomFloats(8 * 300, seed: 3)
        let cfg = MXConfig(format: .mxfp4_e2m1, rounding: .stochastic(seed: 1234))
        let a = MXTensor(encoding: v, rows: 8, cols: 300, config: cfg, threads: 1)
        let b = MXTensor(encoding: v, rows: 8, cols: 300, config: cfg, threads: 4)
        XCTAssertEqual(a, b)
        XCTAssertEqual(a, MXReference.encode(v, rows: 8, cols: 300, config: cfg))
        let c = MXTensor(encoding: v, rows: 8, cols: 300, config: MXConfig(format: .mxfp4_e2m1, rounding: .stochastic(seed: 1235)))
        XCTAssertNotEqual(a.elements, c.elements)
        // Unbiased-ish: mean error over many elements is far below the mean |error|.
        let q = a.decoded()
        var sum = 0.0, sumAbs = 0.0
        for i in 0..<v.count { sum += Double(q[i] - v[i]); sumAbs += Double(abs(q[i] - v[i])) }
        XCTAssertLessThan(abs(sum), 0.1 * sumAbs)
    }

    func testSerializationRoundTripAndDamage() throws {
        let v = Self.nastyValues(3 * 45, seed: 1, block: 16)
        for f in MXFormat.allCases {
            let t = MXTensor(encoding: v, rows: 3, cols: 45, config: MXConfig(format: f, block: 16, scaleRule: .ceil, rounding: .stochastic(seed: 9)))
            let bytes = t.serialized()
            XCTAssertEqual(try MXTensor(deserializing: bytes), t)
            XCTAssertThrowsError(try MXTensor(deserializing: Array(bytes.dropLast())))
            XCTAssertThrowsError(try MXTensor(deserializing: Array(bytes.dropLast(bytes.count - 10))))
            XCTAssertThrowsError(try MXTensor(deserializing: []))
            var flipped = bytes; flipped[bytes.count / 2] ^= 0x10
            XCTAssertThrowsError(try MXTensor(deserializing: flipped)) { e in
                XCTAssertTrue("\(e)".contains("invalid serialized MX tensor"), "\(e)")
            }
            var magic = bytes; magic[0] = 0
            XCTAssertThrowsError(try MXTensor(deserializing: magic))
            XCTAssertThrowsError(try MXTensor(deserializing: bytes + [0]))
        }
        let empty = MXTensor(encoding: [], rows: 0, cols: 5, config: MXConfig(format: .mxint8))
        XCTAssertEqual(try MXTensor(deserializing: empty.serialized()), empty)
    }
}

/// The vectorized path (block a multiple of 16, no fp32 subnormals in a block), all roundings.
final class VectorPathTests: XCTestCase {
    func testVectorPathEqualsReference() {
        var g = SplitMix64(seed: 2024)
        for f in MXFormat.allCases {
            for block in [16, 32, 64] {
                for rounding in [MXRounding.even, .away, .stochastic(seed: UInt64(block))] {
                    let rows = 2, cols = 3 * block + 5   // partial last block
                    var v = [Float](repeating: 0, count: rows * cols)
                    for i in 0..<v.count {
                        let scale = E8M0.pow2(Int((i / block) % 60) - 30)
                        switch g.next() % 8 {
                        case 0: v[i] = Float(Int(g.next() % 64) - 32) * 0.0625 * scale   // grid points and ties
                        case 1: v[i] = 0
                        default: v[i] = g.nextGaussian() * scale
                        }
                    }
                    for rule in [MXScaleRule.floor, .ceil] {
                        let cfg = MXConfig(format: f, block: block, scaleRule: rule, rounding: rounding)
                        let ref = MXReference.encode(v, rows: rows, cols: cols, config: cfg)
                        let t = MXTensor(encoding: v, rows: rows, cols: cols, config: cfg)
                        XCTAssertEqual(t.scales, ref.scales, "\(cfg)")
                        XCTAssertEqual(t.elements, ref.elements, "\(cfg)")
                        var fq = v
                        let d = fq.withUnsafeMutableBufferPointer { mxFakeQuantize($0, rows: rows, cols: cols, config: cfg) }
                        let (rq, rd) = MXReference.fakeQuantize(v, rows: rows, cols: cols, config: cfg)
                        XCTAssertEqual(fq.map(\.bitPattern), rq.map(\.bitPattern), "\(cfg)")
                        XCTAssertEqual(d, rd, "\(cfg)")
                        var fq2 = v
                        let d2 = fq2.withUnsafeMutableBufferPointer { mxFakeQuantize($0, rows: rows, cols: cols, config: cfg, diagnostics: false) }
                        XCTAssertEqual(fq2.map(\.bitPattern), rq.map(\.bitPattern), "\(cfg) without diagnostics")
                        XCTAssertEqual(d2.elements, rows * cols)
                    }
                }
            }
        }
    }

    /// Many rows split over threads: identical tensors and diagnostics for 1, 2 and 5 threads.
    func testThreadCountInvariance() {
        let rows = 700, cols = 64   // > 32768 elements: split into row chunks
        let v = TensorTests.nastyValues(rows * cols, seed: 77, block: 32)
        for f in [MXFormat.mxfp4_e2m1, .mxfp6_e3m2] {
            for rounding in [MXRounding.even, .stochastic(seed: 5)] {
                let cfg = MXConfig(format: f, block: 32, rounding: rounding)
                let one = MXTensor(encoding: v, rows: rows, cols: cols, config: cfg, threads: 1)
                var q1 = v
                let d1 = q1.withUnsafeMutableBufferPointer { mxFakeQuantize($0, rows: rows, cols: cols, config: cfg, threads: 1) }
                for threads in [2, 3] {
                    XCTAssertEqual(MXTensor(encoding: v, rows: rows, cols: cols, config: cfg, threads: threads), one)
                    XCTAssertEqual(one.decoded(threads: threads).map(\.bitPattern), one.decoded(threads: 1).map(\.bitPattern))
                    var q = v
                    let d = q.withUnsafeMutableBufferPointer { mxFakeQuantize($0, rows: rows, cols: cols, config: cfg, threads: threads) }
                    XCTAssertEqual(q.map(\.bitPattern), q1.map(\.bitPattern))
                    XCTAssertEqual(d, d1)
                }
                XCTAssertEqual(one.decoded().map(\.bitPattern), q1.map(\.bitPattern))
            }
        }
    }
}

final class DecoderTests: XCTestCase {
    func testBlockDecoderMatchesReference() {
        for f in MXFormat.allCases {
            for block in [2, 6, 32] {
                let cols = 3 * block + 1
                let v = TensorTests.nastyValues(2 * cols, seed: 4, block: block)
                let cfg = MXConfig(format: f, block: block)
                let t = MXReference.encode(v, rows: 2, cols: cols, config: cfg)
                let ref = MXReference.decode(t).map(\.bitPattern)
                let dec = MXDecoder(cfg)
                XCTAssertEqual(dec.bytesPerBlock, t.bytesPerBlock)
                var out = [Float](repeating: 0, count: 2 * cols)
                t.scales.withUnsafeBufferPointer { s in
                    t.elements.withUnsafeBufferPointer { e in
                        for r in 0..<2 {
                            for b in 0..<t.blocksPerRow {
                                let n = min(block, cols - b * block)
                                out.withUnsafeMutableBufferPointer { o in
                                    dec.decodeBlock(scale: s[r * t.blocksPerRow + b], packed: e.baseAddress! + r * t.bytesPerRow + b * t.bytesPerBlock,
                                                    count: n, into: o.baseAddress! + r * cols + b * block)
                                }
                            }
                        }
                    }
                }
                XCTAssertEqual(out.map(\.bitPattern), ref, "\(cfg)")
            }
        }
    }
}

final class ForeignDataTests: XCTestCase {
    /// Arbitrary bytes (special codes, INT -2^(b-1), any scale incl. 0xFF and overflow): fast decode == reference.
    func testDecodeOfArbitraryBytesMatchesReference() {
        var g = SplitMix64(seed: 31)
        for f in MXFormat.allCases {
            for block in [2, 32] {
                let rows = 3, cols = 2 * block + 1
                let cfg = MXConfig(format: f, block: block)
                let nb = (cols + block - 1) / block, bpb = (block * f.elementBits + 7) / 8
                let scales = (0..<(rows * nb)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
                let elems = (0..<(rows * nb * bpb)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
                let t = MXTensor(rows: rows, cols: cols, config: cfg, scales: scales, elements: elems)
                XCTAssertEqual(t.decoded().map(\.bitPattern), MXReference.decode(t).map(\.bitPattern), "\(cfg)")
            }
        }
    }
}
