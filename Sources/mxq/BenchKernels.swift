import Foundation
import Support
import MXKernels

/// `mxq bench kernels` (owned by the kernels work).
func runBenchKernels(_ args: inout Args) throws {
    let T = Parallel.defaultThreads
    let shapes = [(576, 576), (576, 192), (576, 1536), (1536, 576), (576, 49152)]
    for m in [1, 512, 2048] {
        for (k, n) in shapes {
            var g = SplitMix64(seed: 1)
            let x = (0..<(m * k)).map { _ in g.nextGaussian() }
            let w = (0..<(n * k)).map { _ in g.nextGaussian() }
            var y = [Float](repeating: 0, count: m * n)
            var best = 1e9
            for _ in 0..<5 {
                let t0 = monotonicSeconds()
                x.withUnsafeBufferPointer { xb in w.withUnsafeBufferPointer { wb in y.withUnsafeMutableBufferPointer { yb in
                    Kernels.sgemm(m: m, n: n, k: k, x: xb.baseAddress!, w: wb.baseAddress!, y: yb.baseAddress!, threads: T)
                } } }
                best = min(best, monotonicSeconds() - t0)
            }
            print(m, k, n, String(format: "%.1f GFLOP/s", 2.0 * Double(m * n * k) / best / 1e9))
        }
    }
}
