import XCTest
import MXFormats
import PTQ
import Runtime
import ModelIO
import Support
import Tokenization
import TestSupport
@testable import Experiments

/// `mxq synth` (random-weight checkpoints of published shapes) and `mxq export` (a cell's model as a
/// Hugging Face folder), on tiny models through the same code paths as the commands.
final class SynthExportTests: XCTestCase {
    /// A tiny Qwen2-style config (q/k/v biases, head_dim 16 ≠ hidden/heads, GQA, untied).
    static let tinyQwen = LlamaHyperparameters(vocab: 300, hidden: 48, intermediate: 80, layers: 2, heads: 4, kvHeads: 2, headDim: 16,
                                               rmsEps: 1e-6, ropeTheta: 1_000_000, tiedEmbeddings: false, contextLength: 256,
                                               architecture: .qwen2, qkvBias: true, bosTokenID: 299)

    // MARK: synth

    /// The parameter counts of the six shapes are the published ones (model cards / papers:
    /// Llama-2-7B 6,738,415,616; Llama-3-8B 8,030,261,248; Llama-3.2-1B 1,235,814,400;
    /// Mistral-7B 7,241,732,096; Qwen2.5-0.5B 494,032,768; SmolLM2-135M 134,515,008), and each
    /// config.json parses back to the same hyperparameters.
    func testPublishedShapes() throws {
        let expected: [PublishedShape: Int] = [.llama2_7b: 6_738_415_616, .llama3_8b: 8_030_261_248, .llama3_2_1b: 1_235_814_400,
                                               .mistral_7b: 7_241_732_096, .qwen2_5_0_5b: 494_032_768, .smollm2_135m: 134_515_008]
        for s in PublishedShape.allCases {
            let h = s.hyperparameters
            XCTAssertEqual(h.expectedTensors().reduce(0) { $0 + $1.shape.reduce(1, *) }, expected[s], s.rawValue)
            let text = try HFCheckpointWriter(config: h, dtype: .bf16).configJSON(extra: s.extraConfig)
            let j = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
            XCTAssertEqual(try LlamaHyperparameters.fromHFConfig(j, path: s.rawValue), h, s.rawValue)
            XCTAssertEqual(j["torch_dtype"] as? String, "bfloat16")
        }
        // Llama 3.2: llama3 RoPE scaling as published
        let j = try JSONSerialization.jsonObject(with: Data(try HFCheckpointWriter(config: PublishedShape.llama3_2_1b.hyperparameters, dtype: .bf16).configJSON().utf8)) as! [String: Any]
        let r = j["rope_scaling"] as! [String: Any]
        XCTAssertEqual(r["rope_type"] as? String, "llama3")
        XCTAssertEqual(r["factor"] as? Double, 32); XCTAssertEqual(r["low_freq_factor"] as? Double, 1)
        XCTAssertEqual(r["high_freq_factor"] as? Double, 4); XCTAssertEqual(r["original_max_position_embeddings"] as? Int, 8192)
        XCTAssertEqual(try PublishedShape(parsing: "Mistral-7B"), .mistral_7b)
        XCTAssertThrowsError(try PublishedShape(parsing: "llama-7b"))
    }

