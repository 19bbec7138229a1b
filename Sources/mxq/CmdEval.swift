import Foundation
import Support
import Tokenization
import Runtime

enum EvalCommand: Command {
    static let name = "eval"
    static let summary = "perplexity of a (quantized) model on wikitext2 or ptb"
    static let help = """
    mxq eval — perplexity of a model on WikiText-2 or Penn Treebank

    usage: mxq eval [--model PATH] (--dataset wikitext2|ptb | --tokens-file F) [--windows N] [--ctx N]
                    [--pre NAME] [--json]

    The whole test text is tokenized without BOS and cut into non-overlapping windows of
    --ctx tokens (the incomplete tail is dropped); each window predicts its tokens 2..ctx
    from the prefix, and PPL = exp(mean NLL over all predicted tokens). Weights are
    dequantized to fp32.

    options:
      --model PATH     GGUF file or Hugging Face checkpoint folder (config.json, *.safetensors,
                       tokenizer.json); default: the shipped SmolLM2-135M GGUF ('make setup')
      --dataset NAME   wikitext2 (vendored test text) or ptb (test split; 'make setup')
      --tokens-file F  evaluate these token ids instead (whitespace-separated integers, e.g. the
                       output of 'mxq tokenize'), to compare with other implementations
      --windows N      evaluate only the first N windows (default: all)
      --ctx N          window length in tokens (default 2048)
      --pre NAME       override the tokenizer's pre-tokenizer (smollm or gpt2)
      --json           print one JSON object (ppl, nll, tokens, windows, ctx, seconds,
                       tokens_per_s, dataset, model, threads) instead of a text line
    Progress with ETA goes to stderr.
    """

    static func run(_ args: inout Args) throws {
        let modelPath = try args.option("--model")
        let datasetName = try args.option("--dataset")
        let tokensFile = try args.option("--tokens-file")
        if (datasetName == nil) == (tokensFile == nil) {
            throw UsageError("eval: give exactly one of --dataset (wikitext2 or ptb) and --tokens-file")
        }
        let windows = try args.int("--windows")
        let ctx = try args.int("--ctx") ?? 2048
        let pre = try args.option("--pre")
        let json = args.flag("--json")
        if let w = windows, w < 1 { throw UsageError("eval: --windows must be at least 1, got \(w)") }
        if ctx < 2 { throw UsageError("eval: --ctx must be at least 2, got \(ctx)") }

        let modelURL = try modelPath.map { URL(fileURLWithPath: $0) }
            ?? Paths.requireSetUp(Paths.defaultModel, what: "default model (SmolLM2-135M GGUF)")
        let model = try LlamaModel.load(path: modelURL.path)
        let tokens: [Int32]
        let source: String
        if let f = tokensFile {
            tokens = try readTokenFile(f)
            source = f
        } else {
            let dataset = try EvalDataset(parsing: datasetName!)
            tokens = try datasetTokens(dataset, model: modelURL, preTokenizer: pre)
            source = dataset.rawValue
        }
        let result = try evaluate(model: model, tokens: tokens, ctx: ctx, windows: windows, label: "eval \(source)")
        if json {
            var obj = result.jsonObject
            obj["dataset"] = source
            obj["model"] = modelURL.path
            obj["threads"] = model.threads ?? Parallel.defaultThreads
            print(try evalJSONLine(obj))
        } else {
            print("\(source): " + String(format: "PPL %.4f (NLL %.6f over %d tokens, %d windows of %d) in %.1f s, %.1f tokens/s",
                                          result.ppl, result.nll, result.tokens, result.windows, result.ctx,
                                          result.seconds, result.tokensPerSecond))
        }
    }

    /// Runs `evaluatePerplexity` with a progress line (ETA, running PPL) on stderr.
    static func evaluate(model: LlamaModel, tokens: [Int32], ctx: Int, windows: Int?, label: String) throws -> PerplexityResult {
        let total = windows ?? perplexityWindowCount(tokenCount: tokens.count, ctx: ctx)
        let progress = ProgressReporter(label, total: max(total, 1))
        let r = try evaluatePerplexity(model: model, tokens: tokens, ctx: ctx, windows: windows) { _, _, nll in
            progress.advance(detail: String(format: "running PPL %.4f", Foundation.exp(nll)))
        }
        progress.finish(String(format: "PPL %.4f, %.1f tokens/s", r.ppl, r.tokensPerSecond))
        return r
    }
}

/// Whitespace-separated token ids.
private func readTokenFile(_ path: String) throws -> [Int32] {
    guard let d = FileManager.default.contents(atPath: path), let s = String(data: d, encoding: .utf8) else {
        throw UsageError("eval: cannot read token file \(path)")
    }
    var out: [Int32] = []
    for (i, w) in s.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }).enumerated() {
        guard let v = Int32(w), v >= 0 else {
            throw UsageError("eval: \(path): item \(i + 1) ('\(w.prefix(20))') is not a non-negative token id")
        }
        out.append(v)
    }
    return out
}

/// One-line JSON with sorted keys.
private func evalJSONLine(_ obj: [String: Any]) throws -> String {
    let d = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes])
    return String(data: d, encoding: .utf8)!
}
