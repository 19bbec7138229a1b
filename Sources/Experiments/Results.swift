import Foundation
import Support
import PTQ

/// Perplexity of one model on one evaluation dataset.
public struct DatasetResult: Codable, Sendable, Equatable {
    public var dataset: String
    /// exp(nll).
    public var ppl: Double
    /// Mean negative log-likelihood per predicted token (nats).
    public var nll: Double
    /// Predicted tokens scored.
    public var tokens: Int
    /// Windows evaluated.
    public var windows: Int
    /// Wall seconds of this evaluation.
    public var seconds: Double
    /// Mean NLL of each window, in order (every window scores ctx − 1 tokens, so the PPL of
    /// the first k windows is exp(mean of the first k entries)). Absent in records written
    /// before it was added.
    public var windowNLL: [Double]?
    public init(dataset: String, ppl: Double, nll: Double, tokens: Int, windows: Int, seconds: Double,
                windowNLL: [Double]? = nil) {
        self.dataset = dataset; self.ppl = ppl; self.nll = nll; self.tokens = tokens; self.windows = windows; self.seconds = seconds
        self.windowNLL = windowNLL
    }
    enum CodingKeys: String, CodingKey {
        case dataset, ppl, nll, tokens, windows, seconds
        case windowNLL = "window_nll"
    }
}

/// Error of one linear layer after one PTQ stage: the PTQ pipeline's record, stored as is in
/// cell records and `layers.csv` (one type from the pipeline to the reports).
public typealias LayerRecord = StageLayerRecord

/// What a `CellRunner` returns for one cell.
public struct CellResult: Sendable {
    /// One entry per manifest dataset, in manifest order.
    public var evals: [DatasetResult]
    /// Per linear layer, per stage (empty for fp32).
    public var layers: [LayerRecord]
    /// Seconds spent quantizing (calibration and stages), excluding evaluation.
    public var quantizeSeconds: Double
    /// Seconds per PTQ stage (timing).
    public var stageSeconds: [String: Double] = [:]
    /// GPTQ Hessians that came from the cache (`block N input|format` descriptions).
    public var cachedHessians: [String] = []
    /// SHA-256 of this cell's calibration text when it has its own (nil: the runner's provenance).
    public var calibrationSHA256: String? = nil
    /// A plan cell's chosen plan and the sensitivity table it came from.
    public var plan: PlanInfo? = nil
    public var sensitivity: [LayerSensitivity]? = nil
    /// Which products ran in evaluation (`fp32`, `packed-int`, `packed`, `fake-quant`, or
    /// several joined by "+": `PTQ.evaluationPath`); nil when nothing real ran (fake runner).
    public var path: String? = nil
    public init(evals: [DatasetResult], layers: [LayerRecord], quantizeSeconds: Double) {
        self.evals = evals; self.layers = layers; self.quantizeSeconds = quantizeSeconds
    }
}

/// Hashes of a sweep's inputs.
public struct Provenance: Codable, Sendable, Equatable {
    public var modelSHA256: String
    public var calibrationSHA256: String
    /// Evaluation data hash by dataset name.
    public var dataSHA256: [String: String]
    public init(modelSHA256: String, calibrationSHA256: String, dataSHA256: [String: String]) {
        self.modelSHA256 = modelSHA256; self.calibrationSHA256 = calibrationSHA256; self.dataSHA256 = dataSHA256
    }
}

/// One finished cell as stored in `cells/NNNN.json`: self-contained, everything a
/// summary/layers CSV row needs.
public struct CellRecord: Codable, Sendable, Equatable {
    public var index: Int
    public var id: String
    /// The manifest's `model` (`smollm2-135m` or a path).
    public var model: String
    public var recipe: String
    public var stages: String
    public var weights: String
    public var acts: String
    public var block: Int
    public var scaleRule: String
    public var rounding: String
    public var seed: Int
    public var calibDataset: String
    public var calibN: Int
    public var calibLen: Int
    public var ctx: Int
    public var evals: [DatasetResult]
    /// fp32 perplexity by dataset (the delta's reference).
    public var fp32PPL: [String: Double]
    public var layers: [LayerRecord]
    public var quantizeSeconds: Double
    public var wallSeconds: Double
    public var weightBits: Double
    public var provenance: Provenance
    public var manifestSHA256: String
    public var gitCommit: String
    /// GPTQ Hessians read from the cache instead of computed (absent in older records).
    public var cachedHessians: [String]? = nil
    /// Seconds per PTQ stage (timing; absent in older records).
    public var stageSeconds: [String: Double]? = nil
    /// A plan cell's plan (predicted ΔNLL, chosen formats); `weightBits` is then its average.
    public var plan: PlanInfo? = nil
    /// Which products the evaluation ran (`CellResult.path`); absent in records written before
    /// it was kept (see `evaluationPath`).
    public var path: String? = nil

