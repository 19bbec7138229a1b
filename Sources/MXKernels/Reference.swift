import Support

/// Plain scalar versions of the `Kernels` products: one output at a time, summed
/// in increasing k in Double and rounded once to Float. Slow; for tests and verification.
public enum KernelsReference {
    /// `Y[M,N] = X[M,K] · W[N,K]ᵀ`, row-major, tightly packed. Overwrites Y.
    public static func sgemm(m: Int, n: Int, k: Int, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                             y: UnsafeMutablePointer<Float>, threads: Int? = nil) {
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for kk in 0..<k { s += Double(x[i * k + kk]) * Double(w[j * k + kk]) }
                y[i * n + j] = Float(s)
            }
        }
    }

    /// `Y[M,N] = X[M,K] · B[K,N]`, row-major, tightly packed. Overwrites Y.
    public static func sgemmNN(m: Int, n: Int, k: Int, x: UnsafePointer<Float>, b: UnsafePointer<Float>,
                               y: UnsafeMutablePointer<Float>, threads: Int? = nil) {
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for kk in 0..<k { s += Double(x[i * k + kk]) * Double(b[kk * n + j]) }
                y[i * n + j] = Float(s)
            }
        }
    }
}
