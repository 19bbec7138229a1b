import Support
import MXKernels

/// Small dense linear algebra in Double for GPTQ (matrices are row-major `[n*n]`).
enum Linalg {
    /// Σ a[i]·b[i] for i in 0..<n with four SIMD4 accumulators (fixed order: deterministic).
    @inline(__always)
    static func dot(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ n: Int) -> Double {
        var s0 = SIMD4<Double>(), s1 = SIMD4<Double>(), s2 = SIMD4<Double>(), s3 = SIMD4<Double>()
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        var i = 0
        while i + 16 <= n {
            s0 += ra.loadUnaligned(fromByteOffset: i * 8, as: SIMD4<Double>.self) * rb.loadUnaligned(fromByteOffset: i * 8, as: SIMD4<Double>.self)
            s1 += ra.loadUnaligned(fromByteOffset: i * 8 + 32, as: SIMD4<Double>.self) * rb.loadUnaligned(fromByteOffset: i * 8 + 32, as: SIMD4<Double>.self)
            s2 += ra.loadUnaligned(fromByteOffset: i * 8 + 64, as: SIMD4<Double>.self) * rb.loadUnaligned(fromByteOffset: i * 8 + 64, as: SIMD4<Double>.self)
            s3 += ra.loadUnaligned(fromByteOffset: i * 8 + 96, as: SIMD4<Double>.self) * rb.loadUnaligned(fromByteOffset: i * 8 + 96, as: SIMD4<Double>.self)
            i += 16
        }
        var s = ((s0 + s1) + (s2 + s3)).sum()
        while i < n { s += a[i] * b[i]; i += 1 }
        return s
    }

    /// `dot(a_r, b, n)` for four rows a_r against one b, each with `dot`'s bits (the same four
    /// accumulators per row, the same final sums): b is loaded once for the four rows.
    @inline(__always)
    static func dot4(_ a0: UnsafePointer<Double>, _ a1: UnsafePointer<Double>, _ a2: UnsafePointer<Double>,
                     _ a3: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ n: Int) -> (Double, Double, Double, Double) {
        typealias V = SIMD4<Double>
        var p0 = V(), p1 = V(), p2 = V(), p3 = V()
        var q0 = V(), q1 = V(), q2 = V(), q3 = V()
        var r0 = V(), r1 = V(), r2 = V(), r3 = V()
        var t0 = V(), t1 = V(), t2 = V(), t3 = V()
        let ra0 = UnsafeRawPointer(a0), ra1 = UnsafeRawPointer(a1), ra2 = UnsafeRawPointer(a2), ra3 = UnsafeRawPointer(a3)
        let rb = UnsafeRawPointer(b)
        var i = 0
        while i + 16 <= n {
            let o = i * 8
            let b0 = rb.loadUnaligned(fromByteOffset: o, as: V.self), b1 = rb.loadUnaligned(fromByteOffset: o + 32, as: V.self)
            let b2 = rb.loadUnaligned(fromByteOffset: o + 64, as: V.self), b3 = rb.loadUnaligned(fromByteOffset: o + 96, as: V.self)
            @inline(__always) func row(_ a: UnsafeRawPointer, _ x0: inout V, _ x1: inout V, _ x2: inout V, _ x3: inout V) {
                x0 += a.loadUnaligned(fromByteOffset: o, as: V.self) * b0
                x1 += a.loadUnaligned(fromByteOffset: o + 32, as: V.self) * b1
                x2 += a.loadUnaligned(fromByteOffset: o + 64, as: V.self) * b2
                x3 += a.loadUnaligned(fromByteOffset: o + 96, as: V.self) * b3
            }
            row(ra0, &p0, &p1, &p2, &p3); row(ra1, &q0, &q1, &q2, &q3)
            row(ra2, &r0, &r1, &r2, &r3); row(ra3, &t0, &t1, &t2, &t3)
            i += 16
        }
        var s0 = ((p0 + p1) + (p2 + p3)).sum(), s1 = ((q0 + q1) + (q2 + q3)).sum()
        var s2 = ((r0 + r1) + (r2 + r3)).sum(), s3 = ((t0 + t1) + (t2 + t3)).sum()
        while i < n {
            s0 += a0[i] * b[i]; s1 += a1[i] * b[i]; s2 += a2[i] * b[i]; s3 += a3[i] * b[i]
            i += 1
        }
        return (s0, s1, s2, s3)
    }

