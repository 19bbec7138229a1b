// The two fp32 matrix products the forward pass needs, routed to MXKernels.
import MXKernels

enum Gemm {
    /// Y[M,N] = X[M,K] · W[N,K]ᵀ (row-major, leading dims K, K, ldy ?? N). Overwrites Y.
    @inline(__always)
    static func xwt(m: Int, n: Int, k: Int, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                    y: UnsafeMutablePointer<Float>, threads: Int? = nil, ldy: Int? = nil) {
        Kernels.sgemm(m: m, n: n, k: k, x: x, w: w, y: y, threads: threads, ldy: ldy)
    }

    /// Y[M,N] = X[M,K] · B[K,N] (row-major, leading dims K, N, ldy ?? N). Overwrites Y.
    @inline(__always)
    static func xb(m: Int, n: Int, k: Int, x: UnsafePointer<Float>, b: UnsafePointer<Float>,
                   y: UnsafeMutablePointer<Float>, threads: Int? = nil, ldy: Int? = nil) {
        Kernels.sgemmNN(m: m, n: n, k: k, x: x, b: b, y: y, threads: threads, ldy: ldy)
    }
}
