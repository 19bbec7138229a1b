import XCTest
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import TestSupport
@testable import Experiments

/// Bootstrap intervals, paired comparisons and the reports built on them. Expected values are
/// hand-derived (see comments), not produced by the code under test.
final class BootstrapTests: XCTestCase {
    // MARK: hand-computed cases

    func testTwoWindowsGiveTheExtremes() {
        // windows NLL 1 and 3: a resample of 2 windows has mean 1 (p = 1/4), 2 (1/2) or 3 (1/4);
        // ~500 of 2000 resamples at each end, far more than the 50 below the 2.5% quantile,
        // so the 95% CI of PPL is exactly [e^1, e^3].
        let ci = Bootstrap.pplCI([1, 3])!
        XCTAssertEqual(ci.lo, exp(1))
        XCTAssertEqual(ci.hi, exp(3))
    }

    func testKnownMean() {
        // windows 1…5: mean 3; the bootstrap means average to 3 (sd of one resample mean =
        // sqrt(2/5) ≈ 0.63, so the average of 2000 is within ±0.05 by a wide margin), and the
        // CI of PPL contains e^3 and lies inside [e^1, e^5].
        let w: [Double] = [1, 2, 3, 4, 5]
        let d = Bootstrap.distribution(seeds: 1, windows: 5) { Bootstrap.weightedMean(w, tokens: nil, indices: $1) }
        XCTAssertEqual(d.count, Bootstrap.resamples)
        XCTAssertEqual(d.reduce(0, +) / Double(d.count), 3, accuracy: 0.05)
        XCTAssertEqual(Bootstrap.weightedMean(w, tokens: nil, indices: Array(0..<5)), 3)
        let ci = Bootstrap.pplCI(w)!
        XCTAssertTrue(ci.contains(exp(3)) && ci.lo > exp(1) && ci.hi < exp(5), "\(ci)")
    }

    func testIdenticalWindowsGiveAPoint() {
        let ci = Bootstrap.pplCI([2, 2, 2, 2, 2, 2])!
        XCTAssertEqual(ci, Interval(exp(2), exp(2)))
        // over seeds too, and a single seed is the one-level bootstrap
        XCTAssertEqual(Bootstrap.seedsPPLCI([[2, 2, 2], [2, 2, 2]]), Interval(exp(2), exp(2)))
        XCTAssertEqual(Bootstrap.seedsPPLCI([[1, 3, 2, 5]]), Bootstrap.pplCI([1, 3, 2, 5]))
    }

    func testPairedConstantShift() {
        // cell = reference + 0.25 nats on every window: every resample's ΔNLL is 0.25 …
        let base: [Double] = [2.1, 3.7, 2.9, 4.4, 3.0, 2.2, 3.3]
        let cell = base.map { $0 + 0.25 }
        let dn = Bootstrap.pairedNLLDiffCI(cell, base)!
        XCTAssertEqual(dn.lo, 0.25, accuracy: 1e-12)
        XCTAssertEqual(dn.hi, 0.25, accuracy: 1e-12)
        // … and with identical reference windows (NLL 3) the ΔPPL is the point e^3.25 − e^3
        let flat = [Double](repeating: 3, count: 7)
        let dp = Bootstrap.pairedDeltaCI(flat.map { $0 + 0.25 }, flat)!
        XCTAssertEqual(dp.lo, exp(3.25) - exp(3), accuracy: 1e-9)
        XCTAssertEqual(dp.hi, exp(3.25) - exp(3), accuracy: 1e-9)
        // pairing matters: the unpaired intervals of the two cells overlap widely, the paired Δ is a point
        let a = Bootstrap.pplCI(cell)!, b = Bootstrap.pplCI(base)!
        XCTAssertTrue(a.lo < b.hi, "unpaired intervals overlap: \(a) \(b)")
        XCTAssertGreaterThan(Bootstrap.pairedDeltaCI(cell, base)!.lo, 0)
        // seeds, each shifted by the same constant against its reference: a point again
        let s = Bootstrap.seedsPairedDeltaCI([flat.map { $0 + 0.25 }, flat.map { $0 + 0.25 }], [flat, flat])!
        XCTAssertEqual(s.lo, exp(3.25) - exp(3), accuracy: 1e-9)
        XCTAssertEqual(s.hi, exp(3.25) - exp(3), accuracy: 1e-9)
        // mismatched window counts: no interval
        XCTAssertNil(Bootstrap.pairedDeltaCI([1, 2], [1, 2, 3]))
        XCTAssertNil(Bootstrap.pplCI([]))
        XCTAssertNil(Bootstrap.pplCI([1, .infinity]))    // a non-finite window NLL gives no interval
        XCTAssertNil(Bootstrap.pairedDeltaCI([1, 2], [1, .nan]))
    }

