import Foundation
import Support

// MARK: - What the reports aggregate: summary rows + per-window NLLs

/// A results folder's accuracy data as the reports use it: the summary table (with its
/// interval columns) and, when the folder keeps cell records, every cell's per-window NLLs.
public struct ReportData: Sendable {
    public var table: CSVTable
    /// Where `table` came from (for error messages).
    public var file: String
    /// Cell id → dataset → per-window mean NLLs (from `cells/*.json`; empty without records).
    public var windowNLL: [String: [String: [Double]]]
    /// Dataset → the fp32 reference's per-window NLLs.
    public var reference: [String: [Double]]

    public init(table: CSVTable, file: String, windowNLL: [String: [String: [Double]]] = [:], reference: [String: [Double]] = [:]) {
        self.table = table; self.file = file; self.windowNLL = windowNLL; self.reference = reference
    }

    /// Reads `dir`: `summary.csv` and `cells/*.json`. When the summary predates the interval
    /// columns but cell records exist, the table is rebuilt from the records in memory (the file
    /// is left alone). With `firstWindows` = k every number is recomputed over the first k windows.
    public static func load(_ dir: URL, firstWindows: Int? = nil) throws -> ReportData {
        let file = dir.appendingPathComponent("summary.csv")
        let records = try loadCellRecords(dir)
        var reference = try referenceEvals(dir, records: records)
        var table: CSVTable
        var recs = records
        if let k = firstWindows {
            recs = try firstWindowRecords(records, k: k, dir: dir)
            for (d, e) in reference {
                if let w = e.windowNLL, w.count >= k { reference[d]!.windowNLL = Array(w.prefix(k)) } else { reference[d]!.windowNLL = nil }
            }
            table = SummaryCSV.table(recs, reference: reference)
        } else {
            table = try CSVTable.load(file)
            if table.column("ppl_lo") == nil && !records.isEmpty && records.contains(where: { $0.evals.contains { $0.windowNLL != nil } }) {
                table = SummaryCSV.table(records, reference: reference)
            }
        }
        var w: [String: [String: [Double]]] = [:]
        for r in recs { for e in r.evals { if let x = e.windowNLL { w[r.id, default: [:]][e.dataset] = x } } }
        return ReportData(table: table, file: file.path, windowNLL: w, reference: reference.compactMapValues(\.windowNLL))
    }
}

/// summary.csv columns that do not describe a cell's configuration. Cells whose rows agree in
/// every other column (formats, block, scale rule, rounding, calibration, …) differ only by seed
/// and are aggregated; a column added later that names a setting joins the key by itself.
let nonConfigColumns: Set<String> = [
    "cell_index", "cell_id", "recipe", "stages", "seed", "dataset", "windows", "ctx", "tokens", "nll", "ppl", "fp32_ppl",
    "delta_ppl", "quantize_s", "eval_s", "wall_s", "model_sha256", "data_sha256", "calib_sha256", "manifest_sha256",
    "git_commit", "ppl_lo", "ppl_hi", "delta_lo", "delta_hi", "n_windows", "weight_bits",
    // how the evaluation ran, not what was evaluated (packed and fake-quant agree to ~1e-7)
    "path",
]

/// One summary row (cell × dataset) with what the aggregation needs.
public struct Observation: Sendable {
    public var cellID: String
    public var recipe: String
    public var dataset: String
    /// Configuration key (all configuration columns but the seed) and its column label.
    public var config: String
    public var label: String
    public var seed: Int
    public var ppl: Double
    public var fp32: Double?
    public var pplCI: Interval?
    public var deltaCI: Interval?
    public var windows: [Double]?
}

