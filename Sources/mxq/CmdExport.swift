import Foundation
import Support
import ModelIO
import Experiments

enum ExportCommand: Command {
    static let name = "export"
    static let summary = "write a (quantized) model as a Hugging Face checkpoint folder"
    static let help = """
    mxq export — write the model of one experiment cell as a Hugging Face checkpoint folder

    usage: mxq export --out DIR [--dtype bf16|f32] [--shard-size SIZE] [--model PATH]
                      [the quantization flags of mxq eval: --weights, --block, --scale-rule, --rounding,
                       --recipe, --override, --lm-head, --calib-*, --awq-*, --sq-alpha, --no-cache, ...]

    Quantizes the model exactly as 'mxq eval' with the same flags would (same one-cell manifest,
    same code, same Hessian cache) and writes its weights instead of evaluating them: the linear
    weights fake-quantized (the dequantized values of their MX format, which bf16 and f32 hold
    exactly), SmoothQuant/AWQ scales folded into weights, norms and biases, so the folder is a
    self-consistent full-precision model that transformers loads (LlamaForCausalLM,
    MistralForCausalLM, Qwen2ForCausalLM; q/k rows in Hugging Face's RoPE layout, also from a GGUF).
    Without quantization flags the model is written as loaded (e.g. GGUF → Hugging Face folder).

    Written: config.json, model.safetensors (or shards above --shard-size with
    model.safetensors.index.json), the tokenizer (a folder's tokenizer files are copied; a GGUF's
    byte-level vocabulary becomes tokenizer.json, other GGUF vocabularies are not written, with a
    warning), and mxq_export.json (source and its SHA-256, recipe, formats, calibration, dtype,
    mxq commit, the cell's manifest). A tied model quantized with --lm-head is written untied.

    Refused: --acts other than none and overrides with an activation format (activation
    quantization happens at run time and cannot be stored in a checkpoint), --packed, and the
    evaluation options (--dataset, --windows, --ctx, --json, --layers, --print-cell).

    options:
      --out DIR          output folder (created; files of the same names are replaced)
      --dtype D          f32 (default) or bf16
      --shard-size SIZE  largest shard, bytes or with kB/MB/GB (default 5GB, transformers' default)
    """

    static func run(_ args: inout Args) throws {
        let shard = try parseByteSize(try args.option("--shard-size"), flag: "--shard-size", command: "export")
        let inv = try ExportInvocation.parse(&args, shardBytes: shard)
        let s = try inv.run()
        printErr("mxq export: \(s.tokenizerNote)")
        print("wrote \(inv.out): \(s.files.filter { $0.hasSuffix(".safetensors") }.count) safetensors file(s), \(formatBytes(s.tensorBytes)) of \(inv.dtype.rawValue) weights, \(s.quantizedLinears) quantized linears, in \(formatDuration(s.seconds))")
    }
}
