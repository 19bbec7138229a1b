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

/// Number of complete `ctx`-token windows in `tokenCount` tokens.
public func perplexityWindowCount(tokenCount: Int, ctx: Int) -> Int { ctx > 0 ? tokenCount / ctx : 0 }

/// Perplexity of `model` on `tokens` (the whole text tokenized without BOS): cut into
/// non-overlapping windows of `ctx` tokens, drop the incomplete tail, use the first
/// `windows` windows (all when nil). Each window predicts its positions 1..<ctx from the
/// prefix; PPL = exp(mean NLL over all those predictions). The NLL sum is accumulated in
/// Double in a fixed order, so the result does not depend on the thread count.
/// `progress(windowsDone, windowsTotal, meanNLLSoFar)` is called after each window.
public func evaluatePerplexity(model: LlamaModel, tokens: [Int32], ctx: Int, windows: Int? = nil,
                               progress: ((Int, Int, Double) -> Void)? = nil) throws -> PerplexityResult {
    guard ctx >= 2 else { throw RuntimeError.badInput("ctx must be at least 2, got \(ctx)") }
    let available = perplexityWindowCount(tokenCount: tokens.count, ctx: ctx)
    guard available >= 1 else {
        throw RuntimeError.badInput("the text has \(tokens.count) tokens, fewer than one window of ctx=\(ctx)")
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
    if let bad = tokens[0..<(n * ctx)].first(where: { $0 < 0 || Int($0) >= vocab }) {
        throw RuntimeError.badInput("token id \(bad) is outside the model's vocabulary 0..<\(vocab) (tokenizer and model do not match)")
    }
    let start = monotonicSeconds()
    var total = 0.0
    var perWindow: [Double] = []
    for w in 0..<n {
        let win = Array(tokens[(w * ctx)..<((w + 1) * ctx)])
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
