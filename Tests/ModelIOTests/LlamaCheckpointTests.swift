import XCTest
import Support
import TestSupport
@testable import ModelIO

/// A tiny random Llama checkpoint in HF layout (vocab 40, hidden 64, 2 layers, 4 heads of 16, 2 KV heads).
func tinyCheckpoint(tied: Bool = true, seed: UInt64 = 1) -> LlamaCheckpoint {
    let c = LlamaHyperparameters(vocab: 40, hidden: 64, intermediate: 96, layers: 2, heads: 4, kvHeads: 2,
                                 headDim: 16, rmsEps: 0x1p-16, ropeTheta: 10_000, tiedEmbeddings: tied,
                                 contextLength: 128)
    var t: [String: LlamaCheckpoint.Tensor] = [:]
    for (i, e) in c.expectedTensors().enumerated() {
        let n = e.shape.reduce(1, *)
        let v = randomFloats(n, seed: seed &* 1000 &+ UInt64(i), scale: 0.1).map { e.shape.count == 1 ? 1 + $0 : $0 }
        t[e.name] = .init(shape: e.shape, data: v)
    }
    return LlamaCheckpoint(config: c, ropeLayout: .halves, tensors: t)
}

final class LlamaCheckpointTests: XCTestCase {
    /// Hand example: one head of dim 4 → rows [r0, r2, r1, r3]; two heads permute independently.
    func testPermutationHandExample() {
        let w: [Float] = [0, 1, 2, 3, 4, 5, 6, 7]   // 8 rows of 1 col
        XCTAssertEqual(RopeLayout.permuteHalvesToInterleaved(w, heads: 2, cols: 1), [0, 2, 1, 3, 4, 6, 5, 7])
        XCTAssertEqual(RopeLayout.permuteHalvesToInterleaved([0, 1, 2, 3, 4, 5], heads: 1, cols: 1), [0, 3, 1, 4, 2, 5])
        // 2 columns: rows move as a whole.
        XCTAssertEqual(RopeLayout.permuteHalvesToInterleaved([0, 10, 1, 11, 2, 12, 3, 13], heads: 1, cols: 2),
                       [0, 10, 2, 12, 1, 11, 3, 13])
        let r = randomFloats(3 * 8 * 5, seed: 3)
        XCTAssertEqual(RopeLayout.permuteInterleavedToHalves(RopeLayout.permuteHalvesToInterleaved(r, heads: 3, cols: 5),
                                                              heads: 3, cols: 5), r)
    }

    func testNameMapping() {
        let pairs = [("token_embd.weight", "model.embed_tokens.weight"), ("output.weight", "lm_head.weight"),
                     ("output_norm.weight", "model.norm.weight"),
                     ("blk.12.attn_q.weight", "model.layers.12.self_attn.q_proj.weight"),
                     ("blk.0.attn_output.weight", "model.layers.0.self_attn.o_proj.weight"),
                     ("blk.3.ffn_down.weight", "model.layers.3.mlp.down_proj.weight"),
                     ("blk.3.attn_norm.weight", "model.layers.3.input_layernorm.weight"),
                     ("blk.3.ffn_norm.weight", "model.layers.3.post_attention_layernorm.weight")]
        for (g, h) in pairs {
            XCTAssertEqual(LlamaTensorNames.hfName(forGGUF: g), h)
            XCTAssertEqual(LlamaTensorNames.ggufName(forHF: h), g)
        }
        XCTAssertNil(LlamaTensorNames.hfName(forGGUF: "blk.x.attn_q.weight"))
        XCTAssertNil(LlamaTensorNames.hfName(forGGUF: "rope_freqs.weight"))
    }

    /// The same model written as GGUF (permuted q/k) and as an HF folder loads to the same
    /// weights once brought to the same RoPE layout, with the same hyperparameters.
    func testGGUFAndHFFolderAgree() throws {
        for tied in [true, false] {
            let ck = tinyCheckpoint(tied: tied)
            let dir = makeTempDir("mio-ck"); defer { try? FileManager.default.removeItem(at: dir) }
            let gp = dir.appendingPathComponent("m.gguf").path, hp = dir.appendingPathComponent("hf").path
            try ck.writeGGUF(to: gp)
            try ck.writeHFFolder(to: hp)
            let g = try LlamaCheckpoint.load(path: gp), h = try LlamaCheckpoint.load(path: hp)
            XCTAssertEqual(g.ropeLayout, .interleaved); XCTAssertEqual(h.ropeLayout, .halves)
            XCTAssertEqual(g.config, ck.config); XCTAssertEqual(h.config, ck.config)
            XCTAssertEqual(h.tensors, ck.tensors)
            XCTAssertEqual(g.converted(to: .halves).tensors, ck.tensors)
            // The stored GGUF q rows really are permuted.
            let q = "model.layers.0.self_attn.q_proj.weight"
            XCTAssertNotEqual(g.tensors[q], ck.tensors[q])
            XCTAssertEqual(g.tensors[q]!.data, RopeLayout.permuteHalvesToInterleaved(ck.tensors[q]!.data, heads: 4, cols: 64))
            XCTAssertEqual(g.tensors["lm_head.weight"] != nil, !tied)
        }
    }

