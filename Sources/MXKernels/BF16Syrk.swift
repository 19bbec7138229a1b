import MXKernelsC
import Support

/// Which kernel computed a Hessian product (`Kernels.syrkUpper`).
public enum SyrkPath: String, Sendable {
    /// fp32 FMAs (the packed GEMM's micro-kernel).
    case fp32
    /// AVX-512 BF16 (`vdpbf16ps`), taken only where it gives the fp32 path's exact bits.
    case bf16 = "avx512-bf16"
}

extension Kernels {
    /// Whether the running CPU can execute the bf16 syrk (AVX-512 BF16, compiled in on x86-64).
    public static let syrkBF16Supported: Bool = mxq_bf_cpu_supports() != 0

    /// Whether `syrkUpper` tries the bf16 path: this build targets AVX-512 BF16 (chosen at compile
    /// time from the C target's features, like the integer kernels) and the CPU has it.
    public static let syrkBF16Build: Bool = mxq_bf_build_available() != 0 && syrkBF16Supported

    /// `syrkUpper` through `vdpbf16ps`, when A allows it: every element of A [K,N] (row stride
    /// `lda`) is exactly a bf16 and zero or 2⁻⁵⁶ ≤ |x| < 2⁴⁸ — true of MX-quantized activations
    /// (MXINT8: a 7-bit integer times a power of two; MXFP: ≤ 4 significant bits) unless a block's
    /// scale is extreme. Then every Y[i, j] with j ≥ i is bitwise the fp32 `syrkUpper`'s (same
    /// K blocks, products exact in fp32, adds rounded in the same token order, no subnormal
    /// product or partial sum to flush) at about twice the fp32 FMA rate. Returns false when A
    /// does not qualify or the CPU lacks AVX-512 BF16 (Y untouched: run the fp32 path).
    /// Writes below the diagonal as `syrkUpper` does (tiles that cross it).
    ///
    /// `quantizeMXINT8`: the product of A's rows quantize-dequantized to MXINT8 (block 32 along
    /// N, scale rule floor, ties to even: the integer kernels' row quantizer, see
    /// `int8RowQuantizerApplies`; bit-identical to `mxFakeQuantize`), quantized inside the packing; false also when a block's scale
    /// exponent is outside [−40, 46] or a value is not finite.
    public static func syrkUpperBF16(n: Int, k: Int, a: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                                     threads: Int? = nil, lda: Int? = nil, ldy: Int? = nil,
                                     quantizeMXINT8: Bool = false) -> Bool {
        precondition(n >= 0 && k >= 0, "syrkUpperBF16: negative dimension")
        let lda = lda ?? n, ldy = ldy ?? n
        precondition(lda >= n && ldy >= n, "syrkUpperBF16: leading dimension too small")
        guard syrkBF16Supported, n > 0, k > 0 else { return false }
        let T = max(1, threads ?? Parallel.defaultThreads)
        let MR = Int(MXQ_BF_MR), NR = Int(MXQ_BF_NR), panelsPerTile = NR / 16
        // Panels of 16 features, padded to whole NR-column tiles (zero features).
        let panels = (n + NR - 1) / NR * panelsPerTile
        let kb = gemmKBlocks(k)   // the fp32 path's K blocks: same partial sums, same order
        var offsets: [Int] = [], total = 0
        for (_, kc) in kb { offsets.append(total); total += panels * ((kc + 1) / 2) * 16 }
        let buf = Scratch.take(bytes: total * 4)
        defer { Scratch.give(buf) }
        let d = buf.0.bindMemory(to: UInt32.self, capacity: total)
        let dAddr = Int(bitPattern: d), aAddr = Int(bitPattern: a)

        // 1. Pack (and check) every K block, token pairs split across threads.
        let parts = kb.count * T
        let okFlags = UnsafeMutablePointer<Int32>.allocate(capacity: parts)
        defer { okFlags.deallocate() }
        okFlags.initialize(repeating: 1, count: parts)
        let flagsAddr = Int(bitPattern: okFlags)
        Parallel.forEach(parts, threads: T) { part in
            let d = UnsafeMutablePointer<UInt32>(bitPattern: dAddr)!
            let a = UnsafePointer<Float>(bitPattern: aAddr)!
            let (bi, t) = (part / T, part % T), (k0, kc) = kb[bi]
            let qn = (kc + 1) / 2, q0 = qn * t / T, q1 = qn * (t + 1) / T
            if q0 < q1 && mxq_bf_pack_pairs(a + k0 * lda, lda, kc, n, panels, q0, q1, qn, d + offsets[bi],
                                             quantizeMXINT8 ? 1 : 0) == 0 {
                UnsafeMutablePointer<Int32>(bitPattern: flagsAddr)![part] = 0
            }
        }
        for p in 0..<parts where okFlags[p] == 0 { return false }

        // 2. Tiles on or above the diagonal, by NR-column block (later blocks reach more rows:
        //    claimed first); each element is written by one task, whatever the thread count.
        let colBlocks = panels / panelsPerTile
        let queue = WorkQueue(count: colBlocks)
        let yAddr = Int(bitPattern: y)
        Parallel.forEach(min(T, colBlocks), threads: T) { _ in
            let d = UnsafePointer<UInt32>(bitPattern: dAddr)!
            let y = UnsafeMutablePointer<Float>(bitPattern: yAddr)!
            while let claimed = queue.next() {
                let cb = colBlocks - 1 - claimed
                let j0 = cb * NR, nv = min(NR, n - j0)
                let rowEnd = min(n, j0 + NR)
                for (bi, (_, kc)) in kb.enumerated() {
                    let qn = (kc + 1) / 2, base = d + offsets[bi]
                    let b = base + (j0 / 16) * qn * 16
                    for i0 in stride(from: 0, to: rowEnd, by: MR) {
                        let a = base + (i0 / 16) * qn * 16 + i0 % 16
                        mxq_bf_syrk_tile(qn, a, b, qn * 16, y + i0 * ldy + j0, ldy, min(MR, n - i0), nv, bi > 0 ? 1 : 0)
                    }
                }
            }
        }
        return true
    }
}
