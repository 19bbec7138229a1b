import Foundation
import XCTest
import Support
import MXFormats
import ModelIO
@testable import Runtime

/// Qwen2-style q/k/v biases, Llama `attention_bias` (q/k/v/o), head_dim ≠ hidden/heads and
/// scaled RoPE, each against the scalar Double reference (`ReferenceLlama`, which adds a bias
/// wherever the tensors have one and computes the RoPE frequencies from the Hugging Face
/// definitions on its own).
final class ArchitectureForwardTests: XCTestCase {
    func check(_ cfg: LlamaConfig, T: Int, seed: UInt64 = 5, rowBlock: Int = 128,
               file: StaticString = #filePath, line: UInt = #line) {
        let tensors = LlamaModel.randomTensors(config: cfg, seed: seed)
        let model = try! LlamaModel(config: cfg, tensor: { tensors[$0] })
        model.attentionRowBlock = rowBlock
        let tokens = randomTokens(T, vocab: cfg.vocabSize, seed: seed + 1)
        let got = model.logits(tokens)
        let want = ReferenceLlama(c: cfg, t: tensors).logits(tokens).flatMap { $0 }
        let (d, s) = maxAbsDiff(got, want)
        XCTAssertGreaterThan(s, 1, file: file, line: line)
        XCTAssertLessThan(d, 2e-5 * s, "logits differ from the reference by \(d) (scale \(s))", file: file, line: line)
    }

    /// Qwen2: biases on q/k/v (not o); grouped-query; head dims 8 (GEMM fallback) and 16 (tiled).
    func testQwen2BiasesMatchReference() {
        check(LlamaConfig.tiny(qkvBias: true), T: 17, rowBlock: 4)
        check(LlamaConfig.tiny(vocabSize: 40, hiddenSize: 64, intermediateSize: 80, numHeads: 4, numKVHeads: 2,
                               tiedEmbeddings: false, qkvBias: true), T: 21)
        // The biases matter: the same weights without them give other logits.
        let cfg = LlamaConfig.tiny(qkvBias: true)
        let t = LlamaModel.randomTensors(config: cfg, seed: 5)
        var noBias = cfg; noBias.qkvBias = false
        let tokens = randomTokens(9, vocab: cfg.vocabSize, seed: 6)
        let a = try! LlamaModel(config: cfg, tensor: { t[$0] }).logits(tokens)
        let b = try! LlamaModel(config: noBias, tensor: { t[$0] }).logits(tokens)
        XCTAssertGreaterThan(maxAbsDiff(a, b.map(Double.init)).diff, 1e-2)
    }

    /// Llama with attention_bias: q/k/v/o all biased.
    func testLlamaAttentionBiasMatchesReference() {
        check(LlamaConfig.tiny(vocabSize: 31, hiddenSize: 32, intermediateSize: 21, numLayers: 2, numHeads: 2,
                               numKVHeads: 2, qkvBias: true, outputBias: true), T: 13)
    }

    /// head_dim ≠ hidden/heads: q is [heads·hd, hidden], o is [hidden, heads·hd] (hd 8 over
    /// hidden 24 with 4 heads: 32 ≠ 24; hd 16 over hidden 40 with 4 heads: tiled kernels, 64 ≠ 40;
    /// hd 32 over hidden 48 with 2 heads, biases too).
    func testHeadDimNotHiddenOverHeadsMatchesReference() {
        check(LlamaConfig.tiny(hiddenSize: 24, numHeads: 4, numKVHeads: 2, headDim: 8), T: 15, rowBlock: 4)
        check(LlamaConfig.tiny(hiddenSize: 40, intermediateSize: 56, numHeads: 4, numKVHeads: 1, tiedEmbeddings: false,
                               headDim: 16), T: 19, rowBlock: 8)
        check(LlamaConfig.tiny(hiddenSize: 48, numLayers: 1, numHeads: 2, numKVHeads: 1, headDim: 32, qkvBias: true), T: 11)
    }

