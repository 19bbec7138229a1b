import XCTest
import MXFormats
import PTQ
import Runtime
import ModelIO
import Support
import TestSupport
@testable import Experiments

/// The described cell → PTQ mapping, and `mxq eval` flags against manifest cells: the same cell
/// described either way is the same value and runs to the same numbers.
final class RealRunnerTests: XCTestCase {
    func testRecipeAndOptionsMapping() throws {
        let m = try Manifest.parse(Data("""
        {"eval": {"datasets": ["ptb"]}, "cells": [
          {"weights": "mxfp4", "acts": "mxint8", "block": 16, "scale_rule": "ceil", "rounding": "away", "seed": 5,
           "recipe": {"name": "all", "stages": [{"stage": "sq", "alpha": 0.75, "alpha_down": 0.25}, {"stage": "awq", "grid": 10, "max_shrink": 0.25},
                                                {"stage": "gptq", "act_order": true, "damp": 0.05, "block_size": 64, "true_sequential": false}]}}]}
        """.utf8), file: "m", defaultName: "m")
        let cell = m.cells[0]
        let (plan, o) = try RealRunner.plan(cell)
        XCTAssertEqual(plan.recipe.stages, [.smoothQuant(alpha: 0.75), .awq, .gptq(actOrder: true)])
        XCTAssertEqual(o.smoothAlpha, [.down: 0.25])
        XCTAssertEqual(o.awq.gridPoints, 10)
        XCTAssertEqual(o.awq.maxShrink, 0.25)
        XCTAssertEqual(o.gptq.percDamp, 0.05)
        XCTAssertEqual(o.gptq.blockSize, 64)
        XCTAssertTrue(o.gptq.actOrder)
        XCTAssertFalse(o.gptq.trueSequential)
        XCTAssertEqual(plan.defaults.weight, MXConfig(format: .mxfp4_e2m1, block: 16, scaleRule: .ceil, rounding: .away))
        XCTAssertEqual(plan.defaults.act, MXConfig(format: .mxint8, block: 16, scaleRule: .ceil, rounding: .away))
        // defaults of the catalog reach PTQ unchanged
        let d = CellRecipe(name: "g", stages: [RecipeStage(name: "gptq")]).ptq
        XCTAssertEqual(d.options.gptq, GPTQOptions())
        XCTAssertTrue(d.options.gptq.trueSequential)
        let dAWQ = CellRecipe(name: "a", stages: [RecipeStage(name: "awq")]).ptq
        XCTAssertEqual(dAWQ.options.awq, AWQOptions())
        XCTAssertEqual(dAWQ.options.recordTokens, PTQOptions().recordTokens)
        // AWQ search sizes: set as given; a search larger than the pipeline's per-layer sample enlarges the sample
        for (search, clip, record) in [(256, 64, PTQOptions().recordTokens), (8192, 1024, 8192)] {
            let o = CellRecipe(name: "a", stages: [
                RecipeStage(name: "awq", params: ["search_tokens": .integer(search), "clip_tokens": .integer(clip)])]).ptq.options
            XCTAssertEqual(o.awq.searchTokens, search)
            XCTAssertEqual(o.awq.clipTokens, clip)
            XCTAssertEqual(o.recordTokens, record)
        }
        XCTAssertEqual(CellRecipe(name: "rtn", stages: []).ptq.recipe.effectiveStages, [.rtn])
        // stochastic rounding: weights and activations draw independent streams from the rounding seed
        let sc = Cell(weights: "mxint4", acts: "mxint8", rounding: "stochastic", recipe: CellRecipe(name: "rtn", stages: []), seed: 3, roundingSeed: 7)
        let sp = try RealRunner.plan(sc).plan
        XCTAssertEqual(sp.defaults.weight?.rounding, .stochastic(seed: 7 &* 0x9E37_79B9_7F4A_7C15 &+ 1))
        XCTAssertEqual(sp.defaults.act?.rounding, .stochastic(seed: 7 &* 0x9E37_79B9_7F4A_7C15 &+ 2))
    }

