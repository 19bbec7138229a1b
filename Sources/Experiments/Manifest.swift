import Foundation
import Support
import MXFormats
import PTQ

/// One PTQ stage of a recipe with typed, validated settings (defaults applied). Manifests and
/// `mxq eval` flags are parsed into this; string-keyed parameters exist only while parsing.
public struct RecipeStage: Hashable, Sendable, CustomStringConvertible {
    public let settings: StageSettings

    public init(_ settings: StageSettings) { self.settings = settings }

    /// Builds a stage from parsed parameter values (validated by the caller against the catalog's
    /// kinds and ranges); missing parameters take their defaults.
    public init(name: String, params: [String: ParamValue] = [:]) {
        let spec = Catalog.stage(named: name)!
        func num(_ k: String) -> Double? { (params[k] ?? spec.param(k)?.defaultValue)?.doubleValue }
        func int(_ k: String) -> Int { (params[k] ?? spec.param(k)!.defaultValue!).intValue! }
        func bool(_ k: String) -> Bool { (params[k] ?? spec.param(k)!.defaultValue!).boolValue! }
        switch spec.name {
        case "smoothquant":
            settings = .smoothQuant(SmoothQuantSettings(alpha: num("alpha")!, alphaQKV: num("alpha_qkv"), alphaO: num("alpha_o"),
                                                        alphaGateUp: num("alpha_gate_up"), alphaDown: num("alpha_down")))
        case "awq":
            settings = .awq(AWQSettings(grid: int("grid"), maxShrink: num("max_shrink")!, searchTokens: int("search_tokens"),
                                        clipTokens: int("clip_tokens")))
        case "gptq":
            settings = .gptq(GPTQSettings(actOrder: bool("act_order"), damp: num("damp")!, blockSize: int("block_size"),
                                          trueSequential: bool("true_sequential")))
        default:
            settings = .rtn
        }
    }

    /// Canonical stage name (`smoothquant`, `awq`, `gptq`, `rtn`).
    public var name: String { settings.name }

    var spec: Catalog.StageSpec { Catalog.stage(named: name)! }

    /// Every set parameter value by catalog name (optional parameters only when given).
    public var params: [String: ParamValue] { Dictionary(uniqueKeysWithValues: settings.paramValues) }

    /// Parameters that identify the stage, in catalog order, with their values: all of them except
    /// unset optional ones and those marked `omittedAtDefault` whose value is the default.
    var identifyingParams: [(Catalog.Param, ParamValue)] {
        let values = params
        return spec.params.compactMap { q in
            guard let v = values[q.name] else { return nil }
            if q.omittedAtDefault && v == q.defaultValue { return nil }
            return (q, v)
        }
    }

    /// `gptq(act_order=false,damp=0.01,block_size=128)`, parameters in catalog order
    /// (AWQ's `search_tokens`/`clip_tokens` only when not at their defaults).
    public var description: String {
        let ps = identifyingParams.map { "\($0.0.name)=\($0.1)" }
        return ps.isEmpty ? name : "\(name)(\(ps.joined(separator: ",")))"
    }

    var json: [String: Any] {
        var o: [String: Any] = ["stage": name]
        for (q, v) in identifyingParams { o[q.name] = v.json }
        return o
    }
}

/// An ordered list of PTQ stages under a name. `fp32` (no stages) runs the model
/// unquantized; a recipe with no stages under any other name is plain RTN.
public struct CellRecipe: Hashable, Sendable {
    public let name: String
    public let stages: [RecipeStage]
    public var isFP32: Bool { name == "fp32" }
    /// `smoothquant(alpha=0.5)>gptq(...)`, or `rtn` / `fp32` when there are no stages.
    public var stagesDescription: String {
        stages.isEmpty ? (isFP32 ? "fp32" : "rtn") : stages.map(\.description).joined(separator: ">")
    }
    var json: [String: Any] { ["name": name, "stages": stages.map(\.json)] }
}

/// Calibration data of a cell: `dataset` is `ptb-train` or a path to a UTF-8 text file
/// (relative paths from the checkout root); `n` sequences of `len` tokens.
public struct CalibrationSpec: Hashable, Sendable {
    public var dataset: String
    public var n: Int
    public var len: Int
    public init(dataset: String = "ptb-train", n: Int = 128, len: Int = 2048) { self.dataset = dataset; self.n = n; self.len = len }
    var json: [String: Any] { ["dataset": dataset, "n": n, "len": len] }
    /// `ptb-train-32x512` (a path's file name without extension), for cell ids.
    var label: String {
        let base = Catalog.calibrationDatasets.contains(dataset) ? dataset
            : URL(fileURLWithPath: dataset).deletingPathExtension().lastPathComponent
        return "\(base)-\(n)x\(len)"
    }
}

/// One point of a sweep: formats, MX settings, recipe, seed, and the per-cell settings
/// (per-layer overrides, LM head, packed execution, calibration). Every dataset of the
/// manifest is evaluated for each cell. Settings at their defaults are left out of the id and
/// of the resolved JSON, so manifests written before they existed keep their identity.
public struct Cell: Hashable, Sendable {
    /// Canonical weight format name, or nil for fp32 weights.
    public let weights: String?
    /// Canonical activation format name, or nil for fp32 activations.
    public let acts: String?
    public let block: Int
    public let scaleRule: String
    public let rounding: String
    public let recipe: CellRecipe
    /// Seed for calibration sampling (and stochastic rounding unless `roundingSeed` is set).
    public let seed: Int
    /// Seed of stochastic rounding when it differs from `seed` (nil: `seed`).
    public let roundingSeed: Int?
    /// Per-layer overrides `PATTERN=W[,A]` (applied in order, later wins; see `QuantPlan.parseOverride`).
    public let overrides: [String]
    /// Quantize the LM head too (RTN, with the cell's formats).
    public let lmHead: Bool
    /// Evaluate through packed MX weights instead of fp32 fake-quant weights.
    public let packed: Bool
    /// Calibration data of this cell when it differs from the manifest's `calibration`.
    public let calibration: CalibrationSpec?
    /// Mixed precision: the average weight bits (incl. scales) of a per-layer format plan chosen
    /// from `planFormats` at run time (sensitivity → allocation); nil for a uniform cell.
    public let budget: Double?
    public let planFormats: [String]

