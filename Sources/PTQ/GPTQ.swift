import Support
import MXFormats
import MXKernels

/// Accumulates the GPTQ Hessian `H = 2/N · Σ x xᵀ` of a linear layer's inputs
/// (`x` = one token's input row, K values). Products of a chunk of rows are formed in
/// fp32 by the GEMM kernel (a chunk is at most `chunkRows` tokens; on AVX-512 BF16 builds
/// MX-quantized rows go through `vdpbf16ps` with the same bits), then added in Double,
/// so the sum over many chunks does not lose precision. XᵀX is symmetric: only the tiles on or
/// above the diagonal are multiplied (`Kernels.syrkUpper`, about half the work, X packed once);
/// every product element is the same fp32 value the full GEMM gives (its summation order
/// depends on the chunk length alone), and the lower triangle is the mirror image, as the full
/// product's is.
public final class HessianAccumulator {
    public let k: Int
    /// Σ x xᵀ over all rows seen, row-major [K*K], Double (symmetric).
    public var sum: [Double] {
        var s = upper
        for i in 0..<k { for j in (i + 1)..<max(i + 1, k) { s[j * k + i] = s[i * k + j] } }
        return s
    }
    /// The sum's upper triangle (j ≥ i) in place; the strict lower triangle is not used.
    private var upper: [Double]
    public private(set) var count: Int = 0
    /// Rows whose products ran on the bf16 path (`Kernels.syrkUpper`: same bits as fp32).
    public private(set) var bf16Rows: Int = 0
    /// Rows per fp32 partial product before it is added to the Double sum.
    public let chunkRows: Int
    /// Scratch: the chunk's fp32 product [K, K].
    private var g: [Float] = []
    /// Scratch: the chunk quantize-dequantized (`add(_:rows:quantizedBy:)`).
    private var xq: [Float] = []

    /// Whether MXINT8 activations (block 32, floor, ties to even) are quantized inside the bf16
    /// syrk's packing on this build (AVX-512 BF16): same Hessian bits, about 2× faster.
    public static var fusedMXINT8Available: Bool { Kernels.syrkBF16Build }

    /// The chunk size used unless given (part of the Hessian cache's code version).
    public static let defaultChunkRows = 2048
    public init(k: Int, chunkRows: Int = defaultChunkRows) {
        precondition(k > 0 && chunkRows > 0)
        self.k = k; self.chunkRows = chunkRows; upper = [Double](repeating: 0, count: k * k)
    }

    /// Adds `rows` input rows `x` ([rows, K] row-major).
    public func add(_ x: UnsafePointer<Float>, rows: Int) { add(x, rows: rows, quantizedBy: nil) }

    /// Adds `rows` input rows `x` ([rows, K] row-major) after quantize-dequantizing them with
    /// `act` (blocks along K per row, as the activation quantization at inference); nil: as given.
    public func add(_ x: UnsafePointer<Float>, rows: Int, quantizedBy act: MXConfig?) {
        guard let a = act else { accumulate(x, rows: rows, quantizeMXINT8: nil); return }
        if HessianAccumulator.fusedMXINT8Available && HessianAccumulator.fusesQuantization(a) {
            // quantized inside the bf16 packing, chunk by chunk (same values and bits)
            accumulate(x, rows: rows, quantizeMXINT8: a)
            return
        }
        // the whole input at once (stochastic rounding streams are indexed by row)
        withFakeQuantized(x, rows: rows, a) { accumulate($0, rows: rows, quantizeMXINT8: nil) }
    }

    /// Whether activations quantized with `a` can be quantized inside the bf16 syrk's packing
    /// (on builds that have it, `fusedMXINT8Available`): the integer kernels' MXINT8 row quantizer
    /// applies (`Kernels.int8RowQuantizerApplies`).
    public static func fusesQuantization(_ a: MXConfig) -> Bool { Kernels.int8RowQuantizerApplies(a) }

    /// Runs `body` on `rows` rows of `x` ([rows, K]) quantize-dequantized with `a` (in the scratch `xq`).
    private func withFakeQuantized<R>(_ x: UnsafePointer<Float>, rows: Int, _ a: MXConfig,
                                      _ body: (UnsafePointer<Float>) -> R) -> R {
        let count = rows * k
        if xq.count < count { xq = [Float](repeating: 0, count: count) }
        return xq.withUnsafeMutableBufferPointer { Q in
            Q.baseAddress!.update(from: x, count: count)
            _ = mxFakeQuantize(UnsafeMutableBufferPointer(start: Q.baseAddress!, count: count), rows: rows, cols: k,
                               config: a, diagnostics: false)
            return body(UnsafePointer(Q.baseAddress!))
        }
    }