    /// Quantized export: 2-D weights as Q8_0, norms stay F32; load gives values within Q8_0 error.
    func testQuantizedGGUFExport() throws {
        let ck = tinyCheckpoint()
        let dir = makeTempDir("mio-ck"); defer { try? FileManager.default.removeItem(at: dir) }
        let gp = dir.appendingPathComponent("q.gguf").path
        try ck.writeGGUF(to: gp, type: .q8_0)
        let f = try GGUFFile(path: gp)
        XCTAssertEqual(try f.tensorInfo("blk.1.ffn_up.weight").type, .q8_0)
        XCTAssertEqual(try f.tensorInfo("blk.1.ffn_norm.weight").type, .f32)
        let g = try LlamaCheckpoint.load(path: gp).converted(to: .halves)
        for (name, t) in ck.tensors {
            let amax = t.data.map(abs).max()!
            XCTAssertLessThanOrEqual(zip(t.data, g.tensors[name]!.data).map { abs($0 - $1) }.max()!, amax / 127, name)
        }
    }

    /// The shipped model, if `make setup` has installed it: metadata and a few tensors only
    /// (the full load runs in release builds, not in this debug test).
    func testShippedModelIfPresent() throws {
        let p = Paths.defaultModel.path
        guard FileManager.default.fileExists(atPath: p) else { throw XCTSkip("shipped model not installed (make setup)") }
        let f = try GGUFFile(path: p)
        XCTAssertEqual(f.tensors.count, 2 + 30 * 9)
        let c = try LlamaCheckpoint.hyperparameters(f)
        XCTAssertEqual(c, LlamaHyperparameters(vocab: 49152, hidden: 576, intermediate: 1536, layers: 30, heads: 9, kvHeads: 3,
                                               headDim: 64, rmsEps: Double(Float(1e-5)), ropeTheta: 100_000,
                                               tiedEmbeddings: true, contextLength: 8192))
        XCTAssertEqual(f["tokenizer.ggml.tokens"]?.stringArray?.count, 49152)
        XCTAssertEqual(f["tokenizer.ggml.pre"]?.string, "smollm")
        let summary = f.summary(maxTensors: 3)
        XCTAssertTrue(summary.contains("272 tensors") && summary.contains("Q4_1 ×210") && summary.contains("token_embd.weight  Q8_0  [49152, 576]"), summary)
        let norm = try f.tensorF32("output_norm.weight")
        XCTAssertEqual(norm.count, 576)
        let q = try f.tensorF32("blk.0.attn_q.weight")
        XCTAssertEqual(try f.tensorInfo("blk.0.attn_q.weight").shape, [576, 576])
        XCTAssertTrue(q.allSatisfy { $0.isFinite && abs($0) < 100 })
    }
}

/// Why GGUF weights use `.interleaved`: with W' = permute(W), rotating adjacent pairs of W'x
/// gives exactly the permuted result of rotating halves of Wx (both RoPEs written out here
/// from their definitions: HF rotate_half and llama.cpp's normal mode).
final class RopePermutationTests: XCTestCase {
    func ropeHalves(_ x: [Float], pos: Int, base: Float) -> [Float] {
        let d = x.count; var o = x
        for i in 0..<(d / 2) {
            let th = Float(pos) * pow(base, -Float(2 * i) / Float(d))
            o[i] = x[i] * cos(th) - x[i + d / 2] * sin(th)
            o[i + d / 2] = x[i + d / 2] * cos(th) + x[i] * sin(th)
        }
        return o
    }
    func ropeInterleaved(_ x: [Float], pos: Int, base: Float) -> [Float] {
        let d = x.count; var o = x
        for i in 0..<(d / 2) {
            let th = Float(pos) * pow(base, -Float(2 * i) / Float(d))
            o[2 * i] = x[2 * i] * cos(th) - x[2 * i + 1] * sin(th)
            o[2 * i + 1] = x[2 * i] * sin(th) + x[2 * i + 1] * cos(th)
        }
        return o
    }
    func matvec(_ w: [Float], _ x: [Float], rows: Int) -> [Float] {
        let k = x.count
        return (0..<rows).map { r in (0..<k).reduce(Float(0)) { $0 + w[r * k + $1] * x[$1] } }
    }

    func testPermutedInterleavedEqualsHalves() {
        let heads = 3, d = 8, k = 12
        let w = randomFloats(heads * d * k, seed: 21), x = randomFloats(k, seed: 22)
        let wp = RopeLayout.permuteHalvesToInterleaved(w, heads: heads, cols: k)
        let q = matvec(w, x, rows: heads * d), qp = matvec(wp, x, rows: heads * d)
        for pos in [0, 1, 7, 100] {
            var hf: [Float] = [], gg: [Float] = []
            for h in 0..<heads {
                hf += ropeHalves(Array(q[(h * d)..<(h * d + d)]), pos: pos, base: 10_000)
                gg += ropeInterleaved(Array(qp[(h * d)..<(h * d + d)]), pos: pos, base: 10_000)
            }
            XCTAssertEqual(RopeLayout.permuteInterleavedToHalves(gg, heads: heads, cols: 1), hf, "pos \(pos)")
        }
    }
}
