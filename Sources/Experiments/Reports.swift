import Foundation
import Support

// MARK: - Accuracy report (summary.csv → Markdown)

/// Markdown of one accuracy table: the grid (with intervals and verdicts when the folder has
/// them) and, when entries have verdicts, the comparison table below it.
func accuracyTableMarkdown(_ tab: AccuracyTable) -> String {
    var s = "\n## \(tab.dataset)\n\n" + tableLegend(tab) + "\n\n"
    let hasVerdicts = tab.rows.contains { $0.values.contains { $0?.versus != nil } }
    s += "| recipe | " + tab.columns.joined(separator: " | ") + " |\n"
    s += "|---|" + tab.columns.map { _ in "---:" }.joined(separator: "|") + "|\n"
    if let f = tab.fp32 { s += "| fp32 | " + tab.columns.map { _ in fp32Text(f, tab.fp32CI) }.joined(separator: " | ") + " |\n" }
    for r in tab.rows { s += "| \(r.recipe) | " + r.values.map { entryText($0, reference: tab.reference) }.joined(separator: " | ") + " |\n" }
    if hasVerdicts {
        let (h, rows) = compareRows(tab)
        s += "\nAgainst \(tab.reference) (paired over windows and seeds):\n\n" + markdownTable(h, rows, numericFrom: 2)
    }
    return s
}

/// The sentence above an accuracy table (mentions intervals, seeds and verdicts only when it has them).
func tableLegend(_ tab: AccuracyTable) -> String {
    var s = "Perplexity (Δ vs fp32" + (tab.fp32.map { String(format: " = %.2f", $0) } ?? "") + "); lower is better."
    if tab.fp32CI != nil || tab.rows.contains(where: { $0.values.contains { $0?.pplCI != nil } }) {
        s += " Brackets: 95% CI (Δ paired with fp32 on the same windows)."
    }
    if tab.rows.contains(where: { $0.values.contains { ($0?.stats.n ?? 1) > 1 } }) { s += " Over several seeds: mean ±sd, CI over seeds and windows, min–max." }
    if tab.rows.contains(where: { $0.values.contains { $0?.versus != nil } }) { s += " Verdicts: against \(tab.reference) of the same configuration (table below)." }
    return s
}

func fp32Text(_ f: Double, _ ci: Interval?) -> String { String(format: "%.2f", f) + (ci.map { " [\(f2($0.lo)), \(f2($0.hi))]" } ?? "") }

/// The Markdown accuracy report of a results folder (what `mxq report` prints and writes to `report.md`).
/// With `firstWindows` = k, every perplexity (the fp32 baseline's too) is recomputed over the
/// first k evaluation windows only, from the per-window NLLs kept in `cells/*.json`.
public func accuracyMarkdown(_ dir: URL, firstWindows: Int? = nil) throws -> String {
    let data = try ReportData.load(dir, firstWindows: firstWindows)
    let t = data.table
    let tables = try accuracyTables(data)
    let mData = FileManager.default.contents(atPath: dir.appendingPathComponent("manifest.resolved.json").path) ?? Data()
    let title = (try? Manifest.parse(mData, file: "manifest.resolved.json", defaultName: dir.lastPathComponent, checkFiles: false))?.name ?? dir.lastPathComponent
    var s = "# Accuracy: \(title)\n\n"
    s += header(dir, t)
    if let k = firstWindows { s += "- **first \(k) windows only** (PPL recomputed from the per-window NLLs of the cell records)\n" }
    if t.rows.isEmpty { return s + "\nNo finished cells yet.\n" }
    if tables.contains(where: { $0.fp32CI != nil || $0.rows.contains { $0.values.contains { $0?.pplCI != nil } } }) {
        s += "- " + bootstrapMethodNote + "\n"
    }
    for tab in tables { s += accuracyTableMarkdown(tab) }
    if firstWindows == nil, let (h, rows) = try planRows(dir, data) {
        s += "\n## Mixed-precision plans: predicted vs measured\n\n" + markdownTable(h, rows, numericFrom: 2)
    }
    return s
}

