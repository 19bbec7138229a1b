import Foundation
import Support
import MXFormats
import ModelIO
import Runtime
import PTQ

/// `mxq export`: one experiment cell's model (after its recipe, weights fake-quantized, i.e. the
/// dequantized MX values) written as a Hugging Face checkpoint folder that transformers loads
/// (`LlamaForCausalLM` / `MistralForCausalLM` / `Qwen2ForCausalLM`, q/k rows in the halves RoPE
/// layout). The quantization flags are `mxq eval`'s: they become the same one-cell manifest
/// (`EvalInvocation.parse`) and the cell is quantized by `RealRunner.quantizedModel`, the code
/// that `mxq eval` and `mxq sweep` run, so the exported weights are exactly those they evaluate.
public struct ExportInvocation {
    public var manifest: Manifest
    public var out: String
    public var dtype: SafetensorsWriter.DType
    public var shardBytes: Int

    /// Flags of `mxq eval` that choose what to evaluate or print, not the model: refused.
    static let evalOnlyFlags = ["--dataset", "--tokens-file", "--windows", "--ctx", "--json", "--layers", "--print-cell",
                                "--heldout-file", "--no-heldout"]

    /// Consumes `--out`, `--dtype` (bf16|f32, default f32), `--shard-size` handled by the caller
    /// (`shardBytes`) and every quantization flag of `mxq eval` from `args`; leaves `args` empty.
    public static func parse(_ args: inout Args, shardBytes: Int?) throws -> ExportInvocation {
        guard let out = try args.option("--out") else { throw UsageError("export: --out DIR is required (see 'mxq help export')") }
        let dtypeName = try args.option("--dtype") ?? "f32"
        guard let dtype = SafetensorsWriter.DType(rawValue: dtypeName.uppercased()), dtype != .f16 else {
            throw UsageError("export: --dtype must be bf16 or f32, got '\(dtypeName)' (f16 cannot hold every MX value: MXFP8 E5M2 and large block scales exceed its range)")
        }
        for f in evalOnlyFlags where args.items.contains(where: { $0 == f || $0.hasPrefix(f + "=") }) {
            throw UsageError("export: \(f) is an evaluation option of mxq eval; export writes the model (evaluate the folder with 'mxq eval --model DIR')")
        }
        if args.items.contains("--packed") {
            throw UsageError("export: --packed only changes how mxq eval multiplies the quantized weights; export always writes their dequantized values")
        }
        // the one-cell manifest of mxq eval (its datasets are never read: RealRunner(evaluate: false))
        var a = Args(command: "export", args.items + ["--dataset", "wikitext2"])
        let inv = try EvalInvocation.parse(&a)
        try a.finish()
        args = Args(command: "export", [])
        let cell = inv.manifest.cells[0]
        if let acts = cell.acts, acts != "none" {
            throw UsageError("export: --acts \(acts) cannot be exported: a Hugging Face checkpoint holds weights only, and activation quantization happens at run time (export the weights with --acts none, and quantize activations in the tool that runs the model)")
        }
        return ExportInvocation(manifest: inv.manifest, out: out, dtype: dtype, shardBytes: shardBytes ?? HFCheckpointWriter.defaultShardBytes)
    }

    /// What was written.
    public struct Summary {
        public var files: [String]
        public var tensorBytes: Int64
        public var quantizedLinears: Int
        public var seconds: Double
        public var tokenizerNote: String
    }