func observations(_ data: ReportData) throws -> [Observation] {
    let t = data.table, file = data.file
    let col = { (n: String) in try t.require(n, file: file) }
    let cID = try col("cell_id"), cRecipe = try col("recipe"), cW = try col("weights"), cA = try col("acts"), cB = try col("block")
    let cSeed = try col("seed"), cD = try col("dataset")
    let cP = try col("ppl"), cF = try col("fp32_ppl"), cBits = try col("weight_bits")
    let opt = { (n: String) in t.column(n) }
    let cLo = opt("ppl_lo"), cHi = opt("ppl_hi"), cDLo = opt("delta_lo"), cDHi = opt("delta_hi")
    let keyCols = t.header.indices.filter { !nonConfigColumns.contains(t.header[$0]) }
    let quantRows = t.rows.filter { $0[cRecipe] != "fp32" }
    let varies = { (c: Int) in Set(quantRows.map { $0[c] }).count > 1 }
    let shown: Set<Int> = [cW, cA, cB]
    let extra = keyCols.filter { !shown.contains($0) && varies($0) }
    func label(_ r: [String]) -> String {
        var s = "W \(r[cW]) · A \(r[cA]) · b\(r[cB])"
        for c in extra {
            switch t.header[c] {
            case "scale_rule", "rounding": s += " · \(r[c])"
            default: s += " · \(t.header[c]) \(r[c])"
            }
        }
        if let b = Double(r[cBits]) { s += " (\(String(format: "%.2f", b)) b/w)" }
        return s
    }
    func interval(_ r: [String], _ a: Int?, _ b: Int?) -> Interval? {
        guard let a = a, let b = b, let lo = Double(r[a]), let hi = Double(r[b]) else { return nil }
        return Interval(lo, hi)
    }
    return try t.rows.map { r in
        guard let p = Double(r[cP]) else { throw UsageError("\(file): cell \(r[cID]) \(r[cD]): ppl '\(r[cP])' is not a number") }
        guard let seed = Int(r[cSeed]) else { throw UsageError("\(file): cell \(r[cID]): seed '\(r[cSeed])' is not an integer") }
        // Plan cells (`weights` "plan") at different budgets are different configurations, not seeds
        // of one: their average bits join the key.
        let planBits = r[cW] == "plan" ? "\u{1f}plan-bits=" + r[cBits] : ""
        return Observation(cellID: r[cID], recipe: r[cRecipe], dataset: r[cD], config: keyCols.map { r[$0] }.joined(separator: "\u{1f}") + planBits,
                           label: label(r), seed: seed, ppl: p, fp32: Double(r[cF]),
                           pplCI: interval(r, cLo, cHi), deltaCI: interval(r, cDLo, cDHi),
                           windows: data.windowNLL[r[cID]]?[r[cD]])
    }
}

// MARK: - Accuracy tables with intervals and verdicts

/// One recipe × format configuration × dataset, aggregated over the seeds it was run with.
public struct AccuracyEntry: Sendable {
    public var recipe: String
    /// Seeds in ascending order, and PPL statistics over them (one seed: sd nil).
    public var seeds: [Int]
    public var stats: SeedStats
    /// Mean PPL over seeds.
    public var ppl: Double { stats.mean }
    /// Mean PPL − fp32 PPL.
    public var delta: Double?
    /// 95 % CI of the (mean) PPL and of the paired Δ vs fp32: one seed: windows bootstrap
    /// (summary.csv columns); several seeds: two-level bootstrap (seeds, then windows).
    public var pplCI: Interval?
    public var deltaCI: Interval?
    /// Against the reference recipe of the same configuration (nil for the reference itself,
    /// or without per-window NLLs).
    public var versus: PairedComparison?
}

/// One accuracy table: recipes (rows) × format configurations (columns) for one dataset.
public struct AccuracyTable: Sendable {
    public var dataset: String
    public var columns: [String]
    /// Row label and one entry per column (nil where that cell was not run / not finished).
    public var rows: [(recipe: String, values: [AccuracyEntry?])]
    public var fp32: Double?
    public var fp32CI: Interval?
    /// The recipe every entry is compared with (`versus`).
    public var reference: String
}

/// Pairs the seeds of a cell group with those of its reference group: a reference run with a
/// single seed (seed-independent, like RTN or fp32) pairs with every seed; otherwise seeds pair
/// with the same seed (seeds only one side has are left out).
func pairSeeds(_ cell: [Int], _ ref: [Int]) -> [(cell: Int, reference: Int)] {
    if ref.count == 1 { return cell.map { ($0, ref[0]) } }
    return cell.filter(ref.contains).map { ($0, $0) }
}

/// Paired comparison of two seed groups of observations (nil without window NLLs on both sides).
func compare(_ cell: [Observation], _ ref: [Observation]) -> PairedComparison? {
    let pairs = pairSeeds(cell.map(\.seed), ref.map(\.seed))
    guard !pairs.isEmpty else { return nil }
    var a: [[Double]] = [], b: [[Double]] = []
    for (cs, rs) in pairs {
        guard let x = cell.first(where: { $0.seed == cs })?.windows, let y = ref.first(where: { $0.seed == rs })?.windows else { return nil }
        a.append(x); b.append(y)
    }
    return PairedComparison(cell: a, reference: b, seedPairs: pairs)
}