/// Provenance lines above the tables: model/eval/calibration settings, hashes, completeness.
func header(_ dir: URL, _ t: CSVTable) -> String {
    var s = ""
    func first(_ c: String) -> String? { t.column(c).flatMap { i in t.rows.first.map { $0[i] } } }
    if let m = try? Manifest.parse(FileManager.default.contents(atPath: dir.appendingPathComponent("manifest.resolved.json").path) ?? Data(),
                                   file: "manifest.resolved.json", defaultName: dir.lastPathComponent, checkFiles: false) {
        let done = Set(t.column("cell_id").map { i in t.rows.map { $0[i] } } ?? [])
        s += "- manifest: `\(m.name)`" + (m.description.isEmpty ? "" : " — \(m.description)") + "\n"
        s += "- model: `\(m.model)`; eval: \(m.datasets.joined(separator: ", ")), windows \(m.windows.map(String.init) ?? "all") × ctx \(m.ctx)"
            + (m.bos ? " (each window BOS + ctx − 1 text tokens)" : "") + "; "
        s += "calibration: \(m.calibrationDataset), \(m.calibrationSamples) × \(m.calibrationLength) tokens" + (m.bos ? " (BOS first)" : "") + "\n"
        let missing = m.cells.filter { !done.contains($0.id) }.count
        s += "- cells finished: \(m.cells.count - missing) of \(m.cells.count)" + (missing > 0 ? " (**incomplete**)" : "") + "\n"
    }
    if let d = FileManager.default.contents(atPath: dir.appendingPathComponent("env.json").path),
       String(decoding: d, as: UTF8.self).contains("fake (testing only") {
        s += "- **runner: FAKE (testing only) — these numbers are not model results**\n"
    }
    if let h = first("model_sha256") { s += "- model sha256: `\(h)`\n" }
    if let h = first("manifest_sha256") { s += "- manifest sha256: `\(h)`\n" }
    if let i = t.column("git_commit") {
        let commits = Array(Set(t.rows.map { $0[i] })).sorted()
        s += "- git commit: " + commits.map { "`\($0)`" }.joined(separator: ", ") + "\n"
    }
    if let i = t.column(SummaryCSV.pathColumn), let c = t.column("cell_id") {
        // which products the evaluations ran, with the number of cells each (tables written before
        // the column existed have none: their cells ran fake-quant)
        var cells: [String: Set<String>] = [:]
        for r in t.rows { cells[r[i], default: []].insert(r[c]) }
        s += "- evaluation path: " + cells.keys.sorted().map { "`\($0)` (\(cells[$0]!.count) cell\(cells[$0]!.count == 1 ? "" : "s"))" }
            .joined(separator: ", ") + "\n"
    }
    return s
}

// MARK: - Per-layer report (layers.csv → Markdown + SVG + HTML)

/// Per-layer errors of one cell, layers in model order, stages in recipe order.
public struct LayerErrors: Sendable {
    public var cellID: String
    public var stages: [String]
    public var layers: [String]
    /// [layer][stage] → record (nil when a stage did not touch that layer).
    public var records: [[LayerRecord?]]

    /// Layer indices sorted by sensitivity: lowest output SQNR after the last stage first.
    public var bySensitivity: [Int] {
        func final(_ i: Int) -> Double { records[i].last(where: { $0 != nil })??.outputSQNR ?? .infinity }
        return layers.indices.sorted { (final($0), $0) < (final($1), $1) }
    }
}