    func testTokenWeights() {
        // windows NLL 1 (3 tokens) and 3 (1 token): resample means are 1, (3·1 + 1·3)/4 = 1.5 and 3
        // with probabilities 1/4, 1/2, 1/4 (unweighted, the middle value would be 2).
        let w: [Double] = [1, 3], t: [Double] = [3, 1]
        XCTAssertEqual(Bootstrap.weightedMean(w, tokens: t, indices: [0, 1]), 1.5)
        let d = Bootstrap.distribution(seeds: 1, windows: 2) { Bootstrap.weightedMean(w, tokens: t, indices: $1) }
        XCTAssertEqual(Set(d), [1, 1.5, 3])
        XCTAssertEqual(Double(d.filter { $0 == 1.5 }.count) / Double(d.count), 0.5, accuracy: 0.05)
        XCTAssertEqual(Bootstrap.pplCI(w, tokens: t)!, Interval(exp(1), exp(3)))
        XCTAssertNil(Bootstrap.pplCI(w, tokens: [1]))          // wrong count
        XCTAssertNil(Bootstrap.pplCI(w, tokens: [1, 0]))       // non-positive weight
    }

    func testTwoLevelOverSeeds() {
        // two seeds whose windows are all 1 and all 3: the resampled mean PPL is e^1, (e^1+e^3)/2
        // or e^3 (p = 1/4, 1/2, 1/4): CI [e^1, e^3]
        let ci = Bootstrap.seedsPPLCI([[1, 1, 1], [3, 3, 3]])!
        XCTAssertEqual(ci.lo, exp(1), accuracy: 1e-12)
        XCTAssertEqual(ci.hi, exp(3), accuracy: 1e-12)
        XCTAssertNil(Bootstrap.seedsPPLCI([[1, 2], [1, 2, 3]]))
    }

    func testQuantileAndDeterminism() {
        // linear interpolation: h = (B − 1)·q
        XCTAssertEqual(Bootstrap.quantile(sorted: [0, 10, 20, 30, 40], 0.5), 20)
        XCTAssertEqual(Bootstrap.quantile(sorted: [0, 10], 0.25), 2.5)
        XCTAssertEqual(Bootstrap.quantile(sorted: [7], 0.975), 7)
        let w = (0..<50).map { 2 + sin(Double($0)) }
        XCTAssertEqual(Bootstrap.pplCI(w), Bootstrap.pplCI(w))
        XCTAssertNotEqual(Bootstrap.pplCI(w), Bootstrap.pplCI(w, seed: 1))
        XCTAssertGreaterThanOrEqual(Bootstrap.resamples, 2000)
    }