    public init(weights: String?, acts: String?, block: Int = 32, scaleRule: String = "floor",
                rounding: String = "even", recipe: CellRecipe, seed: Int = 0, roundingSeed: Int? = nil,
                overrides: [String] = [], lmHead: Bool = false, packed: Bool = false, calibration: CalibrationSpec? = nil,
                budget: Double? = nil, planFormats: [String] = []) {
        self.weights = weights; self.acts = acts; self.block = block
        self.scaleRule = scaleRule; self.rounding = rounding; self.recipe = recipe; self.seed = seed
        self.roundingSeed = roundingSeed == seed ? nil : roundingSeed
        self.overrides = overrides; self.lmHead = lmHead; self.packed = packed; self.calibration = calibration
        self.budget = budget; self.planFormats = budget == nil ? [] : planFormats
    }

    /// The seed of stochastic rounding.
    public var effectiveRoundingSeed: Int { roundingSeed ?? seed }

    /// A readable, unique (within a manifest) identifier, e.g.
    /// `sq+gptq_Wmxint4_Amxint8_b32_floor_even_s0`; the fp32 cell is `fp32`. Non-default
    /// settings append `_r<rounding seed>`, `_o<hash of the overrides>`, `_lmhead`, `_packed`,
    /// `_cal-<calibration>`.
    public var id: String {
        if recipe.isFP32 { return "fp32" }
        let w = budget.map { "plan" + fmtNumber($0) } ?? weights ?? "none"
        var s = "\(recipe.name)_W\(w)_A\(acts ?? "none")_b\(block)_\(scaleRule)_\(rounding)_s\(seed)"
        if let r = roundingSeed { s += "_r\(r)" }
        if !overrides.isEmpty { s += "_o" + String(SHA256.hex(of: Array(overrides.joined(separator: ";").utf8)).prefix(8)) }
        if lmHead { s += "_lmhead" }
        if packed { s += "_packed" }
        if let c = calibration { s += "_cal-" + c.label }
        return s
    }

    /// Weight storage bits per element including scales (32 when weights stay fp32); a plan cell's
    /// budget (its record has the plan's actual average).
    public var weightBitsPerElement: Double { budget ?? Catalog.storageBits(format: weights, block: block) }

    var json: [String: Any] {
        var o: [String: Any] = ["weights": weights ?? "none", "acts": acts ?? "none", "block": block, "scale_rule": scaleRule,
                                "rounding": rounding, "recipe": recipe.json, "seed": seed]
        if let r = roundingSeed { o["rounding_seed"] = r }
        if !overrides.isEmpty { o["overrides"] = overrides }
        if lmHead { o["lm_head"] = true }
        if packed { o["packed"] = true }
        if let c = calibration { o["calibration"] = c.json }
        if let b = budget { o["budget"] = b; o["plan_formats"] = planFormats }
        return o
    }
}

/// A validated experiment manifest with its grid expanded into cells.
/// See `experiments/README.md` for the schema.
public struct Manifest: Sendable {
    public var name: String
    public var description: String
    /// `smollm2-135m` (the shipped GGUF) or a path to a model file/directory.
    public var model: String
    /// Evaluation datasets in order (`wikitext2`, `ptb`).
    public var datasets: [String]
    /// Evaluation windows per dataset (nil = all).
    public var windows: Int?
    /// Context length (tokens per window).
    public var ctx: Int
    /// `eval.bos` (`mxq eval --bos`): every evaluation window is [BOS] + ctx − 1 text tokens
    /// (all of them predicted) and every calibration and held-out sequence [BOS] + len − 1 text
    /// tokens; false (the default, left out of the resolved manifest): no BOS anywhere.
    public var bos: Bool = false
    /// `eval.path`: how quantized cells are evaluated. `auto` (the default, left out of the resolved
    /// manifest, so manifests written before it keep their SHA-256): every quantized linear whose
    /// formats the integer MX kernels run (MXINT8 activations × MXINT4/MXINT8 weights, block 32) is
    /// multiplied through its packed weights on them, every other one through fp32 fake-quant
    /// weights; `fake-quant` (`mxq eval --fake-quant`): every linear through fp32 fake-quant
    /// weights. Cells with `packed: true` pack every quantized linear (they need `auto`).
    public var evalPath: String = "auto"
    /// Calibration source: `ptb-train` or a path to a UTF-8 text file.
    public var calibrationDataset: String
    public var calibrationSamples: Int
    public var calibrationLength: Int
    /// Pre-tokenizer override (`smollm`, `gpt2`), nil: the tokenizer's own.
    public var preTokenizer: String? = nil
    /// Read and write the Hessian/statistics cache under `.cache/hessians` (top-level `cache`).
    public var cache: Bool = true
    /// Held-out inputs of the layer records (`layers.heldout`): `calibration` (a sample of the
    /// calibration text disjoint from every calibration window, the default), `none`, or a path to
    /// another text (a diagnostic, e.g. part of the evaluation text; never used for fitting).
    public var heldout: String = "calibration"
    /// Mixed-precision plans (`plan`): which prediction the allocator minimizes (`measured`
    /// single-layer ΔNLL or the linearity-theorem `proxy`) and the calibration tokens the
    /// sensitivities are measured on.
    public var planPredictor: String = "measured"
    public var planProbeTokens: Int = 1024
    /// Cells in run order (deterministic: grid order, fp32 first occurrence kept).
    public var cells: [Cell]
    /// Grid combinations that were dropped and why (shown by `--dry-run`).
    public var skipped: [String]

