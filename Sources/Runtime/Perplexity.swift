// Perplexity over non-overlapping windows (the GPTQ / llama.cpp-style convention).
import Foundation
import Support

/// Result of `evaluatePerplexity`.
public struct PerplexityResult: Sendable, Codable, Equatable {
    /// exp(nll).
    public var ppl: Double
    /// Mean next-token negative log-likelihood (nats) over all counted tokens.
    public var nll: Double
    /// Number of predicted tokens: windows · (ctx - 1).
    public var tokens: Int
    public var windows: Int
    public var ctx: Int
    /// Wall-clock seconds of the evaluation (model forward passes only).
    public var seconds: Double
    /// Processed (input) tokens per second: windows · ctx / seconds.
    public var tokensPerSecond: Double
    /// Mean NLL of each window, in order.
    public var windowNLL: [Double]

    /// The result as a JSON-ready dictionary (keys as in the Codable form, without window_nll).
    public var jsonObject: [String: Any] {
        ["ppl": ppl, "nll": nll, "tokens": tokens, "windows": windows, "ctx": ctx, "seconds": seconds,
         "tokens_per_s": tokensPerSecond]
    }

    enum CodingKeys: String, CodingKey {
        case ppl, nll, tokens, windows, ctx, seconds
        case tokensPerSecond = "tokens_per_s"
        case windowNLL = "window_nll"
    }
}

/// Number of complete windows in `tokenCount` text tokens: without BOS a window holds `ctx`
/// text tokens, with BOS `ctx - 1` (the BOS takes the first position).
public func perplexityWindowCount(tokenCount: Int, ctx: Int, bos: Bool = false) -> Int {
    let span = bos ? ctx - 1 : ctx
    return span > 0 ? tokenCount / span : 0
}

/// Perplexity of `model` on `tokens` (the whole text tokenized without BOS), over
/// non-overlapping windows of `ctx` positions; the incomplete tail is dropped and the first
/// `windows` windows are used (all when nil).
/// - Without `bos`: window w is text tokens [w·ctx, (w+1)·ctx); it predicts its positions
///   1..<ctx from the prefix (the first token of each window is context only).
/// - With `bos`: window w is [bos] + text tokens [w·(ctx−1), (w+1)·(ctx−1)); every text
///   token is predicted (the first from the BOS alone), so the windows tile the text and
///   no text token goes unpredicted.
/// Either way each window scores ctx − 1 tokens; PPL = exp(mean NLL over all of them). The
/// NLL sum is accumulated in Double in a fixed order, so the result does not depend on the
/// thread count. `progress(windowsDone, windowsTotal, meanNLLSoFar)` is called after each window.
public func evaluatePerplexity(model: LlamaModel, tokens: [Int32], ctx: Int, windows: Int? = nil, bos: Int32? = nil,
                               progress: ((Int, Int, Double) -> Void)? = nil) throws -> PerplexityResult {
    guard ctx >= 2 else { throw RuntimeError.badInput("ctx must be at least 2, got \(ctx)") }
    let span = bos == nil ? ctx : ctx - 1   // text tokens per window
    let available = perplexityWindowCount(tokenCount: tokens.count, ctx: ctx, bos: bos != nil)
    guard available >= 1 else {
        throw RuntimeError.badInput("the text has \(tokens.count) tokens, fewer than one window of ctx=\(ctx)\(bos == nil ? "" : " (BOS + \(span) text tokens)")")
    }
    var n = available
    if let w = windows {
        guard w >= 1 else { throw RuntimeError.badInput("windows must be at least 1, got \(w)") }
        guard w <= available else {
            throw RuntimeError.badInput("asked for \(w) windows but the text has only \(available) windows of ctx=\(ctx) (\(tokens.count) tokens)")
        }
        n = w
    }
    let vocab = model.config.vocabSize
    if let b = bos, b < 0 || Int(b) >= vocab {
        throw RuntimeError.badInput("BOS token id \(b) is outside the model's vocabulary 0..<\(vocab)")
    }
    if let bad = tokens[0..<(n * span)].first(where: { $0 < 0 || Int($0) >= vocab }) {
        throw RuntimeError.badInput("token id \(bad) is outside the model's vocabulary 0..<\(vocab) (tokenizer and model do not match)")
    }
    let start = monotonicSeconds()
    var total = 0.0
    var perWindow: [Double] = []
    for w in 0..<n {
        let text = tokens[(w * span)..<((w + 1) * span)]
        let win = bos.map { [$0] + Array(text) } ?? Array(text)
        let hidden = model.hiddenStates(win)
        let nll = model.tokenNLL(hidden: hidden, tokens: win)
        var s = 0.0
        for v in nll { s += v }
        total += s
        perWindow.append(s / Double(nll.count))
        progress?(w + 1, n, total / Double((w + 1) * (ctx - 1)))
    }
    let seconds = monotonicSeconds() - start
    let counted = n * (ctx - 1)
    let mean = total / Double(counted)
    return PerplexityResult(ppl: Foundation.exp(mean), nll: mean, tokens: counted, windows: n, ctx: ctx,
                            seconds: seconds, tokensPerSecond: Double(n * ctx) / max(seconds, 1e-9),
                            windowNLL: perWindow)
}