    /// Lower Cholesky factor L (A = L·Lᵀ) in place; the strict upper triangle is zeroed.
    /// Returns false if A is not (numerically) positive definite.
    ///
    /// Every element is L[i][j] = (A[i][j] − dot(L[i][:j], L[j][:j]))·(1/L[j][j]) and
    /// L[j][j] = sqrt(A[j][j] − dot(L[j][:j], L[j][:j])) with `dot`'s fixed order, exactly as in
    /// `choleskyLowerReference` (bit-identical results); the columns are processed in panels of
    /// `panel` so each trailing row is streamed once per panel instead of once per column.
    static func choleskyLower(_ a: inout [Double], n: Int, panel: Int = 32) -> Bool {
        var ok = true
        a.withUnsafeMutableBufferPointer { A in
            let base = A.baseAddress!
            let bs = UncheckedSendable(base)
            var inv = [Double](repeating: 0, count: n)
            var j0 = 0
            while j0 < n {
                let j1 = min(n, j0 + panel)
                // the panel's own rows, in order
                for i in j0..<j1 {
                    let ri = base + i * n
                    for j in j0..<i { ri[j] = (ri[j] - dot(ri, base + j * n, j)) * inv[j] }
                    let d = ri[i] - dot(ri, ri, i)
                    if !(d > 0) || !d.isFinite { ok = false; return }
                    let lii = d.squareRoot()
                    ri[i] = lii
                    inv[i] = 1 / lii
                }
                // rows below the panel: independent of each other
                let rows = n - j1
                if rows > 0 {
                    let threads = rows * j1 * (j1 - j0) > 200_000 ? nil : 1
                    inv.withUnsafeBufferPointer { IV in
                        let ib = UncheckedSendable(IV.baseAddress!)
                        Parallel.forRanges(rows, threads: threads, minChunk: 8) { r in
                            let base = bs.value, inv = ib.value
                            var i = j1 + r.lowerBound
                            let end = j1 + r.upperBound
                            // four rows at a time share the loads of row j (same dots, same bits)
                            while i + 4 <= end {
                                let r0 = base + i * n, r1 = r0 + n, r2 = r1 + n, r3 = r2 + n
                                for j in j0..<j1 {
                                    let (d0, d1, d2, d3) = dot4(r0, r1, r2, r3, base + j * n, j)
                                    let iv = inv[j]
                                    r0[j] = (r0[j] - d0) * iv; r1[j] = (r1[j] - d1) * iv
                                    r2[j] = (r2[j] - d2) * iv; r3[j] = (r3[j] - d3) * iv
                                }
                                i += 4
                            }
                            while i < end {
                                let ri = base + i * n
                                for j in j0..<j1 { ri[j] = (ri[j] - dot(ri, base + j * n, j)) * inv[j] }
                                i += 1
                            }
                        }
                    }
                }
                j0 = j1
            }
            for i in 0..<n { for k in (i + 1)..<max(i + 1, n) { base[i * n + k] = 0 } }
        }
        return ok
    }

    /// The column-by-column Cholesky (session 1), the reference for `choleskyLower`.
    static func choleskyLowerReference(_ a: inout [Double], n: Int) -> Bool {
        var ok = true
        a.withUnsafeMutableBufferPointer { A in
            let base = A.baseAddress!
            let bs = UncheckedSendable(base)
            for j in 0..<n {
                let rowJ = base + j * n
                let d = rowJ[j] - dot(rowJ, rowJ, j)
                if !(d > 0) || !d.isFinite { ok = false; return }
                let ljj = d.squareRoot()
                rowJ[j] = ljj
                let inv = 1 / ljj
                // rows i > j: L[i][j] = (A[i][j] - Σ_k<j L[i][k] L[j][k]) / L[j][j]
                let rows = n - j - 1
                if rows == 0 { continue }
                let threads = rows * j > 100_000 ? nil : 1
                Parallel.forRanges(rows, threads: threads, minChunk: 8) { r in
                    let base = bs.value
                    let rj = base + j * n
                    for i in (j + 1 + r.lowerBound)..<(j + 1 + r.upperBound) {
                        let ri = base + i * n
                        ri[j] = (ri[j] - dot(ri, rj, j)) * inv
                    }
                }
            }
            for i in 0..<n { for k in (i + 1)..<max(i + 1, n) { base[i * n + k] = 0 } }
        }
        return ok
    }

