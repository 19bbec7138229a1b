import Foundation
import Support
import Tokenization
import Runtime
import PTQ

enum EvalCommand: Command {
    static let name = "eval"
    static let summary = "perplexity of a (quantized) model on wikitext2 or ptb"
    static let help = """
    mxq eval — perplexity of a model on WikiText-2 or Penn Treebank

    usage: mxq eval [--model PATH] (--dataset wikitext2|ptb | --tokens-file F) [--windows N] [--ctx N]
                    [--pre NAME] [--json]
                    [--weights FMT|none] [--acts FMT|none] [--block N] [--scale-rule floor|ceil]
                    [--rounding even|away|stochastic] [--recipe STAGES] [--override PAT=W[,A][;...]]
                    [--lm-head] [--calib-samples N] [--calib-len L] [--calib-seed S] [--calib-file F]
                    [--awq-search-tokens N] [--awq-clip-tokens N] [--no-true-sequential]
                    [--layers FILE.csv] [--packed] [--no-cache]

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
                       tokens_per_s, dataset, model, threads; with quantization also weights,
                       acts, block, recipe, calib_*, awq_* with awq, quant_seconds, stage_seconds;
                       cpu_seconds and tokens_per_cpu_s: the evaluation's process CPU time and
                       tokens per (CPU seconds / threads), robust to other jobs) instead of a text line

    quantization (module PTQ; without these flags the model runs in fp32):
      --weights FMT    weight format of the 7 linears of every block: mxint8, mxint4, mxfp8 (=e4m3),
                       mxfp8_e5m2, mxfp6 (=e2m3), mxfp6_e3m2, mxfp4 (=e2m1), or none (fp32, default)
      --acts FMT       dynamic per-token activation format of the same linears' inputs, or none (default)
      --block N        MX block size for both (even, default 32)
      --scale-rule R   shared-exponent rule: floor (OCP, default) or ceil (no clipping)
      --rounding R     element rounding: even (default), away, stochastic (seed --rounding-seed S, default 0)
      --recipe STAGES  ordered stages, comma-separated (default rtn): smoothquant[(alpha=A)] (alias sq),
                       awq, gptq[(act_order)], rtn. GPTQ/RTN is the rounding and must come last; without
                       one, RTN is appended. Contradictions (a repeated stage, rtn with gptq, a stage after
                       the rounding, awq/gptq with --weights none) are rejected with the reason.
      --sq-alpha K=A[,K=A]  SmoothQuant alpha per consumer kind (q_proj for q/k/v, o_proj, gate_proj
                       for gate/up, down_proj), overriding the recipe's alpha
      --override LIST  per-layer overrides 'PATTERN=W[,A]' separated by ';' (later wins); PATTERN is a
                       glob over names like layers.3.mlp.down_proj; W/A a format, none, or - (keep),
                       e.g. --override 'layers.0.*=mxint8;*.down_proj=mxint8,mxint8'
      --lm-head        quantize the LM head too (RTN; its activation format too)
      --calib-samples N  calibration sequences (default 128)      --calib-len L  tokens each (default 2048)
      --calib-seed S   sampling seed (default 0)
      --calib-file F   calibration text (UTF-8) instead of the Penn Treebank train split (default);
                       never pass an evaluation split
      --awq-search-tokens N  calibration tokens per layer input used by AWQ's scale search (default 2048;
                       evenly strided over the calibration sequences, so at most samples x len; above
                       2048 the per-layer sample kept for the error table grows to N too). Needs awq in --recipe.
      --awq-clip-tokens N  tokens used by AWQ's clipping search (default 512; a strided subsample of the
                       search tokens, so at most --awq-search-tokens). Needs awq in --recipe.
      --layers FILE    write the per-layer, per-stage error table as CSV (weight SQNR, output SQNR/MSE vs
                       fp32 on calibration inputs, saturated/flushed shares, scale exponents). With plain
                       RTN, calibration data is then loaded to fill the output columns.
      --packed         evaluate through packed MX weights (MXTensor) instead of fp32 fake-quant weights
      --no-true-sequential  GPTQ: build every Hessian of a block from the block as it was before GPTQ
                       (one extra pass per block). Default (true-sequential, as GPTQ's --true-sequential):
                       o_proj's Hessian comes from the attention of the already quantized q/k/v,
                       gate/up's after the quantized attention, down's from the quantized gate/up, i.e.
                       each Hessian sees exactly its layer's inputs in the final model. Needs gptq in --recipe.
      --no-cache       do not read/write GPTQ Hessians under .cache/ptq/
    Calibration runs sequentially block by block (each block sees the outputs of the already
    quantized blocks before it, activation quantization included).
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
        let quant = try QuantFlags(&args)
        let model = try LlamaModel.load(path: modelURL.path)
        let quantInfo = try quant?.apply(model: model, modelURL: modelURL, preTokenizer: pre)
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
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        let cpu0 = Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
        let result = try evaluate(model: model, tokens: tokens, ctx: ctx, windows: windows, label: "eval \(source)")
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        let cpuSeconds = Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9 - cpu0
        if json {
            var obj = result.jsonObject
            // Process CPU time of the evaluation (robust to other jobs on a loaded machine);
            // tokens per CPU second per thread equals tokens_per_s when all threads ran all the time.
            let th = Double(model.threads ?? Parallel.defaultThreads)
            obj["cpu_seconds"] = cpuSeconds
            obj["tokens_per_cpu_s"] = Double(result.windows * result.ctx) / max(cpuSeconds / th, 1e-9)
            for (k, v) in quantInfo ?? [:] { obj[k] = v }
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

/// The quantization flags of `mxq eval` (parsing only; the work is `PTQ.quantize`).
struct QuantFlags {
    let plan: QuantPlan
    let calibSamples: Int, calibLen: Int, calibSeed: UInt64
    let calibFile: String?
    let layersCSV: String?
    let packed: Bool
    let useCache: Bool
    let smoothAlpha: [LinearKind: Float]
    /// AWQ search sizes (defaults unless --awq-search-tokens / --awq-clip-tokens).
    let awq: AWQOptions
    /// GPTQ Hessians true-sequential (default) or from the block before GPTQ (--no-true-sequential).
    let trueSequential: Bool
    let labels: [String: Any]

    /// Consumes the flags; nil when none was given (plain fp32 evaluation).
    init?(_ args: inout Args) throws {
        let weights = try args.option("--weights"), acts = try args.option("--acts")
        let block = try args.int("--block"), rule = try args.option("--scale-rule")
        let rounding = try args.option("--rounding"), rseed = try args.int("--rounding-seed")
        let recipe = try args.option("--recipe"), override = try args.option("--override")
        let sqAlpha = try args.option("--sq-alpha")
        let lmHead = args.flag("--lm-head")
        let samples = try args.int("--calib-samples"), len = try args.int("--calib-len")
        let seed = try args.int("--calib-seed"), file = try args.option("--calib-file")
        let awqSearch = try args.int("--awq-search-tokens"), awqClip = try args.int("--awq-clip-tokens")
        let layers = try args.option("--layers")
        let packed = args.flag("--packed"), noCache = args.flag("--no-cache")
        let notTrueSequential = args.flag("--no-true-sequential")
        let given: [Any?] = [weights, acts, block, rule, rounding, rseed, recipe, override, sqAlpha, samples, len, seed, file, layers,
                             awqSearch, awqClip]
        if given.allSatisfy({ $0 == nil }) && !lmHead && !packed && !noCache && !notTrueSequential { return nil }
        if let s = rseed, s < 0 { throw UsageError("eval: --rounding-seed must be non-negative, got \(s)") }
        plan = try QuantPlan.make(weights: weights, acts: acts, block: block ?? 32, scaleRule: rule, rounding: rounding,
                                  roundingSeed: UInt64(rseed ?? 0), recipe: recipe,
                                  overrides: override.map { $0.split(separator: ";").map(String.init) } ?? [], lmHead: lmHead)
        var awq = AWQOptions()
        for (flag, v) in [("--awq-search-tokens", awqSearch), ("--awq-clip-tokens", awqClip)] {
            guard let v = v else { continue }
            if v < 1 { throw UsageError("eval: \(flag) must be a positive integer (tokens), got \(v)") }
            if !plan.recipe.effectiveStages.contains(.awq) {
                throw UsageError("eval: \(flag) sets AWQ's search size, but --recipe '\(plan.recipe.description)' has no awq stage")
            }
        }
        if notTrueSequential && !plan.recipe.effectiveStages.contains(where: \.isGPTQ) {
            throw UsageError("eval: --no-true-sequential changes how GPTQ collects its Hessians, but --recipe '\(plan.recipe.description)' has no gptq stage")
        }
        trueSequential = !notTrueSequential
        if let v = awqSearch { awq.searchTokens = v }
        if let v = awqClip { awq.clipTokens = v }
        self.awq = awq
        calibSamples = samples ?? 128
        calibLen = len ?? 2048
        if calibSamples < 1 { throw UsageError("eval: --calib-samples must be at least 1, got \(calibSamples)") }
        if calibLen < 2 { throw UsageError("eval: --calib-len must be at least 2, got \(calibLen)") }
        guard (seed ?? 0) >= 0 else { throw UsageError("eval: --calib-seed must be non-negative") }
        calibSeed = UInt64(seed ?? 0)
        calibFile = file
        layersCSV = layers
        self.packed = packed
        useCache = !noCache
        var alphas: [LinearKind: Float] = [:]
        for item in (sqAlpha ?? "").split(separator: ",") {
            let kv = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, let kind = LinearKind(rawValue: kv[0]) ?? LinearKind(rawValue: kv[0] + "_proj"),
                  kind != .lmHead, let a = Float(kv[1]), a >= 0, a <= 1 else {
                throw UsageError("eval: --sq-alpha '\(item)': expected KIND=ALPHA with KIND one of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj and ALPHA in [0, 1]")
            }
            alphas[kind] = a
        }
        smoothAlpha = alphas
        var labels: [String: Any] = ["weights": weights ?? "none", "acts": acts ?? "none", "block": block ?? 32,
                  "recipe": plan.recipe.description, "scale_rule": rule ?? "floor", "rounding": rounding ?? "even",
                  "overrides": override ?? "", "lm_head": lmHead, "packed": packed]
        if plan.recipe.effectiveStages.contains(.awq) {
            labels["awq_search_tokens"] = awq.searchTokens
            labels["awq_clip_tokens"] = awq.clipTokens
        }
        if plan.recipe.effectiveStages.contains(where: \.isGPTQ) {
            labels["gptq_true_sequential"] = trueSequential
        }
        self.labels = labels
    }

    /// Quantizes `model` in place; returns fields for the JSON line.
    func apply(model: LlamaModel, modelURL: URL, preTokenizer: String?) throws -> [String: Any] {
        var info = labels
        let calibrated = plan.recipe.effectiveStages.contains { $0 != .rtn }
        var cal: CalibrationSet? = nil
        if calibrated || layersCSV != nil {
            let source: CalibrationSource = calibFile.map { .file(URL(fileURLWithPath: $0)) } ?? .ptbTrain
            let tok = try BPETokenizer.load(model: modelURL, preTokenizer: preTokenizer)
            let ids = tok.encode(try source.text())
            cal = try CalibrationSet(tokens: ids, samples: calibSamples, length: calibLen, seed: calibSeed,
                                     sourceName: calibFile ?? "PTB train")
            info["calib"] = calibFile ?? "ptb-train"
            info["calib_samples"] = calibSamples
            info["calib_len"] = calibLen
            info["calib_seed"] = Int(calibSeed)
        }
        var opts = PTQOptions()
        opts.smoothAlpha = smoothAlpha
        opts.awq = awq
        opts.gptq.trueSequential = trueSequential
        // the search subsamples the per-layer sample the pipeline keeps: keep at least that many
        opts.recordTokens = max(opts.recordTokens, awq.searchTokens)
        if useCache {
            opts.cacheDirectory = Paths.cache.appendingPathComponent("ptq")
            // Content hash (as the sweep uses): a copied or re-downloaded model reuses its cache,
            // a changed file never does.
            opts.modelIdentity = try SHA256.hex(ofFileOrFolder: modelURL)
        }
        let report = try quantize(model: model, plan: plan, calibration: cal, options: opts)
        printErr(String(format: "quantize: %@ in %.1f s (%@)", plan.recipe.description, report.seconds,
                        report.stageSeconds.sorted { $0.key < $1.key }.map { String(format: "%@ %.1f s", $0.key, $0.value) }.joined(separator: ", ")))
        if let path = layersCSV {
            do { try report.csv.write(toFile: path, atomically: true, encoding: .utf8) }
            catch { throw UsageError("eval: cannot write --layers file '\(path)': \(error.localizedDescription)") }
        }
        if packed {
            let bad = try packWeights(model: model, plan: plan)
            if bad > 0 { printErr("warning: \(bad) weight values changed when packed (re-encoding with natural block scales)") }
        }
        info["quant_seconds"] = report.seconds
        info["stage_seconds"] = report.stageSeconds
        info["hessian_cache_hits"] = report.cacheHits
        return info
    }
}

