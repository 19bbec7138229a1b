import Support
import MXFormats

// Public products with packed MX weights (see Kernels in Kernels.swift for fp32).

extension ElementKind {
    init(_ f: MXFormat) {
        guard let k = ElementKind(formatName: f.rawValue) else { preconditionFailure("MXKernels: unknown format \(f)") }
        self = k
    }
}

/// Runs `body` with a `PackedMX` view of `t` (valid only inside `body`).
@usableFromInline
func withPacked<R>(_ t: MXTensor, _ body: (PackedMX) throws -> R) rethrows -> R {
    let kind = ElementKind(t.config.format)
    return try t.scales.withUnsafeBufferPointer { sb in
        try t.elements.withUnsafeBufferPointer { eb in
            try elementTables[kind.rawValue].withUnsafeBufferPointer { lb in
                try e8m0Table.withUnsafeBufferPointer { st in
                    try body(PackedMX(rows: t.rows, cols: t.cols, block: t.config.block, kind: kind,
                                      scales: sb.baseAddress!, elements: eb.baseAddress!, lut: lb.baseAddress!, scaleLUT: st.baseAddress!))
                }
            }
        }
    }
}

extension Kernels {
    /// `Y[M,N] = X[M,K] · decode(W)ᵀ` with W packed MX `[N, K]` (blocks along K), X and Y
    /// row-major fp32 (leading dimensions default to K and N). Overwrites Y.
    ///
    /// Equals the fp32 product with the decoded weights up to fp32 reassociation (decoding
    /// is exact). M ≤ 8: GEMV that reads W's packed bytes once; larger M: W panels are
    /// decoded once per cache block into the fp32 GEMM's packing buffer. Thread-count invariant.
    public static func mxgemm(m: Int, x: UnsafePointer<Float>, w: MXTensor, y: UnsafeMutablePointer<Float>,
                              threads: Int? = nil, ldx: Int? = nil, ldy: Int? = nil) {
        let n = w.rows, k = w.cols
        precondition(m >= 0, "mxgemm: negative M")
        let ldx = ldx ?? k, ldy = ldy ?? n
        precondition(ldx >= k && ldy >= n, "mxgemm: leading dimension too small")
        if m == 0 || n == 0 { return }
        let t = max(1, threads ?? Parallel.defaultThreads)
        withPacked(w) { pw in
            if m <= 8 && k > 0 {
                mxGemv(m: m, x: x, ldx: ldx, w: pw, y: y, ldy: ldy, threads: t)
                return
            }
            // Scale byte → 2^(byte − 127) · format factor (see PanelDecode.swift).
            let factor = wordDecoderFactor(pw.kind)
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 256) { st in
                for b in 0..<256 { st[b] = pw.scaleLUT[b] * factor }
                let sTab = UnsafePointer(st.baseAddress!)
                packedGemm(m: m, n: n, k: k, x: x, ldx: ldx, y: y, ldy: ldy, threads: t) { dst, j0, jn, k0, kc, nr in
                    packMXPanel(pw, sTab: sTab, dst: dst, j0: j0, jn: jn, k0: k0, kc: kc, nr: nr)
                }
            }
        }
    }

    /// Array convenience for `mxgemm`: `x` is [M*K]; returns Y [M*N].
    public static func mxgemm(m: Int, x: [Float], w: MXTensor, threads: Int? = nil) -> [Float] {
        precondition(x.count == m * w.cols, "mxgemm: x has \(x.count) values, expected M·K = \(m * w.cols)")
        var y = [Float](repeating: 0, count: m * w.rows)
        x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { yb in
            mxgemm(m: m, x: xb.baseAddress!, w: w, y: yb.baseAddress!, threads: threads)
        } }
        return y
    }
}

extension KernelsReference {
    /// Reference for `Kernels.mxgemm`: decodes W with MXFormats (`MXTensor.decoded`),
    /// then the scalar product (Double accumulation, one rounding).
    public static func mxgemm(m: Int, x: UnsafePointer<Float>, w: MXTensor, y: UnsafeMutablePointer<Float>, threads: Int? = nil) {
        let wd = w.decoded(threads: 1)
        wd.withUnsafeBufferPointer { sgemm(m: m, n: w.rows, k: w.cols, x: x, w: $0.baseAddress!, y: y) }
    }
}
