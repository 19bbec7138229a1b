import Foundation
import Support
import MXFormats
import Runtime

/// How much quantizing one linear layer alone costs, per candidate weight format.
public struct LayerSensitivity: Codable, Sendable, Equatable {
    /// Runtime name (`layers.3.mlp.down_proj`).
    public var layer: String
    /// Weight elements of the layer (N·K).
    public var params: Int
    /// Candidate weight format (canonical name) and its storage bits per element incl. the scale.
    public var format: String
    public var bits: Double
    /// Relative weight MSE ‖W − Ŵ‖²/‖W‖² of the layer quantized under the recipe (in the original basis).
    public var weightRelMSE: Double
    /// Increase of the mean NLL per probe token (nats) when only this layer is quantized
    /// (weights and, when given, its input activations), the rest of the model fp32.
    public var measuredDeltaNLL: Double
    /// Mean KL(fp32 ‖ quantized) of the next-token distributions per probe token (nats), same
    /// single-layer model: the NLL increase expected on text drawn from the fp32 model. Unlike
    /// `measuredDeltaNLL` it has no first-order term of random sign, so it is never negative
    /// (up to rounding) and is far less noisy on a small probe.
    public var measuredKL: Double
    /// The linearity-theorem proxy of `measuredKL`: `alpha · weightRelMSE`, `alpha` measured once
    /// per layer as the KL per unit of relative weight MSE caused by Gaussian weight noise.
    public var proxyKL: Double
    public init(layer: String, params: Int, format: String, bits: Double, weightRelMSE: Double, measuredDeltaNLL: Double,
                measuredKL: Double, proxyKL: Double) {
        self.layer = layer; self.params = params; self.format = format; self.bits = bits; self.weightRelMSE = weightRelMSE
        self.measuredDeltaNLL = measuredDeltaNLL; self.measuredKL = measuredKL; self.proxyKL = proxyKL
    }

    /// The prediction `predictor` (`measured`: ΔNLL, `kl`, `proxy`) of this row.
    public func prediction(_ predictor: String) -> Double {
        switch predictor { case "proxy": return proxyKL; case "kl": return measuredKL; default: return measuredDeltaNLL }
    }
    /// The allocation predictors, in the order tables show them.
    public static let predictors = ["measured", "kl", "proxy"]
}

/// Settings of a sensitivity measurement.
public struct SensitivityOptions: Sendable {
    /// Candidate weight formats (block size, scale rule and rounding as they will be used).
    public var formats: [MXConfig]
    /// Activation format of every quantized linear's input (nil: fp32), as in the final model.
    public var act: MXConfig?
    /// The recipe under which each format is applied (its stages run once per format).
    public var recipe: Recipe
    /// PTQ options of that recipe (calibration-time settings).
    public var ptq: PTQOptions
    /// Relative weight MSE of the Gaussian noise that calibrates the proxy's per-layer weight.
    public var noiseRelMSE: Double = 1e-2
    public var seed: UInt64 = 0
    /// Model copies measuring layers at once, each on `threads / workers` threads (nil: one per
    /// thread of `Parallel.defaultThreads`). Results do not depend on it.
    public var workers: Int? = nil
    public var showProgress = true
    public init(formats: [MXConfig], act: MXConfig?, recipe: Recipe, ptq: PTQOptions) {
        self.formats = formats; self.act = act; self.recipe = recipe; self.ptq = ptq
    }
}