    /// A tiny shape through `synthesizeCheckpoint`: sharded and single-file folders hold the same
    /// tensors, load with mxq's loader to the same config, the index names every tensor once with
    /// the right total size, the same seed gives the same bytes, the tokenizer covers the
    /// vocabulary, and the values have the documented scales.
    func testSynthTinyFolder() throws {
        let h = Self.tinyQwen
        let one = makeTempDir("synth1"), shards = makeTempDir("synthN"), again = makeTempDir("synth1b")
        let special = [(id: 299, content: "<|endoftext|>")]
        let r1 = try synthesizeCheckpoint(config: h, dtype: .f32, to: one.path, seed: 7, extraConfig: ["eos_token_id": 299], specialTokens: special)
        try synthesizeCheckpoint(config: h, dtype: .f32, to: again.path, seed: 7, extraConfig: ["eos_token_id": 299], specialTokens: special)
        let rN = try synthesizeCheckpoint(config: h, dtype: .f32, to: shards.path, seed: 7, specialTokens: special, shardBytes: 20_000)
        XCTAssertEqual(r1.files.filter { $0.hasSuffix(".safetensors") }, ["model.safetensors"])
        let shardFiles = rN.files.filter { $0.hasSuffix(".safetensors") }
        XCTAssertGreaterThan(shardFiles.count, 2)
        XCTAssertEqual(shardFiles.first, String(format: "model-00001-of-%05d.safetensors", shardFiles.count))
        XCTAssertEqual(try Data(contentsOf: one.appendingPathComponent("model.safetensors")),
                       try Data(contentsOf: again.appendingPathComponent("model.safetensors")))
        let a = try LlamaCheckpoint.load(path: one.path), b = try LlamaCheckpoint.load(path: shards.path)
        XCTAssertEqual(a.config, h)
        XCTAssertEqual(b.config, h)
        XCTAssertEqual(a.tensors, b.tensors)
        // index: every tensor once, in a file that holds it; total_size = bytes of all tensors
        let idx = try JSONSerialization.jsonObject(with: Data(contentsOf: shards.appendingPathComponent("model.safetensors.index.json"))) as! [String: Any]
        let map = idx["weight_map"] as! [String: String]
        XCTAssertEqual(Set(map.keys), Set(h.expectedTensors().map(\.name)))
        for (name, file) in map { XCTAssertTrue(try SafetensorsFile(path: shards.appendingPathComponent(file).path).hasTensor(name), name) }
        XCTAssertEqual((idx["metadata"] as! [String: Any])["total_size"] as? Int, h.expectedTensors().reduce(0) { $0 + 4 * $1.shape.reduce(1, *) })
        // no shard above the limit unless it holds a single tensor
        for f in shardFiles {
            let st = try SafetensorsFile(path: shards.appendingPathComponent(f).path)
            let bytes = st.entries.reduce(0) { $0 + 4 * $1.shape.reduce(1, *) }
            XCTAssertTrue(bytes <= 20_000 || st.entries.count == 1, f)
        }
        // scales (RandomModel's, embeddings N(0, 1/hidden)): linear N(0, 1/K), norms 1 + N(0, 0.1²), biases N(0, 0.5²)
        func stats(_ v: [Float]) -> (mean: Double, sd: Double) {
            let m = v.reduce(0.0) { $0 + Double($1) } / Double(v.count)
            return (m, (v.reduce(0.0) { $0 + (Double($1) - m) * (Double($1) - m) } / Double(v.count)).squareRoot())
        }
        let emb = stats(a.tensors["model.embed_tokens.weight"]!.data)
        XCTAssertEqual(emb.sd, 1 / Double(48).squareRoot(), accuracy: 0.05 / Double(48).squareRoot())
        let down = stats(a.tensors["model.layers.1.mlp.down_proj.weight"]!.data)
        XCTAssertEqual(down.sd, 1 / Double(80).squareRoot(), accuracy: 0.1 / Double(80).squareRoot())
        let norm = stats(a.tensors["model.layers.0.input_layernorm.weight"]!.data)
        XCTAssertEqual(norm.mean, 1, accuracy: 0.05)
        XCTAssertEqual(stats(a.tensors["model.layers.0.self_attn.q_proj.bias"]!.data).sd, 0.5, accuracy: 0.15)
        // tokenizer: byte-level, covers the vocabulary, BOS/EOS named; any text round-trips
        let tok = try BPETokenizer.load(model: one)
        XCTAssertEqual(tok.vocabSize, 300)
        XCTAssertEqual(tok.bosTokenID, 299)
        let text = "Hello, wörld 12 — ok"
        let ids = try tok.encode(text)
        XCTAssertTrue(ids.allSatisfy { $0 >= 0 && $0 < 300 })
        XCTAssertEqual(tok.decode(ids), text)
        XCTAssertEqual(try tok.encode("<|endoftext|>"), [299])
        // merges: token 256 + 256·t + b is token t followed by byte b (t, b < 256 here), so with 20,000
        // ids "Hi" (72, 105) is the single token 256 + 72·256 + 105 = 18,793
        let big = makeTempDir("synthtok").appendingPathComponent("tokenizer.json")
        try syntheticTokenizerJSON(vocab: 20_000, special: [(19_999, "<s>")]).write(to: big, atomically: true, encoding: .utf8)
        let bt = try BPETokenizer(tokenizerJSON: big)
        XCTAssertEqual(bt.vocabSize, 20_000)
        XCTAssertEqual(try bt.encode("Hi"), [18_793])
        XCTAssertEqual(try bt.encode("Hi<s>"), [18_793, 19_999])
        XCTAssertEqual(bt.decode(try bt.encode(text)), text)
        // the model runs
        let logits = try LlamaModel(checkpoint: a).logits([1, 2, 3])
        XCTAssertTrue(logits.allSatisfy { $0.isFinite })
    }

