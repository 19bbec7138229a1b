import XCTest
import Support
import MXFormats
@testable import MXKernels

/// The kernels' own decoders (word decoders at block 32, tables otherwise) on zero blocks
/// (issue #12 §1): hand-packed weights whose blocks have scale byte 0x00 and zero codes (FP:
/// +0 and sign-only -0) contribute exactly 0; activations with all-zero rows/blocks likewise.
final class ZeroBlockKernelTests: XCTestCase {
    /// (bits, integer, code of the element value 1.0) from the table of docs/mx-numerics.md.
    static func layout(_ f: MXFormat) -> (bits: Int, isInt: Bool, one: UInt8) {
        switch f {
        case .mxint8: return (8, true, 64)              // k = 64: 64 · 2^-6
        case .mxint4: return (4, true, 4)               // k = 4: 4 · 2^-2
        case .mxfp8_e4m3: return (8, false, 7 << 3)     // exponent field = bias 7
        case .mxfp8_e5m2: return (8, false, 15 << 2)
        case .mxfp6_e3m2: return (6, false, 3 << 2)
        case .mxfp6_e2m3: return (6, false, 1 << 3)
        case .mxfp4_e2m1: return (4, false, 1 << 1)
        }
    }

    /// W [4, K]: row 0 all +0; row 1 all -0 (INT: 0); row 2 one 1.0 (block 0 scale 2^0) at
    /// column 5, zeros elsewhere; row 3 alternating ±0. Zero blocks have scale byte 0x00;
    /// the last block is partial (K = 2B + B/2).
    static func zeroWeights(_ f: MXFormat, block B: Int) -> MXTensor {
        let (bits, isInt, one) = layout(f)
        let K = 2 * B + B / 2, nb = 3, bpb = (B * bits + 7) / 8
        let negZero: UInt8 = isInt ? 0 : UInt8(1 << (bits - 1))
        var scales = [UInt8](repeating: 0, count: 4 * nb)
        var elements = [UInt8](repeating: 0, count: 4 * nb * bpb)
        func put(_ r: Int, _ c: Int, _ code: UInt8) {      // LSB-first bit stream per block
            let base = ((r * nb + c / B) * bpb) * 8 + (c % B) * bits
            for j in 0..<bits where (code >> j) & 1 == 1 { elements[(base + j) / 8] |= 1 << ((base + j) % 8) }
        }
        for c in 0..<K {
            put(1, c, negZero)
            if c % 2 == 1 { put(3, c, negZero) }
        }
        put(2, 5, one)
        scales[2 * nb] = 127
        return MXTensor(rows: 4, cols: K, config: MXConfig(format: f, block: B), scales: scales, elements: elements)
    }

    func testZeroBlocksContributeExactlyZero() {
        for f in MXFormat.allCases {
            for B in [16, 32, 64] {
                let w = ZeroBlockKernelTests.zeroWeights(f, block: B)
                let K = w.cols
                // The decoded weights themselves: ±0 and the single 1.0.
                let wd = w.decoded()
                XCTAssertEqual(wd.filter { $0 != 0 }, [1], "\(f) B=\(B) decoded")
                for m in [1, 5, 20] {
                    // X: values 0, ±0.5, ±1 (exact in every format after block quantization with
                    // amax 1), row 0 all zero (an all-zero activation row).
                    var x = [Float](repeating: 0, count: m * K)
                    for i in 1..<max(m, 1) { for c in 0..<K { x[i * K + c] = [1, -0.5, 0, 0.5, -1, -0.0][(i + c) % 6] } }
                    if m == 1 { for c in 0..<K { x[c] = c == 5 ? -1 : 0 } }
                    for (name, y) in [("mxgemm", Kernels.mxgemm(m: m, x: x, w: w, threads: 2)),
                                      ("mxmxgemm", Kernels.mxmxgemm(m: m, x: x, acts: MXConfig(format: f, block: B), w: w, threads: 2))] {
                        for i in 0..<m {
                            XCTAssertEqual(y[i * 4 + 0], 0, "\(name) \(f) B=\(B) m=\(m) row \(i): +0 weights")
                            XCTAssertEqual(y[i * 4 + 1], 0, "\(name) \(f) B=\(B) m=\(m) row \(i): -0 weights")
                            XCTAssertEqual(y[i * 4 + 2], x[i * K + 5], "\(name) \(f) B=\(B) m=\(m) row \(i): one 1.0")
                            XCTAssertEqual(y[i * 4 + 3], 0, "\(name) \(f) B=\(B) m=\(m) row \(i): mixed zeros")
                        }
                    }
                }
            }
        }
    }
}
