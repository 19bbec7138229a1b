import XCTest
import Foundation
import Support
import TestSupport
@testable import ModelIO

/// config.json fields of Llama / Mistral / Qwen2 checkpoints: honoured or refused with an error
/// naming the field; RoPE scaling frequencies against hand-derived values; Qwen2 and biased
/// checkpoints through the GGUF and HF writers/readers.
final class ArchitectureConfigTests: XCTestCase {
    /// A Llama-3.1-8B-like config.json (shapes shrunk) as Hugging Face publishes it.
    let llama31: [String: Any] = [
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "attention_bias": false, "mlp_bias": false,
        "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 64, "intermediate_size": 96,
        "max_position_embeddings": 131072, "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2,
        "pretraining_tp": 1, "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": false,
        "rope_scaling": ["factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 8192, "rope_type": "llama3"],
        "torch_dtype": "bfloat16", "use_cache": true, "vocab_size": 40]

    /// A Qwen2.5-0.5B-like config.json (shapes shrunk).
    let qwen25: [String: Any] = [
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "attention_dropout": 0.0, "bos_token_id": 3,
        "eos_token_id": 4, "hidden_act": "silu", "hidden_size": 64, "intermediate_size": 96,
        "max_position_embeddings": 32768, "max_window_layers": 1, "num_attention_heads": 4, "num_hidden_layers": 2,
        "num_key_value_heads": 2, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "sliding_window": 32768,
        "tie_word_embeddings": true, "use_sliding_window": false, "vocab_size": 40, "rope_scaling": NSNull()]

    /// A Mistral-7B-v0.1-like config.json (shapes shrunk).
    let mistral: [String: Any] = [
        "architectures": ["MistralForCausalLM"], "model_type": "mistral", "bos_token_id": 1, "hidden_act": "silu",
        "hidden_size": 64, "intermediate_size": 96, "max_position_embeddings": 32768, "num_attention_heads": 4,
        "num_hidden_layers": 2, "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "sliding_window": 4096, "tie_word_embeddings": false, "vocab_size": 40]

    func parse(_ j: [String: Any]) throws -> LlamaHyperparameters { try LlamaHyperparameters.fromHFConfig(j, path: "cfg.json") }

    func expectBad(_ j: [String: Any], key: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try parse(j), file: file, line: line) { e in
            switch e as? ModelIOError {
            case let .missingMetadata(p, k)?, let .badMetadata(p, k, _, _)?:
                XCTAssertEqual(k, key, "\(e)", file: file, line: line); XCTAssertEqual(p, "cfg.json", file: file, line: line)
                XCTAssertTrue("\(e)".contains(key), file: file, line: line)
            default: XCTFail("\(e)", file: file, line: line)
            }
        }
    }

    func with(_ j: [String: Any], _ k: String, _ v: Any?) -> [String: Any] { var c = j; c[k] = v; return c }

    // MARK: RoPE frequencies

    /// Llama 3.1 (θ = 500000, head dim 128, factor 8, low 1, high 4, original 8192): thresholds
    /// λ_high = 8192/4 = 2048, λ_low = 8192/1 = 8192 on the wavelength λ = 2π/f, f_i = θ^(−i/64).
    /// - i = 0: f = 1, λ = 2π < 2048 → kept: 1.
    /// - i = 32: f = 500000^(−1/2) = √2·10⁻³ = 0.0014142135623730950; λ = 2π·1000/√2 = 4442.8829;
    ///   s = (8192/λ − 1)/(4 − 1) = (1.8438544 − 1)/3 = 0.2812848;
    ///   f' = (1 − s)·f/8 + s·f = f·(0.0898394 + 0.2812848) = f·0.3711242 = 5.2484616e-4.
    /// - i = 40: f = 500000^(−5/8) = exp(−13.1223634·0.625) = 2.7424818e-4, λ = 22911 > 8192 → f/8 = 3.4281022e-5.
    /// - i = 63: f = 500000^(−63/64) = 2.4551408e-6 → f/8 = 3.0689260e-7.
    func testLlama3InverseFrequenciesHandDerived() {
        let s = RopeScaling.llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192)
        let f = s.inverseFrequencies(headDim: 128, theta: 500_000)
        XCTAssertEqual(f.count, 64)
        for (i, want) in [(0, 1.0), (32, 5.2484616e-4), (40, 3.4281022e-5), (63, 3.0689260e-7)] {
            XCTAssertEqual(f[i], want, accuracy: 2e-7 * want, "pair \(i)")
        }
        // the unscaled frequencies for comparison: high band equal, low band ÷ 8
        let plain = RopeScaling.none.inverseFrequencies(headDim: 128, theta: 500_000)
        XCTAssertEqual(plain[32], 2.0.squareRoot() / 1000, accuracy: 1e-18)
        for i in 0...28 { XCTAssertEqual(f[i], plain[i], "pair \(i) lies in the high-frequency band (λ < 2048)") }
        for i in 35..<64 { XCTAssertEqual(f[i], plain[i] / 8, accuracy: 1e-15 * plain[i], "pair \(i) lies in the low-frequency band (λ > 8192)") }
        for i in 29...34 { XCTAssertTrue(f[i] < plain[i] && f[i] > plain[i] / 8, "pair \(i) is blended") }
        // linear: every frequency ÷ factor
        let lin = RopeScaling.linear(factor: 2).inverseFrequencies(headDim: 8, theta: 10_000)
        assertClose(lin, [0.5, 0.05, 0.005, 0.0005], accuracy: 1e-15)
    }

