import Support

/// SmoothQuant scale computation (folding into a model is in `ModelSmoothing`).
public enum SmoothQuant {
    /// `s_j = max|X_j|^α / max|W_j|^(1−α)`, both factors clamped below at 1e-5 as in the
    /// reference (`smooth.py`): `actMax[j]` is the max |x| of input channel j over the
    /// calibration tokens, `weightMax[j]` the max |w| of column j over all the linears that
    /// consume the input. Weights are multiplied by s (column j), inputs divided by s.
    public static func scales(actMax: [Float], weightMax: [Float], alpha: Float) -> [Float] {
        precondition(actMax.count == weightMax.count)
        let a = Double(alpha)
        return (0..<actMax.count).map { j in
            let wm = max(Double(weightMax[j]), 1e-5)
            let s = pow(Double(actMax[j]), a) / pow(wm, 1 - a)
            return Float(max(s, 1e-5))
        }
    }

    /// Column-wise max |w| over a list of weight matrices that all have K columns.
    public static func columnMax(_ weights: [[Float]], k: Int) -> [Float] {
        var m = [Float](repeating: 0, count: k)
        for w in weights {
            precondition(w.count % k == 0)
            for r in 0..<(w.count / k) { for j in 0..<k { m[j] = max(m[j], abs(w[r * k + j])) } }
        }
        return m
    }
}

#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