    /// Linear and llama3 RoPE scaling: the runtime's cos/sin tables follow the scaled frequencies.
    /// llama3 with original context 16 and factors 1/4: wavelength thresholds 16 and 4, so head
    /// dim 16 at θ = 10000 has pairs in all three bands (wavelengths 2π·10000^(i/8), i = 0…7).
    func testRopeScalingMatchesReference() {
        check(LlamaConfig.tiny(hiddenSize: 32, numLayers: 1, numHeads: 2, numKVHeads: 1, ropeScaling: .linear(factor: 4)), T: 23)
        let l3 = RopeScaling.llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 16)
        check(LlamaConfig.tiny(hiddenSize: 32, numLayers: 1, numHeads: 2, numKVHeads: 1, ropeScaling: l3), T: 23)
        // scaling changes the function (so the comparison above tests it)
        let cfg = LlamaConfig.tiny(hiddenSize: 32, numLayers: 1, numHeads: 2, numKVHeads: 1, ropeScaling: l3)
        var plain = cfg; plain.ropeScaling = .none
        let t = LlamaModel.randomTensors(config: cfg, seed: 5)
        let tokens = randomTokens(23, vocab: cfg.vocabSize, seed: 6)
        let a = try! LlamaModel(config: cfg, tensor: { t[$0] }).logits(tokens)
        let b = try! LlamaModel(config: plain, tensor: { t[$0] }).logits(tokens)
        XCTAssertGreaterThan(maxAbsDiff(a, b.map(Double.init)).diff, 1e-3)
    }

    /// A biased model needs its bias tensors: missing or mis-shaped ones are typed errors naming them.
    func testBiasTensorsChecked() {
        let cfg = LlamaConfig.tiny(qkvBias: true)
        let t = LlamaModel.randomTensors(config: cfg, seed: 1)
        XCTAssertThrowsError(try LlamaModel(config: cfg, tensor: { $0 == "model.layers.1.self_attn.k_proj.bias" ? nil : t[$0] })) {
            XCTAssertEqual($0 as? RuntimeError, .missingTensor("model.layers.1.self_attn.k_proj.bias"))
        }
        XCTAssertThrowsError(try LlamaModel(config: cfg, tensor: { $0 == "model.layers.0.self_attn.q_proj.bias" ? [1, 2] : t[$0] })) {
            XCTAssertEqual($0 as? RuntimeError, .tensorShape("model.layers.0.self_attn.q_proj.bias", "24", 2))
        }
        XCTAssertThrowsError(try LlamaModel(config: cfg, tensor: { $0 == "model.layers.0.self_attn.v_proj.bias" ? [Float](repeating: .nan, count: 8) : t[$0] })) {
            XCTAssertTrue("\($0)".contains("v_proj.bias"), "\($0)")
        }
    }

    /// The bias is added after every kind of product: fp32, activation-quantized, packed MX
    /// weights and the integer MX × MX route; the result is the bias-free product plus b.
    func testLinearBiasInEveryProductPath() {
        let n = 24, k = 64, m = 5
        let w = (0..<(n * k)).map { Float(sin(Double($0) * 0.37)) * 0.2 }
        let x = (0..<(m * k)).map { Float(cos(Double($0) * 0.11)) }
        let b = (0..<n).map { Float($0) * 0.25 - 3 }
        for (packed, act) in [(nil, nil), (nil, MXConfig(format: .mxint8)),
                              (MXConfig(format: .mxint4), nil), (MXConfig(format: .mxint4), MXConfig(format: .mxint8)),
                              (MXConfig(format: .mxfp4_e2m1), MXConfig(format: .mxfp8_e4m3))] as [(MXConfig?, MXConfig?)] {
            let plain = Linear(name: "p", outFeatures: n, inFeatures: k, weight: w)
            let biased = Linear(name: "b", outFeatures: n, inFeatures: k, weight: w)
            biased.bias = b
            for l in [plain, biased] {
                l.actQuant = act
                if let p = packed { l.packed = MXTensor(encoding: w, rows: n, cols: k, config: p) }
            }
            let y0 = plain.forward(x, rows: m), y1 = biased.forward(x, rows: m)
            for r in 0..<m { for j in 0..<n { XCTAssertEqual(y1[r * n + j], y0[r * n + j] + b[j], "\(String(describing: packed)) \(String(describing: act)) [\(r), \(j)]") } }
        }
    }

    /// The staged (true-sequential) pass, observeBlock and forwardBlock agree on a biased model.
    func testStagedPassWithBiases() {
        let cfg = LlamaConfig.tiny(vocabSize: 40, hiddenSize: 64, intermediateSize: 80, numHeads: 4, numKVHeads: 2,
                                   qkvBias: true, outputBias: true)
        let t = LlamaModel.randomTensors(config: cfg, seed: 3)
        let m = try! LlamaModel(config: cfg, tensor: { t[$0] })
        let T = 13
        let hs = (0..<2).map { s in m.embed(randomTokens(T, vocab: cfg.vocabSize, seed: UInt64(s + 1))) }
        var want = hs
        for s in want.indices { m.forwardBlock(0, hidden: &want[s], seqLen: T) }
        var got = hs
        m.forwardBlockStaged(0, hidden: &got, seqLen: T) { _ in }
        XCTAssertEqual(got, want)
    }

    /// A Qwen2-style checkpoint written as GGUF (`qwen2`, q/k rows not permuted) and as an HF folder
    /// loads to the same runtime logits.
    func testQwen2GGUFAndHFFolderGiveSameLogits() throws {
        let cfg = LlamaConfig.tiny(vocabSize: 40, hiddenSize: 64, intermediateSize: 96, numHeads: 4, numKVHeads: 2,
                                   qkvBias: true)
        let ck = LlamaCheckpoint.random(config: cfg, seed: 9)
        XCTAssertEqual(ck.config.architecture, .qwen2)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mxq-qwen2-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let gp = dir.appendingPathComponent("m.gguf").path, hp = dir.appendingPathComponent("hf").path
        try ck.writeGGUF(to: gp)
        try ck.writeHFFolder(to: hp)
        let g = try LlamaModel.load(path: gp), h = try LlamaModel.load(path: hp)
        XCTAssertEqual(g.config.ropeLayout, .halves)
        XCTAssertTrue(g.config.qkvBias && h.config.qkvBias)
        let tokens = randomTokens(15, vocab: cfg.vocabSize, seed: 2)
        let a = g.logits(tokens), b = h.logits(tokens)
        XCTAssertEqual(a, b)
        let want = ReferenceLlama(c: cfg, t: LlamaModel.randomTensors(config: cfg, seed: 9)).logits(tokens).flatMap { $0 }
        let (d, s) = maxAbsDiff(a, want)
        XCTAssertLessThan(d, 2e-5 * s)
    }
}