    /// Adds the rows chunk by chunk. `quantizeMXINT8` (MXINT8, block 32, floor, ties to even):
    /// each chunk quantized inside the bf16 syrk's packing, or, where that path declines,
    /// fake-quantized (deterministic: chunk by chunk is the whole input's result) for the fp32 path.
    private func accumulate(_ x: UnsafePointer<Float>, rows: Int, quantizeMXINT8 q8: MXConfig?) {
        let k = self.k
        if g.count != k * k { g = [Float](repeating: 0, count: k * k) }
        var r0 = 0
        while r0 < rows {
            let n = min(chunkRows, rows - r0)
            // g's upper triangle (j ≥ i) = XᵀX of the chunk
            let path: SyrkPath = g.withUnsafeMutableBufferPointer { G in
                guard let a = q8 else {
                    return Kernels.syrkUpper(n: k, k: n, a: x + r0 * k, y: G.baseAddress!, lda: k, ldy: k)
                }
                if Kernels.syrkUpperBF16(n: k, k: n, a: x + r0 * k, y: G.baseAddress!, lda: k, ldy: k, quantizeMXINT8: true) {
                    return .bf16
                }
                return withFakeQuantized(x + r0 * k, rows: n, a) {
                    Kernels.syrkUpper(n: k, k: n, a: $0, y: G.baseAddress!, lda: k, ldy: k)
                }
            }
            if path == .bf16 { bf16Rows += n }
            // Double sums of the upper triangle (row ranges in parallel)
            g.withUnsafeBufferPointer { G in
                upper.withUnsafeMutableBufferPointer { S in
                    let gb = UncheckedSendable(G.baseAddress!), sb = UncheckedSendable(S.baseAddress!)
                    Parallel.forRanges(k, minChunk: 32) { rr in
                        let g = gb.value, s = sb.value
                        for i in rr {
                            for j in i..<k { s[i * k + j] += Double(g[i * k + j]) }
                        }
                    }
                }
            }
            count += n
            r0 += n
        }
    }

    public func add(_ x: [Float], rows: Int) {
        precondition(x.count == rows * k)
        x.withUnsafeBufferPointer { add($0.baseAddress!, rows: rows) }
    }

    /// Merges another accumulator over the same K.
    public func merge(_ o: HessianAccumulator) {
        precondition(o.k == k)
        for i in 0..<(k * k) { upper[i] += o.upper[i] }
        count += o.count
    }

    /// `2/N · Σ x xᵀ` ([K*K], Double); zero when nothing was added.
    public var hessian: [Double] {
        let s = sum
        if count == 0 { return s }
        let f = 2.0 / Double(count)
        return s.map { $0 * f }
    }

    /// Restores an accumulator (from the on-disk cache).
    public init(k: Int, sum: [Double], count: Int) {
        precondition(sum.count == k * k)
        self.k = k; self.upper = sum; self.count = count; self.chunkRows = HessianAccumulator.defaultChunkRows
    }
}

/// GPTQ settings.
public struct GPTQOptions: Hashable, Sendable {
    /// Columns per lazy batch (the reference uses 128).
    public var blockSize: Int = 128
    /// Dampening added to the diagonal, as a fraction of its mean.
    public var percDamp: Double = 0.01
    /// Process columns by decreasing Hessian diagonal.
    public var actOrder: Bool = false
    /// Model pipeline: build each Hessian from the inputs its layer sees after the block's earlier
    /// layers are quantized (o after q/k/v, gate/up after o, down after gate/up; GPTQ's
    /// `--true-sequential`, one pass per block). false: every Hessian from the block as it was
    /// before GPTQ (one more pass per block).
    public var trueSequential: Bool = true
    public init(blockSize: Int = 128, percDamp: Double = 0.01, actOrder: Bool = false, trueSequential: Bool = true) {
        self.blockSize = blockSize; self.percDamp = percDamp; self.actOrder = actOrder; self.trueSequential = trueSequential
    }
}

