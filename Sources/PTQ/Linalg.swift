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
                            for i in (j1 + r.lowerBound)..<(j1 + r.upperBound) {
                                let ri = base + i * n
                                for j in j0..<j1 { ri[j] = (ri[j] - dot(ri, base + j * n, j)) * inv[j] }
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
                            let L = lb.value, X = xb.value
                            for k in 0..<i0 {
                                let xk = X + k * n
                                for i in (i0 + rr.lowerBound)..<(i0 + rr.upperBound) {
                                    let lik = L[i * n + k]
                                    if lik == 0 { continue }
                                    let xi = X + i * n
                                    for c in 0...k { xi[c] -= lik * xk[c] }
                                }
                            }
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
