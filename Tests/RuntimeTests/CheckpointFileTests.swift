import Foundation
import XCTest
import Support
import ModelIO
import TestSupport
@testable import Runtime

final class CheckpointFileTests: XCTestCase {
    /// The same random model written by ModelIO as GGUF (llama.cpp q/k row order, interleaved
    /// RoPE) and as a Hugging Face folder (halves) loads to the same logits.
    func testGGUFAndSafetensorsFilesGiveSameLogits() throws {
        // (numKVHeads 2: ModelIO's config.json reader currently rejects integer fields equal to 1 on Linux.)
        let cfg = LlamaConfig.tiny(hiddenSize: 64, numHeads: 4, numKVHeads: 2, tiedEmbeddings: false)
        let ck = LlamaCheckpoint.random(config: cfg, seed: 77)
        let dir = makeTempDir("runtime-io")
        defer { try? FileManager.default.removeItem(at: dir) }
        let ggufPath = dir.appendingPathComponent("m.gguf").path
        let hfPath = dir.appendingPathComponent("hf").path
        try ck.writeGGUF(to: ggufPath)
        try ck.writeHFFolder(to: hfPath)

        let fromGGUF = try LlamaCheckpoint.load(path: ggufPath)
        XCTAssertEqual(fromGGUF.ropeLayout, .interleaved)
        let q = "model.layers.0.self_attn.q_proj.weight"
        XCTAssertNotEqual(fromGGUF.tensors[q]!.data, ck.tensors[q]!.data, "GGUF stores permuted q rows")
        let a = try LlamaModel(checkpoint: fromGGUF)
        XCTAssertEqual(a.config.ropeLayout, .interleaved)
        let b = try LlamaModel.load(path: hfPath)
        XCTAssertEqual(b.config.ropeLayout, .halves)
        let ref = try LlamaModel(checkpoint: ck)

        let tokens = randomTokens(29, vocab: cfg.vocabSize, seed: 9)
        let la = a.logits(tokens), lb = b.logits(tokens), lr = ref.logits(tokens)
        let scale = lr.map { abs($0) }.max()!
        XCTAssertGreaterThan(scale, 1)
        XCTAssertLessThan(zip(la, lr).map { abs($0 - $1) }.max()!, 1e-5 * scale)
        XCTAssertLessThan(zip(lb, lr).map { abs($0 - $1) }.max()!, 1e-5 * scale)
    }
}
