import Foundation
import Support
import Tokenization
import Runtime
import PTQ
import Experiments

enum EvalCommand: Command {
    static let name = "eval"
    static let summary = "perplexity of a (quantized) model on wikitext2 or ptb"
    static let help = """
    mxq eval — perplexity of a model on WikiText-2 or Penn Treebank

    usage: mxq eval [--model PATH] (--dataset wikitext2|ptb | --tokens-file F) [--windows N] [--ctx N]
                    [--bos] [--pre NAME] [--json]
                    [--weights FMT|none] [--acts FMT|none] [--block N] [--scale-rule floor|ceil]
                    [--rounding even|away|stochastic] [--recipe STAGES] [--override PAT=W[,A][;...]]
                    [--lm-head] [--calib-samples N] [--calib-len L] [--calib-seed S] [--calib-file F]
                    [--awq-search-tokens N] [--awq-clip-tokens N] [--no-true-sequential]
                    [--rounding-seed S] [--recipe-name NAME] [--sq-alpha K=A,...]
                    [--layers FILE.csv] [--packed | --fake-quant] [--no-cache] [--print-cell] [--max-blocks N]

    The flags describe one experiment cell, exactly as a manifest cell does: they are turned into
    a one-cell manifest, validated and run by the same code as 'mxq sweep' (same numbers, same
    Hessian cache). --print-cell prints that manifest (JSON) instead of running it; 'mxq sweep M
    --dry-run --print-eval' prints a manifest's cells as mxq eval command lines.

    The whole test text is tokenized without BOS and cut into non-overlapping windows of
    --ctx tokens (the incomplete tail is dropped); each window predicts its tokens 2..ctx
    from the prefix, and PPL = exp(mean NLL over all predicted tokens). With --bos each window
    is instead the model's BOS followed by the next ctx-1 text tokens, all of them predicted
    (windows still tile the text; calibration sequences also start with BOS).

    Quantized linears run where they can on the integer MX kernels: MXINT8 activations ×
    MXINT4/MXINT8 weights (block 32) are multiplied through packed weights (exact int32 block
    sums; equal to fake-quant up to fp32 summation order), every other linear through fp32
    fake-quant weights (weights dequantized to fp32, inputs quantized-dequantized). The result
    line (JSON: "path") names what ran: packed-int, packed, fake-quant, or several joined by '+'.
    Calibration does the same with the linears it has quantized (the passes that feed the next
    block, AWQ's scale search, the error records); --fake-quant keeps it on fp32 products too.

    options:
      --model PATH     GGUF file or Hugging Face checkpoint folder (config.json, *.safetensors,
                       tokenizer.json) of a Llama, Mistral or Qwen2 model (README: "Models");
                       default: the shipped SmolLM2-135M GGUF ('make setup')
      --dataset NAME   wikitext2 (vendored test text) or ptb (test split; 'make setup'), or several
                       joined by ',' (one result line each)
      --tokens-file F  evaluate these token ids instead (whitespace-separated integers, e.g. the
                       output of 'mxq tokenize'), to compare with other implementations
      --windows N      evaluate only the first N windows (default: all)
      --ctx N          window length in tokens (default 2048)
      --bos            start every window (and calibration sequence) with the model's BOS token
                       (tokenizer's bos id, else config.json bos_token_id; an error if there is
                       none); manifest: "eval": {"bos": true}. Default: no BOS
      --pre NAME       override the tokenizer's pre-tokenizer (smollm or gpt2)
      --json           print one JSON object per dataset (ppl, nll, window_nll, tokens, windows, ctx,
                       seconds, tokens_per_s, dataset, model, threads, cell_id, path; with quantization also
                       weights, acts, block, recipe, stages, calib_*, awq_* with awq, quant_seconds,
                       stage_seconds, hessian_cache_hits) instead of a text line

    quantization (module PTQ; without these flags the model runs in fp32):
      --weights FMT    weight format of the 7 linears of every block: mxint8, mxint4, mxfp8 (=e4m3),
                       mxfp8_e5m2, mxfp6 (=e2m3), mxfp6_e3m2, mxfp4 (=e2m1), or none (fp32, default)
      --acts FMT       dynamic per-token activation format of the same linears' inputs, or none (default)
      --block N        MX block size for both (even, default 32)
      --scale-rule R   shared-exponent rule: floor (OCP, default) or ceil (no clipping)
      --rounding R     element rounding: even (default), away, stochastic (seed --rounding-seed S, default
                       --calib-seed; weights and activations draw independent streams from it)
      --recipe STAGES  ordered stages, comma-separated (default rtn): smoothquant[(alpha=A)] (alias sq),
                       awq, gptq[(act_order)], rtn. GPTQ/RTN is the rounding and must come last; without
                       one, RTN is appended. Contradictions (a repeated stage, rtn with gptq, a stage after
                       the rounding, awq/gptq with --weights none) are rejected with the reason.
                       Any manifest stage parameter can be given as KEY=VALUE, e.g.
                       'gptq(damp=0.02,block_size=64)', 'awq(grid=10)', 'sq(alpha=0.6)'.
      --recipe-name N  the recipe's name in cell ids (default: its stages joined by '+', e.g. sq+gptq)
      --sq-alpha K=A[,K=A]  SmoothQuant alpha per consumer kind (q_proj for q/k/v, o_proj, gate_proj
                       for gate/up, down_proj), overriding the recipe's alpha (manifest: smoothquant
                       parameters alpha_qkv, alpha_o, alpha_gate_up, alpha_down)
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
      --layers FILE    write the per-layer, per-stage error table as CSV, in the format of a sweep's
                       layers.csv (weight SQNR, output SQNR/MSE vs fp32 on calibration inputs,
                       saturated/flushed shares, scale exponents). With plain RTN, calibration data is
                       then loaded to fill the output columns (a sweep always does).
      --packed         evaluate every quantized linear through packed MX weights (MXTensor): the
                       integer kernels where they apply, the dequantizing MX kernels elsewhere (cell
                       id suffix _packed)
      --fake-quant     evaluate (and calibrate) every quantized linear through fp32 fake-quant weights,
                       also where the integer kernels apply (manifest: "eval": {"path": "fake-quant"})
      --no-true-sequential  GPTQ: build every Hessian of a block from the block as it was before GPTQ
                       (one extra pass per block). Default (true-sequential, as GPTQ's --true-sequential):
                       o_proj's Hessian comes from the attention of the already quantized q/k/v,
                       gate/up's after the quantized attention, down's from the quantized gate/up, i.e.
                       each Hessian sees exactly its layer's inputs in the final model. Needs gptq in --recipe.
      --no-cache       do not read/write GPTQ Hessians under .cache/hessians/ (manifest: "cache": false)
      --print-cell     print the one-cell manifest these flags describe and exit
      --max-blocks N   memory and speed benchmarks only: PTQ and the forward pass run just the first N
                       decoder blocks (then the final norm and LM head); the PPL printed is not the
                       model's and is labelled so. Refused with --json, --layers and --print-cell.
    Calibration runs sequentially block by block (each block sees the outputs of the already
    quantized blocks before it, activation quantization included).
    Progress with ETA goes to stderr.
    """