    /// Values do not depend on the thread count or the chunking; bf16 storage is the fp32 value
    /// rounded to nearest even (bits computed here from the definition).
    func testSynthDeterministicAndBF16() throws {
        let spec = LlamaModel.RandomTensorSpec(name: "x", count: 3 * synthSubstreamElements + 5, stream: 3, scale: 0.5, offset: 0)
        var one = [Float](repeating: 0, count: spec.count), many = one
        one.withUnsafeMutableBufferPointer { fillSyntheticTensor(spec, seed: 9, offset: 0, out: $0, threads: 1) }
        many.withUnsafeMutableBufferPointer { fillSyntheticTensor(spec, seed: 9, offset: 0, out: $0, threads: 3) }
        XCTAssertEqual(one, many)
        var tail = [Float](repeating: 0, count: synthSubstreamElements + 5)
        tail.withUnsafeMutableBufferPointer { fillSyntheticTensor(spec, seed: 9, offset: 2 * synthSubstreamElements, out: $0) }
        XCTAssertEqual(Array(one[(2 * synthSubstreamElements)...]), tail)

        var h = Self.tinyQwen
        h.layers = 1
        let f = makeTempDir("synthf"), b = makeTempDir("synthb")
        try synthesizeCheckpoint(config: h, dtype: .f32, to: f.path, seed: 3)
        try synthesizeCheckpoint(config: h, dtype: .bf16, to: b.path, seed: 3)
        let cf = try LlamaCheckpoint.load(path: f.path), cb = try LlamaCheckpoint.load(path: b.path)
        func rne(_ x: Float) -> Float {
            let u = x.bitPattern, lsb = (u >> 16) & 1
            return Float(bitPattern: (u &+ 0x7FFF &+ lsb) & 0xFFFF_0000)
        }
        for (name, t) in cf.tensors { XCTAssertEqual(cb.tensors[name]!.data, t.data.map(rne), name) }
    }