    /// Most combinations a grid may expand to (weights × acts × blocks × scale rules ×
    /// roundings × recipes × calibrations × seeds, plus budgets × the same without weights).
    public static let maxGridCombinations = 100_000

    static let topKeys = ["name", "description", "model", "pre_tokenizer", "cache", "layers", "plan", "eval", "calibration", "grid", "cells"]
    static let layersKeys = ["heldout"]
    static let planKeys = ["predictor", "probe_tokens"]
    static let evalKeys = ["datasets", "windows", "ctx", "bos", "path"]
    /// Values of `eval.path` (the first is the default).
    public static let evalPaths = ["auto", "fake-quant"]
    static let calibKeys = ["dataset", "n", "len", "seed"]
    static let cellCalibKeys = ["dataset", "n", "len"]
    static let gridKeys = ["weights", "acts", "blocks", "scale_rules", "roundings", "recipes", "seeds", "calibrations",
                           "overrides", "lm_head", "packed", "budgets"]
    static let cellKeys = ["weights", "acts", "block", "scale_rule", "rounding", "recipe", "seed", "rounding_seed",
                           "overrides", "lm_head", "packed", "calibration", "budget", "plan_formats"]
    /// Pre-tokenizer names accepted by `pre_tokenizer` / `--pre`.
    public static let preTokenizers = ["smollm", "gpt2"]
    /// Evaluation "datasets" that name a file of token ids start with this prefix.
    public static let tokensPrefix = "tokens:"

    /// The manifest-level calibration (cells without their own `calibration` use it).
    public var calibration: CalibrationSpec {
        CalibrationSpec(dataset: calibrationDataset, n: calibrationSamples, len: calibrationLength)
    }
    /// The calibration data of `cell`.
    public func calibration(of cell: Cell) -> CalibrationSpec { cell.calibration ?? calibration }
    static let recipeKeys = ["name", "stages"]

    /// Reads and validates a manifest file. The name defaults to the file's base name.
    public static func load(path: String) throws -> Manifest {
        let url = URL(fileURLWithPath: path)
        // A regular UTF-8 file of at most 16 MiB (a path such as /dev/zero must not be read forever).
        let data = try readRegularFile(url.path, maxBytes: maxManifestBytes, what: "manifest")
        guard String(data: data, encoding: .utf8) != nil else { throw UsageError("manifest \(path): not UTF-8 text") }
        var base = url.deletingPathExtension().lastPathComponent
        if base == "manifest.resolved" { base = url.deletingLastPathComponent().lastPathComponent }
        return try parse(data, file: path, defaultName: base)
    }

