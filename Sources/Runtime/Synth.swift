// Random-weight checkpoint folders of real model shapes (`mxq synth`), written tensor by tensor.
import Foundation
import Support
import ModelIO

/// What `synthesizeCheckpoint` wrote.
public struct SynthResult: Sendable {
    public var files: [String]
    /// Bytes of tensor data.
    public var tensorBytes: Int64
    public var parameters: Int
    public var seconds: Double
}

/// Values per independent random sub-stream of a synthetic tensor (a divisor of
/// `HFCheckpointWriter.chunkElements`, so chunks never split a sub-stream).
public let synthSubstreamElements = 1 << 16

/// Fills `out` with the values `offset ..< offset + out.count` of the synthetic tensor `spec`:
/// `spec.offset + spec.scale · N(0, 1)` as `LlamaModel.randomTensorSpecs` scales them, value `e`
/// drawn from the sub-stream `SplitMix64(seed).fork(spec.stream).fork(e / 65536)` (Box–Muller
/// pairs, sequentially within it), so any chunking and any thread count give the same tensor. `offset` must be a
/// multiple of `synthSubstreamElements`.
public func fillSyntheticTensor(_ spec: LlamaModel.RandomTensorSpec, seed: UInt64, offset: Int,
                                out: UnsafeMutableBufferPointer<Float>, threads: Int? = nil) {
    precondition(offset % synthSubstreamElements == 0, "fillSyntheticTensor: offset must be a multiple of \(synthSubstreamElements)")
    precondition(offset + out.count <= spec.count, "fillSyntheticTensor: range past the tensor")
    let subs = (out.count + synthSubstreamElements - 1) / synthSubstreamElements
    let base = SplitMix64(seed: seed).fork(spec.stream)
    let firstSub = offset / synthSubstreamElements
    let p = UncheckedSendable(out.baseAddress!), n = out.count
    Parallel.forEach(subs, threads: threads) { s in
        var g = base.fork(UInt64(firstSub + s))
        let lo = s * synthSubstreamElements, hi = min(n, lo + synthSubstreamElements)
        // Box–Muller pairs (both outputs: half the logarithms and draws of nextGaussian)
        var i = lo
        while i < hi {
            let u1 = max(Double(g.next() >> 11) * (1.0 / 9_007_199_254_740_992.0), 1e-300)
            let u2 = Double(g.next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
            let r = (-2 * Foundation.log(u1)).squareRoot(), t = 2 * Double.pi * u2
            p.value[i] = spec.offset + spec.scale * Float(r * Foundation.cos(t))
            if i + 1 < hi { p.value[i + 1] = spec.offset + spec.scale * Float(r * Foundation.sin(t)) }
            i += 2
        }
    }
}

/// The tensors of a synthetic checkpoint: `LlamaModel.randomTensorSpecs` (linear weights N(0, 1/K),
/// norm weights 1 + N(0, 0.1²), biases N(0, 0.5²)) except the token embedding, N(0, 1/hidden)
/// instead of N(0, 1): about the 0.02 standard deviation of trained Llama-family embeddings at
/// widths 2048–4096, and what keeps a tied LM head's logits O(1) (with N(0, 1) rows a tied
/// 2048-wide model gives logits near ±2048 and an infinite perplexity).
public func synthTensorSpecs(config h: LlamaHyperparameters) -> [LlamaModel.RandomTensorSpec] {
    LlamaModel.randomTensorSpecs(config: LlamaConfig(h, ropeLayout: .halves)).map { s in
        s.name != "model.embed_tokens.weight" ? s
            : LlamaModel.RandomTensorSpec(name: s.name, count: s.count, stream: s.stream, scale: 1 / Float(h.hidden).squareRoot(), offset: 0)
    }
}

/// Writes a Hugging Face checkpoint folder with random weights for `config` (HF names, q/k rows in
/// halves layout, `synthTensorSpecs` drawn by `fillSyntheticTensor`), `config.json` with `extraConfig`, and a
/// synthetic byte-level `tokenizer.json` covering the vocabulary (`syntheticTokenizerJSON`, with
/// `specialTokens` at their ids) plus `tokenizer_config.json`. Refuses before writing anything
/// when the disk lacks room (`CheckpointWriteError.noRoom`; `availableBytes` replaces the measured
/// free space, for tests). Memory stays at a few MB whatever the model size.
@discardableResult
public func synthesizeCheckpoint(config h: LlamaHyperparameters, dtype: SafetensorsWriter.DType, to dir: String, seed: UInt64,
                                 extraConfig: [String: Any] = [:], specialTokens: [(id: Int, content: String)] = [],
                                 shardBytes: Int = HFCheckpointWriter.defaultShardBytes, availableBytes: Int64? = nil,
                                 showProgress: Bool = false) throws -> SynthResult {
    let t0 = monotonicSeconds()
    try h.validate(path: dir)
    let writer = HFCheckpointWriter(config: h, dtype: dtype, shardBytes: shardBytes)
    let tok = syntheticTokenizerJSON(vocab: h.vocab, special: specialTokens)
    try writer.checkRoom(dir: dir, extraBytes: Int64(tok.utf8.count), available: availableBytes)
    let specs = Dictionary(uniqueKeysWithValues: synthTensorSpecs(config: h).map { ($0.name, $0) })
    let progress = showProgress ? ProgressReporter("synth", total: h.expectedTensorCount) : nil
    var files = try writer.write(to: dir, extraConfig: extraConfig, progress: progress) { name, shape, off, out in
        guard let s = specs[name], s.count == shape.reduce(1, *) else {
            preconditionFailure("synth: no random spec for \(name) \(shape)")
        }
        fillSyntheticTensor(s, seed: seed, offset: off, out: out)
    }
    progress?.finish()
    try writeFile(tok, to: (dir as NSString).appendingPathComponent("tokenizer.json"))
    let bos = specialTokens.first { $0.id == h.bosTokenID }?.content
    let eosID = extraConfig["eos_token_id"] as? Int
    let eos = specialTokens.first { $0.id == eosID }?.content
    try writeFile(tokenizerConfigJSON(bos: bos, eos: eos), to: (dir as NSString).appendingPathComponent("tokenizer_config.json"))
    files += ["tokenizer.json", "tokenizer_config.json"]
    let params = h.expectedTensors().reduce(0) { $0 + $1.shape.reduce(1, *) }
    return SynthResult(files: files, tensorBytes: writer.tensorBytes, parameters: params, seconds: monotonicSeconds() - t0)
}

extension LlamaModel {
    /// The model's current weight `name` (Hugging Face name, see `LlamaHyperparameters.expectedTensors`)
    /// as row-major fp32 in Hugging Face's halves RoPE layout: when the model runs `.interleaved`
    /// (GGUF `llama` weights) the q/k rows and their biases are permuted back
    /// (`RopeLayout.permuteInterleavedToHalves`). Whatever PTQ left in the model is returned:
    /// fake-quantized linear weights, norms with SmoothQuant scales folded in, scaled biases.
    /// `lm_head.weight` is the LM head's weight (also for a tied model). Nil for an unknown name.
    public func hfTensor(_ name: String) -> [Float]? {
        switch name {
        case "model.embed_tokens.weight": return embedding
        case "model.norm.weight": return finalNorm
        case "lm_head.weight": return lmHead.weight
        default: break
        }
        let pre = "model.layers."
        guard name.hasPrefix(pre) else { return nil }
        let rest = name.dropFirst(pre.count).split(separator: ".", maxSplits: 1)
        guard rest.count == 2, let i = Int(rest[0]), i >= 0, i < blocks.count else { return nil }
        let b = blocks[i]
        let lin: [String: Linear] = ["self_attn.q_proj": b.qProj, "self_attn.k_proj": b.kProj, "self_attn.v_proj": b.vProj,
                                     "self_attn.o_proj": b.oProj, "mlp.gate_proj": b.gateProj, "mlp.up_proj": b.upProj,
                                     "mlp.down_proj": b.downProj]
        let field = String(rest[1])
        if field == "input_layernorm.weight" { return b.inputNorm }
        if field == "post_attention_layernorm.weight" { return b.postAttentionNorm }
        guard let dot = field.lastIndex(of: "."), let l = lin[String(field[..<dot])] else { return nil }
        let kind = field[field.index(after: dot)...]
        guard let v = kind == "weight" ? l.weight : kind == "bias" ? l.bias : nil else { return nil }
        let heads = l === b.qProj ? config.numHeads : l === b.kProj ? config.numKVHeads : 0
        if heads > 0 && config.ropeLayout == .interleaved {
            return RopeLayout.permuteInterleavedToHalves(v, heads: heads, cols: kind == "weight" ? l.inFeatures : 1)
        }
        return v
    }
}