/// Reads `layers.csv` into per-cell groups (in file order).
public func loadLayerErrors(_ url: URL) throws -> [LayerErrors] {
    let t = try CSVTable.load(url)
    let f = url.path
    let cID = try t.require("cell_id", file: f), cL = try t.require("layer", file: f), cSI = try t.require("stage_index", file: f)
    let cS = try t.require("stage", file: f), cW = try t.require("weight_sqnr_db", file: f), cO = try t.require("output_sqnr_db", file: f)
    let cM = try t.require("output_mse", file: f), cSat = try t.require("saturated_share", file: f), cFl = try t.require("flushed_share", file: f)
    let cMin = try t.require("scale_exp_min", file: f), cMed = try t.require("scale_exp_median", file: f), cMax = try t.require("scale_exp_max", file: f)
    let cHO = t.column("heldout_output_sqnr_db"), cHM = t.column("heldout_output_mse")   // absent in older tables
    var order: [String] = []
    var groups: [String: [[String]]] = [:]
    for r in t.rows {
        if groups[r[cID]] == nil { order.append(r[cID]) }
        groups[r[cID], default: []].append(r)
    }
    func num(_ s: String, _ line: [String], _ col: String) throws -> Double {
        switch s {
        case "nan": return .nan
        case "inf": return .infinity
        case "-inf": return -.infinity
        default:
            guard let d = Double(s) else { throw UsageError("\(f): cell \(line[cID]) layer \(line[cL]): \(col) '\(s)' is not a number") }
            return d
        }
    }
    return try order.map { id in
        let rows = groups[id]!
        var stages: [(Int, String)] = []
        var layers: [String] = []
        for r in rows {
            guard let si = Int(r[cSI]) else { throw UsageError("\(f): stage_index '\(r[cSI])' is not an integer") }
            if !stages.contains(where: { $0.0 == si }) { stages.append((si, r[cS])) }
            if !layers.contains(r[cL]) { layers.append(r[cL]) }
        }
        stages.sort { $0.0 < $1.0 }
        var recs = [[LayerRecord?]](repeating: [LayerRecord?](repeating: nil, count: stages.count), count: layers.count)
        let li = Dictionary(uniqueKeysWithValues: layers.enumerated().map { ($1, $0) })
        let si = Dictionary(uniqueKeysWithValues: stages.enumerated().map { ($1.0, $0) })
        for r in rows {
            recs[li[r[cL]]!][si[Int(r[cSI])!]!] = LayerRecord(
                layer: r[cL], stageIndex: Int(r[cSI])!, stage: r[cS], weightSQNR: try num(r[cW], r, "weight_sqnr_db"),
                outputSQNR: try num(r[cO], r, "output_sqnr_db"), outputMSE: try num(r[cM], r, "output_mse"),
                saturatedShare: try num(r[cSat], r, "saturated_share"), flushedShare: try num(r[cFl], r, "flushed_share"),
                scaleExpMin: Int(r[cMin]), scaleExpMedian: Int(r[cMed]), scaleExpMax: Int(r[cMax]))
            if let c = cHO, !r[c].isEmpty { recs[li[r[cL]]!][si[Int(r[cSI])!]!]?.heldoutOutputSQNR = try num(r[c], r, "heldout_output_sqnr_db") }
            if let c = cHM, !r[c].isEmpty { recs[li[r[cL]]!][si[Int(r[cSI])!]!]?.heldoutOutputMSE = try num(r[c], r, "heldout_output_mse") }
        }
        return LayerErrors(cellID: id, stages: stages.map(\.1), layers: layers, records: recs)
    }
}

func db(_ d: Double) -> String { d.isFinite ? String(format: "%.1f", d) : (d.isNaN ? "nan" : (d > 0 ? "∞" : "-∞")) }
func pct(_ d: Double) -> String { d.isFinite ? String(format: "%.3f%%", 100 * d) : "nan" }

/// Columns and rows of a cell's per-layer table (sorted by sensitivity; `top` rows, 0 = all).
func layerTableRows(_ e: LayerErrors, top: Int) -> (header: [String], rows: [[String]]) {
    var h = ["rank", "layer"]
    for (k, s) in e.stages.enumerated() { h += ["\(k + 1). \(s) W-SQNR dB", "\(k + 1). \(s) out-SQNR dB"] }
    h += ["out MSE", "saturated", "flushed", "scale exp min/med/max"]
    var rows: [[String]] = []
    let order = e.bySensitivity
    for (rank, i) in order.prefix(top > 0 ? top : order.count).enumerated() {
        var r = [String(rank + 1), e.layers[i]]
        for rec in e.records[i] { r += [rec.map { db($0.weightSQNR) } ?? "—", rec.map { db($0.outputSQNR) } ?? "—"] }
        if let last = e.records[i].last(where: { $0 != nil }) ?? nil {
            let ex = [last.scaleExpMin, last.scaleExpMedian, last.scaleExpMax].map { $0.map(String.init) ?? "—" }.joined(separator: "/")
            r += [String(format: "%.3g", last.outputMSE), pct(last.saturatedShare), pct(last.flushedShare), ex]
        } else { r += ["—", "—", "—", "—"] }
        rows.append(r)
    }
    return (h, rows)
}

/// Markdown per-layer table of one cell (most sensitive layers first).
public func layerMarkdown(_ e: LayerErrors, top: Int = 0) -> String {
    let (h, rows) = layerTableRows(e, top: top)
    var s = "### \(e.cellID)\n\nLayers sorted by output SQNR after the last stage (most sensitive first); errors against fp32 on calibration inputs, after each stage.\n\n"
    s += "| " + h.joined(separator: " | ") + " |\n|" + h.map { _ in "---" }.joined(separator: "|") + "|\n"
    for r in rows { s += "| " + r.joined(separator: " | ") + " |\n" }
    if top > 0 && e.layers.count > top { s += "\n(\(e.layers.count - top) more layers in the full table)\n" }
    s += heldoutMarkdown(e, top: top)
    return s
}