    /// Parses `mxq eval` flags (as the CLI would) into the one-cell manifest.
    func evalManifest(_ flags: [String]) throws -> Manifest {
        var a = Args(command: "eval", flags)
        let inv = try EvalInvocation.parse(&a)
        try a.finish()
        return inv.manifest
    }

    func testEvalFlagsAreAManifestCellAndBack() throws {
        let dir = makeTempDir("evalflags")
        let calib = dir.appendingPathComponent("calib.txt")
        try "some calibration text".write(to: calib, atomically: true, encoding: .utf8)
        let flags = ["--dataset", "wikitext2,ptb", "--windows", "3", "--ctx", "256", "--weights", "mxint4", "--acts", "mxfp8",
                     "--block", "16", "--rounding", "stochastic", "--rounding-seed", "9", "--recipe", "sq(alpha=0.6),awq,gptq(act_order)",
                     "--sq-alpha", "down_proj=0.3", "--awq-search-tokens", "512", "--no-true-sequential",
                     "--override", "layers.0.*=mxint8;*.down_proj=-,none", "--lm-head", "--calib-file", calib.path,
                     "--calib-samples", "4", "--calib-len", "64", "--calib-seed", "2", "--no-cache"]
        let m = try evalManifest(flags)
        XCTAssertEqual(m.cells.count, 1)
        let c = m.cells[0]
        XCTAssertEqual(m.datasets, ["wikitext2", "ptb"])
        XCTAssertEqual(m.windows, 3)
        XCTAssertEqual(m.ctx, 256)
        XCTAssertFalse(m.cache)
        XCTAssertEqual(m.calibration, CalibrationSpec(dataset: calib.path, n: 4, len: 64))
        XCTAssertEqual(c.weights, "mxint4"); XCTAssertEqual(c.acts, "mxfp8_e4m3"); XCTAssertEqual(c.block, 16)
        XCTAssertEqual(c.seed, 2); XCTAssertEqual(c.effectiveRoundingSeed, 9)
        XCTAssertEqual(c.overrides, ["layers.0.*=mxint8", "*.down_proj=-,none"])
        XCTAssertTrue(c.lmHead)
        XCTAssertEqual(c.recipe.name, "sq+awq+gptq")
        XCTAssertEqual(c.recipe.stages.map(\.settings), [
            .smoothQuant(SmoothQuantSettings(alpha: 0.6, alphaDown: 0.3)),
            .awq(AWQSettings(grid: 20, maxShrink: 0.5, searchTokens: 512, clipTokens: 512)),
            .gptq(GPTQSettings(actOrder: true, damp: 0.01, blockSize: 128, trueSequential: false)),
        ])
        // --print-cell's manifest parses back to the same cell; --print-eval's command line too
        let back = try Manifest.parse(m.resolvedJSON(), file: "printed", defaultName: "x")
        XCTAssertEqual(back.cells, m.cells)
        XCTAssertEqual(back.sha256, m.sha256)
        let line = evalCommandLine(m, cell: c)
        let words = line.split(separator: " ").dropFirst(2).map { w -> String in
            var s = String(w)
            if s.hasPrefix("'") && s.hasSuffix("'") { s = String(s.dropFirst().dropLast()) }
            return s
        }
        let again = try evalManifest(words)
        XCTAssertEqual(again.cells, m.cells, line)
        XCTAssertEqual(again.calibration, m.calibration)
        XCTAssertEqual(again.sha256, m.sha256)
    }

    func testEvalFlagErrorsNameTheFlag() throws {
        func message(_ flags: [String]) -> String {
            do { _ = try evalManifest(flags); return "" } catch { return "\(error)" }
        }
        XCTAssertTrue(message(["--dataset", "wikitext2", "--weights", "mxfp5"]).contains("--weights"))
        XCTAssertTrue(message(["--dataset", "wikitext2", "--weights", "mxint4", "--block", "31"]).contains("--block"))
        XCTAssertTrue(message(["--dataset", "c4"]).contains("--dataset"))
        XCTAssertTrue(message(["--dataset", "wikitext2", "--weights", "mxint4", "--calib-file", "/"]).contains("--calib-file: got \"/\": is a folder"))
        XCTAssertTrue(message(["--dataset", "wikitext2", "--weights", "mxint4", "--recipe", "gptq", "--awq-clip-tokens", "5"]).contains("no awq stage"))
        XCTAssertTrue(message(["--dataset", "wikitext2", "--weights", "none", "--acts", "mxint8", "--recipe", "awq"]).contains("stage \"awq\" optimizes weight rounding"))
    }