    // MARK: config.json

    func testAcceptedConfigs() throws {
        let l = try parse(llama31)
        XCTAssertEqual(l.architecture, .llama)
        XCTAssertEqual(l.ropeScaling, .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192))
        XCTAssertEqual(l.ropeTheta, 500_000); XCTAssertEqual(l.bosTokenID, 1)
        XCTAssertFalse(l.qkvBias || l.outputBias); XCTAssertNil(l.slidingWindow)
        XCTAssertEqual(l.contextLength, 131072)
        let lb = try parse(with(llama31, "attention_bias", true))
        XCTAssertTrue(lb.qkvBias && lb.outputBias)
        XCTAssertEqual(lb.expectedTensorCount, lb.expectedTensors().count)
        XCTAssertTrue(lb.expectedTensors().contains { $0.name == "model.layers.1.self_attn.o_proj.bias" && $0.shape == [64] })
        // the old key name "type" and linear scaling
        XCTAssertEqual(try parse(with(llama31, "rope_scaling", ["type": "linear", "factor": 2.0])).ropeScaling, .linear(factor: 2))
        XCTAssertEqual(try parse(with(llama31, "rope_scaling", ["rope_type": "default"])).ropeScaling, RopeScaling.none)
        // transformers 5: rope_parameters holds theta and the scaling
        var v5 = with(llama31, "rope_scaling", nil); v5["rope_theta"] = nil
        v5["rope_parameters"] = ["rope_type": "linear", "factor": 4.0, "rope_theta": 250000.0]
        let p5 = try parse(v5)
        XCTAssertEqual(p5.ropeScaling, .linear(factor: 4)); XCTAssertEqual(p5.ropeTheta, 250_000)

        let q = try parse(qwen25)
        XCTAssertEqual(q.architecture, .qwen2)
        XCTAssertTrue(q.qkvBias); XCTAssertFalse(q.outputBias)
        XCTAssertNil(q.slidingWindow, "use_sliding_window false: full attention everywhere")
        XCTAssertTrue(q.tiedEmbeddings); XCTAssertEqual(q.ropeTheta, 1_000_000); XCTAssertEqual(q.bosTokenID, 3)
        XCTAssertEqual(q.expectedTensorCount, 2 + 12 * 2)
        XCTAssertEqual(q.expectedTensors().first { $0.name == "model.layers.0.self_attn.k_proj.bias" }?.shape, [32])
        // sliding attention on layers ≥ max_window_layers (1 of 2): the window applies
        let qs = try parse(with(with(qwen25, "use_sliding_window", true), "sliding_window", 256))
        XCTAssertEqual(qs.slidingWindow, 256)
        XCTAssertEqual(try parse(with(with(qwen25, "use_sliding_window", true), "sliding_window", nil)).slidingWindow, 4096,
                       "Qwen2Config's default")
        XCTAssertNil(try parse(with(with(qwen25, "use_sliding_window", true), "sliding_window", NSNull())).slidingWindow)
        // ... but not when every layer is below max_window_layers
        XCTAssertNil(try parse(with(with(qwen25, "use_sliding_window", true), "max_window_layers", 2)).slidingWindow)
        var lt = with(qwen25, "use_sliding_window", true); lt["layer_types"] = ["full_attention", "sliding_attention"]; lt["max_window_layers"] = 28
        XCTAssertEqual(try parse(lt).slidingWindow, 32768)