/// A layer and stage whose error on held-out inputs moved against its error on calibration inputs.
public struct OverfitFlag: Sendable, Equatable {
    public var layer: String
    public var stage: String
    /// Change of output SQNR (dB) from the previous stage on calibration and on held-out inputs.
    public var calibrationGain: Double, heldoutGain: Double
    /// calibrationGain − heldoutGain: how much of the stage's gain did not carry over.
    public var gap: Double { calibrationGain - heldoutGain }
}

/// Stages after which a layer's held-out output SQNR got worse while its calibration SQNR did not
/// (over-fitting to the calibration inputs), largest gap first.
public func overfitFlags(_ e: LayerErrors) -> [OverfitFlag] {
    var out: [OverfitFlag] = []
    for (i, layer) in e.layers.enumerated() {
        var prev: LayerRecord? = nil
        for (k, rec) in e.records[i].enumerated() {
            guard let r = rec else { continue }
            defer { prev = r }
            guard let p = prev, let h = r.heldoutOutputSQNR, let hp = p.heldoutOutputSQNR,
                  h.isFinite, hp.isFinite, r.outputSQNR.isFinite, p.outputSQNR.isFinite else { continue }
            let cg = r.outputSQNR - p.outputSQNR, hg = h - hp
            if hg < 0 && cg >= hg { out.append(OverfitFlag(layer: layer, stage: "\(k + 1). \(e.stages[k])", calibrationGain: cg, heldoutGain: hg)) }
        }
    }
    return out.sorted { ($0.gap, $0.layer) > ($1.gap, $1.layer) }
}

/// The held-out section of a cell's layer report: calibration vs held-out output SQNR after the
/// last stage (largest gap first) and the over-fitting flags. Empty without held-out columns.
func heldoutMarkdown(_ e: LayerErrors, top: Int) -> String {
    let finals: [(String, LayerRecord)] = e.layers.indices.compactMap { i in
        guard let r = e.records[i].last(where: { $0 != nil }) ?? nil, r.heldoutOutputSQNR != nil else { return nil }
        return (e.layers[i], r)
    }
    if finals.isEmpty { return "" }
    var s = "\n#### Held-out inputs (\(e.cellID))\n\nOutput SQNR after the last stage on calibration inputs and on held-out inputs no stage saw (a diagnostic: held-out data is never used for fitting); largest calibration − held-out gap first.\n\n"
    s += "| layer | stage | calibration dB | held-out dB | gap dB |\n|---|---|---|---|---|\n"
    let sorted = finals.sorted { ($0.1.outputSQNR - ($0.1.heldoutOutputSQNR ?? 0), $0.0) > ($1.1.outputSQNR - ($1.1.heldoutOutputSQNR ?? 0), $1.0) }
    for (l, r) in sorted.prefix(top > 0 ? top : sorted.count) {
        s += "| \(l) | \(r.stage) | \(db(r.outputSQNR)) | \(db(r.heldoutOutputSQNR!)) | \(db(r.outputSQNR - r.heldoutOutputSQNR!)) |\n"
    }
    let flags = overfitFlags(e)
    s += "\nOver-fitting flags: \(flags.count) layer-stage(s) where the held-out output SQNR fell after a stage while the calibration SQNR fell less or rose"
    if flags.isEmpty { return s + ".\n" }
    s += " (largest gap first):\n\n| layer | stage | calibration gain dB | held-out gain dB | gap dB |\n|---|---|---|---|---|\n"
    for f in flags.prefix(top > 0 ? top : flags.count) {
        s += "| \(f.layer) | \(f.stage) | \(db(f.calibrationGain)) | \(db(f.heldoutGain)) | \(db(f.gap)) |\n"
    }
    return s
}

func xmlEscape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}

