import Foundation
import Support
import MXFormats
import Runtime
import PTQ

/// A mixed-precision plan as chosen and recorded: what the allocator predicted and picked.
public struct PlanInfo: Codable, Sendable, Equatable {
    /// The budget asked for and the plan's parameter-weighted average weight bits (incl. scales)
    /// over the block linears (the LM head and embeddings are not part of the budget).
    public var budget: Double
    public var averageBits: Double
    /// `measured` (single-layer ΔNLL), `kl` (single-layer KL to fp32) or `proxy` (linearity-theorem
    /// proxy of the KL), and the summed prediction of the chosen formats (nats/token: a predicted
    /// increase of the mean NLL).
    public var predictor: String
    public var predictedDeltaNLL: Double
    /// False when the allocator had to coarsen its integer grid (still within budget).
    public var exact: Bool
    /// Spearman rank correlation of measured ΔNLL and the proxy over all (layer, format) pairs.
    public var rankCorrelation: Double
    /// The chosen formats' summed prediction under every predictor (`measured`, `kl`, `proxy`),
    /// and the Spearman correlations between predictors (`kl~proxy`, `measured~kl`,
    /// `measured~proxy` over all pairs; `…/within` averaged over the formats, each format's layers
    /// ranked separately). Nil in records written before they existed.
    public var predictions: [String: Double]? = nil
    public var correlations: [String: Double]? = nil
    /// Chosen format per layer, in model order (`layers.0.self_attn.q_proj=mxint4`, …).
    public var overrides: [String]
}

extension RealRunner {
    /// Sensitivity of every block linear to every plan format of `cell`, under the cell's recipe,
    /// activation format and calibration; cached in `.cache/sensitivity/` (unless `cache` is off).
    public func sensitivity(for cell: Cell) throws -> [LayerSensitivity] {
        precondition(cell.budget != nil)
        let (plan, ptqOptions) = try Self.plan(cell)
        var ptq = ptqOptions
        if manifest.cache {
            ptq.cacheDirectory = Paths.hessianCache
            ptq.modelIdentity = try provenance().modelSHA256
        }
        let wBase = plan.defaults.weight!
        let formats = try cell.planFormats.map { f -> MXConfig in var c = wBase; c.format = try MXFormat(parsing: f); return c }
        let cal = try calibrationSet(cell)
        let k = max(1, min(cal.sequences.count, (manifest.planProbeTokens + cal.length - 1) / cal.length))
        let probe = CalibrationSet(sequences: Array(cal.sequences.prefix(k)), identity: cal.identity + "-probe\(k)")
        var o = SensitivityOptions(formats: formats, act: plan.defaults.act, recipe: plan.recipe, ptq: ptq)
        o.seed = UInt64(cell.seed)
        o.showProgress = showPTQProgress
        let keyText = ["sensitivity-v2", try provenance().modelSHA256, cal.identity, probe.identity,
                       formats.map { "\($0)" }.joined(separator: ","), "\(o.act.map { "\($0)" } ?? "fp32")",
                       plan.recipe.description, "\(ptqOptions.awq)", "\(ptqOptions.gptq)", "\(ptqOptions.smoothAlpha.sorted { $0.key.rawValue < $1.key.rawValue })",
                       "noise=\(o.noiseRelMSE)", "seed=\(o.seed)"].joined(separator: "|")
        let url = Paths.cache.appendingPathComponent("sensitivity").appendingPathComponent(SHA256.hex(of: Array(keyText.utf8)) + ".json")
        if manifest.cache, let d = FileManager.default.contents(atPath: url.path) {
            if let s = try? JSONIO.decoder().decode(SensitivityFile.self, from: d), s.key == keyText { return s.layers }
            printErr("warning: ignoring damaged or foreign sensitivity cache file \(url.path); recomputing it")
        }
        let s = try measureSensitivity(makeModel: { try self.freshModel() }, calibration: cal, probe: probe, options: o)
        if manifest.cache {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try writeDurably(try JSONIO.encoder().encode(SensitivityFile(key: keyText, layers: s)), to: url)
        }
        return s
    }

    /// The per-layer plan of a budget cell.
    public func planFor(_ cell: Cell) throws -> (PlanInfo, [LayerSensitivity]) {
        let s = try sensitivity(for: cell)
        guard let info = choosePlan(s, formats: cell.planFormats, budget: cell.budget!, predictor: manifest.planPredictor) else {
            throw UsageError("cell \(cell.id): no plan fits \(fmtNumber(cell.budget!)) bits per weight with formats \(cell.planFormats.joined(separator: ", ")) (the smallest needs \(String(format: "%.3f", s.map(\.bits).min() ?? 0)))")
        }
        return (info, s)
    }
}

struct SensitivityFile: Codable {
    var key: String
    var layers: [LayerSensitivity]
}

