import Support

// The fp32 GEMM with 16-bit weights (bf16 or IEEE f16): W stays 16-bit in memory and is widened
// to fp32 while it is packed into the GEMM's NR-column micro-panels (M > 8), or per group of 4
// rows for the GEMV (M ≤ 8). Widening is exact, and the packed panels and the micro-kernel are
// the fp32 GEMM's, so the result is bitwise the fp32 `sgemm` on the widened weights.

extension Kernels {
    /// `Y[M,N] = X[M,K] · widen(W)[N,K]ᵀ` with W 16-bit (`format`), row-major with row stride
    /// `ldw` (default K) in 16-bit elements; X and Y fp32 (leading dimensions default to K and N).
    /// Overwrites Y; Y must not overlap X or W. Bitwise equal to `sgemm` on the widened W.
    public static func sgemm16(m: Int, n: Int, k: Int, x: UnsafePointer<Float>, w: UnsafePointer<UInt16>, format: HalfFormat,
                               y: UnsafeMutablePointer<Float>, threads: Int? = nil,
                               ldx: Int? = nil, ldw: Int? = nil, ldy: Int? = nil) {
        precondition(m >= 0 && n >= 0 && k >= 0, "sgemm16: negative dimension")
        let ldx = ldx ?? k, ldw = ldw ?? k, ldy = ldy ?? n
        precondition(ldx >= k && ldw >= k && ldy >= n, "sgemm16: leading dimension too small")
        let t = max(1, threads ?? Parallel.defaultThreads)
        if m == 0 || n == 0 { return }
        if m <= 8 && k > 0 {
            gemvNT16(m: m, n: n, k: k, x: x, ldx: ldx, w: w, ldw: ldw, format: format, y: y, ldy: ldy, threads: t)
            return
        }
        switch format {
        case .bf16:
            packedGemm(m: m, n: n, k: k, x: x, ldx: ldx, y: y, ldy: ldy, threads: t) { dst, j0, jn, k0, kc, nr in
                packTransposedBF16(dst: dst, src: w + j0 * ldw + k0, ld: ldw, rows: jn, kc: kc, nr: nr)
            }
        case .f16:
            packedGemm(m: m, n: n, k: k, x: x, ldx: ldx, y: y, ldy: ldy, threads: t) { dst, j0, jn, k0, kc, nr in
                packTransposedF16(dst: dst, src: w + j0 * ldw + k0, ld: ldw, rows: jn, kc: kc, nr: nr)
            }
        }
    }
}

extension KernelsReference {
    /// Reference for the 16-bit packing: `dst[k · nr + j]` = widen(`src[j · ld + k]`) for j < rows,
    /// k < kc, zero for rows ≤ j < nr; one scalar conversion per element.
    public static func packTransposed16(format: HalfFormat, dst: UnsafeMutablePointer<Float>, src: UnsafePointer<UInt16>,
                                        ld: Int, rows: Int, kc: Int, nr: Int) {
        for j in 0..<nr {
            for kk in 0..<kc {
                dst[kk * nr + j] = j < rows ? (format == .bf16 ? widenBF16(src[j * ld + kk]) : widenF16(src[j * ld + kk])) : 0
            }
        }
    }

    /// The fast packing `sgemm16` uses (for tests against `packTransposed16`).
    public static func packTransposed16Fast(format: HalfFormat, dst: UnsafeMutablePointer<Float>, src: UnsafePointer<UInt16>,
                                            ld: Int, rows: Int, kc: Int, nr: Int) {
        switch format {
        case .bf16: packTransposedBF16(dst: dst, src: src, ld: ld, rows: rows, kc: kc, nr: nr)
        case .f16: packTransposedF16(dst: dst, src: src, ld: ld, rows: rows, kc: kc, nr: nr)
        }
    }
}

/// bf16 rows → fp32 micro-panel `dst[k · nr + j]` (zero columns rows..<nr). Eight values of a
/// row are widened at once (a 16-bit shift into the high half of each 32-bit lane).
@usableFromInline
func packTransposedBF16(dst: UnsafeMutablePointer<Float>, src: UnsafePointer<UInt16>, ld: Int, rows: Int, kc: Int, nr: Int) {
    let kv = kc & ~7
    for j in 0..<rows {
        let s = src + j * ld
        var kk = 0
        while kk < kv {
            let v = UnsafeRawPointer(s + kk).loadUnaligned(as: SIMD8<UInt16>.self)
            let f = SIMD8<UInt32>(truncatingIfNeeded: v) &<< 16
            let d = dst + kk * nr + j
            d[0] = Float(bitPattern: f[0]); d[nr] = Float(bitPattern: f[1])
            d[2 * nr] = Float(bitPattern: f[2]); d[3 * nr] = Float(bitPattern: f[3])
            d[4 * nr] = Float(bitPattern: f[4]); d[5 * nr] = Float(bitPattern: f[5])
            d[6 * nr] = Float(bitPattern: f[6]); d[7 * nr] = Float(bitPattern: f[7])
            kk += 8
        }
        while kk < kc { dst[kk * nr + j] = widenBF16(s[kk]); kk += 1 }
    }
    if rows < nr {
        for kk in 0..<kc { (dst + kk * nr + rows).update(repeating: 0, count: nr - rows) }
    }
}

/// IEEE f16 rows → fp32 micro-panel (hardware conversion where the target has it; exact).
@usableFromInline
func packTransposedF16(dst: UnsafeMutablePointer<Float>, src: UnsafePointer<UInt16>, ld: Int, rows: Int, kc: Int, nr: Int) {
    for j in 0..<rows {
        let s = src + j * ld
        for kk in 0..<kc { dst[kk * nr + j] = widenF16Fast(s[kk]) }
    }
    if rows < nr {
        for kk in 0..<kc { (dst + kk * nr + rows).update(repeating: 0, count: nr - rows) }
    }
}

/// binary16 → fp32 through Swift's `Float16` (F16C `vcvtph2ps` on x86 targets that have it):
/// exact, the same value as `widenF16` for every non-NaN input.
@inline(__always) @usableFromInline
func widenF16Fast(_ h: UInt16) -> Float {
    #if arch(x86_64) || arch(arm64)
    return Float(Float16(bitPattern: h))
    #else
    return widenF16(h)
    #endif
}

/// `gemvNT` with 16-bit W: each group of 4 rows is widened into a small per-chunk buffer and
/// multiplied by the fp32 GEMV tile, so every output is bitwise `gemvNT`'s on the widened rows.
@usableFromInline
func gemvNT16(m: Int, n: Int, k: Int, x: UnsafePointer<Float>, ldx: Int, w: UnsafePointer<UInt16>, ldw: Int,
              format: HalfFormat, y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int) {
    let groups = (n + 3) / 4
    let chunk = 64, chunks = (groups + chunk - 1) / chunk
    Parallel.forEach(chunks, threads: threads) { c in
        Scratch.withFloats(4 * k) { buf in
            for g in (c * chunk)..<min(groups, (c + 1) * chunk) {
                let j0 = g * 4, wn = min(4, n - j0)
                for r in 0..<wn {
                    let s = w + (j0 + r) * ldw, d = buf + r * k
                    switch format {
                    case .bf16: for kk in 0..<k { d[kk] = widenBF16(s[kk]) }
                    case .f16: for kk in 0..<k { d[kk] = widenF16Fast(s[kk]) }
                    }
                }
                gemvGroup(m: m, k: k, x: x, ldx: ldx, w: UnsafePointer(buf), ldw: k, wn: wn, y: y + j0, ldy: ldy)
            }
        }
    }
}