/// Hand-written SVG line plot of output SQNR (dB) per layer in model order, one series per stage.
public func layerSVG(_ e: LayerErrors) -> String {
    let w = 1000.0, h = 360.0, l = 56.0, r = 220.0, t = 30.0, b = 70.0
    let pw = w - l - r, ph = h - t - b
    let vals = e.records.flatMap { $0.compactMap { $0?.outputSQNR } }.filter(\.isFinite)
    var lo = (vals.min() ?? 0), hi = (vals.max() ?? 1)
    if hi - lo < 1 { lo -= 0.5; hi += 0.5 }
    let step = niceStep((hi - lo) / 6)
    lo = (lo / step).rounded(.down) * step; hi = (hi / step).rounded(.up) * step
    let n = max(e.layers.count, 2)
    func x(_ i: Int) -> Double { l + pw * Double(i) / Double(n - 1) }
    func y(_ v: Double) -> Double { t + ph * (1 - (v - lo) / (hi - lo)) }
    let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
    var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" font-family=\"sans-serif\" font-size=\"11\">\n"
    s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    s += "<text x=\"\(Int(l))\" y=\"18\" font-size=\"13\">Output SQNR per layer (dB, higher is better): \(xmlEscape(e.cellID))</text>\n"
    var v = lo
    while v <= hi + step / 2 {
        let yy = String(format: "%.1f", y(v))
        s += "<line x1=\"\(Int(l))\" y1=\"\(yy)\" x2=\"\(Int(l + pw))\" y2=\"\(yy)\" stroke=\"#ddd\"/>"
        s += "<text x=\"\(Int(l) - 6)\" y=\"\(yy)\" text-anchor=\"end\" dominant-baseline=\"middle\">\(fmtNumber((v * 100).rounded() / 100))</text>\n"
        v += step
    }
    // x ticks: decoder block boundaries (first layer of each "layers.N."), else every ~10th layer
    var ticks: [(Int, String)] = []
    var lastBlock = ""
    for (i, name) in e.layers.enumerated() {
        let parts = name.split(separator: ".")
        let blk = parts.count > 1 && parts[0] == "layers" ? String(parts[1]) : name
        if blk != lastBlock { ticks.append((i, blk)); lastBlock = blk }
    }
    if ticks.count > 40 { ticks = ticks.enumerated().filter { $0.offset % Int((Double(ticks.count) / 30).rounded(.up)) == 0 }.map(\.element) }
    for (i, lab) in ticks {
        let xx = String(format: "%.1f", x(i))
        s += "<line x1=\"\(xx)\" y1=\"\(Int(t + ph))\" x2=\"\(xx)\" y2=\"\(Int(t + ph + 4))\" stroke=\"#333\"/>"
        s += "<text x=\"\(xx)\" y=\"\(Int(t + ph + 16))\" text-anchor=\"middle\">\(xmlEscape(lab))</text>\n"
    }
    s += "<text x=\"\(Int(l + pw / 2))\" y=\"\(Int(h - 30))\" text-anchor=\"middle\">decoder block (linear layers in model order)</text>\n"
    s += "<rect x=\"\(Int(l))\" y=\"\(Int(t))\" width=\"\(Int(pw))\" height=\"\(Int(ph))\" fill=\"none\" stroke=\"#333\"/>\n"
    for (k, st) in e.stages.enumerated() {
        let c = colors[k % colors.count]
        var pts: [String] = []
        var segs: [String] = []
        for i in e.layers.indices {
            if let rec = e.records[i][k], rec.outputSQNR.isFinite {
                pts.append(String(format: "%.1f,%.1f", x(i), y(rec.outputSQNR)))
            } else if !pts.isEmpty { segs.append(pts.joined(separator: " ")); pts = [] }
        }
        if !pts.isEmpty { segs.append(pts.joined(separator: " ")) }
        for sg in segs { s += "<polyline fill=\"none\" stroke=\"\(c)\" stroke-width=\"1.5\" points=\"\(sg)\"/>\n" }
        let ly = t + 14 + Double(k) * 18
        s += "<line x1=\"\(Int(l + pw + 12))\" y1=\"\(Int(ly))\" x2=\"\(Int(l + pw + 36))\" y2=\"\(Int(ly))\" stroke=\"\(c)\" stroke-width=\"3\"/>"
        s += "<text x=\"\(Int(l + pw + 42))\" y=\"\(Int(ly))\" dominant-baseline=\"middle\">\(k + 1). \(xmlEscape(st))</text>\n"
    }
    s += "</svg>\n"
    return s
}

/// 1, 2 or 5 × 10^k, at least `raw`.
func niceStep(_ raw: Double) -> Double {
    guard raw > 0, raw.isFinite else { return 1 }
    let p = pow(10, (log10(raw)).rounded(.down))
    for m in [1.0, 2, 5, 10] where m * p >= raw { return m * p }
    return 10 * p
}

/// File-name-safe version of a cell id.
func fileSafe(_ s: String) -> String {
    String(s.map { $0.isLetter || $0.isNumber || "-_.+".contains($0) ? $0 : "_" })
}

