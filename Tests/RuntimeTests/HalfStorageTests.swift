import Foundation
import XCTest
import Support
import ModelIO
import TestSupport
@testable import Runtime

/// 16-bit weights stay 16-bit (`Linear.Storage.half`) and give bitwise the fp32 results of the
/// widened weights; quantized (bf16-exact) assignments stay 16-bit, others fall back to fp32.
final class HalfStorageTests: XCTestCase {
    func bf16(_ x: [Float]) -> [UInt16] { x.map { floatToBF16Bits($0) } }

    func testHalfLinearEqualsFP32LinearOnWidenedWeightsBitwise() {
        let (n, k) = (37, 70)
        for format in [HalfFormat.bf16, .f16] {
            let raw = randomFloats(n * k, seed: 5, scale: 0.2)
            let bits = format == .bf16 ? bf16(raw) : raw.map { floatToHalfBits($0) }
            let h = HalfWeights(format: format, bits: bits)
            let half = Linear(name: "h", outFeatures: n, inFeatures: k, storage: .half(h))
            let full = Linear(name: "f", outFeatures: n, inFeatures: k, weight: h.widened())
            let b = randomFloats(n, seed: 6)
            half.bias = b; full.bias = b
            XCTAssertTrue(half.compact); XCTAssertFalse(full.compact)
            XCTAssertEqual(half.weightBytes, 2 * n * k)
            for m in [1, 5, 8, 9, 33] {
                let x = randomFloats(m * k, seed: UInt64(m))
                XCTAssertEqual(half.forward(x, rows: m).map(\.bitPattern), full.forward(x, rows: m).map(\.bitPattern), "\(format) M=\(m)")
            }
        }
    }

    func testAssignmentsStayBF16WhenExactElseFP32() {
        let (n, k) = (4, 8)
        let h = HalfWeights(format: .bf16, bits: bf16(randomFloats(n * k, seed: 1)))
        let lin = Linear(name: "l", outFeatures: n, inFeatures: k, storage: .half(h))
        let exact = (0..<(n * k)).map { Float($0) * 0.25 - 3 }          // bf16-exact
        lin.weight = exact
        guard case .half(let s) = lin.storage else { return XCTFail("exact values must stay 16-bit") }
        XCTAssertEqual(s.format, .bf16)
        XCTAssertEqual(lin.weight, exact)
        let inexact = exact.map { $0 + 1e-3 }
        lin.weight = inexact
        guard case .f32 = lin.storage else { return XCTFail("inexact values must be stored as fp32") }
        XCTAssertEqual(lin.weight, inexact)
        lin.weight = exact
        guard case .half = lin.storage else { return XCTFail("back to bf16 once exact again") }
        // an fp32 layer never switches to 16-bit
        let f = Linear(name: "f", outFeatures: n, inFeatures: k, weight: inexact)
        f.weight = exact
        guard case .f32 = f.storage else { return XCTFail("fp32 layers keep fp32") }
    }

    /// bf16/f16 Hugging Face folders and a bf16 GGUF load with 16-bit linear weights (views into
    /// the mapped files) and give bitwise the logits of the fp32 model of the widened weights.
    func testSixteenBitCheckpointsLoadSixteenBitAndMatchWidenedModel() throws {
        // intermediate 96: every linear has K % 32 == 0, which the GGUF writer needs for 16-bit types
        let cfg = LlamaConfig.tiny(hiddenSize: 64, intermediateSize: 96, numHeads: 4, numKVHeads: 2, tiedEmbeddings: false)
        let ck = LlamaCheckpoint.random(config: cfg, seed: 11)
        let dir = makeTempDir("half-storage")
        defer { try? FileManager.default.removeItem(at: dir) }
        let tokens = randomTokens(23, vocab: cfg.vocabSize, seed: 3)
        for (label, write) in [("bf16 folder", { try ck.writeHFFolder(to: dir.appendingPathComponent("bf16").path, dtype: .bf16); return "bf16" }),
                               ("f16 folder", { try ck.writeHFFolder(to: dir.appendingPathComponent("f16").path, dtype: .f16); return "f16" }),
                               ("bf16 gguf", { try ck.writeGGUF(to: dir.appendingPathComponent("m.gguf").path, type: .bf16); return "m.gguf" })]
            as [(String, () throws -> String)] {
            let path = dir.appendingPathComponent(try write()).path
            let loaded = try LlamaCheckpoint.load(path: path)
            let q = loaded.tensors["model.layers.0.self_attn.q_proj.weight"]!
            XCTAssertNotNil(q.half, label)
            XCTAssertEqual(q.half?.isMapped, true, "\(label): a view into the mapped file")
            XCTAssertNil(loaded.tensors["model.norm.weight"]!.half, "\(label): norms are fp32")
            let model = try LlamaModel(checkpoint: loaded)
            guard case .half = model.blocks[1].downProj.storage else { return XCTFail("\(label): down_proj must stay 16-bit") }
            guard case .half = model.lmHead.storage else { return XCTFail("\(label): lm_head must stay 16-bit") }
            // the same weights widened, as an fp32 model
            let wide = try LlamaModel(config: model.config, tensor: { loaded.tensors[$0]?.data })
            XCTAssertEqual(model.logits(tokens).map(\.bitPattern), wide.logits(tokens).map(\.bitPattern), label)
        }
    }

    func testBlockLimitRunsOnlyTheFirstBlocks() {
        let cfg = LlamaConfig.tiny(numLayers: 3)
        let m = LlamaModel.random(config: cfg, seed: 2)
        let tokens = randomTokens(9, vocab: cfg.vocabSize, seed: 4)
        var h = m.embed(tokens)
        m.forwardBlock(0, hidden: &h, seqLen: tokens.count)
        m.blockLimit = 1
        XCTAssertEqual(m.activeBlockCount, 1)
        XCTAssertEqual(m.hiddenStates(tokens), h)
        m.blockLimit = nil
        XCTAssertNotEqual(m.hiddenStates(tokens), h)
    }
}