    /// Inverse of a lower-triangular L in place (result lower-triangular).
    /// Row i of X = L⁻¹ is (e_i − Σ_{k<i} L[i][k]·X[k][:])·(1/L[i][i]): each element X[i][c]
    /// receives the updates k = c, …, i−1 in increasing k (terms with L[i][k] = 0 skipped), then
    /// the scaling — exactly as `invertLowerReference` (bit-identical). Rows are processed in
    /// panels of `panel`: the updates from the finished rows above a panel are applied to all its
    /// rows together (rows in parallel), so each finished row is streamed once per panel.
    static func invertLower(_ l: inout [Double], n: Int, panel: Int = 32) {
        var x = [Double](repeating: 0, count: n * n)
        l.withUnsafeBufferPointer { L in
            x.withUnsafeMutableBufferPointer { X in
                let lb = UncheckedSendable(L.baseAddress!), xb = UncheckedSendable(X.baseAddress!)
                var i0 = 0
                while i0 < n {
                    let i1 = min(n, i0 + panel)
                    for i in i0..<i1 { X.baseAddress![i * n + i] = 1 }
                    // updates from the finished rows k < i0, for every row of the panel
                    if i0 > 0 {
                        let threads = (i1 - i0) * i0 * i0 > 400_000 ? nil : 1
                        Parallel.forRanges(i1 - i0, threads: threads, minChunk: 4) { rr in
                            panelUpdate(L: lb.value, X: xb.value, n: n, rows: (i0 + rr.lowerBound)..<(i0 + rr.upperBound), i0: i0)
                        }
                    }
                    // within the panel, in order; then the scaling
                    let L = lb.value, X = xb.value
                    for i in i0..<i1 {
                        let xi = X + i * n
                        for k in i0..<i {
                            let lik = L[i * n + k]
                            if lik == 0 { continue }
                            let xk = X + k * n
                            for c in 0...k { xi[c] -= lik * xk[c] }
                        }
                        let inv = 1 / L[i * n + i]
                        for c in 0...i { xi[c] *= inv }
                    }
                    i0 = i1
                }
            }
        }
        l = x
    }