    static func run(_ args: inout Args) throws {
        let inv = try EvalInvocation.parse(&args)
        try args.finish()
        if inv.printCell {
            print(String(decoding: inv.manifest.resolvedJSON(), as: UTF8.self), terminator: "")
            return
        }
        let rec = try inv.run()
        let cell = inv.manifest.cells[0]
        for e in rec.evals {
            let tps = e.seconds > 0 ? Double(e.windows * inv.manifest.ctx) / e.seconds : 0
            if inv.json {
                var obj: [String: Any] = [
                    "ppl": e.ppl, "nll": e.nll, "tokens": e.tokens, "windows": e.windows, "ctx": inv.manifest.ctx,
                    "seconds": e.seconds, "tokens_per_s": tps, "dataset": e.dataset,
                    "model": (try? RealRunner.modelURL(inv.manifest).path) ?? inv.manifest.model,
                    "threads": Parallel.defaultThreads, "cell_id": rec.id, "window_nll": e.windowNLL ?? [],
                    "path": rec.evaluationPath,
                ]
                if inv.manifest.bos { obj["bos"] = true }
                if !cell.recipe.isFP32 {
                    let cal = inv.manifest.calibration(of: cell)
                    obj["weights"] = rec.weights; obj["acts"] = rec.acts; obj["block"] = rec.block
                    obj["recipe"] = rec.recipe; obj["stages"] = rec.stages
                    obj["scale_rule"] = rec.scaleRule; obj["rounding"] = rec.rounding
                    obj["overrides"] = cell.overrides.joined(separator: ";"); obj["lm_head"] = cell.lmHead; obj["packed"] = cell.packed
                    obj["calib"] = cal.dataset; obj["calib_samples"] = cal.n; obj["calib_len"] = cal.len; obj["calib_seed"] = cell.seed
                    obj["quant_seconds"] = rec.quantizeSeconds; obj["stage_seconds"] = rec.stageSeconds ?? [:]
                    obj["hessian_cache_hits"] = rec.cachedHessians?.count ?? 0
                    for st in cell.recipe.stages {
                        switch st.settings {
                        case .awq(let a): obj["awq_search_tokens"] = a.searchTokens; obj["awq_clip_tokens"] = a.clipTokens
                        case .gptq(let g): obj["gptq_true_sequential"] = g.trueSequential
                        default: break
                        }
                    }
                }
                // An overflowing PPL (NLL > 709) or a NaN is written as "inf"/"nan", as in the sweep's records.
                let d = try JSONSerialization.data(withJSONObject: jsonSafe(obj), options: [.sortedKeys, .withoutEscapingSlashes])
                print(String(decoding: d, as: UTF8.self))
            } else {
                let cut = inv.maxBlocks.map { " [--max-blocks \($0): only the first \($0) decoder blocks ran; not the model's perplexity]" } ?? ""
                print("\(e.dataset): " + String(format: "PPL %.4f (NLL %.6f over %d tokens, %d windows of %d) in %.1f s, %.1f tokens/s",
                                                 e.ppl, e.nll, e.tokens, e.windows, inv.manifest.ctx, e.seconds, tps)
                      + " [\(rec.evaluationPath)]" + cut)
            }
        }
    }
}