/// What GPTQ did to one weight matrix.
public struct GPTQResult: Sendable {
    /// GPTQ's own loss estimate Σ (w−q)²/(2·d²) over all elements (d = diagonal of the inverse's Cholesky).
    public var loss: Double
    /// Input channels whose Hessian diagonal was zero (inputs always 0): their weights were set to 0.
    public var deadColumns: Int
    /// Dampening actually used (grows ×10 when the damped Hessian was not positive definite).
    public var damping: Double
    public var diagnostics: WeightDiagnostics
}

public enum GPTQ {
    /// Quantizes `weight` ([rows=N, cols=K] row-major, fp32) in place onto the MX grid of
    /// `config` (blocks of `config.block` along each row), minimizing ‖X·Wᵀ − X·Qᵀ‖² for the
    /// inputs summarized by `hessian` (H = 2XᵀX/N, [K*K] Double). On return `weight` holds the
    /// dequantized values Q (each exactly representable on its block's grid).
    ///
    /// MX grid (documented choice): the scale exponent of a block (row r, columns
    /// [bB, (b+1)B)) is frozen at the moment the sweep reaches the *first* of the block's
    /// columns in processing order, from the block's current, already error-compensated
    /// weights — with the lazy batch updates still pending for columns beyond the current
    /// batch applied exactly for this computation. In natural order that is the block's
    /// first column; with act-order the blocks stay contiguous in the *original* column
    /// order, and the block is frozen when its earliest column in the permuted order comes
    /// up (its other columns, wherever they sit in the permutation, have all received every
    /// update so far). All later columns of the block round on that frozen grid.
    public static func quantize(weight: inout [Float], rows n: Int, cols k: Int, hessian: [Double],
                                config: MXConfig, options: GPTQOptions = GPTQOptions()) -> GPTQResult {
        quantize(weight: &weight, rows: n, cols: k, hessian: hessian, config: config, options: options, onFreeze: nil)
    }

    /// The weight-independent part of GPTQ for one Hessian: dead columns, processing order,
    /// dampening and the upper Cholesky factor of the damped inverse (permuted). Linears that
    /// share an input (q/k/v, gate/up) share it.
    public struct Factor: @unchecked Sendable {
        public let k: Int
        let dead: [Int]
        let perm: [Int]
        let invPerm: [Int]
        let u: [Float]
        public let damping: Double
    }

    /// Prepares the factor of `hessian` ([K*K]) for `options` (dampening, act-order).
    public static func factor(hessian: [Double], k: Int, options: GPTQOptions = GPTQOptions()) -> Factor {
        precondition(hessian.count == k * k)
        var h = hessian
        var dead: [Int] = []
        for j in 0..<k where h[j * k + j] == 0 {
            dead.append(j)
            h[j * k + j] = 1
        }
        // permutation: perm[p] = original column processed at position p
        var perm = Array(0..<k)
        if options.actOrder {
            perm.sort { a, b in
                let da = h[a * k + a], db = h[b * k + b]
                return da != db ? da > db : a < b
            }
        }
        var invPerm = [Int](repeating: 0, count: k)
        for p in 0..<k { invPerm[perm[p]] = p }
        var hp = [Double](repeating: 0, count: k * k)
        for i in 0..<k { for j in 0..<k { hp[i * k + j] = h[perm[i] * k + perm[j]] } }
        var meanDiag = 0.0
        for i in 0..<k { meanDiag += hp[i * k + i] }
        meanDiag /= Double(max(k, 1))
        var damp = options.percDamp * meanDiag
        if !(damp > 0) { damp = 1e-8 }
        var uD: [Double]? = nil
        for _ in 0..<8 {
            var hd = hp
            for i in 0..<k { hd[i * k + i] += damp }
            uD = Linalg.upperCholeskyOfInverse(hd, n: k)
            if uD != nil { break }
            damp *= 10
        }
        guard let uDouble = uD else {
            preconditionFailure("GPTQ: Hessian not positive definite even after dampening")
        }
        return Factor(k: k, dead: dead, perm: perm, invPerm: invPerm, u: uDouble.map { Float($0) }, damping: damp)
    }

