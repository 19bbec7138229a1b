import XCTest
import Support
import TestSupport
@testable import ModelIO

/// Writes a one-tensor GGUF with raw block bytes and reads it back through `tensorF32`.
func readRaw(_ type: GGMLType, dims: [Int], bytes: [UInt8], file: String = #function) throws -> [Float] {
    var w = GGUFWriter()
    w.addRawTensor("t", dims: dims, type: type, data: bytes)
    let dir = makeTempDir("mio-deq")
    defer { try? FileManager.default.removeItem(at: dir) }
    let p = dir.appendingPathComponent("t.gguf").path
    try w.write(to: p)
    return try GGUFFile(path: p).tensorF32("t", threads: 1)
}

final class DequantTests: XCTestCase {
    func testQ8_0HandBlock() throws {
        // d = fp16 0x3800 = 0.5; q = 0, 1, -1, 127, -128, then j - 16 for j >= 5.
        var q: [Int8] = [0, 1, -1, 127, -128]
        for j in 5..<32 { q.append(Int8(j - 16)) }
        let bytes: [UInt8] = [0x00, 0x38] + q.map { UInt8(bitPattern: $0) }
        let x = try readRaw(.q8_0, dims: [32], bytes: bytes)
        XCTAssertEqual(Array(x.prefix(5)), [0, 0.5, -0.5, 63.5, -64])
        for j in 5..<32 { XCTAssertEqual(x[j], Float(j - 16) * 0.5) }
    }

    func testQ4_0HandBlock() throws {
        // d = fp16 0x4000 = 2. qs[0] = 0x9F: low 15 → (15-8)·2 = 14 at j=0, high 9 → (9-8)·2 = 2 at j=16.
        // qs[1] = 0x08: low 8 → 0 at j=1, high 0 → -16 at j=17. qs[2..] = 0x00 → -16 everywhere.
        let bytes: [UInt8] = [0x00, 0x40, 0x9F, 0x08] + [UInt8](repeating: 0, count: 14)
        let x = try readRaw(.q4_0, dims: [32], bytes: bytes)
        var expected = [Float](repeating: -16, count: 32)
        expected[0] = 14; expected[16] = 2; expected[1] = 0; expected[17] = -16
        XCTAssertEqual(x, expected)
    }

    func testQ4_1HandBlocks() throws {
        // Block 0: d = 0x3400 = 0.25, m = 0xBC00 = -1. qs[0] = 0x3A: low 10 → 10·0.25 - 1 = 1.5 (j=0),
        // high 3 → -0.25 (j=16). qs[1..] = 0xF0: low 0 → -1, high 15 → 2.75.
        // Block 1: d = 0x3C00 = 1, m = 0x4200 = 3, qs = 0x21: low 1 → 4, high 2 → 5.
        let b0: [UInt8] = [0x00, 0x34, 0x00, 0xBC, 0x3A] + [UInt8](repeating: 0xF0, count: 15)
        let b1: [UInt8] = [0x00, 0x3C, 0x00, 0x42] + [UInt8](repeating: 0x21, count: 16)
        let x = try readRaw(.q4_1, dims: [64], bytes: b0 + b1)
        var e0 = [Float](repeating: -1, count: 16) + [Float](repeating: 2.75, count: 16)
        e0[0] = 1.5; e0[16] = -0.25
        let e1 = [Float](repeating: 4, count: 16) + [Float](repeating: 5, count: 16)
        XCTAssertEqual(x, e0 + e1)
    }

    func testPlainTypesHandValues() throws {
        // F32 little-endian 1.0 = 00 00 80 3F, -2.5 = 00 00 20 C0.
        XCTAssertEqual(try readRaw(.f32, dims: [2], bytes: [0, 0, 0x80, 0x3F, 0, 0, 0x20, 0xC0]), [1, -2.5])
        // F16 0x3C00 = 1, 0xC100 = -2.5, 0x0001 = 2^-24.
        XCTAssertEqual(try readRaw(.f16, dims: [3], bytes: [0x00, 0x3C, 0x00, 0xC1, 0x01, 0x00]), [1, -2.5, Float(pow(2.0, -24.0))])
        // BF16 0x3F80 = 1, 0xC020 = -2.5.
        XCTAssertEqual(try readRaw(.bf16, dims: [2], bytes: [0x80, 0x3F, 0x20, 0xC0]), [1, -2.5])
    }