/// Writes `layers/<cell>.md` and `layers/<cell>.svg` for every cell (or `only`), and
/// `report.html`; returns the Markdown printed by `mxq layers` (top `top` rows per cell, 0 = all).
public func writeLayerReports(_ dir: URL, only: String?, top: Int) throws -> String {
    let url = dir.appendingPathComponent("layers.csv")
    var all = try loadLayerErrors(url)
    if let c = only {
        guard all.contains(where: { $0.cellID == c }) else {
            throw UsageError("\(url.path) has no layers of cell '\(c)'; cells with layer records: \(all.map(\.cellID).joined(separator: ", "))")
        }
        all = all.filter { $0.cellID == c }
    }
    let ldir = dir.appendingPathComponent("layers")
    try FileManager.default.createDirectory(at: ldir, withIntermediateDirectories: true)
    var out = ""
    for e in all {
        try writeDurably(Data(layerMarkdown(e).utf8), to: ldir.appendingPathComponent(fileSafe(e.cellID) + ".md"))
        try writeDurably(Data(layerSVG(e).utf8), to: ldir.appendingPathComponent(fileSafe(e.cellID) + ".svg"))
        out += layerMarkdown(e, top: top) + "\nplot: \(ldir.appendingPathComponent(fileSafe(e.cellID) + ".svg").path)\n\n"
    }
    if all.isEmpty { out = "No per-layer records (fp32-only sweep or no finished cells).\n" }
    try writeHTMLReport(dir, layerCells: only.map { [$0] })
    return out
}

func htmlTable(_ header: [String], _ rows: [[String]], numericFrom: Int = 1) -> String {
    var s = "<table>\n<tr>" + header.map { "<th>\(xmlEscape($0))</th>" }.joined() + "</tr>\n"
    for r in rows {
        // numeric cells: intervals "[a, b]" do not break inside (no-break space after the comma)
        s += "<tr>" + r.enumerated().map { $0.offset >= numericFrom && header[$0.offset] != "verdict" ? "<td class=\"n\">\(xmlEscape($0.element).replacingOccurrences(of: ", ", with: ",\u{00A0}"))</td>" : "<td>\(xmlEscape($0.element))</td>" }.joined() + "</tr>\n"
    }
    return s + "</table>\n"
}

/// How a results folder is named in reports: its path relative to the checkout (the nearest
/// enclosing folder with `.git`), e.g. `results/w4a8-mxint`; outside a checkout only its name.
/// Never an absolute path of the machine that wrote the report.
public func displayPath(_ dir: URL) -> String {
    let full = dir.standardizedFileURL.resolvingSymlinksInPath().pathComponents.filter { $0 != "/" }
    var k = full.count
    while k > 0 {
        let root = "/" + full[0..<k].joined(separator: "/")
        if FileManager.default.fileExists(atPath: root + "/.git") {
            return k == full.count ? "." : full[k...].joined(separator: "/")
        }
        k -= 1
    }
    return full.last ?? "."
}

/// The Markdown provenance lines of `header` as an HTML list (code spans, bold; wraps).
func headerHTML(_ md: String) -> String {
    func inline(_ line: String) -> String {
        var out = "", code = false, i = line.startIndex
        var bold = false
        while i < line.endIndex {
            let c = line[i]
            if c == "`" { out += code ? "</code>" : "<code>"; code.toggle(); i = line.index(after: i); continue }
            if !code && line[i...].hasPrefix("**") { out += bold ? "</strong>" : "<strong>"; bold.toggle(); i = line.index(i, offsetBy: 2); continue }
            out += xmlEscape(String(c))
            i = line.index(after: i)
        }
        if code { out += "</code>" }
        if bold { out += "</strong>" }
        return out
    }
    let items = md.split(separator: "\n").map { l -> String in
        let t = l.hasPrefix("- ") ? String(l.dropFirst(2)) : String(l)
        return "<li>" + inline(t) + "</li>"
    }
    return items.isEmpty ? "" : "<ul class=\"provenance\">\n" + items.joined(separator: "\n") + "\n</ul>\n"
}