    /// `onFreeze(row, block, values)` (tests only) sees the current values a block scale is frozen from;
    /// it may be called concurrently for different rows.
    static func quantize(weight: inout [Float], rows n: Int, cols k: Int, hessian: [Double],
                         config: MXConfig, options: GPTQOptions, onFreeze: ((Int, Int, [Float]) -> Void)?) -> GPTQResult {
        quantize(weight: &weight, rows: n, factor: factor(hessian: hessian, k: k, options: options), config: config,
                 options: options, onFreeze: onFreeze)
    }

    /// GPTQ with a prepared factor (see `factor(hessian:k:options:)`); `options.blockSize` is the lazy batch.
    public static func quantize(weight: inout [Float], rows n: Int, factor f: Factor, config: MXConfig,
                                options: GPTQOptions = GPTQOptions()) -> GPTQResult {
        quantize(weight: &weight, rows: n, factor: f, config: config, options: options, onFreeze: nil)
    }

    static func quantize(weight: inout [Float], rows n: Int, factor f: Factor, config: MXConfig,
                         options: GPTQOptions, onFreeze: ((Int, Int, [Float]) -> Void)?) -> GPTQResult {
        let k = f.k
        precondition(weight.count == n * k)
        precondition(options.blockSize > 0)
        for j in f.dead { for r in 0..<n { weight[r * k + j] = 0 } }
        let perm = f.perm, invPerm = f.invPerm, u = f.u, damp = f.damping, dead = f.dead.count
        // permuted working copy
        var w = [Float](repeating: 0, count: n * k)
        for r in 0..<n { for p in 0..<k { w[r * k + p] = weight[r * k + perm[p]] } }

        let grid = MXGrid(config)
        let bsz = config.block
        let nBlocks = (k + bsz - 1) / bsz
        var exps = [Int16](repeating: 0, count: n * nBlocks)
        var frozen = [Bool](repeating: false, count: nBlocks)
        // For each processing position: is it the first-reached column of its MX block?
        var freezesAt = [Int](repeating: -1, count: k)    // block index frozen at position p, or -1
        for p in 0..<k {
            let b = perm[p] / bsz
            if !frozen[b] { frozen[b] = true; freezesAt[p] = b }
        }
        var seed: UInt64 = 0, stochastic = false
        if case .stochastic(let s) = config.rounding { seed = s; stochastic = true }

        let lazy = options.blockSize
        let threads = Parallel.defaultThreads
        var totalLoss = 0.0
        var counts = GridCounts()
        var i1 = 0
        while i1 < k {
            let i2 = min(i1 + lazy, k)
            let cnt = i2 - i1
            var errs = [Float](repeating: 0, count: n * cnt)
            let chunks = max(1, min(threads, n / 16))
            var lossParts = [Double](repeating: 0, count: chunks)
            var countParts = [GridCounts](repeating: GridCounts(), count: chunks)
            w.withUnsafeMutableBufferPointer { W in
            errs.withUnsafeMutableBufferPointer { E in
            u.withUnsafeBufferPointer { U in
            exps.withUnsafeMutableBufferPointer { X in
            lossParts.withUnsafeMutableBufferPointer { LP in
            countParts.withUnsafeMutableBufferPointer { CP in
                let wb = UncheckedSendable(W.baseAddress!), eb = UncheckedSendable(E.baseAddress!)
                let ub = UncheckedSendable(U.baseAddress!), xb = UncheckedSendable(X.baseAddress!)
                let lp = UncheckedSendable(LP.baseAddress!), cp = UncheckedSendable(CP.baseAddress!)
                Parallel.forEach(chunks, threads: threads) { c in
                    let W = wb.value, E = eb.value, U = ub.value, X = xb.value
                    var loss = 0.0
                    var cc = GridCounts()
                    var cur = [Float](repeating: 0, count: bsz)
                    for r in (n * c / chunks)..<(n * (c + 1) / chunks) {
                        let row = W + r * k
                        let er = E + r * cnt
                        for i in i1..<i2 {
                            let b = freezesAt[i]
                            if b >= 0 {
                                // current values of block b's columns in this row
                                let c0 = b * bsz, c1 = min(k, c0 + bsz)
                                var amax: Float = 0
                                for oc in c0..<c1 {
                                    let p = invPerm[oc]
                                    var v = row[p]
                                    if p >= i2 {
                                        // pending lazy update from columns i1..<i of this batch
                                        var acc: Float = 0
                                        for t in i1..<i { acc += er[t - i1] * U[t * k + p] }
                                        v -= acc
                                    }
                                    cur[oc - c0] = v
                                    amax = max(amax, abs(v))
                                }
                                X[r * nBlocks + b] = Int16(grid.exponent(amax: amax))
                                if let f = onFreeze { f(r, b, Array(cur[0..<(c1 - c0)])) }
                            }
                            let oc = perm[i]
                            let e = Int(X[r * nBlocks + oc / bsz])
                            let wv = row[i]
                            let rb: UInt32 = stochastic ? MXRounding.randomBits(seed: seed, row: r, col: oc) : 0
                            let q = grid.quantize(wv, exponent: e, random: rb, counts: &cc)
                            let d = U[i * k + i]
                            let err = (wv - q) / d
                            loss += Double(wv - q) * Double(wv - q) / (Double(d) * Double(d))
                            row[i] = q
                            er[i - i1] = err
                            let urow = U + i * k
                            for j in (i + 1)..<max(i + 1, i2) { row[j] -= err * urow[j] }
                        }
                    }
                    lp.value[c] = loss
                    cp.value[c] = cc
                }
            } } } } } }
            for c in 0..<chunks { totalLoss += lossParts[c]; counts.merge(countParts[c]) }
            // lazy update of the columns after the batch: W[:, i2:] -= Err · U[i1:i2, i2:]
            let rest = k - i2
            if rest > 0 {
                var ut = [Float](repeating: 0, count: rest * cnt)      // [rest, cnt] = U[i1:i2, i2:]ᵀ
                for t in 0..<cnt { for j in 0..<rest { ut[j * cnt + t] = u[(i1 + t) * k + i2 + j] } }
                let upd = MatOps.gemm(errs, ut, m: n, n: rest, k: cnt)
                for r in 0..<n {
                    let base = r * k + i2, ub = r * rest
                    for j in 0..<rest { w[base + j] -= upd[ub + j] }
                }
            }
            i1 = i2
        }
        for r in 0..<n { for p in 0..<k { weight[r * k + perm[p]] = w[r * k + p] } }
        var diag = WeightDiagnostics()
        diag.elements = n * k
        diag.saturated = counts.saturated
        diag.flushed = counts.flushed
        for e in exps { diag.exponentHistogram[Int(e) + 127] += 1 }
        return GPTQResult(loss: totalLoss / 2, deadColumns: dead, damping: damp, diagnostics: diag)
    }
}