    /// X[i][c] −= L[i][k]·X[k][c] for rows i in `rows`, k in 0..<i0, c ≤ k, terms with L[i][k] = 0
    /// skipped, each element's updates in increasing k (as `invertLowerReference`). Columns in
    /// chunks of 16 held in registers over the whole k loop (one load and store per element
    /// instead of one per k), four rows at a time sharing the loads of X[k]; in a chunk the first
    /// 15 k touch only the columns c ≤ k and go element by element, before the vector updates of
    /// the later k, so each element still sees k in increasing order. Columns past the last whole
    /// chunk go element by element.
    @inline(__always)
    static func panelUpdate(L: UnsafePointer<Double>, X: UnsafeMutablePointer<Double>, n: Int, rows: Range<Int>, i0: Int) {
        typealias V = SIMD4<Double>
        @inline(__always) func ld(_ p: UnsafeMutablePointer<Double>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        @inline(__always) func st(_ v: V, _ p: UnsafeMutablePointer<Double>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }
        /// Element by element: row i's columns c0...k for k in `ks` (the original loop's order).
        @inline(__always) func scalar(_ i: Int, from c0: Int, _ ks: Range<Int>) {
            let xi = X + i * n
            for k in ks {
                let lik = L[i * n + k]
                if lik == 0 { continue }
                let xk = X + k * n
                for c in c0...k { xi[c] -= lik * xk[c] }
            }
        }
        let whole = i0 / 16 * 16        // columns in whole chunks
        // Chunk by chunk (outer), so the chunk's column of X[k] stays in cache for every row group;
        // that column (k ≥ c0 + 15) is copied contiguous first: rows of X are n·8 bytes apart, a
        // multiple of 4 KB for n = 1536, which maps them to a few cache sets.
        let panelK = UnsafeMutablePointer<Double>.allocate(capacity: max(1, i0 * 16))
        defer { panelK.deallocate() }
        var c0 = 0
        while c0 < whole {
            for k in min(c0 + 15, i0)..<i0 { (panelK + (k - c0 - 15) * 16).update(from: X + k * n + c0, count: 16) }
            var i = rows.lowerBound
            while i < rows.upperBound {
                let nr = min(4, rows.upperBound - i)
                for r in 0..<nr { scalar(i + r, from: c0, c0..<min(c0 + 15, i0)) }   // the chunk's triangle
                let kStart = c0 + 15
                if kStart < i0 {
                    if nr == 4 {
                        let x0 = X + i * n + c0, x1 = x0 + n, x2 = x1 + n, x3 = x2 + n
                        var a0 = ld(x0), a1 = ld(x0 + 4), a2 = ld(x0 + 8), a3 = ld(x0 + 12)
                        var b0 = ld(x1), b1 = ld(x1 + 4), b2 = ld(x1 + 8), b3 = ld(x1 + 12)
                        var e0 = ld(x2), e1 = ld(x2 + 4), e2 = ld(x2 + 8), e3 = ld(x2 + 12)
                        var f0 = ld(x3), f1 = ld(x3 + 4), f2 = ld(x3 + 8), f3 = ld(x3 + 12)
                        let l0 = L + i * n, l1 = l0 + n, l2 = l1 + n, l3 = l2 + n
                        for k in kStart..<i0 {
                            let xk = panelK + (k - kStart) * 16
                            let y0 = ld(xk), y1 = ld(xk + 4), y2 = ld(xk + 8), y3 = ld(xk + 12)
                            let m0 = l0[k], m1 = l1[k], m2 = l2[k], m3 = l3[k]
                            if m0 != 0 { let v = V(repeating: m0); a0 -= v * y0; a1 -= v * y1; a2 -= v * y2; a3 -= v * y3 }
                            if m1 != 0 { let v = V(repeating: m1); b0 -= v * y0; b1 -= v * y1; b2 -= v * y2; b3 -= v * y3 }
                            if m2 != 0 { let v = V(repeating: m2); e0 -= v * y0; e1 -= v * y1; e2 -= v * y2; e3 -= v * y3 }
                            if m3 != 0 { let v = V(repeating: m3); f0 -= v * y0; f1 -= v * y1; f2 -= v * y2; f3 -= v * y3 }
                        }
                        st(a0, x0); st(a1, x0 + 4); st(a2, x0 + 8); st(a3, x0 + 12)
                        st(b0, x1); st(b1, x1 + 4); st(b2, x1 + 8); st(b3, x1 + 12)
                        st(e0, x2); st(e1, x2 + 4); st(e2, x2 + 8); st(e3, x2 + 12)
                        st(f0, x3); st(f1, x3 + 4); st(f2, x3 + 8); st(f3, x3 + 12)
                    } else {
                        for r in 0..<nr {
                            let x0 = X + (i + r) * n + c0
                            var a0 = ld(x0), a1 = ld(x0 + 4), a2 = ld(x0 + 8), a3 = ld(x0 + 12)
                            let l0 = L + (i + r) * n
                            for k in kStart..<i0 {
                                let m0 = l0[k]
                                if m0 == 0 { continue }
                                let xk = panelK + (k - kStart) * 16, v = V(repeating: m0)
                                a0 -= v * ld(xk); a1 -= v * ld(xk + 4); a2 -= v * ld(xk + 8); a3 -= v * ld(xk + 12)
                            }
                            st(a0, x0); st(a1, x0 + 4); st(a2, x0 + 8); st(a3, x0 + 12)
                        }
                    }
                }
                i += nr
            }
            c0 += 16
        }
        // columns whole..<i0, element by element
        if whole < i0 { for i in rows { scalar(i, from: whole, whole..<i0) } }
    }

    /// The row-by-row inverse (session 1), the reference for `invertLower`.
    static func invertLowerReference(_ l: inout [Double], n: Int) {
        var x = [Double](repeating: 0, count: n * n)
        l.withUnsafeBufferPointer { L in
            x.withUnsafeMutableBufferPointer { X in
                let lb = UncheckedSendable(L.baseAddress!), xb = UncheckedSendable(X.baseAddress!)
                for i in 0..<n {
                    let threads = i * i > 200_000 ? nil : 1
                    // columns c in 0...i; X[k][c] = 0 for k < c
                    Parallel.forRanges(i + 1, threads: threads, minChunk: 64) { cr in
                        let L = lb.value, X = xb.value
                        let xi = X + i * n
                        for c in cr { xi[c] = c == i ? 1 : 0 }
                        for k in cr.lowerBound..<i {
                            let lik = L[i * n + k]
                            if lik == 0 { continue }
                            let xk = X + k * n
                            let hi = min(k, cr.upperBound - 1)
                            if hi < cr.lowerBound { continue }
                            for c in cr.lowerBound...hi { xi[c] -= lik * xk[c] }
                        }
                        let inv = 1 / L[i * n + i]
                        for c in cr { xi[c] *= inv }
                    }
                }
            }
        }
        l = x
    }

    /// Upper-triangular U with A⁻¹ = Uᵀ·U (what GPTQ takes as `cholesky(cholesky_inverse(L), upper=True)`).
    /// With J the index reversal and J·A·J = L_P·L_Pᵀ, A = V·Vᵀ for the upper V = J·L_P·J, so
    /// A⁻¹ = (V⁻¹)ᵀ·V⁻¹ and U = V⁻¹ = J·L_P⁻¹·J: one Cholesky and one triangular inverse.
    /// U has a positive diagonal, so it equals the unique Cholesky factor. Nil if A is not positive definite.
    static func upperCholeskyOfInverse(_ a: [Double], n: Int) -> [Double]? {
        var p = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { p[i * n + j] = a[(n - 1 - i) * n + (n - 1 - j)] } }
        guard choleskyLower(&p, n: n) else { return nil }
        invertLower(&p, n: n)
        var u = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { u[i * n + j] = p[(n - 1 - i) * n + (n - 1 - j)] } }
        return u
    }
}