    /// Without room on the disk the write is refused before anything is written, naming both sizes.
    func testSynthRefusesWithoutRoom() throws {
        let dir = makeTempDir("synthroom").appendingPathComponent("out")
        XCTAssertThrowsError(try synthesizeCheckpoint(config: Self.tinyQwen, dtype: .bf16, to: dir.path, seed: 0, availableBytes: 1_000_000)) { e in
            guard case let CheckpointWriteError.noRoom(_, needed, available)? = e as? CheckpointWriteError else { return XCTFail("\(e)") }
            XCTAssertEqual(available, 1_000_000)
            XCTAssertGreaterThan(needed, 64 << 20)
            XCTAssertTrue("\(e)".contains("needs") && "\(e)".contains("available"), "\(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path))
        // a 7B bf16 write needs its 13.5 GB
        let w = HFCheckpointWriter(config: PublishedShape.llama2_7b.hyperparameters, dtype: .bf16)
        XCTAssertEqual(w.tensorBytes, 2 * 6_738_415_616)
        XCTAssertThrowsError(try w.checkRoom(dir: dir.path, available: 10_000_000_000))
        XCTAssertEqual(w.shards().count, 3)   // 13.48 GB in shards of at most 5 GB
    }

    // MARK: export

    /// A tiny HF folder (RealRunnerTests' model + tokenizer) and the same model as a GGUF file
    /// (llama.cpp layout: q/k rows interleaved) with its byte-level vocabulary.
    static func tinySources() throws -> (folder: URL, gguf: URL, calib: URL) {
        let (folder, _, calib) = try RealRunnerTests.tinyModelFolder()
        let ck = try LlamaCheckpoint.load(path: folder.path)
        let alphabet = byteLevelAlphabet()
        let gguf = folder.deletingLastPathComponent().appendingPathComponent(folder.lastPathComponent + ".gguf")
        try ck.writeGGUF(to: gguf.path, extraMetadata: [
            ("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string("smollm")),
            ("tokenizer.ggml.tokens", .array(.string, alphabet.map { .string($0) })),
            ("tokenizer.ggml.merges", .array(.string, [])),
        ])
        return (folder, gguf, calib)
    }

    func export(_ flags: [String]) throws -> ExportInvocation.Summary {
        var a = Args(command: "export", flags)
        let inv = try ExportInvocation.parse(&a, shardBytes: 30_000)
        try a.finish()
        return try inv.run(gitCommit: "test")
    }

    func logits(_ m: LlamaModel) -> [Float] { m.logits([3, 1, 4, 1, 5, 9, 2, 6, 5, 3]) }

    /// fp32 export of a GGUF (interleaved q/k) → HF folder (sharded) reloads to identical logits and the
    /// same tokenizer ids; bf16 export gives exactly the logits of the model with bf16-rounded weights.
    func testExportFP32FromGGUF() throws {
        let (_, gguf, _) = try Self.tinySources()
        let out = makeTempDir("exp32")
        let s = try export(["--model", gguf.path, "--out", out.path])
        XCTAssertGreaterThan(s.files.filter { $0.hasSuffix(".safetensors") }.count, 1)
        // the tensors are exactly the GGUF's with q/k rows permuted to the halves layout; the logits
        // agree up to fp32 rounding (the two RoPE layouts round differently)
        let ckSrc = try LlamaCheckpoint.load(path: gguf.path), ckBack = try LlamaCheckpoint.load(path: out.path)
        XCTAssertEqual(ckBack.config, ckSrc.config)
        XCTAssertEqual(ckBack.tensors, ckSrc.converted(to: .halves).tensors)
        let src = try LlamaModel.load(path: gguf.path), back = try LlamaModel.load(path: out.path)
        XCTAssertEqual(back.config.ropeLayout, .halves)
        let (lb, ls) = (logits(back), logits(src))
        let scale = ls.reduce(Float(0)) { max($0, abs($1)) }
        XCTAssertLessThanOrEqual(zip(lb, ls).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }, 1e-5 * scale)
        let text = "The quick brown fox, 1234 jumps."
        XCTAssertEqual(try BPETokenizer.load(model: out).encode(text), try BPETokenizer.load(model: gguf).encode(text))
        let rec = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("mxq_export.json"))) as! [String: Any]
        XCTAssertEqual(rec["mxq_commit"] as? String, "test")
        XCTAssertEqual(rec["cell_id"] as? String, "fp32")

        let outB = makeTempDir("expbf")
        _ = try export(["--model", gguf.path, "--out", outB.path, "--dtype", "bf16"])
        let ck = try LlamaCheckpoint.load(path: gguf.path).converted(to: .halves)
        let rounded = LlamaCheckpoint(config: ck.config, ropeLayout: .halves,
                                      tensors: ck.tensors.mapValues { .init(shape: $0.shape, data: $0.data.map { Float(bitPattern: UInt32(floatToBF16Bits($0)) << 16) }) })
        XCTAssertEqual(logits(try LlamaModel.load(path: outB.path)), logits(try LlamaModel(checkpoint: rounded)))
    }

