import XCTest
import Foundation
import Support
import MXFormats
import Runtime
import TestSupport
@testable import PTQ

/// PTQ on models with attention biases (Qwen2: q/k/v; Llama attention_bias: q/k/v/o): the biases
/// stay fp32; a scale folded into a biased producer (v_proj rows for o_proj) divides its bias too.
final class BiasPTQTests: XCTestCase {
    func quiet() -> PTQOptions { var o = PTQOptions(); o.showProgress = false; return o }

    /// `Tiny.model`'s shapes and activation outliers, with biases (large ones, N(0, 0.5²), so
    /// that an unscaled v bias would change the function visibly).
    func biasedModel(outputBias: Bool = false, headDim: Int? = nil) -> LlamaModel {
        let cfg = LlamaConfig.tiny(vocabSize: 60, hiddenSize: 64, intermediateSize: 96, numLayers: 2, numHeads: 4,
                                   numKVHeads: 2, headDim: headDim, qkvBias: true, outputBias: outputBias)
        var t = LlamaModel.randomTensors(config: cfg, seed: 7)
        for i in 0..<cfg.numLayers {
            for name in ["input_layernorm", "post_attention_layernorm"] {
                var w = t["model.layers.\(i).\(name).weight"]!
                w[3] *= 8; w[17] *= 5; w[40] *= 12
                t["model.layers.\(i).\(name).weight"] = w
            }
        }
        return try! LlamaModel(config: cfg, tensor: { t[$0] })
    }

    /// SmoothQuant's fold of the o_proj scales into v_proj's rows divides v_proj's bias by the
    /// same scales: the fp32 block computes the same function (logits unchanged), and the bias
    /// really was rescaled (so the test would fail if it were left alone: checked by undoing it).
    /// Also with head_dim ≠ hidden/heads (4 heads of 32 over hidden 64: o_proj reads 128 channels).
    func testSmoothQuantWithVBiasKeepsFP32Logits() throws {
        for (outputBias, headDim) in [(false, nil), (true, nil), (false, 32)] as [(Bool, Int?)] {
            let model = biasedModel(outputBias: outputBias, headDim: headDim)
            let before = model.logits(Tiny.tokens)
            let vb0 = model.blocks.map { $0.vProj.bias! }, qb0 = model.blocks.map { $0.qProj.bias! }
            let ob0 = model.blocks.map { $0.oProj.bias }, ow0 = model.blocks.map { $0.oProj.weight }
            let plan = QuantPlan(defaults: .fp32, recipe: Recipe([.smoothQuant(alpha: 0.5)]))
            var state = PipelineState(model: model, plan: plan, options: quiet(), stages: plan.recipe.stages)
            try state.runSequential(Tiny.calibration())
            let after = model.logits(Tiny.tokens)
            let scale = before.map { abs($0) }.max()!
            let diff = zip(before, after).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(diff / scale, 1e-4, "fp32 logits changed by smoothing: \(diff) of \(scale)")
            for (i, b) in model.blocks.enumerated() {
                XCTAssertNotEqual(b.vProj.bias!, vb0[i], "block \(i): v bias must carry the o_proj scales")
                XCTAssertEqual(b.qProj.bias!, qb0[i], "q bias: its consumer-side scales fold into columns only")
                XCTAssertEqual(b.oProj.bias, ob0[i])
                // o_proj column c = (kv·per + h)·hd + d was multiplied by s_c (read off o's weights);
                // v row kv·hd + d, weight and bias, divided by it: b_new · s = b_old
                let c = model.config, hd = c.headDim, per = c.numHeads / c.numKVHeads
                for kv in 0..<c.numKVHeads {
                    for d in 0..<hd {
                        let col = (kv * per) * hd + d, r = kv * hd + d
                        let s = b.oProj.weight[col] / ow0[i][col]      // row 0 of o, column col
                        XCTAssertEqual(b.vProj.bias![r] * s, vb0[i][r], accuracy: 1e-5 * max(1, abs(vb0[i][r])), "block \(i) v row \(r)")
                    }
                }
            }
            // Control: restoring the unscaled v biases breaks the equivalence.
            for (i, b) in model.blocks.enumerated() { b.vProj.bias = vb0[i] }
            let wrong = model.logits(Tiny.tokens)
            XCTAssertGreaterThan(zip(before, wrong).map { abs($0 - $1) }.max()! / scale, 1e-3)
        }
    }

    /// GPTQ (after SmoothQuant) leaves biases as SmoothQuant left them; RTN and packing never touch
    /// them; packed MX weights and fake-quant give the same logits with biases added.
    /// Also with head_dim ≠ hidden/heads.
    func testGPTQAndPackingKeepBiases() throws {
      for headDim in [nil, 32] as [Int?] {
        let model = biasedModel(outputBias: true, headDim: headDim)
        let plan = QuantPlan(defaults: QuantSpec(weight: MXConfig(format: .mxint4), act: MXConfig(format: .mxint8)),
                             recipe: Recipe([.gptq(actOrder: false)]))
        let biases0 = model.blocks.map { b in [b.qProj, b.kProj, b.vProj, b.oProj].map { $0.bias! } }
        _ = try quantize(model: model, plan: plan, calibration: Tiny.calibration(samples: 2, length: 24), options: quiet())
        for (i, b) in model.blocks.enumerated() {
            XCTAssertEqual([b.qProj, b.kProj, b.vProj, b.oProj].map { $0.bias! }, biases0[i], "block \(i)")
            XCTAssertNil(b.gateProj.bias)
        }
        let fake = model.logits(Tiny.tokens)
        XCTAssertEqual(try packWeights(model: model, plan: plan), 0)
        let packed = model.logits(Tiny.tokens)
        let scale = fake.map { abs($0) }.max()!
        XCTAssertLessThan(zip(fake, packed).map { abs($0 - $1) }.max()! / scale, 1e-4)
        for (i, b) in model.blocks.enumerated() {
            XCTAssertEqual([b.qProj, b.kProj, b.vProj, b.oProj].map { $0.bias! }, biases0[i], "block \(i)")
        }
      }
    }

    /// The whole recipe smoothquant → awq → gptq runs on a biased model and, at 8-bit weights and
    /// activations, stays close to the fp32 model (a dropped or mis-scaled bias would not).
    func testFullRecipeOnBiasedModelStaysClose() throws {
        let ref = biasedModel().logits(Tiny.tokens)
        let model = biasedModel()
        let plan = QuantPlan(defaults: QuantSpec(weight: MXConfig(format: .mxint8), act: MXConfig(format: .mxint8)),
                             recipe: Recipe([.smoothQuant(alpha: 0.5), .awq, .gptq(actOrder: false)]))
        _ = try quantize(model: model, plan: plan, calibration: Tiny.calibration(samples: 2, length: 16), options: quiet())
        let got = model.logits(Tiny.tokens)
        let scale = ref.map { abs($0) }.max()!
        XCTAssertLessThan(zip(ref, got).map { abs($0 - $1) }.max()! / scale, 0.05)
    }
}
