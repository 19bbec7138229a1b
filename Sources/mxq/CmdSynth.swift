import Foundation
import Support
import ModelIO
import Runtime

enum SynthCommand: Command {
    static let name = "synth"
    static let summary = "write a random-weight checkpoint of a real model shape"
    static let help = """
    mxq synth — a Hugging Face checkpoint folder with random weights and a published model's config

    usage: mxq synth --shape NAME --dtype bf16|f16|f32 --out DIR [--seed S] [--layers N] [--shard-size SIZE]

    Writes DIR/config.json (the published config.json values of the shape: sizes, heads, KV heads,
    vocabulary, RoPE theta and scaling, RMSNorm eps, tied embeddings, biases, sliding window, BOS/EOS
    ids), the weights as model.safetensors or, above --shard-size, model-0000i-of-0000n.safetensors
    shards with model.safetensors.index.json, and a synthetic byte-level tokenizer.json covering the
    vocabulary (256 byte tokens, meaningless merges, the BOS/EOS tokens at their ids) with
    tokenizer_config.json. For speed and memory benchmarks and tests: the weights are random
    (seeded; linear weights N(0, 1/in_features), embeddings N(0, 1/hidden) (std ≈ 0.02 as in trained
    models), norm weights 1 + N(0, 0.01), biases N(0, 0.25)), the model computes nothing meaningful.

    Weights are generated and written tensor by tensor in 4 MB chunks (memory stays small whatever
    the size); a write the disk has no room for is refused before anything is written.

    options:
      --shape NAME     llama2-7b, llama3-8b, llama3.2-1b, mistral-7b, qwen2.5-0.5b, smollm2-135m
      --dtype D        bf16, f16 or f32 storage
      --out DIR        output folder (created; files of the same names are replaced)
      --seed S         random seed (default 0); same seed, same bytes
      --layers N       keep only the first N decoder blocks (num_hidden_layers = N), e.g. for fast tests
      --shard-size SIZE  largest shard, bytes or with kB/MB/GB (default 5GB, transformers' default)
    """

    static func run(_ args: inout Args) throws {
        guard let shapeName = try args.option("--shape") else { throw UsageError("synth: --shape NAME is required (see 'mxq help synth')") }
        guard let dtypeName = try args.option("--dtype") else { throw UsageError("synth: --dtype bf16|f16|f32 is required") }
        guard let out = try args.option("--out") else { throw UsageError("synth: --out DIR is required") }
        let seed = try args.int("--seed") ?? 0
        let layers = try args.int("--layers")
        let shard = try parseByteSize(try args.option("--shard-size"), flag: "--shard-size", command: "synth")
        try args.finish()
        let shape = try PublishedShape(parsing: shapeName)
        guard let dtype = SafetensorsWriter.DType(rawValue: dtypeName.uppercased()) else {
            throw UsageError("synth: --dtype must be bf16, f16 or f32, got '\(dtypeName)'")
        }
        guard seed >= 0 else { throw UsageError("synth: --seed must be non-negative, got \(seed)") }
        var h = shape.hyperparameters
        if let n = layers {
            guard n >= 1 && n <= h.layers else { throw UsageError("synth: --layers must be in 1...\(h.layers) for \(shape.rawValue), got \(n)") }
            h.layers = n
        }
        var extra = shape.extraConfig
        if let n = layers, shape == .qwen2_5_0_5b { extra["max_window_layers"] = min(n, extra["max_window_layers"] as? Int ?? n) }
        let r = try synthesizeCheckpoint(config: h, dtype: dtype, to: out, seed: UInt64(seed), extraConfig: extra,
                                         specialTokens: shape.specialTokens, shardBytes: shard ?? HFCheckpointWriter.defaultShardBytes,
                                         showProgress: true)
        let mbps = Double(r.tensorBytes) / 1e6 / max(r.seconds, 1e-9)
        print("wrote \(out): \(shape.rawValue), \(h.layers) layers, \(r.parameters) parameters, \(dtype.rawValue), \(formatBytes(r.tensorBytes)) of weights in \(r.files.filter { $0.hasSuffix(".safetensors") }.count) file(s), \(formatDuration(r.seconds)) (\(String(format: "%.0f", mbps)) MB/s)")
    }
}

/// `5GB`, `100MB`, `64kB`, `12345` → bytes (decimal units, as transformers' `max_shard_size`); nil when absent.
func parseByteSize(_ s: String?, flag: String, command: String) throws -> Int? {
    guard let s = s else { return nil }
    let t = s.trimmingCharacters(in: .whitespaces).uppercased()
    let units: [(String, Double)] = [("GB", 1e9), ("MB", 1e6), ("KB", 1e3), ("B", 1)]
    var num = t, mult = 1.0
    for (u, m) in units where t.hasSuffix(u) { num = String(t.dropLast(u.count)); mult = m; break }
    guard let v = Double(num.trimmingCharacters(in: .whitespaces)), v.isFinite, v * mult >= 1, v * mult < 1e15 else {
        throw UsageError("\(command): \(flag) expects a size such as 5GB, 200MB or a number of bytes, got '\(s)'")
    }
    return Int(v * mult)
}
