import Foundation
import XCTest
import Support
import MXFormats
@testable import Runtime

/// Pins where and on what a decoder block quantizes its activations (issue #12 §1b): a scalar
/// Double re-implementation of each block, with `MXReference.fakeQuantize` (per token, blocks
/// along the hidden/inner dimension) at the seven linear inputs:
///   q, k, v ← Q(RMSNorm(h) · inputNorm)          (one quantized tensor, shared)
///   o       ← Q(attention output, per token [head][headDim])
///   gate, up← Q(RMSNorm(h + o) · postAttentionNorm)
///   down    ← Q(silu(gate) · up)
/// and the LM head fp32 (its `actQuant` unset). Each point is checked against what the runtime
/// multiplies (the input observer), teacher-forced: the reference continues from the runtime's
/// quantized inputs, so a point is checked independently of the rounding flips before it.
final class ActivationPointTests: XCTestCase {
    /// Compares the runtime's quantized input `got` [T·K] with Q(`want`) [T][K] (`want` in Double,
    /// rounded to fp32 first). Differences are accepted only where `want` lies within fp32
    /// noise (2e-6 · row max) of a rounding boundary: there Q(want ∓ δ) or Q(want ± δ) matches.
    /// Also checks that the point is quantized at all (most values differ from `want`).
    private func pin(_ what: String, got: [Float], want: [[Double]], config: MXConfig,
                     file: StaticString = #filePath, line: UInt = #line) {
        let T = want.count, K = want[0].count
        XCTAssertEqual(got.count, T * K, what, file: file, line: line)
        if got.count != T * K { return }
        let (bad, flips, unchanged) = compare(got: got, want: want, config: config)
        XCTAssertEqual(bad, 0, "\(what): \(bad) of \(T * K) values are not Q(reference)", file: file, line: line)
        XCTAssertLessThanOrEqual(flips, max(2, T * K / 200), "\(what): too many boundary flips", file: file, line: line)
        XCTAssertLessThan(unchanged, T * K / 2, "\(what): the input does not look quantized", file: file, line: line)
    }

    /// (values that are not Q(want) even allowing boundary flips, boundary flips, values equal to `want`).
    private func compare(got: [Float], want: [[Double]], config: MXConfig) -> (Int, Int, Int) {
        let T = want.count, K = want[0].count
        func q(_ shift: Double) -> [Float] {
            var flat: [Float] = []
            for row in want {
                let m = row.map(abs).max() ?? 0
                flat += row.map { Float($0 + shift * 2e-6 * m) }
            }
            return MXReference.fakeQuantize(flat, rows: T, cols: K, config: config).0
        }
        let mid = q(0), lo = q(-1), hi = q(1)
        var flips = 0, bad = 0, unchanged = 0
        for i in 0..<(T * K) {
            if Float(want[i / K][i % K]) == got[i] { unchanged += 1 }
            if got[i] == mid[i] { continue }
            if got[i] == lo[i] || got[i] == hi[i] { flips += 1 } else { bad += 1 }
        }
        return (bad, flips, unchanged)
    }

