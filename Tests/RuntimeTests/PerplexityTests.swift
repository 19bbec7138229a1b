import Foundation
import XCTest
import Support
@testable import Runtime

final class PerplexityTests: XCTestCase {
    func testPerplexityIsMeanNLLOverNonOverlappingWindows() throws {
        let cfg = LlamaConfig.tiny(numLayers: 1)
        let t = LlamaModel.randomTensors(config: cfg, seed: 31)
        let model = try LlamaModel(config: cfg, tensor: { t[$0] })
        let ctx = 7
        let tokens = randomTokens(3 * ctx + 5, vocab: cfg.vocabSize, seed: 2)  // incomplete tail of 5
        let ref = ReferenceLlama(c: cfg, t: t)
        var calls: [Int] = []
        let r = try evaluatePerplexity(model: model, tokens: tokens, ctx: ctx, progress: { d, n, _ in
            XCTAssertEqual(n, 3); calls.append(d)
        })
        XCTAssertEqual(calls, [1, 2, 3])
        XCTAssertEqual(r.windows, 3)
        XCTAssertEqual(r.tokens, 3 * (ctx - 1))
        var sum = 0.0
        for w in 0..<3 {
            let nll = ref.nll(Array(tokens[(w * ctx)..<((w + 1) * ctx)]))
            XCTAssertEqual(r.windowNLL[w], nll.reduce(0, +) / Double(ctx - 1), accuracy: 1e-5)
            sum += nll.reduce(0, +)
        }
        XCTAssertEqual(r.nll, sum / Double(3 * (ctx - 1)), accuracy: 1e-5)
        XCTAssertEqual(r.ppl, exp(sum / Double(3 * (ctx - 1))), accuracy: 1e-4 * r.ppl)

        let first2 = try evaluatePerplexity(model: model, tokens: tokens, ctx: ctx, windows: 2)
        XCTAssertEqual(first2.windows, 2)
        XCTAssertEqual(first2.windowNLL, Array(r.windowNLL[0..<2]))

        let json = String(data: try JSONEncoder().encode(r), encoding: .utf8)!
        for key in ["\"ppl\"", "\"nll\"", "\"tokens\"", "\"windows\"", "\"seconds\"", "\"tokens_per_s\""] {
            XCTAssertTrue(json.contains(key), key)
        }
    }

    /// With a BOS every window is [BOS] + ctx − 1 text tokens and all text tokens are predicted:
    /// expectations from the scalar reference forward on exactly those windows.
    func testBOSWindowsTileTheTextAndPredictEveryTextToken() throws {
        let cfg = LlamaConfig.tiny(numLayers: 1)
        let t = LlamaModel.randomTensors(config: cfg, seed: 31)
        let model = try LlamaModel(config: cfg, tensor: { t[$0] })
        let ctx = 7, bos: Int32 = 3
        let tokens = randomTokens(3 * (ctx - 1) + 4, vocab: cfg.vocabSize, seed: 2)   // 3 windows, tail of 4
        XCTAssertEqual(perplexityWindowCount(tokenCount: tokens.count, ctx: ctx, bos: true), 3)
        XCTAssertEqual(perplexityWindowCount(tokenCount: tokens.count, ctx: ctx), 3)
        let ref = ReferenceLlama(c: cfg, t: t)
        let r = try evaluatePerplexity(model: model, tokens: tokens, ctx: ctx, bos: bos)
        XCTAssertEqual(r.windows, 3)
        XCTAssertEqual(r.tokens, 3 * (ctx - 1))
        var sum = 0.0
        for w in 0..<3 {
            let win = [bos] + Array(tokens[(w * (ctx - 1))..<((w + 1) * (ctx - 1))])
            let nll = ref.nll(win)
            XCTAssertEqual(nll.count, ctx - 1)
            XCTAssertEqual(r.windowNLL[w], nll.reduce(0, +) / Double(ctx - 1), accuracy: 1e-5)
            sum += nll.reduce(0, +)
        }
        XCTAssertEqual(r.nll, sum / Double(3 * (ctx - 1)), accuracy: 1e-5)
        let plain = try evaluatePerplexity(model: model, tokens: tokens, ctx: ctx)
        XCTAssertNotEqual(plain.windowNLL, r.windowNLL)
        // 6 text tokens make one BOS window of ctx 7, not a plain one; 5 make none
        XCTAssertEqual(try evaluatePerplexity(model: model, tokens: Array(tokens.prefix(6)), ctx: ctx, bos: bos).windows, 1)
        XCTAssertThrowsError(try evaluatePerplexity(model: model, tokens: Array(tokens.prefix(6)), ctx: ctx))
        XCTAssertThrowsError(try evaluatePerplexity(model: model, tokens: Array(tokens.prefix(5)), ctx: ctx, bos: bos)) {
            XCTAssertTrue("\($0)".contains("BOS + 6 text tokens"), "\($0)")
        }
        XCTAssertThrowsError(try evaluatePerplexity(model: model, tokens: tokens, ctx: ctx, bos: Int32(cfg.vocabSize))) {
            XCTAssertTrue("\($0)".contains("BOS token id"), "\($0)")
        }
    }

    func testPerplexityIdenticalForAnyThreadCount() throws {
        let cfg = LlamaConfig.tiny(hiddenSize: 48, numLayers: 1)
        let model = LlamaModel.random(config: cfg, seed: 5)
        model.attentionRowBlock = 8
        let tokens = randomTokens(70, vocab: cfg.vocabSize, seed: 6)
        model.nllChunkRows = 7
        model.threads = 1
        let a = try evaluatePerplexity(model: model, tokens: tokens, ctx: 33)
        model.threads = 2
        let b = try evaluatePerplexity(model: model, tokens: tokens, ctx: 33)
        XCTAssertEqual(a.nll, b.nll)
        XCTAssertEqual(a.windowNLL, b.windowNLL)
        XCTAssertEqual(a.windows, 2)
    }

    func testBadEvaluationInputs() {
        let cfg = LlamaConfig.tiny(numLayers: 1)
        let model = LlamaModel.random(config: cfg, seed: 1)
        let tokens = randomTokens(20, vocab: cfg.vocabSize, seed: 2)
        func msg(_ f: () throws -> PerplexityResult) -> String {
            do { _ = try f(); return "no error" } catch { XCTAssertTrue(error is RuntimeError); return "\(error)" }
        }
        XCTAssertTrue(msg { try evaluatePerplexity(model: model, tokens: tokens, ctx: 1) }.contains("ctx"))
        XCTAssertTrue(msg { try evaluatePerplexity(model: model, tokens: tokens, ctx: 21) }.contains("20 tokens"))
        XCTAssertTrue(msg { try evaluatePerplexity(model: model, tokens: tokens, ctx: 10, windows: 3) }.contains("only 2 windows"))
        XCTAssertTrue(msg { try evaluatePerplexity(model: model, tokens: tokens, ctx: 10, windows: 0) }.contains("windows"))
        var bad = tokens
        bad[4] = Int32(cfg.vocabSize)
        XCTAssertTrue(msg { try evaluatePerplexity(model: model, tokens: bad, ctx: 10) }.contains("vocabulary"))
    }
}
