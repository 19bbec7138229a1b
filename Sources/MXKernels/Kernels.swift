import Support

/// Fast matrix products. All matrices are row-major fp32 with explicit leading
/// dimensions (default: tightly packed). Results never depend on the thread count:
/// every output element is summed in an order fixed by the shapes alone.
public enum Kernels {
    /// `Y[M,N] = X[M,K] · W[N,K]ᵀ` (the Linear-layer layout). Overwrites Y.
    ///
    /// Leading dimensions default to `K`, `K` and `N`. M ≤ 8 takes a GEMV path that
    /// streams W once; larger M a packed, cache-blocked GEMM on both cores.
    /// Y must not overlap X or W.
    public static func sgemm(m: Int, n: Int, k: Int, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                             y: UnsafeMutablePointer<Float>, threads: Int? = nil,
                             ldx: Int? = nil, ldw: Int? = nil, ldy: Int? = nil) {
        precondition(m >= 0 && n >= 0 && k >= 0, "sgemm: negative dimension")
        let ldx = ldx ?? k, ldw = ldw ?? k, ldy = ldy ?? n
        precondition(ldx >= k && ldw >= k && ldy >= n, "sgemm: leading dimension too small")
        let t = max(1, threads ?? Parallel.defaultThreads)
        if m == 0 || n == 0 { return }
        if m <= 8 && k > 0 {
            gemvNT(m: m, n: n, k: k, x: x, ldx: ldx, w: w, ldw: ldw, y: y, ldy: ldy, threads: t)
            return
        }
        packedGemm(m: m, n: n, k: k, x: x, ldx: ldx, y: y, ldy: ldy, threads: t) { dst, j0, jn, k0, kc, nr in
            packTransposed(dst: dst, src: w + j0 * ldw + k0, ld: ldw, rows: jn, kc: kc, nr: nr)
        }
    }

    /// `Y[M,N] = X[M,K] · B[K,N]` with B row-major (e.g. attention probabilities times V).
    /// Leading dimensions default to `K`, `N` and `N`. Overwrites Y; Y must not overlap X or B.
    public static func sgemmNN(m: Int, n: Int, k: Int, x: UnsafePointer<Float>, b: UnsafePointer<Float>,
                               y: UnsafeMutablePointer<Float>, threads: Int? = nil,
                               ldx: Int? = nil, ldb: Int? = nil, ldy: Int? = nil) {
        precondition(m >= 0 && n >= 0 && k >= 0, "sgemmNN: negative dimension")
        let ldx = ldx ?? k, ldb = ldb ?? n, ldy = ldy ?? n
        precondition(ldx >= k && ldb >= n && ldy >= n, "sgemmNN: leading dimension too small")
        let t = max(1, threads ?? Parallel.defaultThreads)
        packedGemm(m: m, n: n, k: k, x: x, ldx: ldx, y: y, ldy: ldy, threads: t) { dst, j0, jn, k0, kc, nr in
            packRows(dst: dst, src: b + k0 * ldb + j0, ld: ldb, cols: jn, kc: kc, nr: nr)
        }
    }

    /// The upper triangle of the symmetric `Y[N,N] = Aᵀ·A` for A [K,N] row-major (a syrk; e.g.
    /// XᵀX of token rows X): every Y[i, j] with j ≥ i is bitwise `sgemmNN(m: N, n: N, k: K, x: Aᵀ,
    /// b: A)`'s element (same blocks, same summation order), computed tile by tile with tiles
    /// wholly below the diagonal skipped (about half the work); A is read in place for both
    /// operands (no transposed copy). Elements below the diagonal are partly written (tiles that
    /// cross it) and otherwise left unchanged: read only j ≥ i. Y must not overlap A.
    /// `allowBF16`: on builds for AVX-512 BF16, A whose elements are all exact bf16 values in
    /// range (MX-quantized activations) goes through `syrkUpperBF16`, with the same bits.
    /// Returns the path that ran.
    @discardableResult
    public static func syrkUpper(n: Int, k: Int, a: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                                 threads: Int? = nil, lda: Int? = nil, ldy: Int? = nil,
                                 allowBF16: Bool = true) -> SyrkPath {
        precondition(n >= 0 && k >= 0, "syrkUpper: negative dimension")
        let lda = lda ?? n, ldy = ldy ?? n
        precondition(lda >= n && ldy >= n, "syrkUpper: leading dimension too small")
        if allowBF16 && syrkBF16Build
            && syrkUpperBF16(n: n, k: k, a: a, y: y, threads: threads, lda: lda, ldy: ldy) { return .bf16 }
        let t = max(1, threads ?? Parallel.defaultThreads)
        packedGemm(m: n, n: n, k: k, x: a, ldx: lda, y: y, ldy: ldy, threads: t, upper: true, xTransposed: true) {
            dst, j0, jn, k0, kc, nr in
            packRows(dst: dst, src: a + k0 * lda + j0, ld: lda, cols: jn, kc: kc, nr: nr)
        }
        return .fp32
    }

    /// Array convenience: `x` is [M*K], `w` is [N*K]; returns Y [M*N].
    public static func sgemm(m: Int, n: Int, k: Int, x: [Float], w: [Float], threads: Int? = nil) -> [Float] {
        precondition(x.count == m * k && w.count == n * k, "sgemm: array sizes do not match M, N, K")
        var y = [Float](repeating: 0, count: m * n)
        x.withUnsafeBufferPointer { xb in w.withUnsafeBufferPointer { wb in y.withUnsafeMutableBufferPointer { yb in
            sgemm(m: m, n: n, k: k, x: xb.baseAddress!, w: wb.baseAddress!, y: yb.baseAddress!, threads: threads)
        } } }
        return y
    }
}

/// Packs `kc` rows of `cols` values of a row-major B (row stride `ld`, reduction index along
/// rows) into `dst[k * nr + j]`, zero-filling columns `cols..<nr`.
@usableFromInline
func packRows(dst: UnsafeMutablePointer<Float>, src: UnsafePointer<Float>, ld: Int, cols: Int, kc: Int, nr: Int) {
    for kk in 0..<kc {
        let s = src + kk * ld, d = dst + kk * nr
        d.update(from: s, count: cols)
        if cols < nr { (d + cols).update(repeating: 0, count: nr - cols) }
    }
}

/// Packs `rows` rows of a K-contiguous matrix (row stride `ld`) into `dst[k * nr + j]`,
/// zero-filling columns `rows..<nr`.
@usableFromInline
func packTransposed(dst: UnsafeMutablePointer<Float>, src: UnsafePointer<Float>, ld: Int, rows: Int, kc: Int, nr: Int) {
    for j in 0..<rows {
        let s = src + j * ld
        for kk in 0..<kc { dst[kk * nr + j] = s[kk] }
    }
    if rows < nr {
        for kk in 0..<kc { (dst + kk * nr + rows).update(repeating: 0, count: nr - rows) }
    }
}