    func testEveryQuantizationPointOfABlockMatchesScalarReference() {
        // hidden 64 (2 blocks of 32, or 4 of 16), 4 heads × 16 (tiled attention kernels),
        // 2 KV heads, FFN 80 (a partial last block), 2 layers, untied LM head.
        let cfg = LlamaConfig.tiny(vocabSize: 40, hiddenSize: 64, intermediateSize: 80, numLayers: 2, numHeads: 4,
                                   numKVHeads: 2, tiedEmbeddings: false)
        let T = 13
        for act in [MXConfig(format: .mxint4), MXConfig(format: .mxfp4_e2m1, block: 16), MXConfig(format: .mxfp8_e4m3)] {
            let tensors = LlamaModel.randomTensors(config: cfg, seed: 21)
            let model = try! LlamaModel(config: cfg, tensor: { tensors[$0] })
            for b in model.blocks { for l in b.linears { l.actQuant = act } }
            let ref = ReferenceLlama(c: cfg, t: tensors)
            let tokens = randomTokens(T, vocab: cfg.vocabSize, seed: 4)
            var seen: [String: [Float]] = [:]
            model.inputObserver = { lin, buf, _ in seen[lin.name] = Array(buf) }
            var hidden = model.embed(tokens)
            let h = cfg.hiddenSize, d = cfg.headDim, f = cfg.intermediateSize
            func rows(_ flat: [Float], _ k: Int) -> [[Double]] { (0..<T).map { t in flat[(t * k)..<(t * k + k)].map(Double.init) } }
            for l in 0..<cfg.numLayers {
                let p = "model.layers.\(l).", name = "layers.\(l)."
                seen = [:]
                var out = hidden
                model.forwardBlock(l, hidden: &out, seqLen: T)
                let x = rows(hidden, h)
                let tag = "\(act.format) B=\(act.block) layer \(l)"

                // q/k/v: one quantized RMSNorm output, norm weight applied before quantization.
                let xn = x.map { ref.rmsNorm($0, ref.w(p + "input_layernorm.weight")) }
                pin("\(tag) q_proj", got: seen[name + "self_attn.q_proj"]!, want: xn, config: act)
                // Control: quantizing before the norm weight is applied gives other inputs.
                let g1 = tensors[p + "input_layernorm.weight"]!
                let unweighted = x.flatMap { ref.rmsNorm($0, [Double](repeating: 1, count: h)).map { Float($0) } }
                let early = MXReference.fakeQuantize(unweighted, rows: T, cols: h, config: act).0.enumerated().map { $0.element * g1[$0.offset % h] }
                XCTAssertNotEqual(early, seen[name + "self_attn.q_proj"]!, "\(tag): control (norm weight after quantization) should not match")
                XCTAssertEqual(seen[name + "self_attn.k_proj"]!, seen[name + "self_attn.q_proj"]!, "\(tag) k_proj input")
                XCTAssertEqual(seen[name + "self_attn.v_proj"]!, seen[name + "self_attn.q_proj"]!, "\(tag) v_proj input")
                let xq = rows(seen[name + "self_attn.q_proj"]!, h)

                // o: attention of the projections of the quantized input, per token head-major.
                let q = xq.map { ref.matvec(ref.w(p + "self_attn.q_proj.weight"), $0, rows: cfg.numHeads * d) }
                let k = xq.map { ref.matvec(ref.w(p + "self_attn.k_proj.weight"), $0, rows: cfg.numKVHeads * d) }
                let v = xq.map { ref.matvec(ref.w(p + "self_attn.v_proj.weight"), $0, rows: cfg.numKVHeads * d) }
                var attn = [[Double]](repeating: [Double](repeating: 0, count: cfg.numHeads * d), count: T)
                for head in 0..<cfg.numHeads {
                    let kvh = head / (cfg.numHeads / cfg.numKVHeads)
                    for t in 0..<T {
                        let qv = ref.rope(Array(q[t][(head * d)..<(head * d + d)]), pos: t)
                        let scores = (0...t).map { s -> Double in
                            let kv = ref.rope(Array(k[s][(kvh * d)..<(kvh * d + d)]), pos: s)
                            return (0..<d).reduce(0.0) { $0 + qv[$1] * kv[$1] } / Double(d).squareRoot()
                        }
                        let m = scores.max()!, ex = scores.map { exp($0 - m) }, z = ex.reduce(0, +)
                        for e in 0..<d { attn[t][head * d + e] = (0...t).reduce(0.0) { $0 + ex[$1] / z * v[$1][kvh * d + e] } }
                    }
                }
                pin("\(tag) o_proj", got: seen[name + "self_attn.o_proj"]!, want: attn, config: act)
                // Control: the same values quantized in [headDim][head] order per token do not match
                // (compared after putting them back in [head][headDim] order).
                let nh = cfg.numHeads
                let dimMajor = attn.map { r in (0..<(nh * d)).map { r[($0 % nh) * d + $0 / nh] } }
                let back: [Float] = {
                    var flat: [Float] = []
                    for r in dimMajor { flat += r.map { Float($0) } }
                    let qd = MXReference.fakeQuantize(flat, rows: T, cols: nh * d, config: act).0
                    return (0..<(T * nh * d)).map { i in let t = i / (nh * d), c = i % (nh * d); return qd[t * nh * d + (c % d) * nh + c / d] }
                }()
                XCTAssertNotEqual(back, seen[name + "self_attn.o_proj"]!, "\(tag): control (dim-major o input) should not match")
                let oq = rows(seen[name + "self_attn.o_proj"]!, cfg.numHeads * d)

                // gate/up: RMSNorm of the residual after attention.
                let x1 = (0..<T).map { t in
                    zip(x[t], ref.matvec(ref.w(p + "self_attn.o_proj.weight"), oq[t], rows: h)).map { $0 + $1 }
                }
                let xn2 = x1.map { ref.rmsNorm($0, ref.w(p + "post_attention_layernorm.weight")) }
                pin("\(tag) gate_proj", got: seen[name + "mlp.gate_proj"]!, want: xn2, config: act)
                XCTAssertEqual(seen[name + "mlp.up_proj"]!, seen[name + "mlp.gate_proj"]!, "\(tag) up_proj input")
                let gq = rows(seen[name + "mlp.gate_proj"]!, h)

                // down: silu(gate) · up of the quantized MLP input.
                let a = gq.map { xr -> [Double] in
                    let g = ref.matvec(ref.w(p + "mlp.gate_proj.weight"), xr, rows: f)
                    let u = ref.matvec(ref.w(p + "mlp.up_proj.weight"), xr, rows: f)
                    return (0..<f).map { g[$0] / (1 + exp(-g[$0])) * u[$0] }
                }
                pin("\(tag) down_proj", got: seen[name + "mlp.down_proj"]!, want: a, config: act)
                let dq = rows(seen[name + "mlp.down_proj"]!, f)

                // The block output from the runtime's quantized inputs.
                let want = (0..<T).flatMap { t in
                    zip(x1[t], ref.matvec(ref.w(p + "mlp.down_proj.weight"), dq[t], rows: h)).map { $0 + $1 }
                }
                let (diff, scale) = maxAbsDiff(out, want)
                XCTAssertLessThan(diff, 1e-5 * scale, "\(tag): block output")
                hidden = out      // teacher forcing across blocks
            }
            // LM head: fp32 input (no activation format), the final RMSNorm output.
            seen = [:]
            _ = model.logits(hidden: hidden, seqLen: T)
            let fin = rows(hidden, h).flatMap { ref.rmsNorm($0, ref.w("model.norm.weight")) }
            let (diff, scale) = maxAbsDiff(seen["lm_head"]!, fin)
            XCTAssertLessThan(diff, 1e-5 * scale, "\(act.format): lm_head input")
        }
    }
}
