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
    /// The linearity-theorem proxy: `alpha · weightRelMSE`, `alpha` measured once per layer as the
    /// NLL increase per unit of relative weight MSE from Gaussian weight noise.
    public var proxyDeltaNLL: Double
    public init(layer: String, params: Int, format: String, bits: Double, weightRelMSE: Double, measuredDeltaNLL: Double, proxyDeltaNLL: Double) {
        self.layer = layer; self.params = params; self.format = format; self.bits = bits; self.weightRelMSE = weightRelMSE
        self.measuredDeltaNLL = measuredDeltaNLL; self.proxyDeltaNLL = proxyDeltaNLL
    }
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
    public var showProgress = true
    public init(formats: [MXConfig], act: MXConfig?, recipe: Recipe, ptq: PTQOptions) {
        self.formats = formats; self.act = act; self.recipe = recipe; self.ptq = ptq
    }
}

/// Measures, for every block linear and every candidate format, the NLL increase on `probe` when
/// that layer alone is quantized, and the linearity-theorem proxy (Malinovskii et al., "Pushing the
/// Limits of Large Language Model Quantization via the Linearity Theorem", 2024).
///
/// Work is shared: the recipe runs once per format on a fresh model (`makeModel`) with
/// `calibration`, giving every layer's quantized weight mapped back to the original basis; the fp32
/// hidden states entering every block are computed once for the probe sequences, so measuring a
/// layer of block b runs only blocks b… (half a forward pass on average) — one partial pass per
/// layer and format, plus one per layer for the proxy's noise calibration. Deterministic.
public func measureSensitivity(makeModel: () throws -> LlamaModel, calibration: CalibrationSet, probe: CalibrationSet,
                               options o: SensitivityOptions) throws -> [LayerSensitivity] {
    precondition(!o.formats.isEmpty)
    // 1. the quantized weight of every layer under every format
    var effective: [[String: [Float]]] = []
    for (fi, f) in o.formats.enumerated() {
        let m = try makeModel()
        var p = o.ptq
        p.keepEffectiveWeights = true
        p.showProgress = o.showProgress
        let plan = QuantPlan(defaults: QuantSpec(weight: f, act: o.act), recipe: o.recipe)
        if o.showProgress { printErr("sensitivity: quantizing with \(f.format.rawValue) (\(fi + 1)/\(o.formats.count))") }
        effective.append(try quantize(model: m, plan: plan, calibration: calibration, options: p).effectiveWeights)
    }
    // 2. fp32 hidden states entering every block, and the fp32 NLL, on the probe sequences
    let model = try makeModel()
    let L = probe.length, nb = model.blocks.count
    var inputs: [[[Float]]] = []      // [block][sequence] → [L·hidden]
    var h = probe.sequences.map { model.embed($0) }
    for b in 0..<nb {
        inputs.append(h)
        for s in h.indices { model.forwardBlock(b, hidden: &h[s], seqLen: L) }
    }
    let tokens = Double(probe.sequences.count * (L - 1))
    func nll(from block: Int) -> Double {
        var total = 0.0
        for (s, seq) in probe.sequences.enumerated() {
            var x = inputs[block][s]
            for b in block..<nb { model.forwardBlock(b, hidden: &x, seqLen: L) }
            total += model.tokenNLL(hidden: x, tokens: seq).reduce(0, +)
        }
        return total / tokens
    }
    let base = nll(from: 0)
    // 3. per layer: the proxy's weight (noise), then every format
    var out: [LayerSensitivity] = []
    let total = nb * 7
    let progress = o.showProgress ? ProgressReporter("sensitivity", total: total) : nil
    var g = SplitMix64(seed: o.seed ^ 0x53454E53)
    for b in 0..<nb {
        for lin in model.blocks[b].linears {
            let w0 = lin.weight
            let norm2 = w0.reduce(0.0) { $0 + Double($1) * Double($1) }
            // Gaussian noise of relative MSE noiseRelMSE (Box–Muller from SplitMix64)
            let sigma = (o.noiseRelMSE * norm2 / Double(w0.count)).squareRoot()
            var noisy = w0
            for i in noisy.indices {
                let u1 = max(Double(g.next() >> 11) / Double(1 << 53), 1e-300), u2 = Double(g.next() >> 11) / Double(1 << 53)
                noisy[i] += Float(sigma * (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
            }
            let tNoise = relMSE(noisy, w0, norm2)
            lin.weight = noisy
            let alpha = (nll(from: b) - base) / tNoise
            lin.weight = w0
            for (fi, f) in o.formats.enumerated() {
                guard let wq = effective[fi][lin.name] else { continue }
                let t = relMSE(wq, w0, norm2)
                lin.weight = wq
                lin.actQuant = o.act
                let d = nll(from: b) - base
                lin.weight = w0
                lin.actQuant = nil
                out.append(LayerSensitivity(layer: lin.name, params: w0.count, format: f.format.rawValue,
                                            bits: f.format.storageBitsPerElement(block: f.block), weightRelMSE: t,
                                            measuredDeltaNLL: d, proxyDeltaNLL: alpha * t))
            }
            progress?.advance(detail: lin.name)
        }
    }
    progress?.finish()
    return out
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