    /// RTN and SmoothQuant+RTN exports: the reloaded model's logits equal those of the model the
    /// cell quantized in memory (RealRunner.quantizedModel), every quantized weight lies on its MX
    /// grid (re-encoding is lossless), and bf16 storage holds the MX values exactly.
    func testExportQuantizedIsTheQuantizedModel() throws {
        let (folder, _, calib) = try Self.tinySources()
        let cal = ["--calib-file", calib.path, "--calib-samples", "2", "--calib-len", "32", "--no-cache"]
        for recipe in ["rtn", "sq"] {
            let flags = ["--model", folder.path, "--weights", "mxint4", "--block", "16", "--recipe", recipe] + cal
            let out = makeTempDir("expq"), outB = makeTempDir("expqb")
            let s = try export(flags + ["--out", out.path])
            XCTAssertEqual(s.quantizedLinears, 2 * 7)
            _ = try export(flags + ["--out", outB.path, "--dtype", "bf16"])
            // the in-memory model of the same cell
            var a = Args(command: "eval", flags + ["--tokens-file", calib.path])
            let inv = try EvalInvocation.parse(&a)
            let runner = try RealRunner(manifest: inv.manifest, evaluate: false)
            let (mem, _) = try runner.quantizedModel(inv.manifest.cells[0], progress: SweepProgress(cost: { _ in 1 }))
            let back = try LlamaModel.load(path: out.path), backB = try LlamaModel.load(path: outB.path)
            XCTAssertEqual(logits(back), logits(mem), recipe)
            let cfg = MXConfig(format: .mxint4, block: 16)
            for (l, lb) in zip(back.linears.dropLast(), backB.linears.dropLast()) {
                let t = MXTensor(encoding: l.weight, rows: l.outFeatures, cols: l.inFeatures, config: cfg)
                XCTAssertEqual(t.decoded(), l.weight, "\(recipe) \(l.name) not on the MX grid")
                XCTAssertEqual(lb.weight, l.weight, "\(recipe) \(l.name): bf16 storage changed an MX value")
            }
            if recipe == "sq" {   // the folded scales reached the norms
                XCTAssertNotEqual(back.blocks[0].inputNorm, try LlamaModel.load(path: folder.path).blocks[0].inputNorm)
            }
        }
    }

    /// Activation quantization is refused (flag and override), as are evaluation options and --packed;
    /// --lm-head on a tied model writes it untied.
    func testExportRefusalsAndLMHead() throws {
        let (folder, _, calib) = try Self.tinySources()
        let out = makeTempDir("expr")
        func message(_ flags: [String]) -> String {
            do { _ = try export(["--model", folder.path, "--out", out.path] + flags); return "" } catch { return "\(error)" }
        }
        XCTAssertTrue(message(["--weights", "mxint4", "--acts", "mxint8"]).contains("cannot be exported"))
        XCTAssertTrue(message(["--weights", "mxint4", "--override", "*.down_proj=mxint8,mxint8", "--calib-file", calib.path,
                               "--calib-len", "32", "--calib-samples", "2"]).contains("activation quantization cannot be exported"))
        XCTAssertTrue(message(["--dataset", "wikitext2"]).contains("evaluation option"))
        XCTAssertTrue(message(["--weights", "mxint4", "--packed"]).contains("--packed"))
        XCTAssertTrue(message(["--dtype", "f16"]).contains("bf16 or f32"))
        do { _ = try export(["--model", folder.path, "--out", folder.path]); XCTFail("export into its source folder") }
        catch { XCTAssertTrue("\(error)".contains("source model's folder"), "\(error)") }

        _ = try export(["--model", folder.path, "--out", out.path, "--weights", "mxint8", "--lm-head", "--calib-file", calib.path,
                        "--calib-len", "32", "--calib-samples", "2", "--no-cache"])
        let ck = try LlamaCheckpoint.load(path: out.path)
        XCTAssertFalse(ck.config.tiedEmbeddings)
        XCTAssertNotEqual(ck.tensors["lm_head.weight"]!.data, ck.tensors["model.embed_tokens.weight"]!.data)
    }
}