/// Builds the accuracy tables of a results folder, entries compared with `reference` (a recipe
/// name; `fp32` compares every cell with the fp32 cell).
public func accuracyTables(_ data: ReportData, reference: String = "rtn") throws -> [AccuracyTable] {
    let obs = try observations(data)
    var datasets: [String] = []
    for o in obs where !datasets.contains(o.dataset) { datasets.append(o.dataset) }
    let quant = obs.filter { $0.recipe != "fp32" }
    var configs: [(key: String, label: String)] = []
    for o in quant where !configs.contains(where: { $0.key == o.config }) { configs.append((o.config, o.label)) }
    var recipes: [String] = []
    for o in quant where !recipes.contains(o.recipe) { recipes.append(o.recipe) }
    return datasets.map { d in
        let here = obs.filter { $0.dataset == d }
        let fp = here.first { $0.recipe == "fp32" }
        let fp32 = here.compactMap(\.fp32).first ?? fp?.ppl
        func group(_ recipe: String, _ key: String) -> [Observation] {
            here.filter { $0.recipe == recipe && $0.config == key }.sorted { $0.seed < $1.seed }
        }
        let refWindows = data.reference[d]
        let rows = recipes.map { rc -> (recipe: String, values: [AccuracyEntry?]) in
            (rc, configs.map { c -> AccuracyEntry? in
                let g = group(rc, c.key)
                guard let stats = SeedStats(g.map(\.ppl)) else { return nil }
                var e = AccuracyEntry(recipe: rc, seeds: g.map(\.seed), stats: stats, delta: fp32.map { stats.mean - $0 })
                let ws = g.compactMap(\.windows)
                if g.count == 1 {
                    e.pplCI = g[0].pplCI ?? ws.first.flatMap { Bootstrap.pplCI($0) }
                    e.deltaCI = g[0].deltaCI ?? (ws.first.flatMap { w in refWindows.flatMap { Bootstrap.pairedDeltaCI(w, $0) } })
                } else if ws.count == g.count {
                    e.pplCI = Bootstrap.seedsPPLCI(ws)
                    if let r = refWindows { e.deltaCI = Bootstrap.seedsPairedDeltaCI(ws, ws.map { _ in r }) }
                }
                if rc != reference {
                    let refGroup = reference == "fp32" ? (fp.map { [$0] } ?? []) : group(reference, c.key)
                    if !refGroup.isEmpty { e.versus = compare(g, refGroup) }
                }
                return e
            })
        }
        let fpCI = fp?.pplCI ?? (fp?.windows ?? refWindows).flatMap { Bootstrap.pplCI($0) }
        return AccuracyTable(dataset: d, columns: configs.isEmpty ? ["fp32 only"] : configs.map(\.label), rows: rows,
                             fp32: fp32, fp32CI: fpCI, reference: reference)
    }
}

/// Backwards-compatible entry: tables from a summary table alone (no window NLLs: no verdicts).
public func accuracyTables(_ t: CSVTable, file: String) throws -> [AccuracyTable] {
    try accuracyTables(ReportData(table: t, file: file))
}

func f2(_ x: Double) -> String { String(format: "%.2f", x) }
func s2(_ x: Double) -> String { String(format: "%+.2f", x) }

/// "34.97 [34.10, 35.90] (+13.34 [+12.90, +13.80]) · worse than rtn"; several seeds:
/// "35.10 ±0.80 [33.20, 36.90] (+13.47 [+12.00, +15.00]) · 3 seeds 34.20–36.00 · …".
func entryText(_ e: AccuracyEntry?, reference: String) -> String {
    guard let e = e else { return "—" }
    var s = f2(e.ppl)
    if let sd = e.stats.sd { s += " ±" + f2(sd) }
    if let c = e.pplCI { s += " [\(f2(c.lo)), \(f2(c.hi))]" }
    if let d = e.delta {
        s += " (" + s2(d)
        if let c = e.deltaCI { s += " [\(s2(c.lo)), \(s2(c.hi))]" }
        s += ")"
    }
    if e.stats.n > 1 { s += " · \(e.stats.n) seeds \(f2(e.stats.min))–\(f2(e.stats.max))" }
    if let v = e.versus { s += " · " + verdictPhrase(v.verdict, reference) }
    return s
}

func verdictPhrase(_ v: Verdict, _ reference: String) -> String {
    switch v {
    case .better: return "better than \(reference)"
    case .worse: return "worse than \(reference)"
    case .indistinguishable: return "not distinguishable from \(reference)"
    }
}