/// fp32 matrix products used by the algorithms (all row-major).
enum MatOps {
    /// Y[m,n] = X[m,k] · W[n,k]ᵀ, via the kernels module.
    static func gemm(m: Int, n: Int, k: Int, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                     y: UnsafeMutablePointer<Float>) {
        if m == 0 || n == 0 { return }
        if k == 0 { y.update(repeating: 0, count: m * n); return }
        Kernels.sgemm(m: m, n: n, k: k, x: x, w: w, y: y)
    }

    /// Same with leading dimensions (row strides) of X, W and Y.
    static func gemm(m: Int, n: Int, k: Int, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                     y: UnsafeMutablePointer<Float>, ldx: Int, ldw: Int, ldy: Int) {
        if m == 0 || n == 0 { return }
        if k == 0 { for r in 0..<m { (y + r * ldy).update(repeating: 0, count: n) }; return }
        Kernels.sgemm(m: m, n: n, k: k, x: x, w: w, y: y, ldx: ldx, ldw: ldw, ldy: ldy)
    }

    static func gemm(_ x: [Float], _ w: [Float], m: Int, n: Int, k: Int) -> [Float] {
        var y = [Float](repeating: 0, count: m * n)
        x.withUnsafeBufferPointer { xp in w.withUnsafeBufferPointer { wp in y.withUnsafeMutableBufferPointer { yp in
            gemm(m: m, n: n, k: k, x: xp.baseAddress!, w: wp.baseAddress!, y: yp.baseAddress!)
        } } }
        return y
    }

    /// Transpose of a row-major [rows, cols] matrix.
    static func transpose(_ a: UnsafePointer<Float>, rows: Int, cols: Int) -> [Float] {
        var t = [Float](repeating: 0, count: rows * cols)
        t.withUnsafeMutableBufferPointer { transpose(a, rows: rows, cols: cols, into: $0.baseAddress!) }
        return t
    }

    /// Writes the transpose [cols, rows] of `a` [rows, cols] to `t` with row stride `ldt` (default
    /// `rows`) (32×32 tiles, column strips in parallel).
    static func transpose(_ a: UnsafePointer<Float>, rows: Int, cols: Int, into t: UnsafeMutablePointer<Float>,
                          ldt: Int? = nil) {
        let ldt = ldt ?? rows
        let bs = 32
        let ab = UncheckedSendable(a), tb = UncheckedSendable(t)
        Parallel.forRanges((cols + bs - 1) / bs, minChunk: 4) { strips in
            let a = ab.value, t = tb.value
            var r0 = 0
            while r0 < rows {
                let r1 = min(rows, r0 + bs)
                for s in strips {
                    let c0 = s * bs, c1 = min(cols, c0 + bs)
                    for r in r0..<r1 { for c in c0..<c1 { t[c * ldt + r] = a[r * cols + c] } }
                }
                r0 = r1
            }
        }
    }
}

/// Error measures in Double.
public enum ErrorStats {
    /// Sum of squared differences and of squared reference values.
    public static func sse(_ a: UnsafeBufferPointer<Float>, reference b: UnsafeBufferPointer<Float>) -> (err: Double, signal: Double) {
        precondition(a.count == b.count)
        var e = 0.0, s = 0.0
        for i in 0..<a.count {
            let d = Double(a[i]) - Double(b[i])
            e += d * d
            s += Double(b[i]) * Double(b[i])
        }
        return (e, s)
    }

    public static func sse(_ a: [Float], reference b: [Float]) -> (err: Double, signal: Double) {
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in sse(ap, reference: bp) } }
    }

    /// 10·log10(signal / error) in dB; +inf when the error is zero.
    public static func sqnrDB(err: Double, signal: Double) -> Double {
        if err == 0 { return .infinity }
        if signal == 0 { return -.infinity }
        return 10 * ((signal / err).log10Value)
    }
}

extension Double {
    var log10Value: Double {
        #if canImport(Glibc)
        return Glibc.log10(self)
        #else
        return Foundation.log10(self)
        #endif
    }
}

#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
