import XCTest
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import TestSupport
@testable import Experiments

final class CSVReportTests: XCTestCase {
    func testCSVQuotingRoundTrip() {
        XCTAssertEqual(csvField("a,b"), "\"a,b\"")
        XCTAssertEqual(csvField("say \"hi\""), "\"say \"\"hi\"\"\"")
        XCTAssertEqual(csvField("plain"), "plain")
        let t = CSVTable(header: ["x", "y"], rows: [["a,b", "c\"d"], ["1", "line\nbreak"]])
        XCTAssertEqual(t.text, "x,y\n\"a,b\",\"c\"\"d\"\n1,\"line\nbreak\"\n")
        let back = try! CSVTable(text: t.text, file: "t")
        XCTAssertEqual(back.header, t.header)
        XCTAssertEqual(back.rows, t.rows)
        XCTAssertThrowsError(try CSVTable(text: "a,b\n1\n", file: "t"))
    }

    func testNumbers() {
        XCTAssertEqual(csvNumber(4.25), "4.25")
        XCTAssertEqual(csvNumber(32), "32")
        XCTAssertEqual(csvNumber(0.1), "0.1")
        XCTAssertEqual(csvNumber(.nan), "nan")
        XCTAssertEqual(csvNumber(-.infinity), "-inf")
        XCTAssertEqual(csvNumber(nil), "")
    }

    func record(_ index: Int, _ id: String, recipe: String, w: String, a: String, ppl: [Double], layers: [LayerRecord] = []) -> CellRecord {
        CellRecord(index: index, id: id, model: "smollm2-135m", recipe: recipe, stages: recipe, weights: w, acts: a, block: 32, scaleRule: "floor",
                   rounding: "even", seed: 0, calibDataset: "ptb-train", calibN: 4, calibLen: 64, ctx: 128,
                   evals: zip(["wikitext2", "ptb"], ppl).map { DatasetResult(dataset: $0, ppl: $1, nll: log($1), tokens: 508, windows: 4, seconds: 1.5) },
                   fp32PPL: ["wikitext2": 10, "ptb": 20], layers: layers, quantizeSeconds: 2, wallSeconds: 5,
                   weightBits: w == "none" ? 32 : 4.25,
                   provenance: Provenance(modelSHA256: "m", calibrationSHA256: "c", dataSHA256: ["wikitext2": "dw", "ptb": "dp"]),
                   manifestSHA256: "ms", gitCommit: "g")
    }

    func testSummaryRows() {
        let rows = SummaryCSV.rows(record(3, "rtn_x", recipe: "rtn", w: "mxint4", a: "mxint8", ppl: [10.5, 21]))
        XCTAssertEqual(rows.count, 2)
        XCTAssertEqual(rows[0].count, SummaryCSV.header.count)
        let d = Dictionary(uniqueKeysWithValues: zip(SummaryCSV.header, rows[1]))
        XCTAssertEqual(d["dataset"], "ptb")
        XCTAssertEqual(d["ppl"], "21")
        XCTAssertEqual(d["fp32_ppl"], "20")
        XCTAssertEqual(d["delta_ppl"], "1")
        XCTAssertEqual(d["weight_bits"], "4.25")
        XCTAssertEqual(d["data_sha256"], "dp")
        XCTAssertEqual(d["cell_index"], "3")
    }

    func testFirstWindowRecords() throws {
        // fp32 windows NLL 1,2,3,4 → first 2: nll 1.5; rtn 2,2,4,4 → first 2: nll 2 (ctx 128 → 127 tokens each)
        var fp = record(0, "fp32", recipe: "fp32", w: "none", a: "none", ppl: [10])
        fp.evals[0].windowNLL = [1, 2, 3, 4]
        var q = record(1, "rtn_x", recipe: "rtn", w: "mxint4", a: "mxint8", ppl: [12])
        q.evals[0].windowNLL = [2, 2, 4, 4]
        let dir = makeTempDir("mxq-first")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cut = try firstWindowRecords([fp, q], k: 2, dir: dir)
        XCTAssertEqual(cut[1].evals[0].nll, 2)
        XCTAssertEqual(cut[1].evals[0].ppl, exp(2), accuracy: 1e-12)
        XCTAssertEqual(cut[1].evals[0].windows, 2)
        XCTAssertEqual(cut[1].evals[0].tokens, 254)
        XCTAssertEqual(cut[1].fp32PPL["wikitext2"]!, exp(1.5), accuracy: 1e-12)
        XCTAssertEqual(cut[0].evals[0].ppl, exp(1.5), accuracy: 1e-12)
        // the whole set of windows gives back the mean of all
        XCTAssertEqual(try firstWindowRecords([fp, q], k: 4, dir: dir)[1].evals[0].nll, 3)
        // too many windows, or records without per-window NLLs: clear errors naming the cell file
        XCTAssertThrowsError(try firstWindowRecords([fp, q], k: 5, dir: dir)) { e in
            XCTAssertTrue("\(e)".contains("fewer than 5"), "\(e)")
        }
        let old = record(2, "rtn_y", recipe: "rtn", w: "mxint4", a: "mxint8", ppl: [12])
        XCTAssertThrowsError(try firstWindowRecords([fp, old], k: 2, dir: dir)) { e in
            XCTAssertTrue("\(e)".contains("cells/0002.json"), "\(e)")
        }
    }

