// The two fp32 matrix products the forward pass needs, in one place so the backend can
// be swapped (MXKernels' fast multithreaded GEMM once available; a simple one meanwhile).
import Support

enum Gemm {
    /// Y[M,N] = X[M,K] · W[N,K]ᵀ (row-major, leading dims K, K, N). Overwrites Y.
    static func xwt(m: Int, n: Int, k: Int, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                    y: UnsafeMutablePointer<Float>, threads: Int? = nil) {
        let xs = UncheckedSendable(x), ws = UncheckedSendable(w), ys = UncheckedSendable(y)
        Parallel.forRanges(m, threads: threads, minChunk: 4) { rows in
            for i in rows {
                let xr = xs.value + i * k
                for j in 0..<n {
                    let wr = ws.value + j * k
                    var acc = SIMD8<Float>(repeating: 0)
                    var p = 0
                    while p + 8 <= k {
                        acc += UnsafeRawPointer(xr + p).loadUnaligned(as: SIMD8<Float>.self)
                            * UnsafeRawPointer(wr + p).loadUnaligned(as: SIMD8<Float>.self)
                        p += 8
                    }
                    var s = acc.sum()
                    while p < k { s += xr[p] * wr[p]; p += 1 }
                    ys.value[i * n + j] = s
                }
            }
        }
    }

    /// Y[M,N] = X[M,K] · B[K,N] (row-major, leading dims K, N, N). Overwrites Y.
    static func xb(m: Int, n: Int, k: Int, x: UnsafePointer<Float>, b: UnsafePointer<Float>,
                   y: UnsafeMutablePointer<Float>, threads: Int? = nil) {
        let xs = UncheckedSendable(x), bs = UncheckedSendable(b), ys = UncheckedSendable(y)
        Parallel.forRanges(m, threads: threads, minChunk: 4) { rows in
            for i in rows {
                let yr = ys.value + i * n
                for j in 0..<n { yr[j] = 0 }
                for p in 0..<k {
                    let a = xs.value[i * k + p]
                    let br = bs.value + p * n
                    for j in 0..<n { yr[j] += a * br[j] }
                }
            }
        }
    }
}