    /// A tiny random model (HF folder with a byte-level tokenizer.json) and a token file.
    static func tinyModelFolder() throws -> (model: URL, tokens: URL, calib: URL) {
        let dir = makeTempDir("tinymodel")
        let cfg = LlamaConfig.tiny(vocabSize: 256, hiddenSize: 64, intermediateSize: 96, numLayers: 2, numHeads: 4, numKVHeads: 2)
        try LlamaCheckpoint.random(config: cfg, seed: 11, contextLength: 128).writeHFFolder(to: dir.path)
        // GPT-2 byte-to-unicode mapping: every byte one token, no merges
        var vocab: [String: Int] = [:]
        var extra = 0
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            let scalar = printable ? b : 256 + extra
            if !printable { extra += 1 }
            vocab[String(Character(Unicode.Scalar(UInt32(scalar))!))] = b
        }
        let model: [String: Any] = ["type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
                                    "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "vocab": vocab, "merges": [String]()]
        let root: [String: Any] = ["version": "1.0", "normalizer": NSNull(), "model": model, "added_tokens": [Any](),
                                   "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true]]
        try JSONSerialization.data(withJSONObject: root).write(to: dir.appendingPathComponent("tokenizer.json"))
        var g = SplitMix64(seed: 5)
        let ids = (0..<200).map { _ in String(g.next() % 256) }.joined(separator: " ")
        let tokens = dir.appendingPathComponent("eval.tokens")
        try ids.write(to: tokens, atomically: true, encoding: .utf8)
        let calib = dir.appendingPathComponent("calib.txt")
        try String(repeating: "The quick brown fox jumps over the lazy dog. 0123456789 ", count: 12).write(to: calib, atomically: true, encoding: .utf8)
        return (dir, tokens, calib)
    }

    /// `--bos` ⇄ `eval.bos`: absent at its default (manifests keep their SHA-256), carried by
    /// --print-cell and --print-eval, validated as a boolean.
    func testBOSFlagIsAManifestKeyAndBack() throws {
        let base = ["--dataset", "wikitext2", "--windows", "2", "--ctx", "128", "--weights", "mxint4", "--recipe", "gptq"]
        let plain = try evalManifest(base), withBOS = try evalManifest(base + ["--bos"])
        XCTAssertFalse(plain.bos)
        XCTAssertTrue(withBOS.bos)
        XCTAssertEqual(plain.cells, withBOS.cells)          // cell ids unchanged; the manifest differs
        XCTAssertNotEqual(plain.sha256, withBOS.sha256)
        XCTAssertFalse(String(decoding: plain.resolvedJSON(), as: UTF8.self).contains("bos"))
        XCTAssertTrue(String(decoding: withBOS.resolvedJSON(), as: UTF8.self).contains("\"bos\" : true"))
        let back = try Manifest.parse(withBOS.resolvedJSON(), file: "printed", defaultName: "x")
        XCTAssertTrue(back.bos)
        XCTAssertEqual(back.sha256, withBOS.sha256)
        let line = evalCommandLine(withBOS, cell: withBOS.cells[0])
        XCTAssertTrue(line.contains(" --bos"), line)
        XCTAssertFalse(evalCommandLine(plain, cell: plain.cells[0]).contains("--bos"))
        let words = line.split(separator: " ").dropFirst(2).map { w -> String in
            var s = String(w)
            if s.hasPrefix("'") && s.hasSuffix("'") { s = String(s.dropFirst().dropLast()) }
            return s
        }
        XCTAssertEqual(try evalManifest(words).sha256, withBOS.sha256)
        // an explicit false is the default: same identity as leaving it out
        func manifest(_ eval: String) throws -> Manifest {
            try Manifest.parse(Data(#"{"name": "b", "eval": {"datasets": ["wikitext2"], \#(eval)}, "grid": {"weights": ["mxint4"], "acts": ["none"], "recipes": ["rtn"]}}"#.utf8),
                               file: "m.json", defaultName: "b")
        }
        XCTAssertEqual(try manifest(#""ctx": 2048, "bos": false"#).sha256, try manifest(#""ctx": 2048"#).sha256)
        XCTAssertThrowsError(try manifest(#""bos": 1"#)) { XCTAssertTrue("\($0)".contains("eval.bos"), "\($0)") }
    }

    /// `--bos` runs: a model without a BOS id is refused naming eval.bos; with `bos_token` in
    /// tokenizer_config.json every window is [BOS] + ctx − 1 tokens of the token file (the same
    /// NLLs as `evaluatePerplexity(bos:)` on the loaded model) and calibration starts with it too.
    func testBOSRunUsesTheTokenizersBOS() throws {
        let (model, tokens, calib) = try Self.tinyModelFolder()
        let base = ["--model", model.path, "--tokens-file", tokens.path, "--windows", "3", "--ctx", "64", "--no-cache"]
        var a = Args(command: "eval", base + ["--bos"])
        let noBOS = try EvalInvocation.parse(&a)
        XCTAssertThrowsError(try noBOS.run()) { e in
            XCTAssertTrue(e is UserFacingError)
            XCTAssertTrue("\(e)".contains("eval.bos (--bos)"), "\(e)")
        }
        // the byte-level vocabulary's "A" (id 65) as BOS
        try #"{"bos_token": "A"}"#.write(to: model.appendingPathComponent("tokenizer_config.json"), atomically: true, encoding: .utf8)
        var b = Args(command: "eval", base + ["--bos"])
        let rec = try EvalInvocation.parse(&b).run()
        let ids = try readTokenFile(tokens)
        let m = try LlamaModel.load(path: model.path)
        let want = try evaluatePerplexity(model: m, tokens: ids, ctx: 64, windows: 3, bos: 65)
        XCTAssertEqual(rec.evals[0].windowNLL, want.windowNLL)
        XCTAssertEqual(rec.evals[0].tokens, 3 * 63)
        // 200 tokens: 3 BOS windows of 63 text tokens fit (a 4th would not), as 3 plain windows of 64 do
        var c = Args(command: "eval", base + ["--windows", "4", "--bos"])
        XCTAssertThrowsError(try EvalInvocation.parse(&c).run()) { XCTAssertTrue("\($0)".contains("3 windows"), "\($0)") }
        // calibration with BOS: a quantized cell runs
        var d = Args(command: "eval", base + ["--bos", "--weights", "mxint4", "--recipe", "gptq", "--calib-file", calib.path,
                                              "--calib-samples", "2", "--calib-len", "32"])
        let q = try EvalInvocation.parse(&d)
        let runner = try RealRunner(manifest: q.manifest)
        XCTAssertEqual(runner.bos, 65)
        let set = try runner.calibrationSet(q.manifest.cells[0])
        XCTAssertTrue(set.sequences.allSatisfy { $0.count == 32 && $0[0] == 65 })
        XCTAssertTrue(set.identity.hasSuffix("-bos65"))
    }

    /// `--fake-quant` ⇄ `eval.path`: "auto" (the default) is left out of the resolved manifest (old
    /// manifests keep their SHA-256 and cell ids), "fake-quant" is carried by --print-cell and
    /// --print-eval; bad values and the contradiction with packed cells name the key (or the flag).
    func testEvalPathFlagIsAManifestKeyAndBack() throws {
        let base = ["--dataset", "wikitext2", "--windows", "2", "--ctx", "128", "--weights", "mxint4", "--acts", "mxint8"]
        let plain = try evalManifest(base), fake = try evalManifest(base + ["--fake-quant"])
        XCTAssertEqual(plain.evalPath, "auto")
        XCTAssertEqual(fake.evalPath, "fake-quant")
        XCTAssertEqual(plain.cells, fake.cells)
        XCTAssertEqual(plain.cells[0].id, "rtn_Wmxint4_Amxint8_b32_floor_even_s0")
        XCTAssertNotEqual(plain.sha256, fake.sha256)
        XCTAssertFalse(String(decoding: plain.resolvedJSON(), as: UTF8.self).contains("path"))
        XCTAssertTrue(String(decoding: fake.resolvedJSON(), as: UTF8.self).contains("\"path\" : \"fake-quant\""))
        XCTAssertEqual(try Manifest.parse(fake.resolvedJSON(), file: "printed", defaultName: "x").sha256, fake.sha256)
        XCTAssertTrue(evalCommandLine(fake, cell: fake.cells[0]).contains(" --fake-quant"))
        XCTAssertFalse(evalCommandLine(plain, cell: plain.cells[0]).contains("--fake-quant"))
        func manifest(_ eval: String, grid: String = "") throws -> Manifest {
            try Manifest.parse(Data(#"{"name": "p", "eval": {"datasets": ["wikitext2"]\#(eval)}, "grid": {"weights": ["mxint4"], "acts": ["mxint8"], "recipes": ["rtn"]\#(grid)}}"#.utf8),
                               file: "m.json", defaultName: "p")
        }
        // the manifest of a committed results folder: same SHA-256 with an explicit "auto" as without
        XCTAssertEqual(try manifest(#", "path": "auto""#).sha256, try manifest("").sha256)
        XCTAssertThrowsError(try manifest(#", "path": "packed""#)) { XCTAssertTrue("\($0)".contains(#"eval.path: got "packed"; allowed: "auto", "fake-quant""#), "\($0)") }
        XCTAssertThrowsError(try manifest(#", "path": true"#)) { XCTAssertTrue("\($0)".contains("eval.path"), "\($0)") }
        XCTAssertThrowsError(try manifest(#", "path": "fake-quant""#, grid: #", "packed": true"#)) { e in
            XCTAssertTrue("\(e)".contains("eval.path") && "\(e)".contains("grid.packed"), "\(e)")
        }
        XCTAssertNoThrow(try manifest(#", "path": "auto""#, grid: #", "packed": true"#))
        XCTAssertThrowsError(try evalManifest(base + ["--fake-quant", "--packed"])) { XCTAssertTrue("\($0)".contains("--fake-quant:"), "\($0)") }
    }

    /// A quantized cell runs on the packed integer kernels by default where its formats allow it:
    /// the same perplexity as fake-quant to 1e-5 relative, bit-identical for any thread count, and
    /// every record names what ran (`path`).
    func testPackedIntegerEvaluationIsTheDefault() throws {
        let (model, tokens, _) = try Self.tinyModelFolder()
        let base = ["--model", model.path, "--tokens-file", tokens.path, "--windows", "3", "--ctx", "64", "--no-cache",
                    "--calib-len", "32", "--weights", "mxint4", "--acts", "mxint8"]
        func run(_ extra: [String]) throws -> CellRecord {
            var a = Args(command: "eval", base + extra)
            return try EvalInvocation.parse(&a).run()
        }
        let saved = Parallel.defaultThreads
        defer { Parallel.defaultThreads = saved }
        Parallel.defaultThreads = 1
        let packed1 = try run([])
        Parallel.defaultThreads = 3
        let packed = try run([]), fake = try run(["--fake-quant"])
        XCTAssertEqual(packed.path, "packed-int")
        XCTAssertEqual(fake.path, "fake-quant")
        XCTAssertEqual(packed.id, fake.id)
        XCTAssertEqual(packed.evals[0].windowNLL, packed1.evals[0].windowNLL)   // any thread count, bitwise
        XCTAssertEqual(packed.evals[0].ppl / fake.evals[0].ppl, 1, accuracy: 1e-5)
        print("RealRunnerTests: tiny model W4A8 packed-int vs fake-quant PPL: \(packed.evals[0].ppl) vs \(fake.evals[0].ppl)")
        // the path column lists what ran among the quantized linears
        XCTAssertEqual(try run(["--lm-head"]).path, "packed-int")
        XCTAssertEqual(try run(["--override", "*.down_proj=mxfp4"]).path, "packed-int+fake-quant")
        XCTAssertEqual(try run(["--override", "*.down_proj=mxfp4", "--packed"]).path, "packed-int+packed")
        XCTAssertEqual(try run(["--acts", "none"]).path, "fake-quant")
        XCTAssertEqual(try run(["--block", "16"]).path, "fake-quant")
        var f = Args(command: "eval", ["--model", model.path, "--tokens-file", tokens.path, "--windows", "1", "--ctx", "64"])
        XCTAssertEqual(try EvalInvocation.parse(&f).run().path, "fp32")
    }

    /// Records without `path` (written before it existed) load and read as what their code ran.
    func testRecordsWithoutPathReadAsFakeQuant() throws {
        func rec(_ id: String, recipe: String) throws -> CellRecord {
            let json = #"{"index": 1, "id": "\#(id)", "model": "m", "recipe": "\#(recipe)", "stages": "rtn", "weights": "mxint4", "acts": "mxint8", "block": 32, "scaleRule": "floor", "rounding": "even", "seed": 0, "calibDataset": "ptb-train", "calibN": 1, "calibLen": 2, "ctx": 64, "evals": [{"dataset": "wikitext2", "ppl": 20, "nll": 2.99, "tokens": 63, "windows": 1, "seconds": 1}], "fp32PPL": {}, "layers": [], "quantizeSeconds": 0, "wallSeconds": 0, "weightBits": 4.25, "provenance": {"modelSHA256": "a", "calibrationSHA256": "b", "dataSHA256": {}}, "manifestSHA256": "c", "gitCommit": "d"}"#
            return try JSONDecoder().decode(CellRecord.self, from: Data(json.utf8))
        }
        XCTAssertNil(try rec("rtn_Wmxint4_Amxint8_b32_floor_even_s0", recipe: "rtn").path)
        XCTAssertEqual(try rec("rtn_Wmxint4_Amxint8_b32_floor_even_s0", recipe: "rtn").evaluationPath, "fake-quant")
        XCTAssertEqual(try rec("fp32", recipe: "fp32").evaluationPath, "fp32")
        XCTAssertEqual(try rec("rtn_Wmxint4_Amxint8_b32_floor_even_s0_lmhead_packed_cal-x-1x2", recipe: "rtn").evaluationPath, "packed")
        XCTAssertEqual(try rec("rtn_Wmxint4_Amxint8_b32_floor_even_s0_cal-my_packed-1x2", recipe: "rtn").evaluationPath, "fake-quant")
        var r = try rec("rtn_Wmxint4_Amxint8_b32_floor_even_s0", recipe: "rtn")
        XCTAssertEqual(SummaryCSV.header.last, SummaryCSV.pathColumn)
        XCTAssertEqual(SummaryCSV.table([r]).rows.map { $0.last! }, ["fake-quant"])
        r.path = "packed-int"
        XCTAssertEqual(SummaryCSV.table([r]).rows.map { $0.last! }, ["packed-int"])
        // a new record round-trips its path
        XCTAssertEqual(try JSONDecoder().decode(CellRecord.self, from: try JSONEncoder().encode(r)).path, "packed-int")
    }

    /// The same cell (SQ + AWQ + GPTQ, overrides, stochastic rounding) through `mxq eval`'s flags and
    /// through a one-cell sweep gives bit-identical NLLs and layer records.
    func testEvalFlagsAndOneCellSweepGiveIdenticalResults() throws {
        let (model, tokens, calib) = try Self.tinyModelFolder()
        let flags = ["--model", model.path, "--tokens-file", tokens.path, "--windows", "2", "--ctx", "64",
                     "--weights", "mxint4", "--acts", "mxint8", "--rounding", "stochastic", "--rounding-seed", "4",
                     "--recipe", "sq,awq(grid=4),gptq", "--override", "*.down_proj=mxint8",
                     "--calib-file", calib.path, "--calib-samples", "2", "--calib-len", "32", "--no-cache"]
        var a = Args(command: "eval", flags)
        let inv = try EvalInvocation.parse(&a)
        let evalRecord = try inv.run()

        // the printed manifest, run as a sweep
        let out = makeTempDir("onecell")
        let m = try Manifest.parse(inv.manifest.resolvedJSON(), file: "printed", defaultName: "x")
        let sweep = try Sweep(manifest: m, dir: out, shard: nil, resume: false, environment: [:])
        try sweep.run(runner: try RealRunner(manifest: m), gitCommit: "test")
        let recs = try loadCellRecords(out)
        XCTAssertEqual(recs.count, 1)
        let r = recs[0]
        XCTAssertEqual(r.id, evalRecord.id)
        XCTAssertEqual(r.evals.map(\.nll), evalRecord.evals.map(\.nll))
        XCTAssertEqual(r.evals.map(\.windowNLL), evalRecord.evals.map(\.windowNLL))
        func strip(_ l: [LayerRecord]) -> [LayerRecord] { l.map { var x = $0; x.seconds = 0; return x } }
        XCTAssertEqual(strip(r.layers), strip(evalRecord.layers))
        XCTAssertEqual(r.layers.count, 2 * 7 * 3)
    }
}

final class PlanManifestTests: XCTestCase {
    func testBudgetsExpandToPlanCellsAfterTheUniformOnes() throws {
        let m = try Manifest.parse(Data("""
        {"eval": {"datasets": ["ptb"]}, "plan": {"predictor": "proxy", "probe_tokens": 256},
         "grid": {"weights": ["mxint4", "mxint8"], "acts": ["mxint8"], "recipes": ["fp32", "rtn"], "budgets": [5, 6.5]}}
        """.utf8), file: "m", defaultName: "m")
        XCTAssertEqual(m.cells.map(\.id), ["fp32", "rtn_Wmxint4_Amxint8_b32_floor_even_s0", "rtn_Wmxint8_Amxint8_b32_floor_even_s0",
                                          "rtn_Wplan5_Amxint8_b32_floor_even_s0", "rtn_Wplan6.5_Amxint8_b32_floor_even_s0"])
        XCTAssertEqual(m.cells[3].planFormats, ["mxint4", "mxint8"])
        XCTAssertEqual(m.cells[4].budget, 6.5)
        XCTAssertEqual(m.planPredictor, "proxy")
        XCTAssertEqual(m.planProbeTokens, 256)
        // the resolved manifest is itself valid and describes the same cells
        let back = try Manifest.parse(m.resolvedJSON(), file: "r", defaultName: "x")
        XCTAssertEqual(back.cells, m.cells)
        XCTAssertEqual(back.planPredictor, "proxy")
        // errors: one format only, a budget without formats, a duplicate budget
        XCTAssertThrowsError(try Manifest.parse(Data(#"{"eval": {"datasets": ["ptb"]}, "grid": {"weights": ["mxint4"], "acts": ["none"], "recipes": ["rtn"], "budgets": [5]}}"#.utf8), file: "m", defaultName: "m"))
        XCTAssertThrowsError(try Manifest.parse(Data(#"{"eval": {"datasets": ["ptb"]}, "cells": [{"weights": "mxint4", "acts": "none", "recipe": "rtn", "budget": 5}]}"#.utf8), file: "m", defaultName: "m"))
        XCTAssertThrowsError(try Manifest.parse(Data(#"{"eval": {"datasets": ["ptb"]}, "grid": {"weights": ["mxint4", "mxint8"], "acts": ["none"], "recipes": ["rtn"], "budgets": [5, 5]}}"#.utf8), file: "m", defaultName: "m"))
    }

    /// `choosePlan` on a hand-made table: two equal layers, budget for one 8-bit layer only; the
    /// layer whose measured ΔNLL drops more gets MXINT8.
    func testChoosePlan() {
        func row(_ l: String, _ f: String, _ bits: Double, _ d: Double) -> LayerSensitivity {
            LayerSensitivity(layer: l, params: 100, format: f, bits: bits, weightRelMSE: 0, measuredDeltaNLL: d, measuredKL: d / 3, proxyKL: d / 2)
        }
        let t = [row("layers.0.mlp.up_proj", "mxint4", 4.25, 0.30), row("layers.0.mlp.up_proj", "mxint8", 8.25, 0.01),
                 row("layers.0.mlp.down_proj", "mxint4", 4.25, 0.10), row("layers.0.mlp.down_proj", "mxint8", 8.25, 0.02)]
        let p = choosePlan(t, formats: ["mxint4", "mxint8"], budget: 6.25, predictor: "measured")
        XCTAssertEqual(p?.overrides, ["layers.0.mlp.up_proj=mxint8", "layers.0.mlp.down_proj=mxint4"])
        XCTAssertEqual(p?.predictedDeltaNLL ?? 0, 0.11, accuracy: 1e-12)
        XCTAssertEqual(p?.averageBits, 6.25)
        XCTAssertEqual(p?.rankCorrelation ?? 0, 1, accuracy: 1e-12)
        // every predictor's sum over the chosen formats: 0.01 + 0.10 measured, a third of it as KL, half as proxy
        XCTAssertEqual(p?.predictions?["kl"] ?? 0, 0.11 / 3, accuracy: 1e-12)
        XCTAssertEqual(p?.predictions?["proxy"] ?? 0, 0.055, accuracy: 1e-12)
        XCTAssertEqual(choosePlan(t, formats: ["mxint4", "mxint8"], budget: 6.25, predictor: "kl")?.predictedDeltaNLL ?? 0, 0.11 / 3, accuracy: 1e-12)
        XCTAssertNil(choosePlan(t, formats: ["mxint4", "mxint8"], budget: 4, predictor: "measured"))
    }
}

final class PlanReportTests: XCTestCase {
    /// A sweep with plan cells (fake runner): records carry the plan, weight_bits is its average,
    /// the reports draw PPL against bits and compare predicted with measured.
    func testPlanCellsInSweepsAndReports() throws {
        MXQQuiet.set()
        let m = try Manifest.parse(Data("""
        {"name": "mp", "eval": {"datasets": ["wikitext2"], "windows": 2, "ctx": 64}, "calibration": {"n": 2, "len": 32},
         "grid": {"weights": ["mxint4", "mxfp6_e2m3", "mxint8"], "acts": ["mxint8"], "recipes": ["fp32", "rtn"], "budgets": [5, 6]}}
        """.utf8), file: "m", defaultName: "m")
        let dir = makeTempDir("mxq-plan-sweep")
        try Sweep(manifest: m, dir: dir, shard: nil, resume: false, environment: [:]).run(runner: FakeRunner(manifest: m, secondsPerCell: 0), gitCommit: "g")
        let t = try CSVTable.load(dir.appendingPathComponent("summary.csv"))
        let plans = t.rows.filter { $0[t.column("weights")!] == "plan" }
        XCTAssertEqual(plans.map { $0[t.column("weight_bits")!] }, ["4.875", "5.875"])
        let md = try accuracyMarkdown(dir)
        XCTAssertTrue(md.contains("Mixed-precision plans: predicted vs measured"), md)
        // plans at different budgets are separate columns, never aggregated as seeds of one "plan"
        XCTAssertTrue(md.contains("W plan · A mxint8 · b32 (4.88 b/w)") && md.contains("W plan · A mxint8 · b32 (5.88 b/w)"), md)
        XCTAssertFalse(md.contains("seeds"), md)
        try writeHTMLReport(dir)
        let html = try String(contentsOf: dir.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("class=\"mxq-chart bits-chart\""))
        XCTAssertEqual(html.components(separatedBy: "class=\"plan-point\"").count - 1, 2)
        XCTAssertEqual(html.components(separatedBy: "class=\"uniform-point\"").count - 1, 3)
    }

    func testParetoFront() {
        func p(_ b: Double, _ y: Double) -> BitsPoint { BitsPoint(cellID: "", recipe: "r", weights: "w", acts: "a", bits: b, ppl: y, lo: nil, hi: nil) }
        // (4.25, 30) and (5, 25) and (8.25, 22) are on the front; (6.25, 26) is dominated by (5, 25)
        XCTAssertEqual(paretoFront([p(8.25, 22), p(6.25, 26), p(4.25, 30), p(5, 25)]), [2, 3, 0])
    }
}
