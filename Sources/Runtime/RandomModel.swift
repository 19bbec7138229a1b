// Small random Llama models built in memory, for tests and smoke checks of code that
// needs a model (runtime, PTQ, experiments) without a checkpoint on disk.
import Support
import ModelIO

extension LlamaConfig {
    /// A tiny config: vocab 50, hidden 24 (3 query heads, 1 KV head, head dim 8),
    /// FFN 40, 2 layers, eps 1e-5, theta 10000, tied embeddings, Hugging Face RoPE pairing.
    /// `headDim` defaults to hidden/heads; biases and RoPE scaling are off unless asked for.
    public static func tiny(vocabSize: Int = 50, hiddenSize: Int = 24, intermediateSize: Int = 40,
                            numLayers: Int = 2, numHeads: Int = 3, numKVHeads: Int = 1,
                            ropeLayout: RopeLayout = .halves, tiedEmbeddings: Bool = true,
                            headDim: Int? = nil, ropeScaling: RopeScaling = .none,
                            qkvBias: Bool = false, outputBias: Bool = false) -> LlamaConfig {
        LlamaConfig(vocabSize: vocabSize, hiddenSize: hiddenSize, intermediateSize: intermediateSize,
                    numLayers: numLayers, numHeads: numHeads, numKVHeads: numKVHeads,
                    headDim: headDim ?? hiddenSize / numHeads, rmsNormEps: 1e-5, ropeTheta: 10_000,
                    ropeLayout: ropeLayout, tiedEmbeddings: tiedEmbeddings, ropeScaling: ropeScaling,
                    qkvBias: qkvBias, outputBias: outputBias)
    }
}

extension LlamaModel {
    /// Hugging Face–named random tensors for `config` (deterministic in `seed`): linear
    /// weights N(0, 1/K), embeddings N(0, 1), norm weights 1 + N(0, 0.1²), biases (when the
    /// config has them) N(0, 0.5²), drawn after every other tensor so a model without biases
    /// gets the same weights as before they existed.
    public static func randomTensors(config c: LlamaConfig, seed: UInt64) -> [String: [Float]] {
        var t: [String: [Float]] = [:]
        var stream: UInt64 = 0
        func gauss(_ n: Int, _ scale: Float, _ offset: Float = 0) -> [Float] {
            var g = SplitMix64(seed: seed).fork(stream)
            stream += 1
            return (0..<n).map { _ in offset + scale * g.nextGaussian() }
        }
        let h = c.hiddenSize, f = c.intermediateSize
        let qd = c.numHeads * c.headDim, kvd = c.numKVHeads * c.headDim
        func lin(_ n: Int, _ k: Int) -> [Float] { gauss(n * k, 1 / Float(k).squareRoot()) }
        t["model.embed_tokens.weight"] = gauss(c.vocabSize * h, 1)
        for i in 0..<c.numLayers {
            let p = "model.layers.\(i)."
            t[p + "input_layernorm.weight"] = gauss(h, 0.1, 1)
            t[p + "self_attn.q_proj.weight"] = lin(qd, h)
            t[p + "self_attn.k_proj.weight"] = lin(kvd, h)
            t[p + "self_attn.v_proj.weight"] = lin(kvd, h)
            t[p + "self_attn.o_proj.weight"] = lin(h, qd)
            t[p + "post_attention_layernorm.weight"] = gauss(h, 0.1, 1)
            t[p + "mlp.gate_proj.weight"] = lin(f, h)
            t[p + "mlp.up_proj.weight"] = lin(f, h)
            t[p + "mlp.down_proj.weight"] = lin(h, f)
        }
        t["model.norm.weight"] = gauss(h, 0.1, 1)
        if !c.tiedEmbeddings { t["lm_head.weight"] = lin(c.vocabSize, h) }
        for i in 0..<c.numLayers {
            let p = "model.layers.\(i).self_attn."
            if c.qkvBias {
                t[p + "q_proj.bias"] = gauss(qd, 0.5)
                t[p + "k_proj.bias"] = gauss(kvd, 0.5)
                t[p + "v_proj.bias"] = gauss(kvd, 0.5)
            }
            if c.outputBias { t[p + "o_proj.bias"] = gauss(h, 0.5) }
        }
        return t
    }

    /// A random model (see `randomTensors`).
    public static func random(config: LlamaConfig, seed: UInt64) -> LlamaModel {
        let t = randomTensors(config: config, seed: seed)
        return try! LlamaModel(config: config, tensor: { t[$0] })
    }
}

extension LlamaCheckpoint {
    /// A random checkpoint (HF names, `.halves` layout) for `config` — e.g. to write with
    /// `writeGGUF` / `writeHFFolder` in tests.
    public static func random(config c: LlamaConfig, seed: UInt64, contextLength: Int = 2048) -> LlamaCheckpoint {
        let h = LlamaHyperparameters(vocab: c.vocabSize, hidden: c.hiddenSize, intermediate: c.intermediateSize,
                                     layers: c.numLayers, heads: c.numHeads, kvHeads: c.numKVHeads, headDim: c.headDim,
                                     rmsEps: Double(c.rmsNormEps), ropeTheta: c.ropeTheta,
                                     tiedEmbeddings: c.tiedEmbeddings, contextLength: contextLength,
                                     architecture: c.qkvBias && !c.outputBias ? .qwen2 : .llama,
                                     ropeScaling: c.ropeScaling, qkvBias: c.qkvBias, outputBias: c.outputBias)
        var tensors: [String: LlamaCheckpoint.Tensor] = [:]
        let raw = LlamaModel.randomTensors(config: c, seed: seed)
        for (name, shape) in h.expectedTensors() {
            tensors[name] = LlamaCheckpoint.Tensor(shape: shape, data: raw[name]!)
        }
        return LlamaCheckpoint(config: h, ropeLayout: .halves, tensors: tensors)
    }
}