/// Chooses one of `formats` per layer minimizing the summed prediction (negative ones taken as 0)
/// under `budget` (exact DP, `Allocation.solve`). Layers are taken in the order they appear in `table`.
public func choosePlan(_ table: [LayerSensitivity], formats: [String], budget: Double, predictor: String) -> PlanInfo? {
    var layers: [String] = []
    var byLayer: [String: [LayerSensitivity]] = [:]
    for r in table {
        if byLayer[r.layer] == nil { layers.append(r.layer) }
        byLayer[r.layer, default: []].append(r)
    }
    let options = layers.map { l in formats.compactMap { f in byLayer[l]!.first { $0.format == f } } }
    let params = layers.map { byLayer[$0]![0].params }
    // Negative single-layer predictions are measurement noise (quantizing a layer is not expected to
    // lower the loss); taken at face value the allocator would spend bits chasing that noise, so the
    // objective clamps them at 0 (the table keeps the raw values).
    let alloc = options.map { $0.map { Allocation.Option(bits: $0.bits, cost: max(0, $0.prediction(predictor))) } }
    guard let p = Allocation.solve(params: params, options: alloc, budget: budget) else { return nil }
    var sums: [String: Double] = [:]
    for pr in LayerSensitivity.predictors {
        sums[pr] = layers.indices.reduce(0.0) { $0 + max(0, options[$1][p.choice[$1]].prediction(pr)) }
    }
    let corr = predictorCorrelations(table)
    var info = PlanInfo(budget: budget, averageBits: p.averageBits, predictor: predictor, predictedDeltaNLL: p.totalCost,
                        exact: p.exact, rankCorrelation: corr["measured~proxy"] ?? .nan,
                        overrides: layers.indices.map { "\(layers[$0])=\(options[$0][p.choice[$0]].format)" })
    info.predictions = sums
    info.correlations = corr
    return info
}

/// Spearman correlations between the predictors of `table`: over all (layer, format) pairs
/// (`a~b`) and within each format, averaged over the formats (`a~b/within`; format differences
/// make the pooled figure high on their own).
public func predictorCorrelations(_ table: [LayerSensitivity]) -> [String: Double] {
    var out: [String: Double] = [:]
    let pairs = [("kl", "proxy"), ("measured", "kl"), ("measured", "proxy")]
    let formats = Array(Set(table.map(\.format))).sorted()
    for (a, b) in pairs {
        out["\(a)~\(b)"] = spearman(table.map { $0.prediction(a) }, table.map { $0.prediction(b) })
        let within = formats.map { f -> Double in
            let rows = table.filter { $0.format == f }
            return spearman(rows.map { $0.prediction(a) }, rows.map { $0.prediction(b) })
        }.filter(\.isFinite)
        out["\(a)~\(b)/within"] = within.isEmpty ? .nan : within.reduce(0, +) / Double(within.count)
    }
    return out
}

/// `sensitivity.csv`: one row per layer and candidate format.
public func sensitivityCSV(_ table: [LayerSensitivity]) -> CSVTable {
    CSVTable(header: ["layer", "params", "format", "bits", "weight_rel_mse", "measured_delta_nll", "measured_kl", "proxy_kl"],
             rows: table.map { [$0.layer, String($0.params), $0.format, csvNumber($0.bits), csvNumber($0.weightRelMSE),
                                csvNumber($0.measuredDeltaNLL), csvNumber($0.measuredKL), csvNumber($0.proxyKL)] })
}

/// Markdown table of a plan's formats: rows decoder blocks, columns q/k/v/o/gate/up/down.
public func planMarkdown(_ info: PlanInfo) -> String {
    let kinds = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    var grid: [Int: [String: String]] = [:]
    var counts: [String: Int] = [:]
    for o in info.overrides {
        let parts = o.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, let (b, k) = LinearKind.parse(parts[0]).map({ ($0.layer, $0.kind.rawValue) }) else { continue }
        grid[b, default: [:]][k] = parts[1]
        counts[parts[1], default: 0] += 1
    }
    var s = "Plan at \(fmtNumber(info.budget)) bits: average \(String(format: "%.4f", info.averageBits)) bits per weight (incl. scales), "
    s += "predicted ΔNLL \(String(format: "%.5f", info.predictedDeltaNLL)) nats/token (\(info.predictor)\(info.exact ? ", exact optimum" : ", coarsened grid")); "
    if let pr = info.predictions {
        s += "summed predictions of the chosen formats: " + LayerSensitivity.predictors.map { "\($0) \(String(format: "%.5f", pr[$0] ?? .nan))" }.joined(separator: ", ") + "; "
    }
    if let c = info.correlations {
        s += "Spearman rank correlations (all pairs / within a format): " + ["kl~proxy", "measured~kl", "measured~proxy"].map {
            "\($0) \(String(format: "%.3f", c[$0] ?? .nan)) / \(String(format: "%.3f", c[$0 + "/within"] ?? .nan))" }.joined(separator: ", ") + ".\n\n"
    } else {
        s += "measured vs proxy rank correlation \(String(format: "%.3f", info.rankCorrelation)).\n\n"
    }
    s += "Layers per format: " + counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + "\n\n"
    s += "| block | " + kinds.joined(separator: " | ") + " |\n|---|" + kinds.map { _ in "---" }.joined(separator: "|") + "|\n"
    for b in grid.keys.sorted() {
        s += "| \(b) | " + kinds.map { grid[b]?[$0] ?? "—" }.joined(separator: " | ") + " |\n"
    }
    return s
}
