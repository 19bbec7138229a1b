import Foundation
import Support

/// The forward pass's causal attention on its own, for `mxq bench ptq`: seeded Gaussian queries,
/// keys and values for `seqLen` positions in the layouts the forward pass gives the attention
/// (queries per head [T, hd] already scaled by 1/√hd, keys [T][kvHeads·hd] laid out by the
/// model's `layoutKeys`, V per KV head [T, hd]), every head, every row. Same code as `LlamaModel`
/// (the static `layoutKeys` and `attention`).
public final class AttentionHarness {
    public let seqLen: Int, headDim: Int, heads: Int, kvHeads: Int
    private let config: LlamaConfig
    private let ws: Workspace
    private let threads: Int
    /// Copies for the reference: q [heads][T][hd] (scaled), k [T][kvHeads·hd], v [kvHeads][T][hd].
    private let q: [Float], k: [Float], v: [Float]

    /// Multiply-add work of the causal attention counted as 2 flops each: QKᵀ over keys 0...i and
    /// P·V over the same keys, per head and query row i.
    public var flops: Double { 2.0 * 2.0 * Double(heads * headDim) * Double(seqLen) * Double(seqLen + 1) / 2 }

    public init(seqLen T: Int, headDim hd: Int, heads nh: Int, kvHeads nkv: Int, threads: Int, seed: UInt64,
                rowBlock: Int = 128) {
        precondition(T > 0 && hd > 0 && nh > 0 && nkv > 0 && nh % nkv == 0 && threads > 0)
        seqLen = T; headDim = hd; heads = nh; kvHeads = nkv; self.threads = threads
        config = LlamaConfig(vocabSize: 1, hiddenSize: nh * hd, intermediateSize: 1, numLayers: 1, numHeads: nh,
                             numKVHeads: nkv, headDim: hd, rmsNormEps: 1e-5, ropeTheta: 10_000,
                             ropeLayout: .halves, tiedEmbeddings: true)
        ws = Workspace(config: config, capacity: T, workers: threads, rowBlock: rowBlock)
        var g = SplitMix64(seed: seed)
        let scale = 1 / Float(hd).squareRoot()
        q = (0..<(nh * T * hd)).map { _ in g.nextGaussian() * 2 * scale }
        k = (0..<(T * nkv * hd)).map { _ in g.nextGaussian() * 2 }
        v = (0..<(nkv * T * hd)).map { _ in g.nextGaussian() }
        ws.qh.update(from: q, count: q.count)
        ws.k.update(from: k, count: k.count)
        ws.vh.update(from: v, count: v.count)
        LlamaModel.layoutKeys(config: config, threads: threads, ws: ws, seqLen: T)
    }

    /// Runs the attention of every head over all rows (output [T, heads·hd] in the workspace).
    public func run() {
        LlamaModel.attention(config: config, threads: threads, ws: ws, seqLen: seqLen)
    }

    /// Largest |out − ref| / max(1, |ref|) over query rows `rows` of every head after `run()`,
    /// against softmax(q·kᵀ)·v over keys 0...row in Double.
    public func maxError(rows: [Int]) -> Double {
        let T = seqLen, hd = headDim, group = heads / kvHeads, qd = heads * hd
        var worst = 0.0
        for h in 0..<heads {
            let kv = h / group
            for i in rows where i >= 0 && i < T {
                var s = [Double](repeating: 0, count: i + 1)
                for j in 0...i {
                    var d = 0.0
                    for e in 0..<hd { d += Double(q[(h * T + i) * hd + e]) * Double(k[j * kvHeads * hd + kv * hd + e]) }
                    s[j] = d
                }
                let mx = s.max()!
                var sum = 0.0
                for j in 0...i { s[j] = exp(s[j] - mx); sum += s[j] }
                for e in 0..<hd {
                    var o = 0.0
                    for j in 0...i { o += s[j] * Double(v[(kv * T + j) * hd + e]) }
                    o /= sum
                    let got = Double(ws.attn[i * qd + h * hd + e])
                    worst = max(worst, abs(got - o) / max(1, abs(o)))
                }
            }
        }
        return worst
    }
}

/// RMSNorm on its own, for `mxq bench ptq`: seeded Gaussian rows [rows, n] (a few large
/// outliers, as residual streams have) and weights; the forward pass's `rmsNorm` (8-row groups)
/// against one `rmsNormRow` chain per row, on one thread each.
public final class RMSNormHarness {
    public let rows: Int, n: Int
    private let x: [Float], w: [Float]
    private var yGrouped: [Float], ySerial: [Float]

    public init(rows: Int, n: Int, seed: UInt64) {
        precondition(rows > 0 && n > 0)
        self.rows = rows; self.n = n
        var g = SplitMix64(seed: seed)
        x = (0..<(rows * n)).map { i in g.nextGaussian() * (i % 101 == 0 ? 40 : 1) }
        w = (0..<n).map { _ in 1 + 0.1 * g.nextGaussian() }
        yGrouped = [Float](repeating: 0, count: rows * n)
        ySerial = yGrouped
    }

    /// `rmsNorm` as the forward pass calls it (one thread).
    public func runGrouped() {
        let (r, n) = (rows, self.n)
        x.withUnsafeBufferPointer { X in w.withUnsafeBufferPointer { W in yGrouped.withUnsafeMutableBufferPointer { Y in
            rmsNorm(X.baseAddress!, weight: W.baseAddress!, into: Y.baseAddress!, rows: r, n: n, eps: 1e-5, threads: 1)
        } } }
    }

    /// Row by row through `rmsNormRow` (one serial Double chain at a time).
    public func runSerial() {
        let n = self.n
        x.withUnsafeBufferPointer { X in w.withUnsafeBufferPointer { W in ySerial.withUnsafeMutableBufferPointer { Y in
            for r in 0..<rows { rmsNormRow(X.baseAddress! + r * n, W.baseAddress!, Y.baseAddress! + r * n, n: n, eps: 1e-5) }
        } } }
    }

    /// Whether the last `runGrouped` and `runSerial` gave the same bits.
    public var sameBits: Bool { yGrouped.map(\.bitPattern) == ySerial.map(\.bitPattern) }
}