    /// Loads the model, quantizes the cell, writes the folder (weights, config.json, tokenizer,
    /// mxq_export.json). Refuses activation formats from overrides too, before quantizing.
    public func run(gitCommit: String = Environment.gitCommit()) throws -> Summary {
        let t0 = monotonicSeconds()
        let src = try RealRunner.modelURL(manifest).resolvingSymlinksInPath().standardizedFileURL
        if URL(fileURLWithPath: out).resolvingSymlinksInPath().standardizedFileURL.path == src.path {
            throw UsageError("export: --out \(out) is the source model's folder; write the export to another folder")
        }
        let runner = try RealRunner(manifest: manifest, evaluate: false)
        runner.recordsForRTN = false
        let cell = manifest.cells[0]
        let h = runner.modelConfig
        var quantizedNames: [String] = []
        if !cell.recipe.isFP32 {
            let plan = try RealRunner.plan(cell).plan
            let kinds = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]
            let names = (0..<h.layers).flatMap { i in kinds.map { "layers.\(i).\($0)" } } + ["lm_head"]
            for n in names {
                let spec = plan.spec(for: n)
                if let a = spec.act {
                    throw UsageError("export: \(n) would quantize its input activations to \(a.format.rawValue) (--acts or --override): activation quantization cannot be exported, a Hugging Face checkpoint holds weights only")
                }
                if spec.weight != nil { quantizedNames.append(n) }
            }
        }
        let cost = CostModel()
        let progress = SweepProgress(cost: { [manifest] in cost.cellSeconds($0, manifest) })
        progress.begin(cells: [cell], baseline: 0)
        progress.startCell(cell, position: 1, of: 1)
        let (model, _) = try runner.quantizedModel(cell, progress: progress)
        progress.finishCell()
        progress.endLine()

