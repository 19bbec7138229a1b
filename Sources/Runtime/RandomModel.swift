// Small random Llama models built in memory, for tests and smoke checks of code that
// needs a model (runtime, PTQ, experiments) without a checkpoint on disk.
import Support

extension LlamaConfig {
    /// A tiny config: vocab 50, hidden 24 (3 query heads, 1 KV head, head dim 8),
    /// FFN 40, 2 layers, eps 1e-5, theta 10000, tied embeddings, Hugging Face RoPE pairing.
    public static func tiny(vocabSize: Int = 50, hiddenSize: Int = 24, intermediateSize: Int = 40,
                            numLayers: Int = 2, numHeads: Int = 3, numKVHeads: Int = 1,
                            ropePairing: RopePairing = .halves, tiedEmbeddings: Bool = true) -> LlamaConfig {
        LlamaConfig(vocabSize: vocabSize, hiddenSize: hiddenSize, intermediateSize: intermediateSize,
                    numLayers: numLayers, numHeads: numHeads, numKVHeads: numKVHeads,
                    headDim: hiddenSize / numHeads, rmsNormEps: 1e-5, ropeTheta: 10_000,
                    ropePairing: ropePairing, tiedEmbeddings: tiedEmbeddings)
    }
}

extension LlamaModel {
    /// Hugging Face–named random tensors for `config` (deterministic in `seed`): linear
    /// weights N(0, 1/K), embeddings N(0, 1), norm weights 1 + N(0, 0.1²).
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
        return t
    }

    /// A random model (see `randomTensors`).
    public static func random(config: LlamaConfig, seed: UInt64) -> LlamaModel {
        let t = randomTensors(config: config, seed: seed)
        return try! LlamaModel(config: config, tensor: { t[$0] })
    }

    /// Reorders the rows of each attention head's q or k weight from Hugging Face order to
    /// llama.cpp's GGUF order (the converter's `permute`): within a head of dim d, new row
    /// 2i ← old row i and new row 2i+1 ← old row i + d/2. `w` is [heads·d, cols].
    public static func permuteHalvesToInterleaved(_ w: [Float], heads: Int, cols: Int) -> [Float] {
        let d = w.count / (heads * cols)
        precondition(d * heads * cols == w.count && d % 2 == 0)
        var out = [Float](repeating: 0, count: w.count)
        for hh in 0..<heads {
            for i in 0..<(d / 2) {
                for (newRow, oldRow) in [(2 * i, i), (2 * i + 1, i + d / 2)] {
                    let src = (hh * d + oldRow) * cols, dst = (hh * d + newRow) * cols
                    for c in 0..<cols { out[dst + c] = w[src + c] }
                }
            }
        }
        return out
    }
}
