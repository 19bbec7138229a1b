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
    /// How `randomTensors` draws one tensor: `count` values `offset + scale · N(0, 1)` from the
    /// stream `SplitMix64(seed).fork(stream)`.
    public struct RandomTensorSpec: Sendable {
        public let name: String, count: Int, stream: UInt64, scale: Float, offset: Float
        public init(name: String, count: Int, stream: UInt64, scale: Float, offset: Float) {
            self.name = name; self.count = count; self.stream = stream; self.scale = scale; self.offset = offset
        }
    }

    /// The tensors of a random model for `config`, in drawing order (stream numbers): linear
    /// weights N(0, 1/K), embeddings N(0, 1), norm weights 1 + N(0, 0.1²), biases (when the config
    /// has them) N(0, 0.5²), drawn after every other tensor so a model without biases gets the
    /// same weights as before they existed.
    public static func randomTensorSpecs(config c: LlamaConfig) -> [RandomTensorSpec] {
        var out: [RandomTensorSpec] = []
        func gauss(_ name: String, _ n: Int, _ scale: Float, _ offset: Float = 0) {
            out.append(RandomTensorSpec(name: name, count: n, stream: UInt64(out.count), scale: scale, offset: offset))
        }
        let h = c.hiddenSize, f = c.intermediateSize
        let qd = c.numHeads * c.headDim, kvd = c.numKVHeads * c.headDim
        func lin(_ name: String, _ n: Int, _ k: Int) { gauss(name, n * k, 1 / Float(k).squareRoot()) }
        gauss("model.embed_tokens.weight", c.vocabSize * h, 1)
        for i in 0..<c.numLayers {
            let p = "model.layers.\(i)."
            gauss(p + "input_layernorm.weight", h, 0.1, 1)
            lin(p + "self_attn.q_proj.weight", qd, h)
            lin(p + "self_attn.k_proj.weight", kvd, h)
            lin(p + "self_attn.v_proj.weight", kvd, h)
            lin(p + "self_attn.o_proj.weight", h, qd)
            gauss(p + "post_attention_layernorm.weight", h, 0.1, 1)
            lin(p + "mlp.gate_proj.weight", f, h)
            lin(p + "mlp.up_proj.weight", f, h)
            lin(p + "mlp.down_proj.weight", h, f)
        }
        gauss("model.norm.weight", h, 0.1, 1)
        if !c.tiedEmbeddings { lin("lm_head.weight", c.vocabSize, h) }
        for i in 0..<c.numLayers {
            let p = "model.layers.\(i).self_attn."
            if c.qkvBias {
                gauss(p + "q_proj.bias", qd, 0.5)
                gauss(p + "k_proj.bias", kvd, 0.5)
                gauss(p + "v_proj.bias", kvd, 0.5)
            }
            if c.outputBias { gauss(p + "o_proj.bias", h, 0.5) }
        }
        return out
    }

    /// Hugging Face–named random tensors for `config` (deterministic in `seed`; see
    /// `randomTensorSpecs` for the distributions), each drawn sequentially from its stream.
    public static func randomTensors(config c: LlamaConfig, seed: UInt64) -> [String: [Float]] {
        var t: [String: [Float]] = [:]
        for s in randomTensorSpecs(config: c) {
            var g = SplitMix64(seed: seed).fork(s.stream)
            t[s.name] = (0..<s.count).map { _ in s.offset + s.scale * g.nextGaussian() }
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