    /// Parses and validates manifest JSON; throws `ManifestError` listing every problem.
    /// `checkFiles: false` skips the existence checks of model and calibration paths (for
    /// reading the manifest of a results folder on another machine).
    public static func parse(_ data: Data, file: String, defaultName: String, checkFiles: Bool = true) throws -> Manifest {
        let root: Any
        do { root = try JSONSerialization.jsonObject(with: data, options: []) } catch {
            throw ManifestError(file: file, issues: [ManifestIssue(path: "", message: "not valid JSON (\((error as NSError).userInfo["NSDebugDescription"] ?? error))")])
        }
        let c = JSONChecker()
        var m = Manifest(name: defaultName, description: "", model: Catalog.defaultModel, datasets: [], windows: nil,
                         ctx: 2048, calibrationDataset: "ptb-train", calibrationSamples: 128, calibrationLength: 2048,
                         cells: [], skipped: [])
        guard let top = c.object(root, "", keys: topKeys) else { throw ManifestError(file: file, issues: c.issues) }

        if let n = c.string(top["name"], "name") {
            if !isValidName(n) {
                c.fail("name", "got \(jsonRender(n)); allowed: \(nameRule) (it names the results folder results/<name>/)")
            } else { m.name = n }
        } else if top["name"] == nil && !isValidName(defaultName) {
            c.fail("name", "missing, and the default from the file name (\(jsonRender(defaultName))) is not a valid name; give \"name\": \(nameRule)")
        }
        if let pt = c.string(top["pre_tokenizer"], "pre_tokenizer") {
            if preTokenizers.contains(pt) { m.preTokenizer = pt }
            else { c.fail("pre_tokenizer", "got \(jsonRender(pt)); allowed: \(preTokenizers.map { "\"\($0)\"" }.joined(separator: ", "))") }
        }
        if let b = c.bool(top["cache"], "cache") { m.cache = b }
        if let pl = c.object(top["plan"], "plan", keys: planKeys) {
            if let pr = parseChoice(pl["predictor"], "plan.predictor", c, LayerSensitivity.predictors) { m.planPredictor = pr }
            if let t = c.integer(pl["probe_tokens"], "plan.probe_tokens", in: 16...1_048_576) { m.planProbeTokens = t }
        }
        if let l = c.object(top["layers"], "layers", keys: layersKeys), let h = c.string(l["heldout"], "layers.heldout") {
            if h == "calibration" || h == "none" { m.heldout = h }
            else if ["wikitext2", "ptb"].contains(h.lowercased()) {
                c.fail("layers.heldout", "got \(jsonRender(h)); allowed: \"calibration\", \"none\" or a path to a text file (to use part of an evaluation text, give its file: it is labelled a diagnostic)")
            } else if checkFiles, let why = regularFileProblem(resolvePath(h)) {
                c.fail("layers.heldout", "got \(jsonRender(h)): \(why); allowed: \"calibration\", \"none\" or a path to a UTF-8 text file")
            } else { m.heldout = h }
        }
        if let d = c.string(top["description"], "description") { m.description = d }
        if let mo = c.string(top["model"], "model") {
            if mo.lowercased() == Catalog.defaultModel { m.model = Catalog.defaultModel }
            else if checkFiles && !FileManager.default.fileExists(atPath: resolvePath(mo).path) {
                c.fail("model", "got \(jsonRender(mo)): no such file; allowed: \"\(Catalog.defaultModel)\" or a path to a GGUF file or a safetensors directory (relative paths are taken from the checkout root)")
            } else { m.model = mo }
        }

        // eval
        if top["eval"] == nil { c.fail("eval", "missing; expected an object with \(evalKeys.joined(separator: ", "))") }
        if let ev = c.object(top["eval"], "eval", keys: evalKeys) {
            if ev["datasets"] == nil { c.fail("eval.datasets", "missing; allowed: a non-empty array of \(Catalog.datasets.map { "\"\($0)\"" }.joined(separator: ", "))") }
            if let ds = c.array(ev["datasets"], "eval.datasets") {
                for (i, d) in ds.enumerated() {
                    let p = JSONChecker.join("eval.datasets", i)
                    guard let s = c.string(d, p) else { continue }
                    if s.hasPrefix(tokensPrefix) {
                        let f = String(s.dropFirst(tokensPrefix.count))
                        if checkFiles, let why = regularFileProblem(resolvePath(f)) {
                            c.fail(p, "got \(jsonRender(s)): \(why); a \"tokens:PATH\" dataset is a file of whitespace-separated token ids")
                        } else if m.datasets.contains(s) { c.fail(p, "\(jsonRender(s)) is listed twice") }
                        else { m.datasets.append(s) }
                    } else if !Catalog.datasets.contains(s.lowercased()) {
                        c.fail(p, "got \(jsonRender(s)); allowed: \(Catalog.datasets.map { "\"\($0)\"" }.joined(separator: ", ")) or \"tokens:PATH\"")
                    } else if m.datasets.contains(s.lowercased()) {
                        c.fail(p, "\(jsonRender(s)) is listed twice")
                    } else { m.datasets.append(s.lowercased()) }
                }
            }
            if let w = ev["windows"] {
                if let s = w as? String {
                    if s != "all" { c.fail("eval.windows", "got \(jsonRender(s)); allowed: a positive integer or \"all\"") }
                } else { m.windows = c.integer(w, "eval.windows", in: 1...1_000_000, what: "a positive integer or \"all\"") }
            }
            if let x = c.integer(ev["ctx"], "eval.ctx", in: 2...32768) { m.ctx = x }
            if let b = c.bool(ev["bos"], "eval.bos") { m.bos = b }
            if let p = parseChoice(ev["path"], "eval.path", c, evalPaths) { m.evalPath = p }
        }

        // calibration
        var calibSeed: Int? = nil
        if let ca = c.object(top["calibration"], "calibration", keys: calibKeys) {
            if let d = parseCalibrationDataset(ca["dataset"], "calibration.dataset", c, checkFiles: checkFiles) { m.calibrationDataset = d }
            if let n = c.integer(ca["n"], "calibration.n", in: 1...4096) { m.calibrationSamples = n }
            if let l = c.integer(ca["len"], "calibration.len", in: 2...32768) { m.calibrationLength = l }
            calibSeed = c.integer(ca["seed"], "calibration.seed", in: 0...(1 << 53))
        }

        // grid or cells
        let hasGrid = top["grid"] != nil, hasCells = top["cells"] != nil
        if hasGrid && hasCells { c.fail("", "give either \"grid\" or \"cells\", not both") }
        if !hasGrid && !hasCells { c.fail("", "missing \"grid\" or \"cells\": a manifest needs one of them") }
        if hasGrid, let g = c.object(top["grid"], "grid", keys: gridKeys) {
            if g["seeds"] != nil && calibSeed != nil {
                c.fail("grid.seeds", "seeds are given both here and in calibration.seed; give them in one place")
            }
            expandGrid(g, checker: c, defaultSeed: calibSeed ?? 0, checkFiles: checkFiles, into: &m)
        }
        if hasCells, let cs = c.array(top["cells"], "cells") {
            var seen: [String: Int] = [:]
            for (i, v) in cs.enumerated() {
                let p = JSONChecker.join("cells", i)
                guard let cell = parseCell(v, p, checker: c, defaultSeed: calibSeed ?? 0, checkFiles: checkFiles) else { continue }
                if let j = seen[cell.id] {
                    c.fail(p, "same cell id \"\(cell.id)\" as cells[\(j)] (duplicate cell, or two recipes sharing a name)")
                    continue
                }
                seen[cell.id] = i
                m.cells.append(cell)
            }
        }
        if m.evalPath == "fake-quant", let pc = m.cells.first(where: \.packed) {
            c.fail("eval.path", "got \"fake-quant\", but cell \"\(pc.id)\" has \(hasGrid ? "grid.packed" : "packed") true (packed cells run through packed weights); allowed: \"auto\" with packed cells, or leave packed out")
        }
        if !c.issues.isEmpty { throw ManifestError(file: file, issues: c.issues) }
        if m.cells.isEmpty { throw ManifestError(file: file, issues: [ManifestIssue(path: hasGrid ? "grid" : "cells", message: "no cells to run (every grid combination was skipped: \(m.skipped.joined(separator: "; ")))")]) }
        return m
    }

    /// Manifests larger than this are refused before reading (16 MiB).
    static let maxManifestBytes = 16 << 20
    static let nameRule = "1 to 100 letters, digits, '-', '_', '.', not starting with '.'"
    /// Names of manifests (and so of results folders): never `.`/`..` or hidden, never a path.
    static func isValidName(_ n: String) -> Bool {
        !n.isEmpty && n.count <= 100 && !n.hasPrefix(".")
            && n.unicodeScalars.allSatisfy { ($0.isASCII && (CharacterSet.alphanumerics.contains($0))) || "-_.".unicodeScalars.contains($0) }
    }

    /// Why `url` is not a readable regular file, or nil when it is.
    public static func regularFileProblem(_ url: URL) -> String? {
        var st = stat()
        guard stat(url.path, &st) == 0 else { return "no such file" }
        if (st.st_mode & S_IFMT) == S_IFDIR { return "is a folder, not a file" }
        if (st.st_mode & S_IFMT) != S_IFREG { return "is not a regular file (device, pipe or socket)" }
        return nil
    }

    /// `ptb-train` or a path to a regular text file (evaluation splits refused).
    static func parseCalibrationDataset(_ v: Any?, _ p: String, _ c: JSONChecker, checkFiles: Bool) -> String? {
        guard let d = c.string(v, p) else { return nil }
        if Catalog.calibrationDatasets.contains(d.lowercased()) { return d.lowercased() }
        if ["wikitext2", "ptb", "ptb-test", "ptb-valid"].contains(d.lowercased()) {
            c.fail(p, "got \(jsonRender(d)): calibrating on an evaluation split is not allowed; allowed: \"ptb-train\" or a path to a UTF-8 text file")
            return nil
        }
        if checkFiles, let why = regularFileProblem(resolvePath(d)) {
            c.fail(p, "got \(jsonRender(d)): \(why); allowed: \"ptb-train\" or a path to a UTF-8 text file (relative paths are taken from the checkout root)")
            return nil
        }
        return d
    }

    /// A cell's own calibration object `{dataset, n, len}` (every key required).
    static func parseCalibrationSpec(_ v: Any?, _ p: String, _ c: JSONChecker, checkFiles: Bool) -> CalibrationSpec? {
        guard let o = c.object(v, p, keys: cellCalibKeys) else { return nil }
        for k in cellCalibKeys where o[k] == nil { c.fail(JSONChecker.join(p, k), "missing; a calibration object needs dataset, n and len") }
        guard let d = parseCalibrationDataset(o["dataset"], JSONChecker.join(p, "dataset"), c, checkFiles: checkFiles),
              let n = c.integer(o["n"], JSONChecker.join(p, "n"), in: 1...4096),
              let l = c.integer(o["len"], JSONChecker.join(p, "len"), in: 2...32768) else { return nil }
        return CalibrationSpec(dataset: d, n: n, len: l)
    }

    /// Per-layer overrides: an array of `PATTERN=W[,A]` strings (checked with the cell's MX settings).
    static func parseOverrides(_ v: Any?, _ p: String, _ c: JSONChecker) -> [String]? {
        guard let arr = c.array(v, p, nonEmpty: false) else { return nil }
        var out: [String] = []
        var ok = true
        for (i, x) in arr.enumerated() {
            let ip = JSONChecker.join(p, i)
            guard let s = c.string(x, ip) else { ok = false; continue }
            do { _ = try QuantPlan.parseOverride(s, base: MXConfig(format: .mxint8)) } catch {
                c.fail(ip, "got \(jsonRender(s)): \(error); allowed: \"PATTERN=W[,A]\" with W/A a format, \"none\" or \"-\" (keep), e.g. \"*.down_proj=mxint8\"")
                ok = false; continue
            }
            out.append(s)
        }
        return ok ? out : nil
    }

    /// Paths in manifests are taken relative to the checkout root unless absolute.
    public static func resolvePath(_ p: String) -> URL {
        p.hasPrefix("/") ? URL(fileURLWithPath: p) : Paths.root.appendingPathComponent(p)
    }

    private static func parseFormat(_ v: Any?, _ p: String, _ c: JSONChecker) -> String?? {
        guard let s = c.string(v, p, allowed: Catalog.formatChoices) else { return nil }
        if s.lowercased() == "none" { return .some(nil) }
        guard let f = Catalog.canonicalFormat(s) else { c.fail(p, "got \(jsonRender(s)); allowed: \(Catalog.formatChoices)"); return nil }
        return .some(f)
    }

    private static func parseChoice(_ v: Any?, _ p: String, _ c: JSONChecker, _ allowed: [String]) -> String? {
        let list = allowed.map { "\"\($0)\"" }.joined(separator: ", ")
        guard let s = c.string(v, p, allowed: list) else { return nil }
        guard allowed.contains(s.lowercased()) else { c.fail(p, "got \(jsonRender(s)); allowed: \(list)"); return nil }
        return s.lowercased()
    }

    private static func parseBlock(_ v: Any?, _ p: String, _ c: JSONChecker) -> Int? {
        let what = "an even block size in [\(Catalog.blockRange.lowerBound), \(Catalog.blockRange.upperBound)] (MX uses 32)"
        guard let b = c.integer(v, p, in: Catalog.blockRange, what: what) else { return nil }
        guard Catalog.isValidBlock(b) else { c.fail(p, "got \(b); allowed: \(what)"); return nil }
        return b
    }

    /// A recipe: an object `{"name", "stages"}` or a shorthand string (`fp32`, `rtn`, `sq+awq+gptq`).
    static func parseRecipe(_ v: Any?, _ p: String, _ c: JSONChecker) -> CellRecipe? {
        guard let v = v else { return nil }
        let nameOK = { (n: String) in !n.isEmpty && n.allSatisfy { $0.isLetter || $0.isNumber || "+-.".contains($0) } }
        if let s = v as? String {
            let l = s.lowercased()
            if l == "fp32" || l == "rtn" { return CellRecipe(name: l, stages: []) }
            var stages: [RecipeStage] = []
            var ok = true
            for part in l.split(separator: "+", omittingEmptySubsequences: false) {
                if let spec = Catalog.stage(named: String(part)) {
                    stages.append(RecipeStage(name: spec.name))
                } else {
                    c.fail(p, "got \(jsonRender(s)); allowed: \"fp32\", \"rtn\", or stages joined by '+' from \(Catalog.stageChoices), or an object {\"name\", \"stages\"}")
                    ok = false; break
                }
            }
            if ok, let (_, why) = Catalog.orderProblem(stages.map(\.name)) { c.fail(p, "got \(jsonRender(s)): \(why)"); ok = false }
            return ok ? CellRecipe(name: l, stages: stages) : nil
        }
        guard let o = c.object(v, p, keys: recipeKeys) else { return nil }
        var ok = true
        var name = ""
        if o["name"] == nil { c.fail(JSONChecker.join(p, "name"), "missing; expected a recipe name such as \"sq+gptq\""); ok = false }
        if let n = c.string(o["name"], JSONChecker.join(p, "name")) {
            if !nameOK(n) { c.fail(JSONChecker.join(p, "name"), "got \(jsonRender(n)); allowed: letters, digits, '+', '-', '.' (it is part of cell ids)"); ok = false }
            name = n
        } else { ok = false }
        var stages: [RecipeStage] = []
        let sp = JSONChecker.join(p, "stages")
        if o["stages"] == nil && name != "fp32" && name != "rtn" {
            c.fail(sp, "missing; expected an array of stages (empty for plain RTN)"); ok = false
        }
        if let arr = c.array(o["stages"], sp, nonEmpty: false) {
            for (i, sv) in arr.enumerated() {
                let ip = JSONChecker.join(sp, i)
                guard let so = c.object(sv, ip, keys: ["stage"] + (((sv as? [String: Any])?["stage"] as? String).flatMap { Catalog.stage(named: $0) }?.params.map(\.name) ?? [])) else { ok = false; continue }
                guard let sn = c.string(so["stage"], JSONChecker.join(ip, "stage"), allowed: Catalog.stageChoices) else {
                    if so["stage"] == nil { c.fail(JSONChecker.join(ip, "stage"), "missing; allowed: \(Catalog.stageChoices)") }
                    ok = false; continue
                }
                guard let spec = Catalog.stage(named: sn) else {
                    c.fail(JSONChecker.join(ip, "stage"), "got \(jsonRender(sn)); allowed: \(Catalog.stageChoices)")
                    ok = false; continue
                }
                var params: [String: ParamValue] = [:]
                for q in spec.params {
                    let qp = JSONChecker.join(ip, q.name)
                    guard let qv = so[q.name] else { continue }
                    switch q.kind {
                    case .number(let r): if let d = c.number(qv, qp, in: r) { params[q.name] = .number(d) } else { ok = false }
                    case .integer(let r): if let i = c.integer(qv, qp, in: r) { params[q.name] = .integer(i) } else { ok = false }
                    case .bool: if let b = c.bool(qv, qp) { params[q.name] = .bool(b) } else { ok = false }
                    }
                }
                stages.append(RecipeStage(name: spec.name, params: params))
            }
            if ok, let (i, why) = Catalog.orderProblem(stages.map(\.name)) { c.fail(JSONChecker.join(JSONChecker.join(sp, i), "stage"), why); ok = false }
        } else if o["stages"] != nil { ok = false }
        if name == "fp32" && !stages.isEmpty {
            c.fail(sp, "the recipe name \"fp32\" is reserved for the unquantized model and takes no stages"); ok = false
        }
        return ok ? CellRecipe(name: name, stages: stages) : nil
    }

    /// Why a combination cannot run, or nil if it can.
    static func contradiction(weights: String?, acts: String?, recipe: CellRecipe) -> String? {
        if recipe.isFP32 { return nil }
        if weights == nil && acts == nil { return "weights and acts are both \"none\": nothing is quantized (use the fp32 recipe)" }
        if weights == nil, let s = recipe.stages.first(where: { $0.spec.needsWeightFormat }) {
            return "stage \"\(s.name)\" optimizes weight rounding but weights are \"none\""
        }
        return nil
    }

    private static func parseCell(_ v: Any, _ p: String, checker c: JSONChecker, defaultSeed: Int, checkFiles: Bool) -> Cell? {
        guard let o = c.object(v, p, keys: cellKeys) else { return nil }
        if o["recipe"] == nil { c.fail(JSONChecker.join(p, "recipe"), "missing; expected a recipe object or name"); return nil }
        guard let recipe = parseRecipe(o["recipe"], JSONChecker.join(p, "recipe"), c) else { return nil }
        var ok = true
        var w: String? = nil, a: String? = nil
        for (key, isW) in [("weights", true), ("acts", false)] {
            let kp = JSONChecker.join(p, key)
            if o[key] == nil {
                if !recipe.isFP32 { c.fail(kp, "missing; allowed: \(Catalog.formatChoices)"); ok = false }
                continue
            }
            guard let f = parseFormat(o[key], kp, c) else { ok = false; continue }
            if recipe.isFP32 && f != nil { c.fail(kp, "got \(jsonRender(o[key])): the fp32 recipe runs unquantized; allowed: \"none\""); ok = false }
            if isW { w = f } else { a = f }
        }
        let block = o["block"] == nil ? 32 : parseBlock(o["block"], JSONChecker.join(p, "block"), c)
        let sr = o["scale_rule"] == nil ? "floor" : parseChoice(o["scale_rule"], JSONChecker.join(p, "scale_rule"), c, Catalog.scaleRules)
        let rd = o["rounding"] == nil ? "even" : parseChoice(o["rounding"], JSONChecker.join(p, "rounding"), c, Catalog.roundings)
        let seed = o["seed"] == nil ? defaultSeed : c.integer(o["seed"], JSONChecker.join(p, "seed"), in: 0...(1 << 53))
        var extras = CellExtras()
        if o["rounding_seed"] != nil {
            guard let rs = c.integer(o["rounding_seed"], JSONChecker.join(p, "rounding_seed"), in: 0...(1 << 53)) else { return nil }
            extras.roundingSeed = rs
        }
        if o["overrides"] != nil {
            guard let ov = parseOverrides(o["overrides"], JSONChecker.join(p, "overrides"), c) else { return nil }
            extras.overrides = ov
        }
        if o["lm_head"] != nil { guard let b = c.bool(o["lm_head"], JSONChecker.join(p, "lm_head")) else { return nil }; extras.lmHead = b }
        if o["packed"] != nil { guard let b = c.bool(o["packed"], JSONChecker.join(p, "packed")) else { return nil }; extras.packed = b }
        if o["calibration"] != nil {
            guard let cs = parseCalibrationSpec(o["calibration"], JSONChecker.join(p, "calibration"), c, checkFiles: checkFiles) else { return nil }
            extras.calibration = cs
        }
        if (o["budget"] == nil) != (o["plan_formats"] == nil) {
            c.fail(p, "a plan cell needs both \"budget\" (average weight bits) and \"plan_formats\" (candidate formats)"); return nil
        }
        if o["budget"] != nil {
            guard let b = c.number(o["budget"], JSONChecker.join(p, "budget"), in: 1...32),
                  let fs = parsePlanFormats(o["plan_formats"], JSONChecker.join(p, "plan_formats"), c) else { return nil }
            extras.budget = b; extras.planFormats = fs
        }
        guard ok, let b = block, let s = sr, let r = rd, let sd = seed else { return nil }
        if let why = contradiction(weights: w, acts: a, recipe: recipe) { c.fail(p, why); return nil }
        if recipe.isFP32 && extras != CellExtras() {
            c.fail(p, "the fp32 recipe runs unquantized: rounding_seed, overrides, lm_head, packed and calibration do not apply"); return nil
        }
        if extras.budget != nil && w != extras.planFormats.first {
            c.fail(JSONChecker.join(p, "weights"), "a plan cell's weights are its first plan format (\"\(extras.planFormats.first ?? "")\"), got \(jsonRender(w ?? "none"))"); return nil
        }
        return Cell(weights: w, acts: a, block: b, scaleRule: s, rounding: r, recipe: recipe, seed: sd, roundingSeed: extras.roundingSeed,
                    overrides: extras.overrides, lmHead: extras.lmHead, packed: extras.packed, calibration: extras.calibration,
                    budget: extras.budget, planFormats: extras.planFormats)
    }

    private static func expandGrid(_ g: [String: Any], checker c: JSONChecker, defaultSeed: Int, checkFiles: Bool, into m: inout Manifest) {
        func list<T>(_ key: String, default d: [T]?, _ parse: (Any, String) -> T?) -> [T]? {
            let p = JSONChecker.join("grid", key)
            guard let v = g[key] else {
                if d == nil { c.fail(p, "missing; expected a non-empty array") }
                return d
            }
            guard let arr = c.array(v, p) else { return nil }
            var out: [T] = []
            var ok = true
            for (i, x) in arr.enumerated() { if let t = parse(x, JSONChecker.join(p, i)) { out.append(t) } else { ok = false } }
            return ok ? out : nil
        }
        let ws = list("weights", default: nil) { parseFormat($0, $1, c) }
        let acts = list("acts", default: nil) { parseFormat($0, $1, c) }
        let blocks = list("blocks", default: [32]) { parseBlock($0, $1, c) }
        let srs = list("scale_rules", default: ["floor"]) { parseChoice($0, $1, c, Catalog.scaleRules) }
        let rds = list("roundings", default: ["even"]) { parseChoice($0, $1, c, Catalog.roundings) }
        let recipes = list("recipes", default: nil) { parseRecipe($0, $1, c) }
        let seeds = list("seeds", default: [defaultSeed]) { c.integer($0, $1, in: 0...(1 << 53)) }
        let calibrations: [CalibrationSpec?]? = g["calibrations"] == nil ? [nil]
            : list("calibrations", default: nil) { parseCalibrationSpec($0, $1, c, checkFiles: checkFiles) }.map { $0.map { Optional($0) } }
        var extras = CellExtras()
        if g["overrides"] != nil, let ov = parseOverrides(g["overrides"], "grid.overrides", c) { extras.overrides = ov }
        if let b = c.bool(g["lm_head"], "grid.lm_head") { extras.lmHead = b }
        if let b = c.bool(g["packed"], "grid.packed") { extras.packed = b }
        let budgets = g["budgets"] == nil ? [] : list("budgets", default: nil) { c.number($0, $1, in: 1...32) } ?? []
        if !budgets.isEmpty {
            if let ws = ws, ws.compactMap({ $0 }).count < 2 {
                c.fail("grid.budgets", "plans choose among the grid's weight formats: grid.weights needs at least two formats other than \"none\"")
            }
            var seenB = Set<Double>()
            for (i, b) in budgets.enumerated() where !seenB.insert(b).inserted { c.fail("grid.budgets[\(i)]", "\(fmtNumber(b)) is listed twice") }
        }
        // duplicates inside a list are errors (they would produce duplicate cells)
        func dupes<T: Hashable>(_ key: String, _ xs: [T]?, _ show: (T) -> String) {
            guard let xs = xs else { return }
            var seen = Set<T>()
            for (i, x) in xs.enumerated() where !seen.insert(x).inserted {
                c.fail("grid.\(key)[\(i)]", "\(show(x)) is listed twice")
            }
        }
        dupes("weights", ws.map { $0.map { $0 ?? "none" } }) { "\"\($0)\"" }
        dupes("acts", acts.map { $0.map { $0 ?? "none" } }) { "\"\($0)\"" }
        dupes("blocks", blocks) { "\($0)" }
        dupes("scale_rules", srs) { "\"\($0)\"" }
        dupes("roundings", rds) { "\"\($0)\"" }
        dupes("seeds", seeds) { "\($0)" }
        dupes("recipes", recipes.map { $0.map(\.name) }) { "recipe name \"\($0)\"" }
        dupes("calibrations", calibrations.map { $0.map { $0?.label ?? "" } }) { "calibration \"\($0)\"" }
        guard c.issues.isEmpty, let ws = ws, let acts = acts, let blocks = blocks, let srs = srs, let rds = rds,
              let recipes = recipes, let seeds = seeds, let calibrations = calibrations else { return }
        // Each list is bounded by the file's size, their product is not: refuse a grid too large to expand.
        var combos = 1
        for n in [ws.count + budgets.count, acts.count, blocks.count, srs.count, rds.count, recipes.count, calibrations.count, seeds.count] {
            let (p, o) = combos.multipliedReportingOverflow(by: n)
            combos = o ? Int.max : p
        }
        if combos > maxGridCombinations {
            c.fail("grid", "the grid has \(combos == Int.max ? "more than 2^63" : String(combos)) combinations; at most \(maxGridCombinations) allowed (split the sweep into several manifests)")
            return
        }
        var seen = Set<String>()
        var skippedCounts: [String: Int] = [:]
        var skippedOrder: [String] = []
        for w in ws { for a in acts { for b in blocks { for s in srs { for r in rds { for rc in recipes { for cal in calibrations { for sd in seeds {
            if rc.isFP32 {
                let cell = Cell(weights: nil, acts: nil, block: b, scaleRule: s, rounding: r, recipe: rc, seed: sd)
                if seen.insert(cell.id).inserted { m.cells.append(cell) }
                continue
            }
            if let why = contradiction(weights: w, acts: a, recipe: rc) {
                let key = "recipe \"\(rc.name)\" with W=\(w ?? "none") A=\(a ?? "none"): \(why)"
                if skippedCounts[key] == nil { skippedOrder.append(key) }
                skippedCounts[key, default: 0] += 1
                continue
            }
            let cell = Cell(weights: w, acts: a, block: b, scaleRule: s, rounding: r, recipe: rc, seed: sd,
                            overrides: extras.overrides, lmHead: extras.lmHead, packed: extras.packed, calibration: cal)
            if seen.insert(cell.id).inserted { m.cells.append(cell) }
        } } } } } } } }
        // plan cells: one per budget, choosing among the grid's weight formats per layer
        let planFormats = ws.compactMap { $0 }
        for bud in budgets { for a in acts { for b in blocks { for s in srs { for r in rds { for rc in recipes where !rc.isFP32 { for cal in calibrations { for sd in seeds {
            if let why = contradiction(weights: planFormats[0], acts: a, recipe: rc) {
                let key = "recipe \"\(rc.name)\" with a plan, A=\(a ?? "none"): \(why)"
                if skippedCounts[key] == nil { skippedOrder.append(key) }
                skippedCounts[key, default: 0] += 1
                continue
            }
            let cell = Cell(weights: planFormats[0], acts: a, block: b, scaleRule: s, rounding: r, recipe: rc, seed: sd,
                            overrides: extras.overrides, lmHead: extras.lmHead, packed: extras.packed, calibration: cal,
                            budget: bud, planFormats: planFormats)
            if seen.insert(cell.id).inserted { m.cells.append(cell) }
        } } } } } } } }
        m.skipped = skippedOrder.map { skippedCounts[$0]! > 1 ? "\($0) (\(skippedCounts[$0]!) cells)" : $0 }
    }

    /// The per-cell settings besides formats, recipe and seed, while parsing.
    struct CellExtras: Equatable {
        var roundingSeed: Int? = nil
        var overrides: [String] = []
        var lmHead = false, packed = false
        var calibration: CalibrationSpec? = nil
        var budget: Double? = nil
        var planFormats: [String] = []
    }

    /// Candidate formats of a plan: at least two distinct MX formats.
    static func parsePlanFormats(_ v: Any?, _ p: String, _ c: JSONChecker) -> [String]? {
        guard let arr = c.array(v, p) else { return nil }
        var out: [String] = []
        for (i, x) in arr.enumerated() {
            guard let f = parseFormat(x, JSONChecker.join(p, i), c) else { return nil }
            guard let name = f else { c.fail(JSONChecker.join(p, i), "\"none\" is not a plan format; allowed: \(Catalog.formats.map { "\"\($0.name)\"" }.joined(separator: ", "))"); return nil }
            if out.contains(name) { c.fail(JSONChecker.join(p, i), "\"\(name)\" is listed twice"); return nil }
            out.append(name)
        }
        if out.count < 2 { c.fail(p, "a plan chooses among at least two formats"); return nil }
        return out
    }

    /// The fully resolved manifest (defaults filled in, grid expanded to `cells`) as
    /// canonical JSON with sorted keys. It is itself a valid manifest that describes the same cells.
    public func resolvedJSON() -> Data {
        var top: [String: Any] = [
            "name": name, "model": model,
            "eval": ["datasets": datasets, "windows": windows.map { $0 as Any } ?? "all", "ctx": ctx],
            "calibration": ["dataset": calibrationDataset, "n": calibrationSamples, "len": calibrationLength],
            "cells": cells.map(\.json),
        ]
        if bos || evalPath != "auto" {
            var ev: [String: Any] = ["datasets": datasets, "windows": windows.map { $0 as Any } ?? "all", "ctx": ctx]
            if bos { ev["bos"] = true }
            if evalPath != "auto" { ev["path"] = evalPath }
            top["eval"] = ev
        }
        if !description.isEmpty { top["description"] = description }
        if let p = preTokenizer { top["pre_tokenizer"] = p }
        if !cache { top["cache"] = false }
        if heldout != "calibration" { top["layers"] = ["heldout": heldout] }
        if planPredictor != "measured" || planProbeTokens != 1024 { top["plan"] = ["predictor": planPredictor, "probe_tokens": planProbeTokens] }
        var d = try! JSONSerialization.data(withJSONObject: top, options: [.prettyPrinted, .sortedKeys])
        d.append(0x0A)
        return d
    }

    /// SHA-256 of `resolvedJSON()`: the manifest identity recorded with every result.
    public var sha256: String { SHA256.hex(of: resolvedJSON()) }
}
