import Foundation
import XCTest
import ModelIO
@testable import Runtime

/// Whole-path check against an independent implementation: each fixture folder (config.json +
/// model.safetensors) was written with the logits of a float64 numpy forward pass by
/// Fixtures/make_arch_fixtures.py (from the Hugging Face model definitions, not from this code).
/// Loading goes through config parsing (architecture, biases, head_dim, rope_scaling) and the
/// safetensors reader, then the runtime's forward.
final class ArchitectureFixtureTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    func check(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let model = try LlamaModel.load(path: Self.fixtures.appendingPathComponent(name).path)
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent(name + ".logits.json"))
        let j = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let tokens = (j["tokens"] as! [Int]).map(Int32.init)
        let want = (j["logits"] as! [[Double]]).flatMap { $0 }
        let got = model.logits(tokens)
        let (d, s) = maxAbsDiff(got, want)
        XCTAssertGreaterThan(s, 1, file: file, line: line)
        XCTAssertLessThan(d, 2e-5 * s, "\(name): logits differ from numpy by \(d) (scale \(s))", file: file, line: line)
    }

    /// Qwen2: q/k/v biases, grouped-query, tied embeddings.
    func testQwen2FixtureMatchesNumpy() throws {
        try check("qwen2-tiny")
        let c = try LlamaHyperparameters.fromHFConfig(path: Self.fixtures.appendingPathComponent("qwen2-tiny/config.json").path)
        XCTAssertEqual(c.architecture, .qwen2); XCTAssertTrue(c.qkvBias); XCTAssertNil(c.slidingWindow)
    }

    /// Llama with attention_bias (q/k/v/o), head_dim 16 over hidden 16 with 2 heads, llama3 RoPE.
    func testLlamaBiasHeadDimLlama3FixtureMatchesNumpy() throws {
        try check("llama-bias-headdim-llama3")
        let c = try LlamaHyperparameters.fromHFConfig(path: Self.fixtures.appendingPathComponent("llama-bias-headdim-llama3/config.json").path)
        XCTAssertEqual(c.headDim, 16); XCTAssertTrue(c.outputBias)
        XCTAssertEqual(c.ropeScaling, .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 64))
    }
}
