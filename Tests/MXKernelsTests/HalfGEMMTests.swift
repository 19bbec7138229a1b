import XCTest
import Support
import TestSupport
@testable import MXKernels

/// `Kernels.sgemm16`: 16-bit weights widened in the packing must give bitwise the fp32 GEMM on
/// the widened weights (widening is exact; panels and micro-kernel are shared).
final class HalfGEMMTests: XCTestCase {
    /// (M, K, N): GEMV range (M ≤ 8), M just above it, N not a multiple of 4/8/16/48, K not a
    /// multiple of 8 or 16, K above the 640-element K block (several blocks).
    let shapes: [(Int, Int, Int)] = [
        (1, 1, 1), (1, 37, 5), (2, 17, 3), (3, 100, 7), (8, 33, 50), (9, 5, 1), (9, 31, 49),
        (13, 64, 97), (17, 129, 48), (24, 7, 96), (31, 700, 33), (40, 1301, 21), (70, 96, 145),
    ]

    /// Random finite 16-bit patterns of `format` (values of both signs over a wide exponent range).
    func randomBits(_ n: Int, format: HalfFormat, seed: UInt64) -> [UInt16] {
        var g = SplitMix64(seed: seed)
        return (0..<n).map { _ in
            while true {
                let b = UInt16(truncatingIfNeeded: g.next())
                let mask: UInt16 = format == .bf16 ? 0x7F80 : 0x7C00
                if b & mask == mask { continue }                       // Inf/NaN
                if format == .bf16 {
                    // keep magnitudes in [2^-20, 2^20] so products stay finite
                    let e = Int((b >> 7) & 0xFF)
                    if e < 107 || e > 147 { continue }
                }
                return b
            }
        }
    }

    func widen(_ b: [UInt16], _ f: HalfFormat) -> [Float] { b.map { f == .bf16 ? widenBF16($0) : widenF16($0) } }

    func testSgemm16EqualsFP32GemmOnWidenedWeightsBitwise() {
        for format in [HalfFormat.bf16, .f16] {
            for (si, (m, k, n)) in shapes.enumerated() {
                let x = randomFloats(m * k, seed: UInt64(300 + si))
                let bits = randomBits(n * k, format: format, seed: UInt64(400 + si))
                let wide = widen(bits, format)
                for threads in [1, 2] {
                    let want = Kernels.sgemm(m: m, n: n, k: k, x: x, w: wide, threads: threads)
                    var got = [Float](repeating: .nan, count: m * n)
                    x.withUnsafeBufferPointer { xb in bits.withUnsafeBufferPointer { bb in got.withUnsafeMutableBufferPointer { yb in
                        Kernels.sgemm16(m: m, n: n, k: k, x: xb.baseAddress!, w: bb.baseAddress!, format: format,
                                        y: yb.baseAddress!, threads: threads)
                    } } }
                    XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), "\(format) M=\(m) K=\(k) N=\(n) threads=\(threads)")
                }
            }
        }
    }

    func testLeadingDimensionsOfW() {
        // W rows ldw = K + 5 apart (a view into a wider matrix), both paths (GEMV and GEMM).
        for (m, k, n) in [(3, 45, 13), (20, 45, 13)] {
            let ldw = k + 5
            let x = randomFloats(m * k, seed: 9)
            let bits = randomBits(n * ldw, format: .bf16, seed: 10)
            var tight = [Float]()
            for j in 0..<n { tight += widen(Array(bits[(j * ldw)..<(j * ldw + k)]), .bf16) }
            let want = Kernels.sgemm(m: m, n: n, k: k, x: x, w: tight)
            var got = [Float](repeating: .nan, count: m * n)
            x.withUnsafeBufferPointer { xb in bits.withUnsafeBufferPointer { bb in got.withUnsafeMutableBufferPointer { yb in
                Kernels.sgemm16(m: m, n: n, k: k, x: xb.baseAddress!, w: bb.baseAddress!, format: .bf16, y: yb.baseAddress!, ldw: ldw)
            } } }
            XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), "M=\(m)")
        }
    }

    func testFastPackingEqualsScalarReference() {
        for format in [HalfFormat.bf16, .f16] {
            for (rows, kc, nr, ld) in [(1, 1, 8, 1), (5, 7, 8, 9), (8, 8, 8, 8), (13, 17, 16, 20), (48, 33, 48, 40), (47, 64, 48, 70)] {
                let src = randomBits(rows * ld + kc, format: format, seed: UInt64(rows * 100 + kc))
                var a = [Float](repeating: .nan, count: kc * nr), b = a
                src.withUnsafeBufferPointer { s in
                    a.withUnsafeMutableBufferPointer {
                        KernelsReference.packTransposed16(format: format, dst: $0.baseAddress!, src: s.baseAddress!, ld: ld, rows: rows, kc: kc, nr: nr)
                    }
                    b.withUnsafeMutableBufferPointer {
                        KernelsReference.packTransposed16Fast(format: format, dst: $0.baseAddress!, src: s.baseAddress!, ld: ld, rows: rows, kc: kc, nr: nr)
                    }
                }
                XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "\(format) rows=\(rows) kc=\(kc) nr=\(nr)")
            }
        }
    }

    func testF16WideningMatchesEveryPattern() {
        // the hardware conversion used in packing against the bit-level reference, all finite patterns
        let bad = (0...0xFFFF).filter { UInt16($0) & 0x7C00 != 0x7C00 && widenF16Fast(UInt16($0)).bitPattern != widenF16(UInt16($0)).bitPattern }
        XCTAssertEqual(bad, [], "binary16 patterns widened differently")
    }
}