/// "[a, b]" or "—".
func ciText(_ c: Interval?, signed: Bool = false) -> String {
    guard let c = c else { return "—" }
    return signed ? "[\(s2(c.lo)), \(s2(c.hi))]" : "[\(f2(c.lo)), \(f2(c.hi))]"
}

/// Rows of the comparison table of one accuracy table (every entry with a verdict).
func compareRows(_ tab: AccuracyTable) -> (header: [String], rows: [[String]]) {
    let r = tab.reference
    let h = ["recipe", "configuration", "seeds", "windows", "PPL", "\(r) PPL", "ΔPPL vs \(r)", "95% CI", "windows won", "seeds won", "verdict"]
    var rows: [[String]] = []
    for (k, label) in tab.columns.enumerated() {
        for row in tab.rows {
            guard let e = row.values[k], let v = e.versus else { continue }
            let seedsWon = Int((v.seedWinShare * Double(v.seedPairs.count)).rounded())
            rows.append([row.recipe, label, String(v.seedPairs.count), String(v.windows), f2(v.ppl), f2(v.referencePPL), s2(v.delta),
                         ciText(v.ci, signed: true), String(format: "%.0f%%", 100 * v.windowWinShare),
                         v.seedPairs.count > 1 ? "\(seedsWon)/\(v.seedPairs.count)" : "—", v.verdict.rawValue])
        }
    }
    return (h, rows)
}

/// The method line shown above every interval (Markdown).
public var bootstrapMethodNote: String {
    "95% CIs: percentile bootstrap over evaluation windows (token-weighted; \(Bootstrap.resamples) resamples, SplitMix64 seed "
        + String(format: "0x%016llx", Bootstrap.seed) + "); Δ intervals are paired (same windows, and same seeds); over several seeds "
        + "the CI resamples the windows (shared by all seeds) and the seeds. They cover evaluation-sample noise, not other calibration texts or numerical changes."
}

/// What `mxq compare` prints and writes to `compare.md`.
public func compareMarkdown(_ dir: URL, reference: String = "rtn", dataset: String? = nil) throws -> String {
    let data = try ReportData.load(dir)
    if data.windowNLL.isEmpty {
        throw UsageError("\(dir.path): no per-window NLLs (cells/*.json written by 'mxq sweep'); compare needs them to pair windows")
    }
    let obs = try observations(data)
    let recipes = Array(Set(obs.map(\.recipe))).sorted()
    guard recipes.contains(reference) else {
        throw UsageError("no cell of recipe '\(reference)' in \(data.file); recipes: \(recipes.joined(separator: ", "))")
    }
    var tabs = try accuracyTables(data, reference: reference)
    if let d = dataset {
        guard tabs.contains(where: { $0.dataset == d }) else {
            throw UsageError("no dataset '\(d)' in \(data.file); datasets: \(tabs.map(\.dataset).joined(separator: ", "))")
        }
        tabs = tabs.filter { $0.dataset == d }
    }
    let mData = FileManager.default.contents(atPath: dir.appendingPathComponent("manifest.resolved.json").path) ?? Data()
    let title = (try? Manifest.parse(mData, file: "manifest.resolved.json", defaultName: dir.lastPathComponent, checkFiles: false))?.name ?? dir.lastPathComponent
    var s = "# Comparison with \(reference): \(title)\n\n"
    s += "ΔPPL = PPL(recipe) − PPL(\(reference)) of the same configuration, paired over the same windows (and seeds). "
    s += "Verdict: better / worse when the whole 95% CI is below / above 0, else not distinguishable. "
    s += "\"windows won\": share of windows (over all paired seeds) where the recipe's NLL is lower.\n\n"
    s += "- " + bootstrapMethodNote + "\n"
    for tab in tabs {
        s += "\n## \(tab.dataset)\n\n"
        let (h, rows) = compareRows(tab)
        if rows.isEmpty { s += "No recipe to compare (no other recipe beside \(reference) with per-window NLLs).\n"; continue }
        s += markdownTable(h, rows, numericFrom: 2)
    }
    return s
}

/// A Markdown table; columns from `numericFrom` on are right-aligned, except a last "verdict" column.
func markdownTable(_ h: [String], _ rows: [[String]], numericFrom: Int) -> String {
    let align = h.indices.map { $0 >= numericFrom && h[$0] != "verdict" ? "---:" : "---" }
    var s = "| " + h.joined(separator: " | ") + " |\n|" + align.joined(separator: "|") + "|\n"
    for r in rows { s += "| " + r.joined(separator: " | ") + " |\n" }
    return s
}