        // a tied model whose LM head was quantized (--lm-head) is written untied
        var config = h
        if config.tiedEmbeddings && model.lmHead.weight != model.embedding { config.tiedEmbeddings = false }
        let source = runner.modelPath
        var extra: [String: Any] = [:]
        var tokenizerFiles: [(name: String, text: String?, copyFrom: URL?)] = []
        var tokenizerNote = ""
        var isDir: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: source.path, isDirectory: &isDir)
        if isDir.boolValue {
            // fields of the source config.json that do not change the maths
            if let d = try? Data(contentsOf: source.appendingPathComponent("config.json")),
               let j = (try? JSONSerialization.jsonObject(with: d)) as? [String: Any] {
                for k in ["eos_token_id", "pad_token_id", "initializer_range"] where j[k] != nil { extra[k] = j[k] }
            }
            for n in ["tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"]
            where FileManager.default.fileExists(atPath: source.appendingPathComponent(n).path) {
                tokenizerFiles.append((n, nil, source.appendingPathComponent(n)))
            }
            tokenizerNote = tokenizerFiles.isEmpty ? "the source folder has no tokenizer files: none written"
                : "copied " + tokenizerFiles.map(\.name).joined(separator: ", ") + " from the source folder"
        } else {
            let g = try GGUFFile(path: source.path)
            if let b = g["tokenizer.ggml.bos_token_id"]?.int, b >= 0, b < h.vocab { extra["bos_token_id"] = b }
            if let e = g["tokenizer.ggml.eos_token_id"]?.int, e >= 0, e < h.vocab { extra["eos_token_id"] = e }
            let t = ggufByteLevelTokenizerJSON(g)
            if let json = t.json {
                tokenizerFiles = [("tokenizer.json", json, nil), ("tokenizer_config.json", tokenizerConfigJSON(bos: t.bos, eos: t.eos), nil)]
                tokenizerNote = "tokenizer.json written from the GGUF vocabulary"
            } else {
                tokenizerNote = "WARNING: no tokenizer written (\(t.reason)); add the model's own tokenizer files to the folder"
            }
        }
        let writer = HFCheckpointWriter(config: config, dtype: dtype, shardBytes: shardBytes)
        try writer.checkRoom(dir: out, extraBytes: Int64(tokenizerFiles.reduce(0) { $0 + ($1.text?.utf8.count ?? 0) }))
        var current: (name: String, values: [Float]) = ("", [])
        let wp = ProgressReporter("export", total: config.expectedTensorCount)
        var files = try writer.write(to: out, extraConfig: extra, progress: wp) { name, shape, off, buf in
            if current.name != name {
                guard let v = model.hfTensor(name), v.count == shape.reduce(1, *) else {
                    preconditionFailure("export: model has no tensor \(name) of shape \(shape)")
                }
                current = (name, v)
            }
            current.values.withUnsafeBufferPointer { buf.baseAddress!.update(from: $0.baseAddress! + off, count: buf.count) }
        }
        wp.finish()
        current = ("", [])
        for t in tokenizerFiles {
            let dst = (out as NSString).appendingPathComponent(t.name)
            if let text = t.text { try writeFile(text, to: dst) }
            else if let src = t.copyFrom {
                do {
                    if FileManager.default.fileExists(atPath: dst) { try FileManager.default.removeItem(atPath: dst) }
                    try FileManager.default.copyItem(at: src, to: URL(fileURLWithPath: dst))
                } catch { throw CheckpointWriteError.cannotWrite(path: dst, reason: error.localizedDescription) }
            }
            files.append(t.name)
        }
        try writeFile(try recordJSON(cell: cell, config: config, runner: runner, quantized: quantizedNames,
                                     tokenizerNote: tokenizerNote, gitCommit: gitCommit),
                      to: (out as NSString).appendingPathComponent("mxq_export.json"))
        files.append("mxq_export.json")
        return Summary(files: files, tensorBytes: writer.tensorBytes, quantizedLinears: quantizedNames.count,
                       seconds: monotonicSeconds() - t0, tokenizerNote: tokenizerNote)
    }

    /// `mxq_export.json`: what was done (source and its SHA-256, the cell and its manifest, formats,
    /// recipe, calibration, dtype, mxq commit), so the folder documents itself.
    func recordJSON(cell: Cell, config: LlamaHyperparameters, runner: RealRunner, quantized: [String],
                    tokenizerNote: String, gitCommit: String) throws -> String {
        var j: [String: Any] = [
            "mxq_commit": gitCommit,
            "created": ISO8601DateFormatter().string(from: Date()),
            "source": ["path": runner.modelPath.path, "sha256": try SHA256.hex(ofFileOrFolder: runner.modelPath)],
            "dtype": dtype.rawValue,
            "cell_id": cell.id,
            "recipe": cell.recipe.isFP32 ? "fp32" : cell.recipe.name,
            "stages": cell.recipe.isFP32 ? [String]() : cell.recipe.stages.map(\.description),
            "weights": cell.weights ?? "none",
            "acts": "none",
            "tokenizer": tokenizerNote,
            "tie_word_embeddings": config.tiedEmbeddings,
            "quantized_linears": quantized,
            "note": cell.recipe.isFP32
                ? "fp32 model as loaded (no quantization), stored as \(dtype.rawValue)"
                : "weights fake-quantized: each listed linear holds the dequantized MX values of its format (exact in \(dtype.rawValue)); SmoothQuant/AWQ scales are folded into weights, norms and biases; activations are not quantized (not exportable)",
            "mxq_eval_equivalent": evalCommandLine(manifest, cell: cell),
        ]
        if !cell.recipe.isFP32 {
            let cal = manifest.calibration(of: cell)
            j["block"] = cell.block; j["scale_rule"] = cell.scaleRule; j["rounding"] = cell.rounding
            if let r = cell.roundingSeed { j["rounding_seed"] = r }
            j["overrides"] = cell.overrides; j["lm_head"] = cell.lmHead
            j["calibration"] = ["dataset": cal.dataset, "n": cal.n, "len": cal.len, "seed": cell.seed]
        }
        if let m = try? JSONSerialization.jsonObject(with: manifest.resolvedJSON()) { j["manifest"] = m }
        let d = try JSONSerialization.data(withJSONObject: j, options: [.sortedKeys, .prettyPrinted])
        return String(decoding: d, as: UTF8.self) + "\n"
    }
}
