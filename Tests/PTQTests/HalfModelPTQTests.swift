import XCTest
import Support
import MXFormats
import Runtime
import TestSupport
@testable import PTQ

/// PTQ of a model with 16-bit weights: the same quantized weights, bit for bit, as PTQ of the fp32
/// model of the widened weights, and the quantized weights are stored as bf16 (every MX value of
/// these magnitudes is a bfloat16), never as an fp32 copy.
final class HalfModelPTQTests: XCTestCase {
    /// Tiny's model with every linear weight rounded to bf16: as a 16-bit model and as fp32.
    func pair() throws -> (half: LlamaModel, full: LlamaModel) {
        let ref = Tiny.model()
        var lins: [String: [UInt16]] = [:]
        for l in ref.linears where l.name != "lm_head" {
            lins[l.name] = l.weight.map { w -> UInt16 in
                let u = w.bitPattern
                return UInt16(truncatingIfNeeded: (u &+ 0x7FFF &+ ((u >> 16) & 1)) >> 16)
            }
        }
        func hook(_ hf: String) -> String? {
            guard hf.hasPrefix("model.layers."), hf.hasSuffix(".weight") else { return nil }
            let n = String(hf.dropFirst("model.".count).dropLast(".weight".count))
            return lins[n] != nil ? n : nil
        }
        let t = LlamaModel.randomTensors(config: Tiny.config, seed: 7)
        func base(_ name: String) -> [Float]? {
            // norms as Tiny.model() builds them (its outlier gains)
            if name.hasSuffix("layernorm.weight") {
                let layer = Int(name.split(separator: ".")[2])!
                let kind = name.contains("input") ? "input_layernorm" : "post_attention_layernorm"
                return ref.blocks[layer].value(kind)
            }
            return t[name]
        }
        let half = try LlamaModel(config: Tiny.config, stored: { name in
            if let n = hook(name) { return .half(HalfWeights(format: .bf16, bits: lins[n]!)) }
            return base(name).map { .f32($0) }
        })
        let full = try LlamaModel(config: Tiny.config, tensor: { name in
            if let n = hook(name) { return lins[n]!.map(widenBF16) }
            return base(name)
        })
        return (half, full)
    }

    func testGPTQAndSmoothQuantOnSixteenBitModelMatchFP32Bitwise() throws {
        for recipe in [Recipe([.gptq(actOrder: false)]), Recipe([.smoothQuant(alpha: 0.5)]), Recipe([])] {
            let (half, full) = try pair()
            let plan = QuantPlan(defaults: QuantSpec(weight: MXConfig(format: .mxint4), act: MXConfig(format: .mxint8)), recipe: recipe)
            var opts = PTQOptions()
            opts.showProgress = false
            let cal = Tiny.calibration(samples: 2, length: 20)
            _ = try quantize(model: half, plan: plan, calibration: cal, options: opts)
            _ = try quantize(model: full, plan: plan, calibration: cal, options: opts)
            for (a, b) in zip(half.linears, full.linears) where a.name != "lm_head" {
                XCTAssertEqual(a.weight.map(\.bitPattern), b.weight.map(\.bitPattern), "\(recipe) \(a.name)")
                guard case .half(let h) = a.storage else { XCTFail("\(recipe) \(a.name): quantized weights must stay bf16"); continue }
                XCTAssertEqual(h.format, .bf16)
            }
            XCTAssertEqual(half.logits(Tiny.tokens).map(\.bitPattern), full.logits(Tiny.tokens).map(\.bitPattern), "\(recipe)")
        }
    }
}

private extension LlamaBlock {
    func value(_ kind: String) -> [Float] { kind == "input_layernorm" ? inputNorm : postAttentionNorm }
}