    /// A 2-D tensor: data is row-major with shape = dims reversed.
    func testShapeIsReversedDims() throws {
        var w = GGUFWriter()
        w.addTensor("m", shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        let dir = makeTempDir("mio-deq"); defer { try? FileManager.default.removeItem(at: dir) }
        let p = dir.appendingPathComponent("m.gguf").path
        try w.write(to: p)
        let f = try GGUFFile(path: p)
        let info = try f.tensorInfo("m")
        XCTAssertEqual(info.dims, [3, 2]); XCTAssertEqual(info.shape, [2, 3])
        XCTAssertEqual(try f.tensorF32("m"), [1, 2, 3, 4, 5, 6])
    }

    /// Parallel decode equals the one-thread decode bit for bit, for sizes that are not chunk multiples.
    func testDecodeIndependentOfThreads() {
        for type in [GGMLType.f16, .q8_0, .q4_0, .q4_1] {
            let n = 32 * 1237
            let bytes = GGUFWriter.encode(randomFloats(n, seed: 7), type: type)
            var a = [Float](repeating: 0, count: n), b = a
            bytes.withUnsafeBytes { raw in
                _ = Dequant.decode(type: type, src: raw, count: n, into: &a, threads: 1)
                _ = Dequant.decode(type: type, src: raw, count: n, into: &b, threads: 3)
            }
            XCTAssertEqual(a, b, "\(type)")
        }
    }

    /// Encoder/decoder round trip within the quantization step (bounds from the block formulas:
    /// half a step, plus fp16 rounding of d (≤ 2^-11 relative, times |q| ≤ 15 or 127) and of m).
    /// Q4_0 codes span (q−8)·d for q in 0…15, i.e. −8…7 steps: the value opposite in sign to the
    /// largest one can be clamped from 8 to 7 steps, so its error can reach a full step.
    func testQuantizeRoundTripError() {
        let x = randomFloats(32 * 40, seed: 11, scale: 3)
        for type in [GGMLType.q8_0, .q4_0, .q4_1] {
            let bytes = GGUFWriter.encode(x, type: type)
            XCTAssertEqual(bytes.count, 40 * type.bytesPerBlock)
            var y = [Float](repeating: 0, count: x.count)
            bytes.withUnsafeBytes { _ = Dequant.decode(type: type, src: $0, count: x.count, into: &y) }
            for blk in 0..<40 {
                let s = x[(32 * blk)..<(32 * blk + 32)]
                let amax = s.map(abs).max()!, mn = s.min()!, mx = s.max()!
                let (step, qmax, mAbs): (Float, Float, Float)
                switch type {
                case .q8_0: (step, qmax, mAbs) = (amax / 127, 127, 0)
                case .q4_0: (step, qmax, mAbs) = (amax / 8, 8, 0)
                default: (step, qmax, mAbs) = ((mx - mn) / 15, 15, abs(mn))
                }
                let bound = (type == .q4_0 ? step : step / 2) + qmax * step * 0x1p-11 + mAbs * 0x1p-11 + 1e-6
                for j in (32 * blk)..<(32 * blk + 32) {
                    XCTAssertLessThanOrEqual(abs(x[j] - y[j]), bound, "\(type) element \(j)")
                }
            }
        }
    }

    /// A NaN in a stored weight is reported with the tensor's name and the first bad index.
    func testNonFiniteReported() throws {
        var v = [Float](repeating: 1, count: 100)
        v[37] = .nan; v[80] = .infinity
        var w = GGUFWriter()
        w.addTensor("blk.0.attn_norm.weight", shape: [100], values: v)
        let dir = makeTempDir("mio-deq"); defer { try? FileManager.default.removeItem(at: dir) }
        let p = dir.appendingPathComponent("n.gguf").path
        try w.write(to: p)
        let f = try GGUFFile(path: p)
        XCTAssertThrowsError(try f.tensorF32("blk.0.attn_norm.weight")) { e in
            guard case let .nonFinite(path, t, i, _) = e as? ModelIOError else { return XCTFail("\(e)") }
            XCTAssertEqual(path, p); XCTAssertEqual(t, "blk.0.attn_norm.weight"); XCTAssertEqual(i, 37)
            XCTAssertTrue("\(e)".contains("blk.0.attn_norm.weight"))
        }
        XCTAssertEqual(try f.tensorF32("blk.0.attn_norm.weight", checkFinite: false)[80], .infinity)
    }
}