    /// `path`, or for records without it what the code of their time ran: `fp32` for the fp32
    /// cell, `packed` for cells with `packed: true` (id segment `_packed`), else `fake-quant`.
    public var evaluationPath: String {
        if let p = path { return p }
        if recipe == "fp32" { return "fp32" }
        // id: <recipe>_W…_A…_b…_<rule>_<rounding>_s<seed>[_r…][_o…][_lmhead][_packed][_cal-…]
        let parts = id.split(separator: "_")
        let beforeCal = parts.prefix { !$0.hasPrefix("cal-") }
        return beforeCal.contains("packed") ? "packed" : "fake-quant"
    }
}

// MARK: - CSV

/// Numbers in CSV files: shortest round-trip decimal; `nan`, `inf`, `-inf`; empty for nil.
public func csvNumber(_ d: Double?) -> String {
    guard let d = d else { return "" }
    if d.isNaN { return "nan" }
    if d.isInfinite { return d > 0 ? "inf" : "-inf" }
    if d == d.rounded() && abs(d) < 1e15 { return String(Int64(d)) }
    return "\(d)"
}

/// Quotes a CSV field when it holds a comma, quote or newline (RFC 4180).
public func csvField(_ s: String) -> String {
    if s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
    return s
}

/// Parses RFC 4180 CSV text into rows of fields.
public func parseCSV(_ text: String) -> [[String]] {
    var rows: [[String]] = []
    var row: [String] = []
    var field = ""
    var inQuotes = false
    var it = Array(text.unicodeScalars)[...]
    while let ch = it.popFirst() {
        if inQuotes {
            if ch == "\"" {
                if it.first == "\"" { field.unicodeScalars.append("\""); it.removeFirst() } else { inQuotes = false }
            } else { field.unicodeScalars.append(ch) }
        } else if ch == "\"" { inQuotes = true }
        else if ch == "," { row.append(field); field = "" }
        else if ch == "\n" { row.append(field); rows.append(row); row = []; field = "" }
        else if ch == "\r" { continue }
        else { field.unicodeScalars.append(ch) }
    }
    if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
    return rows
}

/// A parsed CSV table with named columns.
public struct CSVTable: Sendable {
    public var header: [String]
    public var rows: [[String]]
    public init(header: [String], rows: [[String]]) { self.header = header; self.rows = rows }
    public init(text: String, file: String) throws {
        let all = parseCSV(text)
        guard let h = all.first else { throw UsageError("\(file): empty CSV file") }
        header = h
        rows = Array(all.dropFirst())
        for (i, r) in rows.enumerated() where r.count != h.count {
            throw UsageError("\(file): line \(i + 2) has \(r.count) fields, the header has \(h.count)")
        }
    }
    public static func load(_ url: URL) throws -> CSVTable {
        guard let d = FileManager.default.contents(atPath: url.path), let s = String(data: d, encoding: .utf8) else {
            throw UsageError("cannot read \(url.path)")
        }
        return try CSVTable(text: s, file: url.path)
    }
    public func column(_ name: String) -> Int? { header.firstIndex(of: name) }
    public func require(_ name: String, file: String) throws -> Int {
        guard let i = column(name) else { throw UsageError("\(file): missing column '\(name)'") }
        return i
    }
    public var text: String {
        ([header] + rows).map { $0.map(csvField).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }
}

public enum SummaryCSV {
    public static let header = [
        "cell_index", "cell_id", "model", "recipe", "stages", "weights", "acts", "block", "scale_rule", "rounding", "seed",
        "calib_dataset", "calib_n", "calib_len", "dataset", "windows", "ctx", "tokens", "nll", "ppl", "fp32_ppl",
        "delta_ppl", "weight_bits", "quantize_s", "eval_s", "wall_s",
        "model_sha256", "data_sha256", "calib_sha256", "manifest_sha256", "git_commit",
        // appended later (older files lack them; readers treat them as optional):
        "ppl_lo", "ppl_hi", "delta_lo", "delta_hi", "n_windows",
        "path",
    ]
    /// The interval columns, appended after the provenance: files written before they existed lack them.
    public static let ciColumns = ["ppl_lo", "ppl_hi", "delta_lo", "delta_hi", "n_windows"]
    /// Appended last: which products the evaluation ran (`CellRecord.evaluationPath`); files
    /// written before it lack it.
    public static let pathColumn = "path"

