import XCTest
import Support
import TestSupport
@testable import Experiments

/// The `--dry-run` cost model against hand-computed sums (round constants, so every term is
/// checkable by hand): evaluation by path, the observing pass only before a stage that is not
/// GPTQ (RTN's on the sampled rows), the quantized pass on the integer kernels or fake-quant, attention per position,
/// Hessians per token (fp32 or bf16 path), fixed stage costs.
final class CostModelTests: XCTestCase {
    func manifest(path: String?, acts: String = "\"mxint8\"", len: Int = 256) throws -> Manifest {
        let p = path.map { ", \"path\": \"\($0)\"" } ?? ""
        let text = """
        {"name": "cm", "model": "smollm2-135m",
         "eval": {"datasets": ["wikitext2"], "windows": 2, "ctx": 1024\(p)},
         "calibration": {"dataset": "ptb-train", "n": 4, "len": \(len), "seed": 0},
         "grid": {"weights": ["mxint4"], "acts": [\(acts)], "blocks": [32],
                  "recipes": ["fp32", "rtn", "gptq", "awq+gptq"]}}
        """
        return try Manifest.parse(Data(text.utf8), file: "cm.json", defaultName: "cm", checkFiles: false)
    }

    func model() -> CostModel {
        var c = CostModel()
        c.evalTokensPerSecond = 1000; c.packedIntEvalFactor = 0.5; c.fakeQuantEvalFactor = 2
        c.observePassBase = 1e-3; c.observeSampledPass = 0.25e-3; c.observeSampledSeconds = 2; c.quantizedPassBaseInt = 0.5e-3; c.quantizedPassBaseFake = 2e-3
        c.passPerPosition = 1e-6; c.stagedPassPerPosition = 2e-6; c.hessianSecondsPerToken = 1e-3
        c.hessianSecondsPerTokenBF16 = 0.25e-3; c.hessianBF16 = false
        c.recordsSeconds = 10; c.extraStageRecordsSeconds = 3; c.heldoutSeconds = 1
        c.awqSecondsInt = 20; c.awqSecondsFake = 40; c.gptqSolveSeconds = 5; c.smoothQuantSeconds = 0.5
        return c
    }

    func testCellSecondsByHand() throws {
        let c = model()
        // baseline: 2 windows × 1024 tokens at 1000 tok/s; calibration 4 × 256 = 1024 tokens at
        // L = 256: attention 1e-6 · 256 = 2.56e-4 s per token and pass (GPTQ's staged pass: 2e-6 · 256
        // = 5.12e-4)
        let auto = try manifest(path: nil)
        XCTAssertEqual(c.baselineSeconds(auto), 2.048, accuracy: 1e-12)
        let secs = auto.cells.map { c.cellSeconds($0, auto) }
        XCTAssertEqual(auto.cells.map(\.recipe.name), ["fp32", "rtn", "gptq", "awq+gptq"])
        XCTAssertEqual(secs[0], 1)
        // rtn: eval 2.048·0.5 + observe 1024·(1e-3 + 2.56e-4) + int pass 1024·(0.5e-3 + 2.56e-4) + records 10 + held-out 1
        // (the records' 2048 tokens are every position: RTN's pass computes every row)
        XCTAssertEqual(secs[1], 1.024 + 1.286144 + 0.774144 + 11, accuracy: 1e-9)
        // at length 1024 the sample is 512 of each sequence's 1024 positions: RTN's pass computes the
        // sampled rows only, 4096·0.25e-3 + 2; int pass 4096·(0.5e-3 + 1.024e-3)
        let long = try manifest(path: nil, len: 1024)
        XCTAssertEqual(c.cellSeconds(long.cells[1], long), 1.024 + 3.024 + 6.242304 + 11, accuracy: 1e-9)
        // ... while AWQ's statistics keep the full pass: 4096·(1e-3 + 1.024e-3); staged pass 4096·(0.5e-3 + 2.048e-3)
        XCTAssertEqual(c.cellSeconds(long.cells[3], long), 1.024 + 8.290304 + 10.436608 + 11 + 3 + 20 + 4.096 + 5, accuracy: 1e-9)
        // gptq first: no observing pass; the staged pass 1024·(0.5e-3 + 5.12e-4); Hessians 1024·1e-3 and solves 5
        XCTAssertEqual(secs[2], 1.024 + 1.036288 + 11 + 1.024 + 5, accuracy: 1e-9)
        // awq+gptq: observing pass, one extra stage of records, AWQ on the integer kernels
        XCTAssertEqual(secs[3], 1.024 + 1.286144 + 1.036288 + 11 + 3 + 20 + 1.024 + 5, accuracy: 1e-9)
        // eval.path fake-quant: evaluation ×2, the quantized pass 1024·(2e-3 + 2.56e-4) (staged: + 5.12e-4), AWQ 40
        let fake = try manifest(path: "fake-quant")
        let f = fake.cells.map { c.cellSeconds($0, fake) }
        XCTAssertEqual(f[1], 4.096 + 1.286144 + 2.310144 + 11, accuracy: 1e-9)
        XCTAssertEqual(f[3], 4.096 + 1.286144 + 2.572288 + 11 + 3 + 40 + 1.024 + 5, accuracy: 1e-9)
        // weights only (no activation format): fp32-speed evaluation, fake-quant pass
        let w4 = try manifest(path: nil, acts: "\"none\"")
        XCTAssertEqual(c.cellSeconds(w4.cells[1], w4), 2.048 + 1.286144 + 2.310144 + 11, accuracy: 1e-9)
        // a build whose Hessians of MXINT8 activations take the bf16 path: 1024·0.25e-3 instead of 1024·1e-3;
        // weights-only GPTQ keeps the fp32 rate
        var b = c
        b.hessianBF16 = true
        XCTAssertEqual(b.cellSeconds(auto.cells[2], auto), 1.024 + 1.036288 + 11 + 0.256 + 5, accuracy: 1e-9)
        XCTAssertEqual(b.cellSeconds(w4.cells[2], w4), c.cellSeconds(w4.cells[2], w4), accuracy: 1e-12)
    }
}