    func testVerdictsAndSeedStats() {
        XCTAssertEqual(Verdict(deltaCI: Interval(-2, -0.1)), .better)
        XCTAssertEqual(Verdict(deltaCI: Interval(0.1, 2)), .worse)
        XCTAssertEqual(Verdict(deltaCI: Interval(-1, 1)), .indistinguishable)
        XCTAssertEqual(Verdict(deltaCI: Interval(0, 1)), .indistinguishable)
        // 1,2,3,4: mean 2.5, sample sd sqrt(((1.5² + 0.5²)·2)/3) = sqrt(5/3)
        let s = SeedStats([1, 2, 3, 4])!
        XCTAssertEqual(s.mean, 2.5); XCTAssertEqual(s.sd!, (5.0 / 3).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(s.min, 1); XCTAssertEqual(s.max, 4)
        XCTAssertNil(SeedStats([3])!.sd)
        XCTAssertNil(SeedStats([]))
    }

    func testPairedComparisonKnownDifferences() {
        let base = (0..<40).map { 3 + 0.5 * sin(Double($0) * 1.7) }
        let better = PairedComparison(cell: [base.map { $0 - 0.1 }], reference: [base], seedPairs: [(0, 0)])!
        XCTAssertEqual(better.verdict, .better)
        XCTAssertEqual(better.windowWinShare, 1)
        XCTAssertEqual(better.seedWinShare, 1)
        XCTAssertLessThan(better.ci.hi, 0)
        let worse = PairedComparison(cell: [base.map { $0 + 0.1 }], reference: [base], seedPairs: [(0, 0)])!
        XCTAssertEqual(worse.verdict, .worse)
        XCTAssertEqual(worse.windowWinShare, 0)
        // ±0.05 alternating around the reference: half the windows won, the CI straddles 0
        let same = PairedComparison(cell: [base.enumerated().map { $1 + ($0 % 2 == 0 ? 0.05 : -0.05) }], reference: [base], seedPairs: [(0, 0)])!
        XCTAssertEqual(same.verdict, .indistinguishable)
        XCTAssertEqual(same.windowWinShare, 0.5)
        XCTAssertTrue(same.ci.contains(0))
        // two seeds: one clearly better, one clearly worse by the same amount → not distinguishable, 1 of 2 seeds won
        let mixed = PairedComparison(cell: [base.map { $0 - 0.2 }, base.map { $0 + 0.2 }], reference: [base, base], seedPairs: [(0, 0), (1, 1)])!
        XCTAssertEqual(mixed.verdict, .indistinguishable)
        XCTAssertEqual(mixed.seedWinShare, 0.5)
        XCTAssertEqual(mixed.windowWinShare, 0.5)
        XCTAssertEqual(pairSeeds([0, 1, 2], [0]).map(\.reference), [0, 0, 0])
        XCTAssertEqual(pairSeeds([0, 1, 2], [1, 2, 3]).map(\.cell), [1, 2])
    }

    // MARK: summary.csv, reports and `mxq compare` on synthetic cells

    func record(_ index: Int, recipe: String, seed: Int = 0, windows: [Double]?, w: String = "mxint4") -> CellRecord {
        let nll = windows.map { $0.reduce(0, +) / Double($0.count) } ?? 3
        let id = recipe == "fp32" ? "fp32" : "\(recipe)_W\(w)_Amxint8_b32_floor_even_s\(seed)"
        return CellRecord(index: index, id: id, model: "smollm2-135m", recipe: recipe, stages: recipe, weights: recipe == "fp32" ? "none" : w,
                          acts: recipe == "fp32" ? "none" : "mxint8", block: 32, scaleRule: "floor", rounding: "even", seed: seed,
                          calibDataset: "ptb-train", calibN: 4, calibLen: 64, ctx: 128,
                          evals: [DatasetResult(dataset: "wikitext2", ppl: exp(nll), nll: nll, tokens: 127 * (windows?.count ?? 4),
                                                windows: windows?.count ?? 4, seconds: 1, windowNLL: windows)],
                          fp32PPL: ["wikitext2": exp(2.5)], layers: [], quantizeSeconds: 1, wallSeconds: 2, weightBits: recipe == "fp32" ? 32 : 4.25,
                          provenance: Provenance(modelSHA256: "m", calibrationSHA256: "c", dataSHA256: ["wikitext2": "d"]),
                          manifestSHA256: "ms", gitCommit: "g")
    }

    func testSummaryIntervalColumns() {
        // the existing columns keep their order; the interval columns and then `path` come last
        XCTAssertEqual(Array(SummaryCSV.header.prefix(31)), [
            "cell_index", "cell_id", "model", "recipe", "stages", "weights", "acts", "block", "scale_rule", "rounding", "seed",
            "calib_dataset", "calib_n", "calib_len", "dataset", "windows", "ctx", "tokens", "nll", "ppl", "fp32_ppl",
            "delta_ppl", "weight_bits", "quantize_s", "eval_s", "wall_s",
            "model_sha256", "data_sha256", "calib_sha256", "manifest_sha256", "git_commit"])
        XCTAssertEqual(Array(SummaryCSV.header.suffix(6).prefix(5)), SummaryCSV.ciColumns)   // then `path`
        XCTAssertEqual(SummaryCSV.header.last, "path")
        let fpW = [Double](repeating: 2.5, count: 6)
        let fp = record(0, recipe: "fp32", windows: fpW)
        let q = record(1, recipe: "rtn", windows: fpW.map { $0 + 0.5 })
        let t = SummaryCSV.table([fp, q], reference: ["wikitext2": fp.evals[0]])
        let row = Dictionary(uniqueKeysWithValues: zip(t.header, t.rows[1]))
        // identical windows: PPL CI is the point e^3, the paired Δ the point e^3 − e^2.5
        XCTAssertEqual(Double(row["ppl_lo"]!)!, exp(3), accuracy: 1e-9)
        XCTAssertEqual(Double(row["ppl_hi"]!)!, exp(3), accuracy: 1e-9)
        XCTAssertEqual(Double(row["delta_lo"]!)!, exp(3) - exp(2.5), accuracy: 1e-9)
        XCTAssertEqual(Double(row["delta_hi"]!)!, exp(3) - exp(2.5), accuracy: 1e-9)
        XCTAssertEqual(row["n_windows"], "6")
        // without per-window NLLs the interval columns are empty; without a reference, the Δ ones
        let old = Dictionary(uniqueKeysWithValues: zip(SummaryCSV.header, SummaryCSV.rows(record(2, recipe: "rtn", windows: nil))[0]))
        XCTAssertEqual([old["ppl_lo"], old["ppl_hi"], old["delta_lo"], old["delta_hi"], old["n_windows"]], ["", "", "", "", ""])
        let noRef = Dictionary(uniqueKeysWithValues: zip(SummaryCSV.header, SummaryCSV.rows(q)[0]))
        XCTAssertEqual(noRef["delta_lo"], ""); XCTAssertNotEqual(noRef["ppl_lo"], "")
    }

    /// fp32, rtn (seeds 0 and 1), a recipe better than rtn, one worse, one the same (2 seeds each).
    func syntheticFolder() throws -> URL {
        let dir = makeTempDir("mxq-compare")
        let base = (0..<24).map { 2.5 + 0.4 * sin(Double($0) * 2.3) }
        func noisy(_ s: Int, _ amp: Double) -> [Double] { base.enumerated().map { $1 + amp * sin(Double($0 * 7 + s * 3)) } }
        let recs = [
            record(0, recipe: "fp32", windows: base),
            record(1, recipe: "rtn", seed: 0, windows: base.map { $0 + 0.4 }),
            record(2, recipe: "rtn", seed: 1, windows: base.map { $0 + 0.4 }),
            record(3, recipe: "good", seed: 0, windows: noisy(0, 0.01).map { $0 + 0.2 }),
            record(4, recipe: "good", seed: 1, windows: noisy(1, 0.01).map { $0 + 0.25 }),
            record(5, recipe: "bad", seed: 0, windows: base.map { $0 + 0.6 }),
            record(6, recipe: "bad", seed: 1, windows: base.map { $0 + 0.55 }),
            record(7, recipe: "same", seed: 0, windows: noisy(0, 0.05).map { $0 + 0.4 }),
            record(8, recipe: "same", seed: 1, windows: noisy(1, 0.05).map { $0 + 0.4 }),
        ]
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("cells"), withIntermediateDirectories: true)
        for r in recs {
            try JSONIO.encoder().encode(r).write(to: dir.appendingPathComponent("cells").appendingPathComponent(cellRecordName(r.index)))
        }
        try writeTables(dir, records: recs)
        return dir
    }