/// Writes `report.html`: per dataset a perplexity chart (95% CI error bars) above its table
/// with verdicts; per cell output-SQNR heat maps (blocks × q/k/v/o/gate/up/down) and their
/// difference to RTN of the same configuration, the per-layer line plot, and its table.
/// Self-contained: inline SVG, no scripts, fonts or network.
public func writeHTMLReport(_ dir: URL, layerCells: [String]? = nil) throws {
    let shown = displayPath(dir)
    var s = """
    <!DOCTYPE html>
    <html><head><meta charset="utf-8"><title>mxq report: \(xmlEscape(shown))</title>
    <style>
    body { font-family: sans-serif; margin: 2em; max-width: 1400px; }
    table { border-collapse: collapse; margin: 1em 0; font-size: 13px; }
    th, td { border: 1px solid #ccc; padding: 3px 8px; }
    th { background: #f3f3f3; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
    code { background: #f3f3f3; padding: 1px 3px; overflow-wrap: anywhere; }
    ul.provenance { font-size: 13px; overflow-wrap: anywhere; }
    details { margin: 1em 0; }
    .charts { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
    svg { max-width: 100%; height: auto; }
    </style></head><body>
    <h1>mxq report</h1>
    <p>results folder: <code>\(xmlEscape(shown))</code></p>

    """
    let sURL = dir.appendingPathComponent("summary.csv")
    var data: ReportData? = nil
    if FileManager.default.fileExists(atPath: sURL.path) {
        let d = try ReportData.load(dir)
        data = d
        s += headerHTML(header(dir, d.table))
        let tables = try accuracyTables(d)
        if tables.contains(where: { $0.fp32CI != nil || $0.rows.contains { $0.values.contains { $0?.pplCI != nil } } }) {
            s += "<p>\(xmlEscape(bootstrapMethodNote))</p>\n"
        }
        let bits = try bitsPoints(d)
        let hasPlans = bits.contains { $0.points.contains(where: \.isPlan) }
        for (i, tab) in tables.enumerated() {
            s += "<h2>Accuracy: \(xmlEscape(tab.dataset))</h2>\n"
            s += pplChartSVG(tab, id: "ppl-\(i)-\(fileSafe(tab.dataset))")
            if hasPlans, let pts = bits.first(where: { $0.dataset == tab.dataset })?.points {
                s += bitsChartSVG(dataset: tab.dataset, points: pts, fp32: tab.fp32, id: "bits-\(i)-\(fileSafe(tab.dataset))")
            }
            s += "<p>" + xmlEscape(tableLegend(tab)) + "</p>\n"
            var rows: [[String]] = []
            if let f = tab.fp32 { rows.append(["fp32"] + tab.columns.map { _ in fp32Text(f, tab.fp32CI) }) }
            rows += tab.rows.map { [$0.recipe] + $0.values.map { entryText($0, reference: tab.reference) } }
            s += htmlTable(["recipe"] + tab.columns, rows)
            let (ch, crows) = compareRows(tab)
            if !crows.isEmpty {
                s += "<p>Against \(xmlEscape(tab.reference)) (paired over windows and seeds; <code>mxq compare</code>):</p>\n" + htmlTable(ch, crows, numericFrom: 2)
            }
        }
    }
    if let d = data, let (h, rows) = try planRows(dir, d) {
        s += "<h2>Mixed-precision plans: predicted vs measured</h2>\n<p>Predicted ΔNLL: the allocator's sum of single-layer NLL increases on the calibration probe; the implied ΔPPL is fp32 · (e^ΔNLL − 1).</p>\n"
        s += htmlTable(h, rows, numericFrom: 2)
    }
    let lURL = dir.appendingPathComponent("layers.csv")
    if FileManager.default.fileExists(atPath: lURL.path) {
        var all = try loadLayerErrors(lURL)
        if let only = layerCells { all = all.filter { only.contains($0.cellID) } }
        // RTN partner of each cell (same configuration, same seed when there is one) for the difference maps
        let everything = try loadLayerErrors(lURL)
        var grids: [String: LayerGrid] = [:], heldGrids: [String: LayerGrid] = [:]
        for e in everything {
            grids[e.cellID] = layerGrid(e)
            if e.records.contains(where: { $0.contains { $0?.heldoutOutputSQNR != nil } }) {
                heldGrids[e.cellID] = layerGrid(e) { $0.heldoutOutputSQNR }
            }
        }
        var partner: [String: String] = [:]
        if let d = data, let obs = try? observations(d) {
            let byID = Dictionary(obs.map { ($0.cellID, $0) }, uniquingKeysWith: { a, _ in a })
            for e in all {
                guard let o = byID[e.cellID], o.recipe != "rtn" else { continue }
                let rtns = obs.filter { $0.recipe == "rtn" && $0.config == o.config && grids[$0.cellID] != nil }
                if let p = rtns.first(where: { $0.seed == o.seed }) ?? rtns.first { partner[e.cellID] = p.cellID }
            }
        }
        let mine = all.compactMap { grids[$0.cellID] }
        let sq = finiteValues(mine)
        let diffs = all.compactMap { e -> LayerGrid? in
            guard let g = grids[e.cellID], let p = partner[e.cellID], let r = grids[p] else { return nil }
            return gridDifference(g, r)
        }
        let dv = finiteValues(diffs)
        // colour ranges: 2nd–98th percentile (a few outlier layers would wash out the rest; values
        // beyond are drawn at the end colours, tooltips keep the numbers)
        let sqSorted = sq.sorted(), dvSorted = dv.map(abs).sorted()
        let sqRange = sqSorted.isEmpty ? (lo: 0.0, hi: 1.0) : (lo: Bootstrap.quantile(sorted: sqSorted, 0.02), hi: Bootstrap.quantile(sorted: sqSorted, 0.98))
        let dm = max(dvSorted.isEmpty ? 1 : Bootstrap.quantile(sorted: dvSorted, 0.98), 1e-6)
        if !all.isEmpty {
            s += "<h2>Per-layer errors</h2>\n<p>Output SQNR per linear layer against fp32 on calibration inputs after the last stage "
            s += "(heat maps: decoder blocks × q/k/v/o/gate/up/down, one colour scale for all cells; held-out inputs beside the calibration "
            s += "inputs where the cell has them; difference to RTN of the same "
            s += "configuration: blue = higher SQNR than RTN), the same per stage as a line plot, and the table sorted by sensitivity "
            s += "(lowest final output SQNR first).</p>\n"
        }
        for e in all {
            s += "<h3>\(xmlEscape(e.cellID))</h3>\n"
            if let g = grids[e.cellID] {
                s += "<div class=\"charts\">\n" + cellHeatmapsSVG(cellID: e.cellID, calibration: g, heldout: heldGrids[e.cellID],
                                                                 rtn: partner[e.cellID].flatMap { grids[$0] },
                                                                 rtnHeldout: partner[e.cellID].flatMap { heldGrids[$0] },
                                                                 sqnrRange: sqRange, diffRange: (-dm, dm)) + "</div>\n"
            }
            s += layerSVG(e)
            let (h, rows) = layerTableRows(e, top: 0)
            s += "<details><summary>table (\(e.layers.count) layers)</summary>\n" + htmlTable(h, rows, numericFrom: 2) + "</details>\n"
        }
    }
    s += "</body></html>\n"
    try writeDurably(Data(s.utf8), to: dir.appendingPathComponent("report.html"))
}