    func testAccuracyMarkdownAndLayerReports() throws {
        let dir = makeTempDir("mxq-report")
        defer { try? FileManager.default.removeItem(at: dir) }
        func L(_ layer: String, _ si: Int, _ st: String, _ o: Double) -> LayerRecord {
            LayerRecord(layer: layer, stageIndex: si, stage: st, weightSQNR: o + 1, outputSQNR: o, outputMSE: 0.001,
                        saturatedShare: 0.0005, flushedShare: 0.02, scaleExpMin: -9, scaleExpMedian: -5, scaleExpMax: -2)
        }
        let recs = [
            record(0, "fp32", recipe: "fp32", w: "none", a: "none", ppl: [10, 20]),
            record(1, "rtn_a", recipe: "rtn", w: "mxint4", a: "mxint8", ppl: [12, 23]),
            record(2, "gptq_a", recipe: "sq+gptq", w: "mxint4", a: "mxint8", ppl: [11, 21.5],
                   layers: [L("layers.0.q", 0, "smoothquant", 20), L("layers.0.q", 1, "gptq", 25),
                            L("layers.0.down", 0, "smoothquant", 12), L("layers.0.down", 1, "gptq", 15),
                            L("layers.1.q", 0, "smoothquant", 30), L("layers.1.q", 1, "gptq", 31)]),
        ]
        try writeTables(dir, records: recs)
        let md = try accuracyMarkdown(dir)
        XCTAssertTrue(md.contains("## wikitext2\n\nPerplexity (Δ vs fp32 = 10.00); lower is better.\n\n| recipe | W mxint4 · A mxint8 · b32 (4.25 b/w) |\n|---|---:|\n| fp32 | 10.00 |\n| rtn | 12.00 (+2.00) |\n| sq+gptq | 11.00 (+1.00) |\n"), md)
        XCTAssertTrue(md.contains("| sq+gptq | 21.50 (+1.50) |"), md)

        let le = try loadLayerErrors(dir.appendingPathComponent("layers.csv"))
        XCTAssertEqual(le.count, 1)
        XCTAssertEqual(le[0].stages, ["smoothquant", "gptq"])
        XCTAssertEqual(le[0].layers, ["layers.0.q", "layers.0.down", "layers.1.q"])
        XCTAssertEqual(le[0].bySensitivity.map { le[0].layers[$0] }, ["layers.0.down", "layers.0.q", "layers.1.q"])
        let out = try writeLayerReports(dir, only: nil, top: 2)
        XCTAssertTrue(out.contains("| 1 | layers.0.down | 13.0 | 12.0 | 16.0 | 15.0 | 0.001 | 0.050% | 2.000% | -9/-5/-2 |"), out)
        XCTAssertTrue(out.contains("(1 more layers in the full table)"))
        let svg = try String(contentsOf: dir.appendingPathComponent("layers/gptq_a.svg"), encoding: .utf8)
        XCTAssertEqual(svg.components(separatedBy: "<polyline").count - 1, 2)   // one series per stage
        XCTAssertTrue(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        let parser = XMLParser(data: Data(svg.utf8))
        XCTAssertTrue(parser.parse(), "SVG is not well-formed XML: \(String(describing: parser.parserError))")
        let html = try String(contentsOf: dir.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("<svg") && html.contains("Accuracy: wikitext2"))
        XCTAssertFalse(html.contains("src=") || html.contains("<link"))   // self-contained
        XCTAssertFalse(html.contains("<script"))
        XCTAssertThrowsError(try writeLayerReports(dir, only: "nope", top: 0))
    }
}

final class HeldoutReportTests: XCTestCase {
    /// Over-fitting flags: a stage after which held-out SQNR falls while calibration SQNR rises (or falls less).
    func testOverfitFlags() {
        func r(_ st: String, _ si: Int, _ cal: Double, _ held: Double) -> LayerRecord {
            var x = LayerRecord(layer: "l", stageIndex: si, stage: st, weightSQNR: 0, outputSQNR: cal, outputMSE: 0,
                                saturatedShare: 0, flushedShare: 0, scaleExpMin: nil, scaleExpMedian: nil, scaleExpMax: nil)
            x.heldoutOutputSQNR = held
            return x
        }
        let e = LayerErrors(cellID: "c", stages: ["awq", "gptq"], layers: ["a", "b", "c"], records: [
            [r("awq", 0, 10, 9), r("gptq", 1, 14, 8)],     // +4 on calibration, −1 held out: flagged, gap 5
            [r("awq", 0, 10, 9), r("gptq", 1, 12, 10)],    // both improve: not flagged
            [r("awq", 0, 10, 9), r("gptq", 1, 7, 8.5)],    // calibration −3, held out −0.5: not flagged
        ])
        let f = overfitFlags(e)
        XCTAssertEqual(f.count, 1)
        XCTAssertEqual(f.first?.layer, "a")
        XCTAssertEqual(f.first?.gap ?? 0, 5, accuracy: 1e-12)
        XCTAssertTrue(layerMarkdown(e).contains("Over-fitting flags: 1"))
    }
}