    func testCompareVerdictsOnSyntheticCells() throws {
        let dir = try syntheticFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let md = try compareMarkdown(dir)
        func line(_ recipe: String) -> String { md.split(separator: "\n").first { $0.hasPrefix("| \(recipe) |") }.map(String.init) ?? "" }
        XCTAssertTrue(line("good").hasSuffix("| 100% | 2/2 | better |"), md)
        XCTAssertTrue(line("bad").hasSuffix("| 0% | 0/2 | worse |"), md)
        XCTAssertTrue(line("same").hasSuffix("| not distinguishable |"), md)
        XCTAssertTrue(line("good").contains("| 2 | 24 |"), line("good"))   // 2 seed pairs, 24 windows
        // fp32 as the baseline: every recipe is worse than fp32 here
        let vsFP = try compareMarkdown(dir, reference: "fp32")
        XCTAssertEqual(vsFP.components(separatedBy: "| worse |").count - 1, 4, vsFP)
        XCTAssertThrowsError(try compareMarkdown(dir, reference: "nope")) { XCTAssertTrue("\($0)".contains("recipes: bad, fp32, good, rtn, same"), "\($0)") }
        XCTAssertThrowsError(try compareMarkdown(dir, dataset: "ptb")) { XCTAssertTrue("\($0)".contains("datasets: wikitext2"), "\($0)") }

        // the accuracy report aggregates the seeds and carries the same verdicts
        let rep = try accuracyMarkdown(dir)
        let good = rep.split(separator: "\n").first { $0.hasPrefix("| good |") }.map(String.init) ?? ""
        XCTAssertTrue(good.contains("· 2 seeds ") && good.hasSuffix("· better than rtn |"), good)
        XCTAssertTrue(good.contains(" ±"), good)
        XCTAssertTrue(rep.contains("| rtn | ") && !rep.contains("_s1"), rep)   // one column, seeds aggregated
        XCTAssertTrue(rep.contains("95% CIs: percentile bootstrap"), rep)
        let tabs = try accuracyTables(try ReportData.load(dir))
        XCTAssertEqual(tabs.count, 1)
        XCTAssertEqual(tabs[0].columns.count, 1)
        let g = tabs[0].rows.first { $0.recipe == "good" }!.values[0]!
        XCTAssertEqual(g.seeds, [0, 1])
        XCTAssertEqual(g.stats.n, 2)
        XCTAssertTrue(g.pplCI!.contains(g.ppl) && g.deltaCI!.lo > 0)
        // rtn's two seeds agree window for window: the two-level CI is the one-level one (windows
        // are drawn once per resample and shared by the seeds, so seeds add nothing here)
        let r = tabs[0].rows.first { $0.recipe == "rtn" }!.values[0]!
        XCTAssertEqual(r.stats.sd, 0)
        let one = Bootstrap.pplCI((0..<24).map { 2.5 + 0.4 * sin(Double($0) * 2.3) + 0.4 })!
        XCTAssertEqual(r.pplCI!.lo, one.lo, accuracy: 1e-9)
        XCTAssertEqual(r.pplCI!.hi, one.hi, accuracy: 1e-9)
    }