    /// Rows of one record (one per dataset). `reference` holds the fp32 evaluations (with their
    /// per-window NLLs) by dataset: the paired ΔPPL interval needs them; without per-window NLLs
    /// (records written before they were kept) the interval columns are empty.
    public static func rows(_ r: CellRecord, reference: [String: DatasetResult] = [:]) -> [[String]] {
        r.evals.map { e in
            let base = r.fp32PPL[e.dataset]
            let w = e.windowNLL ?? []
            let pci = Bootstrap.pplCI(w)
            let dci = reference[e.dataset]?.windowNLL.flatMap { Bootstrap.pairedDeltaCI(w, $0) }
            return [
                String(r.index), r.id, r.model, r.recipe, r.stages, r.weights, r.acts, String(r.block), r.scaleRule, r.rounding,
                String(r.seed), r.calibDataset, String(r.calibN), String(r.calibLen), e.dataset, String(e.windows),
                String(r.ctx), String(e.tokens), csvNumber(e.nll), csvNumber(e.ppl), csvNumber(base),
                csvNumber(base.map { e.ppl - $0 }), csvNumber(r.weightBits), csvNumber(r.quantizeSeconds),
                csvNumber(e.seconds), csvNumber(r.wallSeconds),
                r.provenance.modelSHA256, r.provenance.dataSHA256[e.dataset] ?? "", r.provenance.calibrationSHA256,
                r.manifestSHA256, r.gitCommit,
                csvNumber(pci?.lo), csvNumber(pci?.hi), csvNumber(dci?.lo), csvNumber(dci?.hi), w.isEmpty ? "" : String(w.count),
                r.evaluationPath,
            ]
        }
    }

    public static func table(_ records: [CellRecord], reference: [String: DatasetResult] = [:]) -> CSVTable {
        CSVTable(header: header, rows: records.sorted { $0.index < $1.index }.flatMap { rows($0, reference: reference) })
    }
}

/// The fp32 evaluations a folder's deltas refer to, by dataset: the fp32 cell's record when
/// there is one, else `baseline.json` (a sweep without an fp32 cell), else empty.
public func referenceEvals(_ dir: URL, records: [CellRecord]) throws -> [String: DatasetResult] {
    let evals: [DatasetResult]
    if let r = records.first(where: { $0.recipe == "fp32" }) {
        evals = r.evals
    } else if let d = FileManager.default.contents(atPath: dir.appendingPathComponent("baseline.json").path) {
        do { evals = try JSONIO.decoder().decode(BaselineFile.self, from: d).evals } catch {
            throw UsageError("\(dir.appendingPathComponent("baseline.json").path): not a baseline file (\(error))")
        }
    } else { return [:] }
    return Dictionary(evals.map { ($0.dataset, $0) }, uniquingKeysWith: { a, _ in a })
}

public enum LayersCSV {
    public static let header = [
        "cell_index", "cell_id", "layer", "stage_index", "stage", "weight_sqnr_db", "output_sqnr_db", "output_mse",
        "saturated_share", "flushed_share", "scale_exp_min", "scale_exp_median", "scale_exp_max", "seconds", "note",
        "block", "kind", "weight_format", "act_format",
        "heldout_output_sqnr_db", "heldout_output_mse", "gptq_damp", "gptq_loss", "hessian_top1_share",
    ]
    public static func rows(_ r: CellRecord) -> [[String]] {
        r.layers.map { l in
            [String(r.index), r.id, l.layer, String(l.stageIndex), l.stage, csvNumber(l.weightSQNR), csvNumber(l.outputSQNR),
             csvNumber(l.outputMSE), csvNumber(l.saturatedShare), csvNumber(l.flushedShare),
             l.scaleExpMin.map(String.init) ?? "", l.scaleExpMedian.map(String.init) ?? "", l.scaleExpMax.map(String.init) ?? "",
             csvNumber(l.seconds), l.note, String(l.block), l.kind, l.weightFormat, l.actFormat,
             csvNumber(l.heldoutOutputSQNR), csvNumber(l.heldoutOutputMSE), csvNumber(l.gptqDamp), csvNumber(l.gptqLoss),
             csvNumber(l.hessianTop1Share)]
        }
    }
    public static func table(_ records: [CellRecord]) -> CSVTable {
        CSVTable(header: header, rows: records.sorted { $0.index < $1.index }.flatMap(rows))
    }
}

enum JSONIO {
    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }
    static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }
}

/// The finished cells of a results folder (`cells/NNNN.json`), sorted by index.
/// Leftover temporary files from a killed run are ignored.
public func loadCellRecords(_ dir: URL) throws -> [CellRecord] {
    let cdir = dir.appendingPathComponent("cells")
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: cdir.path) else { return [] }
    var out: [CellRecord] = []
    for n in names.sorted() where n.hasSuffix(".json") && !n.hasPrefix(".") {
        let u = cdir.appendingPathComponent(n)
        guard let d = FileManager.default.contents(atPath: u.path) else { continue }
        do { out.append(try JSONIO.decoder().decode(CellRecord.self, from: d)) } catch {
            throw UsageError("\(u.path): not a cell record (\(error))")
        }
    }
    return out.sorted { $0.index < $1.index }
}

func cellRecordName(_ index: Int) -> String { String(format: "%04d.json", index) }

/// Rewrites `summary.csv` and `layers.csv` of `dir` from its cell records (atomically).
public func writeTables(_ dir: URL, records: [CellRecord]) throws {
    let reference = try referenceEvals(dir, records: records)
    try writeDurably(Data(SummaryCSV.table(records, reference: reference).text.utf8), to: dir.appendingPathComponent("summary.csv"))
    try writeDurably(Data(LayersCSV.table(records).text.utf8), to: dir.appendingPathComponent("layers.csv"))
}