/// Measures, for every block linear and every candidate format, the NLL increase and the KL to
/// the fp32 model on `probe` when that layer alone is quantized, and the linearity-theorem proxy
/// (Malinovskii et al., "Pushing the Limits of Large Language Model Quantization via the
/// Linearity Theorem", 2024).
///
/// Work is shared: the recipe runs once per format on a fresh model (`makeModel`) with
/// `calibration` (plain RTN needs no calibration pass), giving every layer's quantized weight
/// mapped back to the original basis; the fp32 hidden states entering every block and the fp32
/// next-token distributions are computed once for the probe sequences, so measuring a layer of
/// block b runs only blocks b… and the LM head: one partial pass per layer and format, plus one
/// per layer for the proxy's noise. Layers are spread over `workers` model copies (single-threaded
/// each: small GEMMs scale better that way than one pass on all threads). Deterministic: the
/// noise of a layer is seeded by the layer's index, and a pass does not depend on the worker.
public func measureSensitivity(makeModel: () throws -> LlamaModel, calibration: CalibrationSet, probe: CalibrationSet,
                               options o: SensitivityOptions) throws -> [LayerSensitivity] {
    precondition(!o.formats.isEmpty)
    let calibrated = o.recipe.effectiveStages.contains { $0 != .rtn }
    // 1. the quantized weight of every layer under every format
    var effective: [[String: [Float]]] = []
    for (fi, f) in o.formats.enumerated() {
        let m = try makeModel()
        var p = o.ptq
        p.keepEffectiveWeights = true
        p.showProgress = o.showProgress && calibrated
        let plan = QuantPlan(defaults: QuantSpec(weight: f, act: o.act), recipe: o.recipe)
        if o.showProgress { printErr("sensitivity: quantizing with \(f.format.rawValue) (\(fi + 1)/\(o.formats.count))") }
        if calibrated {
            effective.append(try quantize(model: m, plan: plan, calibration: calibration, options: p).effectiveWeights)
        } else {
            // RTN only: no equivalence scales, so the quantized weights are the effective ones.
            _ = try quantize(model: m, plan: plan, calibration: nil, options: p)
            var e: [String: [Float]] = [:]
            for b in m.blocks { for lin in b.linears where plan.spec(for: lin.name).weight != nil { e[lin.name] = lin.weight } }
            effective.append(e)
        }
    }
    // 2. fp32 hidden states entering every block, and the fp32 next-token distributions, on the probe
    let threads = max(1, Parallel.defaultThreads)
    let nWorkers = max(1, min(o.workers ?? threads, threads))
    let models = try (0..<nWorkers).map { _ in try makeModel() }
    let model = models[0]
    let L = probe.length, nb = model.blocks.count
    var blockInputs: [[[Float]]] = []      // [block][sequence] → [L·hidden]
    var h = probe.sequences.map { model.embed($0) }
    for b in 0..<nb {
        blockInputs.append(h)
        for s in h.indices { model.forwardBlock(b, hidden: &h[s], seqLen: L) }
    }
    let inputs = blockInputs
    let reference = h.indices.map { model.nextTokenReference(hidden: h[$0], seqLen: L) }
    let tokens = Double(probe.sequences.count * (L - 1))
    // the fp32 model's mean NLL, from the final hidden states already at hand
    let base = h.indices.reduce(0.0) { $0 + model.tokenNLL(hidden: h[$1], tokens: probe.sequences[$1]).reduce(0, +) } / tokens
    for m in models { m.threads = max(1, threads / nWorkers) }
    /// Mean NLL and KL per probe token with `m`'s current weights, running blocks `block`….
    func score(_ m: LlamaModel, from block: Int) -> (nll: Double, kl: Double) {
        var nll = 0.0, kl = 0.0
        for (s, seq) in probe.sequences.enumerated() {
            var x = inputs[block][s]
            for b in block..<nb { m.forwardBlock(b, hidden: &x, seqLen: L) }
            let r = m.tokenNLLAndKL(hidden: x, tokens: seq, reference: reference[s])
            nll += r.nll.reduce(0, +); kl += r.kl.reduce(0, +)
        }
        return (nll / tokens, kl / tokens)
    }
    // 3. per layer: the proxy's weight (noise), then every format
    let layers = (0..<nb).flatMap { b in model.blocks[b].linears.indices.map { (block: b, index: $0) } }
    // Work of a layer ∝ blocks still to run + the LM head (in block-equivalents), for the ETA.
    let blockParams = model.blocks[0].linears.reduce(0) { $0 + $1.outFeatures * $1.inFeatures }
    let headUnits = max(1, model.lmHead.outFeatures * model.lmHead.inFeatures / max(1, blockParams))
    func units(_ b: Int) -> Int { nb - b + headUnits }
    let progress = o.showProgress ? ProgressReporter("sensitivity", total: layers.reduce(0) { $0 + units($1.block) }) : nil
    let queue = WorkQueue(count: layers.count)
    let shared = UncheckedSendable((models, effective))
    let out = UncheckedSendable(UnsafeMutablePointer<[LayerSensitivity]>.allocate(capacity: layers.count))
    out.value.initialize(repeating: [], count: layers.count)
    defer { out.value.deinitialize(count: layers.count); out.value.deallocate() }
    Parallel.forEach(nWorkers, threads: nWorkers) { w in
        let m = shared.value.0[w], eff = shared.value.1
        while true {
            guard let i = queue.next() else { return }
            let (b, li) = layers[i]
            let lin = m.blocks[b].linears[li]
            let w0 = lin.weight
            let norm2 = w0.reduce(0.0) { $0 + Double($1) * Double($1) }
            // Gaussian noise of relative MSE noiseRelMSE (Box–Muller from SplitMix64, seeded per layer)
            var g = SplitMix64(seed: o.seed ^ 0x53454E53 ^ (UInt64(i + 1) &* 0x9E37_79B9_7F4A_7C15))
            let sigma = (o.noiseRelMSE * norm2 / Double(w0.count)).squareRoot()
            var noisy = w0
            for j in noisy.indices {
                let u1 = max(Double(g.next() >> 11) / Double(1 << 53), 1e-300), u2 = Double(g.next() >> 11) / Double(1 << 53)
                noisy[j] += Float(sigma * (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
            }
            let tNoise = relMSE(noisy, w0, norm2)
            lin.weight = noisy
            let alpha = tNoise > 0 ? score(m, from: b).kl / tNoise : 0
            lin.weight = w0
            var rows: [LayerSensitivity] = []
            for (fi, f) in o.formats.enumerated() {
                guard let wq = eff[fi][lin.name] else { continue }
                let t = relMSE(wq, w0, norm2)
                lin.weight = wq
                lin.actQuant = o.act
                let r = score(m, from: b)
                lin.weight = w0
                lin.actQuant = nil
                rows.append(LayerSensitivity(layer: lin.name, params: w0.count, format: f.format.rawValue,
                                             bits: f.format.storageBitsPerElement(block: f.block), weightRelMSE: t,
                                             measuredDeltaNLL: r.nll - base, measuredKL: r.kl, proxyKL: alpha * t))
            }
            out.value[i] = rows
            progress?.advance(units(b), detail: lin.name)
        }
    }
    progress?.finish()
    return (0..<layers.count).flatMap { out.value[$0] }
}

private func relMSE(_ a: [Float], _ ref: [Float], _ norm2: Double) -> Double {
    var e = 0.0
    for i in a.indices { let d = Double(a[i]) - Double(ref[i]); e += d * d }
    return norm2 > 0 ? e / norm2 : 0
}

/// Spearman rank correlation of two equally long samples (average ranks for ties).
public func spearman(_ x: [Double], _ y: [Double]) -> Double {
    precondition(x.count == y.count)
    func ranks(_ v: [Double]) -> [Double] {
        let idx = v.indices.sorted { v[$0] < v[$1] }
        var r = [Double](repeating: 0, count: v.count)
        var i = 0
        while i < idx.count {
            var j = i
            while j + 1 < idx.count && v[idx[j + 1]] == v[idx[i]] { j += 1 }
            for k in i...j { r[idx[k]] = Double(i + j) / 2 + 1 }
            i = j + 1
        }
        return r
    }
    let rx = ranks(x), ry = ranks(y)
    let n = Double(x.count)
    guard n > 1 else { return .nan }
    let mx = rx.reduce(0, +) / n, my = ry.reduce(0, +) / n
    var sxy = 0.0, sxx = 0.0, syy = 0.0
    for i in rx.indices { sxy += (rx[i] - mx) * (ry[i] - my); sxx += (rx[i] - mx) * (rx[i] - mx); syy += (ry[i] - my) * (ry[i] - my) }
    return sxx > 0 && syy > 0 ? sxy / (sxx * syy).squareRoot() : .nan
}