    func testOldFoldersStillReport() throws {
        // a summary.csv written before the interval columns, no cell records: the old table
        let dir = makeTempDir("mxq-old")
        defer { try? FileManager.default.removeItem(at: dir) }
        let recs = [record(0, recipe: "fp32", windows: nil), record(1, recipe: "rtn", windows: nil)]
        let t = SummaryCSV.table(recs)
        let oldT = CSVTable(header: Array(t.header.prefix(31)), rows: t.rows.map { Array($0.prefix(31)) })
        try oldT.text.write(to: dir.appendingPathComponent("summary.csv"), atomically: true, encoding: .utf8)
        let md = try accuracyMarkdown(dir)
        XCTAssertTrue(md.contains("| fp32 | 12.18 |\n| rtn | 20.09 (+7.90) |\n"), md)
        XCTAssertFalse(md.contains("95% CI"))
        XCTAssertThrowsError(try compareMarkdown(dir)) { XCTAssertTrue("\($0)".contains("no per-window NLLs"), "\($0)") }
        try writeHTMLReport(dir)
        // cell records with window NLLs beside an old summary: intervals computed in memory, file untouched
        let withCells = try syntheticFolder()
        defer { try? FileManager.default.removeItem(at: withCells) }
        let full = try CSVTable.load(withCells.appendingPathComponent("summary.csv"))
        let cut = CSVTable(header: Array(full.header.prefix(31)), rows: full.rows.map { Array($0.prefix(31)) })
        try cut.text.write(to: withCells.appendingPathComponent("summary.csv"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try ReportData.load(withCells).table.text, full.text)
        XCTAssertEqual(try CSVTable.load(withCells.appendingPathComponent("summary.csv")).text, cut.text)
    }

    func testHTMLChartsAndHeader() throws {
        let dir = try syntheticFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        // layer records for rtn (seed 0) and good (seed 0): 2 blocks × q/down
        func L(_ l: String, _ o: Double) -> LayerRecord {
            LayerRecord(layer: l, stageIndex: 0, stage: "rtn", weightSQNR: o, outputSQNR: o, outputMSE: 0.01, saturatedShare: 0, flushedShare: 0,
                        scaleExpMin: -3, scaleExpMedian: -1, scaleExpMax: 2)
        }
        var recs = try loadCellRecords(dir)
        recs[1].layers = [L("layers.0.self_attn.q_proj", 20), L("layers.0.mlp.down_proj", 10), L("layers.1.self_attn.q_proj", 22), L("layers.1.mlp.down_proj", 12)]
        recs[3].layers = [L("layers.0.self_attn.q_proj", 21), L("layers.0.mlp.down_proj", 14), L("layers.1.self_attn.q_proj", 21), L("layers.1.mlp.down_proj", 15)]
        try writeTables(dir, records: recs)
        let le = try loadLayerErrors(dir.appendingPathComponent("layers.csv"))
        let g = layerGrid(le.first { $0.cellID.hasPrefix("good") }!)!
        XCTAssertEqual(g.blocks, ["0", "1"]); XCTAssertEqual(g.kinds, ["q", "down"])
        XCTAssertEqual(g.values, [[21, 14], [21, 15]])
        let r = layerGrid(le.first { $0.cellID.hasPrefix("rtn") }!)!
        XCTAssertEqual(gridDifference(g, r).values, [[1, 4], [-1, 3]])

        _ = try writeLayerReports(dir, only: nil, top: 0)
        let html = try String(contentsOf: dir.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("class=\"mxq-chart ppl-chart\""))
        XCTAssertEqual(html.components(separatedBy: "class=\"ppl-point\"").count - 1, 4)   // rtn, good, bad, same
        XCTAssertEqual(html.components(separatedBy: "class=\"ppl-errbar\"").count - 1, 4)
        XCTAssertEqual(html.components(separatedBy: "class=\"mxq-chart sqnr-heatmap\"").count - 1, 2)   // rtn, good
        XCTAssertEqual(html.components(separatedBy: "class=\"mxq-chart sqnr-heatmap diff\"").count - 1, 1)   // good − rtn
        XCTAssertTrue(html.contains("better than rtn"))
        XCTAssertFalse(html.contains("<script") || html.contains("src=") || html.contains("<link"))
        // the folder is named relative to the checkout, never by an absolute path
        XCTAssertFalse(html.contains(dir.path), "absolute path in report.html")
        XCTAssertTrue(html.contains("<code>\(dir.lastPathComponent)</code>"))
        // every inline SVG is well-formed XML
        var rest = html[...]
        var n = 0
        while let a = rest.range(of: "<svg "), let b = rest.range(of: "</svg>", range: a.upperBound..<rest.endIndex) {
            let svg = String(rest[a.lowerBound..<b.upperBound])
            let p = XMLParser(data: Data(svg.utf8))
            XCTAssertTrue(p.parse(), "SVG \(n) is not well-formed: \(String(describing: p.parserError))")
            n += 1
            rest = rest[b.upperBound...]
        }
        XCTAssertEqual(n, 1 + 3 + 2)   // PPL chart; 2 SQNR + 1 diff heat maps; 2 line plots
    }

    func testDisplayPath() throws {
        let root = makeTempDir("mxq-checkout")
        defer { try? FileManager.default.removeItem(at: root) }
        let res = root.appendingPathComponent("results/w4a8")
        try FileManager.default.createDirectory(at: res, withIntermediateDirectories: true)
        XCTAssertEqual(displayPath(res), "w4a8")   // not in a checkout: only its name
        try Data("gitdir: x\n".utf8).write(to: root.appendingPathComponent(".git"))   // a worktree's .git file
        XCTAssertEqual(displayPath(res), "results/w4a8")
        XCTAssertEqual(displayPath(root), ".")
    }
}