/// Cell records cut to their first `k` evaluation windows: per dataset, nll = mean of the first
/// k window NLLs (every window scores ctx − 1 tokens), ppl = exp(nll), and the fp32 reference
/// recomputed the same way from the folder's fp32 record or `baseline.json`.
/// Throws naming the cell file when a record has no per-window NLLs or fewer than k windows.
public func firstWindowRecords(_ records: [CellRecord], k: Int, dir: URL) throws -> [CellRecord] {
    guard k >= 1 else { throw UsageError("--first-windows must be at least 1, got \(k)") }
    func cut(_ e: DatasetResult, ctx: Int, what: String) throws -> DatasetResult {
        guard let w = e.windowNLL else {
            throw UsageError("\(what): no per-window NLLs for \(e.dataset) (written before they were kept); cannot cut to \(k) windows")
        }
        guard w.count >= k else { throw UsageError("\(what): \(e.dataset) has only \(w.count) windows, fewer than \(k)") }
        let nll = w[0..<k].reduce(0, +) / Double(k)
        return DatasetResult(dataset: e.dataset, ppl: Foundation.exp(nll), nll: nll, tokens: k * (ctx - 1), windows: k,
                             seconds: e.seconds * Double(k) / Double(w.count), windowNLL: Array(w[0..<k]))
    }
    var fp32: [String: Double] = [:]
    let baseURL = dir.appendingPathComponent("baseline.json")
    if let r = records.first(where: { $0.recipe == "fp32" }) {
        for e in r.evals { fp32[e.dataset] = try cut(e, ctx: r.ctx, what: "cells/\(cellRecordName(r.index))").ppl }
    } else if let d = FileManager.default.contents(atPath: baseURL.path) {
        let b = try JSONIO.decoder().decode(BaselineFile.self, from: d)
        let ctx = records.first?.ctx ?? 2048
        for e in b.evals { fp32[e.dataset] = try cut(e, ctx: ctx, what: baseURL.path).ppl }
    }
    return try records.map { r in
        var c = r
        c.evals = try r.evals.map { try cut($0, ctx: r.ctx, what: "cells/\(cellRecordName(r.index))") }
        c.fp32PPL = fp32
        return c
    }
}
