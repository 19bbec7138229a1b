import Support
import MXKernels

/// Small dense linear algebra in Double for GPTQ (matrices are row-major `[n*n]`).
enum Linalg {
    /// Lower Cholesky factor L (A = L·Lᵀ) in place; the strict upper triangle is zeroed.
    /// Returns false if A is not (numerically) positive definite.
    static func choleskyLower(_ a: inout [Double], n: Int) -> Bool {
        var ok = true
        a.withUnsafeMutableBufferPointer { A in
            for j in 0..<n {
                // A[j][j] -= sum_k<j L[j][k]^2
                var d = A[j * n + j]
                let rowJ = j * n
                for k in 0..<j { d -= A[rowJ + k] * A[rowJ + k] }
                if !(d > 0) || !d.isFinite { ok = false; return }
                let ljj = d.squareRoot()
                A[rowJ + j] = ljj
                let inv = 1 / ljj
                // rows i > j: L[i][j] = (A[i][j] - sum_k<j L[i][k] L[j][k]) / L[j][j]
                let rows = n - j - 1
                if rows > 0 {
                    let base = UnsafeMutablePointer(A.baseAddress!)
                    let work = { (lo: Int, hi: Int) in
                        for i in lo..<hi {
                            let rowI = i * n
                            var s = base[rowI + j]
                            for k in 0..<j { s -= base[rowI + k] * base[rowJ + k] }
                            base[rowI + j] = s * inv
                        }
                    }
                    if rows * j > 200_000 {
                        let bp = UncheckedSendable(work)
                        Parallel.forRanges(rows, minChunk: 16) { r in bp.value(j + 1 + r.lowerBound, j + 1 + r.upperBound) }
                    } else { work(j + 1, n) }
                }
            }
            for i in 0..<n { for k in (i + 1)..<max(i + 1, n) { A[i * n + k] = 0 } }
        }
        return ok
    }

    /// Inverse of a lower-triangular L in place (result lower-triangular).
    /// Row i of X = L⁻¹ is (e_i − Σ_{k<i} L[i][k]·X[k][:]) / L[i][i]: contiguous row updates.
    static func invertLower(_ l: inout [Double], n: Int) {
        var x = [Double](repeating: 0, count: n * n)
        l.withUnsafeBufferPointer { L in
            x.withUnsafeMutableBufferPointer { X in
                for i in 0..<n {
                    let xi = X.baseAddress! + i * n
                    xi[i] = 1
                    for k in 0..<i {
                        let lik = L[i * n + k]
                        if lik == 0 { continue }
                        let xk = X.baseAddress! + k * n
                        for c in 0...k { xi[c] -= lik * xk[c] }
                    }
                    let inv = 1 / L[i * n + i]
                    for c in 0...i { xi[c] *= inv }
                }
            }
        }
        l = x
    }

    /// Upper Cholesky factor U of A⁻¹ (A⁻¹ = Uᵀ·U), as GPTQ uses: with A = L·Lᵀ,
    /// A⁻¹ = L⁻ᵀ·L⁻¹. Computed as the Cholesky of the explicit inverse.
    /// Returns nil if A is not positive definite.
    static func upperCholeskyOfInverse(_ a: [Double], n: Int) -> [Double]? {
        var l = a
        guard choleskyLower(&l, n: n) else { return nil }
        invertLower(&l, n: n)               // l = L^-1 (lower)
        // A^-1 = (L^-1)^T (L^-1): form it (symmetric), then its lower Cholesky C; U = C^T.
        var inv = [Double](repeating: 0, count: n * n)
        l.withUnsafeBufferPointer { M in
            inv.withUnsafeMutableBufferPointer { R in
                let mb = UncheckedSendable(M.baseAddress!), rb = UncheckedSendable(R.baseAddress!)
                // R[i][j] = sum_k M[k][i] M[k][j], k >= max(i,j)
                Parallel.forRanges(n, minChunk: 8) { r in
                    let M = mb.value, R = rb.value
                    for i in r {
                        for k in i..<n {
                            let mki = M[k * n + i]
                            if mki == 0 { continue }
                            let row = k * n
                            for j in 0...i { R[i * n + j] += mki * M[row + j] }
                        }
                    }
                }
                for i in 0..<n { for j in 0..<i { R[j * n + i] = R[i * n + j] } }
            }
        }
        guard choleskyLower(&inv, n: n) else { return nil }
        var u = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0...i { u[j * n + i] = inv[i * n + j] } }
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
        t.withUnsafeMutableBufferPointer { T in
            let tb = T.baseAddress!
            let bs = 32
            var r0 = 0
            while r0 < rows {
                let r1 = min(rows, r0 + bs)
                var c0 = 0
                while c0 < cols {
                    let c1 = min(cols, c0 + bs)
                    for r in r0..<r1 { for c in c0..<c1 { tb[c * rows + r] = a[r * cols + c] } }
                    c0 = c1
                }
                r0 = r1
            }
        }
        return t
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