/// MX diagnostics of a quantized weight (or activation) tensor, in the terms of the format layer:
/// elements that saturated at ±max normal, nonzero elements flushed to zero, and the
/// histogram of block scale exponents (index = E + 127).
public struct WeightDiagnostics: Sendable, Hashable {
    public var elements = 0
    public var saturated = 0
    public var flushed = 0
    public var exponentHistogram = [Int](repeating: 0, count: 256)
    public init() {}

    public init(_ d: MXDiagnostics) {
        elements = d.elements; saturated = d.saturated; flushed = d.flushedToZero
        exponentHistogram = d.exponentHistogram.count == 256 ? d.exponentHistogram : [Int](repeating: 0, count: 256)
    }

    public var saturatedShare: Double { elements > 0 ? Double(saturated) / Double(elements) : 0 }
    public var flushedShare: Double { elements > 0 ? Double(flushed) / Double(elements) : 0 }
    /// Unbiased scale exponents (E) of the smallest, median and largest block; nil when empty.
    public var exponentMin: Int? { exponentHistogram.firstIndex(where: { $0 > 0 }).map { $0 - 127 } }
    public var exponentMax: Int? { exponentHistogram.lastIndex(where: { $0 > 0 }).map { $0 - 127 } }
    public var exponentMedian: Int? {
        let total = exponentHistogram.reduce(0, +)
        if total == 0 { return nil }
        var acc = 0
        for (i, c) in exponentHistogram.enumerated() {
            acc += c
            if 2 * acc >= total { return i - 127 }
        }
        return nil
    }
    public mutating func merge(_ o: WeightDiagnostics) {
        elements += o.elements; saturated += o.saturated; flushed += o.flushed
        for i in 0..<256 { exponentHistogram[i] += o.exponentHistogram[i] }
    }
}