        let m = try parse(mistral)
        XCTAssertEqual(m.architecture, .mistral); XCTAssertEqual(m.slidingWindow, 4096)
        XCTAssertNil(try parse(with(mistral, "sliding_window", NSNull())).slidingWindow)
        XCTAssertEqual(try parse(with(mistral, "sliding_window", nil)).slidingWindow, 4096, "Hugging Face's default")
        XCTAssertEqual(try parse(with(mistral, "num_key_value_heads", NSNull())).kvHeads, 4, "null: as many as heads")
        XCTAssertThrowsError(try m.checkSequenceLength(4097, what: "eval.ctx", path: "cfg.json")) { e in
            guard case let .badMetadata(_, k, _, f)? = e as? ModelIOError else { return XCTFail("\(e)") }
            XCTAssertEqual(k, "sliding_window"); XCTAssertEqual(f, "4096")
        }
        XCTAssertNoThrow(try m.checkSequenceLength(4096, what: "eval.ctx", path: "cfg.json"))

        // round trips through hfConfigJSON
        for c in [l, lb, q, qs, m, p5] {
            let j = try JSONSerialization.jsonObject(with: Data(c.hfConfigJSON().utf8)) as! [String: Any]
            XCTAssertEqual(try parse(j), c, c.hfConfigJSON())
        }
    }

    /// Each field that changes the maths, when set to something mxq does not run, is refused naming it.
    func testRefusedFieldsAreNamed() {
        expectBad(with(llama31, "architectures", ["GemmaForCausalLM"]), key: "architectures")
        expectBad(with(llama31, "architectures", ["LlamaForCausalLM", "MistralForCausalLM"]), key: "architectures")
        expectBad(with(llama31, "architectures", ["MistralForCausalLM"]), key: "architectures")   // ≠ model_type
        expectBad(with(llama31, "model_type", "gemma"), key: "model_type")
        expectBad(with(llama31, "hidden_act", "gelu"), key: "hidden_act")
        expectBad(with(llama31, "mlp_bias", true), key: "mlp_bias")
        expectBad(with(llama31, "attention_bias", "yes"), key: "attention_bias")
        expectBad(with(mistral, "attention_bias", true), key: "attention_bias")
        expectBad(with(qwen25, "attention_bias", false), key: "attention_bias")
        expectBad(with(llama31, "partial_rotary_factor", 0.5), key: "partial_rotary_factor")
        expectBad(with(llama31, "sliding_window", 4096), key: "sliding_window")
        expectBad(with(llama31, "use_sliding_window", true), key: "use_sliding_window")
        var badTypes = with(qwen25, "use_sliding_window", true); badTypes["layer_types"] = ["full_attention"]
        expectBad(badTypes, key: "layer_types")
        expectBad(with(with(qwen25, "use_sliding_window", true), "sliding_window", 0), key: "sliding_window")
        expectBad(with(qwen25, "num_key_value_heads", nil), key: "num_key_value_heads")
        expectBad(with(mistral, "num_key_value_heads", nil), key: "num_key_value_heads")
        expectBad(with(llama31, "bos_token_id", 40), key: "bos_token_id")
        expectBad(with(llama31, "bos_token_id", "<s>"), key: "bos_token_id")
        for t in ["dynamic", "yarn", "longrope", "ntk", "su"] {
            expectBad(with(llama31, "rope_scaling", ["rope_type": t, "factor": 2.0]), key: "rope_scaling.rope_type")
        }
        expectBad(with(llama31, "rope_scaling", ["type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768]),
                  key: "rope_scaling.type")
        expectBad(with(llama31, "rope_scaling", ["factor": 2.0]), key: "rope_scaling.rope_type")
        expectBad(with(llama31, "rope_scaling", "linear"), key: "rope_scaling")
        expectBad(with(llama31, "rope_scaling", ["rope_type": "linear"]), key: "rope_scaling.factor")
        expectBad(with(llama31, "rope_scaling", ["rope_type": "linear", "factor": 0.0]), key: "rope_scaling.factor")
        expectBad(with(llama31, "rope_scaling", ["rope_type": "linear", "factor": 2.0, "attention_factor": 1.0]),
                  key: "rope_scaling.attention_factor")
        expectBad(with(llama31, "rope_scaling", ["rope_type": "linear", "type": "dynamic", "factor": 2.0]), key: "rope_scaling.type")
        let l3: [String: Any] = ["rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                 "original_max_position_embeddings": 8192]
        for k in ["factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"] {
            expectBad(with(llama31, "rope_scaling", with(l3, k, nil)), key: "rope_scaling." + k)
        }
        expectBad(with(llama31, "rope_scaling", with(l3, "high_freq_factor", 1.0)), key: "rope_scaling.high_freq_factor")
        expectBad(with(llama31, "rope_scaling", with(l3, "original_max_position_embeddings", 8192.5)),
                  key: "rope_scaling.original_max_position_embeddings")
        var both = llama31; both["rope_parameters"] = ["rope_type": "default", "rope_theta": 500000.0]
        expectBad(both, key: "rope_parameters")
        var v5 = with(llama31, "rope_scaling", nil); v5["rope_parameters"] = ["rope_type": "yarn", "factor": 4.0]
        expectBad(v5, key: "rope_parameters.rope_type")
        v5["rope_parameters"] = ["rope_type": "default", "rope_theta": 1000.0]
        expectBad(v5, key: "rope_theta")   // disagrees with the top-level rope_theta 500000
    }

    // MARK: checkpoints with biases

    func biasedCheckpoint(_ h: LlamaHyperparameters, seed: UInt64 = 2) -> LlamaCheckpoint {
        var t: [String: LlamaCheckpoint.Tensor] = [:]
        for (i, e) in h.expectedTensors().enumerated() {
            let v = randomFloats(e.shape.reduce(1, *), seed: seed &* 1000 &+ UInt64(i), scale: 0.1)
            t[e.name] = .init(shape: e.shape, data: e.name.hasSuffix("norm.weight") ? v.map { 1 + $0 } : v)
        }
        return LlamaCheckpoint(config: h, ropeLayout: .halves, tensors: t)
    }

    /// Qwen2 (q/k/v biases, `qwen2` GGUF without q/k permutation) and Llama with attention_bias
    /// (q/k/v/o biases; in GGUF the q/k biases are permuted with their rows) round-trip through
    /// both writers; a missing or mis-shaped bias is a typed error naming it.
    func testBiasedCheckpointsRoundTrip() throws {
        let dir = makeTempDir("mio-arch"); defer { try? FileManager.default.removeItem(at: dir) }
        // the biased Llama also has head_dim 32 ≠ hidden/heads = 16 (GGUF key_length)
        for (name, cfg) in [("qwen2", try parse(qwen25)),
                            ("llama-bias", try parse(with(with(llama31, "attention_bias", true), "head_dim", 32)))] {
            var c = cfg
            // GGUF stores eps as float32 and has no bos/llama3 scaling: exact values for the comparison
            c.ropeScaling = .none; c.contextLength = 256; c.bosTokenID = nil; c.rmsEps = 0x1p-16
            let ck = biasedCheckpoint(c)
            let gp = dir.appendingPathComponent(name + ".gguf").path, hp = dir.appendingPathComponent(name).path
            try ck.writeGGUF(to: gp)
            try ck.writeHFFolder(to: hp)
            let g = try LlamaCheckpoint.load(path: gp), h = try LlamaCheckpoint.load(path: hp)
            XCTAssertEqual(g.config, c, name); XCTAssertEqual(h.config, c, name)
            XCTAssertEqual(h.tensors, ck.tensors, name)
            XCTAssertEqual(g.converted(to: .halves).tensors, ck.tensors, name)
            let f = try GGUFFile(path: gp)
            XCTAssertEqual(f["general.architecture"]?.string, c.architecture == .qwen2 ? "qwen2" : "llama")
            XCTAssertTrue(f.hasTensor("blk.1.attn_v.bias"))
            XCTAssertEqual(f.hasTensor("blk.0.attn_output.bias"), c.outputBias)
            let qb = "model.layers.0.self_attn.q_proj.bias"
            if c.architecture == .qwen2 {
                XCTAssertEqual(g.ropeLayout, .halves); XCTAssertEqual(g.tensors[qb], ck.tensors[qb])
            } else {
                XCTAssertEqual(g.ropeLayout, .interleaved)
                XCTAssertEqual(g.tensors[qb]!.data, RopeLayout.permuteHalvesToInterleaved(ck.tensors[qb]!.data, heads: 4, cols: 1))
                XCTAssertEqual(g.config.headDim, 32)
                XCTAssertEqual(g.tensors["model.layers.1.self_attn.o_proj.weight"]?.shape, [64, 128])
            }
            // a bias missing from the HF folder / of the wrong shape
            var w = SafetensorsWriter()
            for e in c.expectedTensors() where e.name != "model.layers.1.self_attn.k_proj.bias" {
                let t = ck.tensors[e.name]!
                if e.name == "model.layers.0.self_attn.v_proj.bias" && name == "llama-bias" {
                    w.add(e.name, shape: [t.shape[0] - 1], values: Array(t.data.dropLast()))
                } else { w.add(e.name, shape: t.shape, values: t.data) }
            }
            try w.write(to: hp + "/model.safetensors")
            XCTAssertThrowsError(try LlamaCheckpoint.load(path: hp)) { e in
                switch e as? ModelIOError {
                case let .missingTensor(_, t)?: XCTAssertEqual(t, "model.layers.1.self_attn.k_proj.bias"); XCTAssertEqual(name, "qwen2")
                case let .shapeMismatch(_, t, f, x)?:
                    XCTAssertEqual(t, "model.layers.0.self_attn.v_proj.bias"); XCTAssertEqual(f, [63]); XCTAssertEqual(x, [64])
                default: XCTFail("\(name): \(e)")
                }
            }
        }
        // GGUF: linear RoPE scaling is written and read back (`llama.rope.scaling.*`); llama3 scaling
        // (llama.cpp's rope_freqs tensor) is refused by the writer and by the reader
        var lin = try parse(with(llama31, "rope_scaling", ["rope_type": "linear", "factor": 4.0]))
        lin.contextLength = 256; lin.bosTokenID = nil; lin.rmsEps = 0x1p-16
        let lp = dir.appendingPathComponent("linear.gguf").path
        try biasedCheckpoint(lin).writeGGUF(to: lp)
        XCTAssertEqual(try LlamaCheckpoint.load(path: lp).config, lin)
        lin.ropeScaling = .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 64)
        XCTAssertThrowsError(try biasedCheckpoint(lin).writeGGUF(to: lp)) { e in
            guard case let .badMetadata(_, k, _, _)? = e as? ModelIOError else { return XCTFail("\(e)") }
            XCTAssertEqual(k, "rope_scaling")
        }
        // an unbiased Llama folder with a stray bias tensor is refused naming it
        let plain = biasedCheckpoint(try parse(with(llama31, "rope_scaling", NSNull())))
        let pp = dir.appendingPathComponent("plain").path
        try plain.writeHFFolder(to: pp)
        var w = SafetensorsWriter()
        w.add("model.layers.0.self_attn.q_proj.bias", shape: [64], values: [Float](repeating: 0, count: 64))
        try w.write(to: pp + "/extra.safetensors")
        XCTAssertThrowsError(try LlamaCheckpoint.load(path: pp)) { e in
            XCTAssertTrue("\(e)".contains("model.layers.0.self_attn.q_proj.bias"), "\(e)")
        }
    }
}

private func assertClose(_ a: [Double], _ b: [Double], accuracy: Double, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy, file: file, line: line) }
}
