import Foundation
import Support

/// One PTQ stage of a recipe, with every parameter filled in (defaults applied).
public struct RecipeStage: Hashable, Sendable, CustomStringConvertible {
    /// Canonical stage name (`smoothquant`, `awq`, `gptq`).
    public let name: String
    /// Parameter values by name (all of the stage's parameters are present).
    public let params: [String: ParamValue]

    public init(name: String, params: [String: ParamValue] = [:]) {
        let spec = Catalog.stage(named: name)!
        self.name = spec.name
        var p: [String: ParamValue] = [:]
        for q in spec.params { p[q.name] = params[q.name] ?? q.defaultValue }
        self.params = p
    }

    var spec: Catalog.StageSpec { Catalog.stage(named: name)! }

    /// Parameters that identify the stage, in catalog order: all of them except those
    /// marked `omittedAtDefault` whose value is the default.
    var identifyingParams: [Catalog.Param] {
        spec.params.filter { !($0.omittedAtDefault && params[$0.name] == $0.defaultValue) }
    }

    /// `gptq(act_order=false,damp=0.01,block_size=128)`, parameters in catalog order
    /// (AWQ's `search_tokens`/`clip_tokens` only when not at their defaults).
    public var description: String {
        let ps = identifyingParams.map { "\($0.name)=\(params[$0.name]!)" }
        return ps.isEmpty ? name : "\(name)(\(ps.joined(separator: ",")))"
    }

    var json: [String: Any] {
        var o: [String: Any] = ["stage": name]
        for q in identifyingParams { o[q.name] = params[q.name]!.json }
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

/// One point of a sweep: formats, MX settings, recipe and seed. Every dataset of the
/// manifest is evaluated for each cell.
public struct Cell: Hashable, Sendable {
    /// Canonical weight format name, or nil for fp32 weights.
    public let weights: String?
    /// Canonical activation format name, or nil for fp32 activations.
    public let acts: String?
    public let block: Int
    public let scaleRule: String
    public let rounding: String
    public let recipe: CellRecipe
    /// Seed for calibration sampling and stochastic rounding.
    public let seed: Int

    public init(weights: String?, acts: String?, block: Int = 32, scaleRule: String = "floor",
                rounding: String = "even", recipe: CellRecipe, seed: Int = 0) {
        self.weights = weights; self.acts = acts; self.block = block
        self.scaleRule = scaleRule; self.rounding = rounding; self.recipe = recipe; self.seed = seed
    }

    /// A readable, unique (within a manifest) identifier, e.g.
    /// `sq+gptq_Wmxint4_Amxint8_b32_floor_even_s0`; the fp32 cell is `fp32`.
    public var id: String {
        if recipe.isFP32 { return "fp32" }
        return "\(recipe.name)_W\(weights ?? "none")_A\(acts ?? "none")_b\(block)_\(scaleRule)_\(rounding)_s\(seed)"
    }

    /// Weight storage bits per element including scales (32 when weights stay fp32).
    public var weightBitsPerElement: Double { Catalog.storageBits(format: weights, block: block) }

    var json: [String: Any] {
        ["weights": weights ?? "none", "acts": acts ?? "none", "block": block, "scale_rule": scaleRule,
         "rounding": rounding, "recipe": recipe.json, "seed": seed]
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
    /// Calibration source: `ptb-train` or a path to a UTF-8 text file.
    public var calibrationDataset: String
    public var calibrationSamples: Int
    public var calibrationLength: Int
    /// Cells in run order (deterministic: grid order, fp32 first occurrence kept).
    public var cells: [Cell]
    /// Grid combinations that were dropped and why (shown by `--dry-run`).
    public var skipped: [String]

    /// Most combinations a grid may expand to (weights × acts × blocks × scale rules ×
    /// roundings × recipes × seeds).
    public static let maxGridCombinations = 100_000

    static let topKeys = ["name", "description", "model", "eval", "calibration", "grid", "cells"]
    static let evalKeys = ["datasets", "windows", "ctx"]
    static let calibKeys = ["dataset", "n", "len", "seed"]
    static let gridKeys = ["weights", "acts", "blocks", "scale_rules", "roundings", "recipes", "seeds"]
    static let cellKeys = ["weights", "acts", "block", "scale_rule", "rounding", "recipe", "seed"]
    static let recipeKeys = ["name", "stages"]

    /// Reads and validates a manifest file. The name defaults to the file's base name.
    public static func load(path: String) throws -> Manifest {
        let url = URL(fileURLWithPath: path)
        // A regular file of at most 16 MiB (a path such as /dev/zero must not be read forever).
        let data = try readRegularFile(url.path, maxBytes: 16 << 20, what: "manifest")
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
            if n.isEmpty || n.contains(where: { !($0.isLetter || $0.isNumber || "-_.".contains($0)) }) {
                c.fail("name", "got \(jsonRender(n)); allowed: letters, digits, '-', '_', '.' (it names the results folder)")
            } else { m.name = n }
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
                    if !Catalog.datasets.contains(s.lowercased()) {
                        c.fail(p, "got \(jsonRender(s)); allowed: \(Catalog.datasets.map { "\"\($0)\"" }.joined(separator: ", "))")
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
        }

        // calibration
        var calibSeed: Int? = nil
        if let ca = c.object(top["calibration"], "calibration", keys: calibKeys) {
            if let d = c.string(ca["dataset"], "calibration.dataset") {
                if Catalog.calibrationDatasets.contains(d.lowercased()) { m.calibrationDataset = d.lowercased() }
                else if ["wikitext2", "ptb", "ptb-test", "ptb-valid"].contains(d.lowercased()) {
                    c.fail("calibration.dataset", "got \(jsonRender(d)): calibrating on an evaluation split is not allowed; allowed: \"ptb-train\" or a path to a UTF-8 text file")
                } else if checkFiles && !FileManager.default.fileExists(atPath: resolvePath(d).path) {
                    c.fail("calibration.dataset", "got \(jsonRender(d)): no such file; allowed: \"ptb-train\" or a path to a UTF-8 text file (relative paths are taken from the checkout root)")
                } else { m.calibrationDataset = d }
            }
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
            expandGrid(g, checker: c, defaultSeed: calibSeed ?? 0, into: &m)
        }
        if hasCells, let cs = c.array(top["cells"], "cells") {
            var seen: [String: Int] = [:]
            for (i, v) in cs.enumerated() {
                let p = JSONChecker.join("cells", i)
                guard let cell = parseCell(v, p, checker: c, defaultSeed: calibSeed ?? 0) else { continue }
                if let j = seen[cell.id] {
                    c.fail(p, "same cell id \"\(cell.id)\" as cells[\(j)] (duplicate cell, or two recipes sharing a name)")
                    continue
                }
                seen[cell.id] = i
                m.cells.append(cell)
            }
        }
        if !c.issues.isEmpty { throw ManifestError(file: file, issues: c.issues) }
        if m.cells.isEmpty { throw ManifestError(file: file, issues: [ManifestIssue(path: hasGrid ? "grid" : "cells", message: "no cells to run (every grid combination was skipped: \(m.skipped.joined(separator: "; ")))")]) }
        return m
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

    private static func parseCell(_ v: Any, _ p: String, checker c: JSONChecker, defaultSeed: Int) -> Cell? {
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
        guard ok, let b = block, let s = sr, let r = rd, let sd = seed else { return nil }
        if let why = contradiction(weights: w, acts: a, recipe: recipe) { c.fail(p, why); return nil }
        return Cell(weights: w, acts: a, block: b, scaleRule: s, rounding: r, recipe: recipe, seed: sd)
    }

    private static func expandGrid(_ g: [String: Any], checker c: JSONChecker, defaultSeed: Int, into m: inout Manifest) {
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
        guard c.issues.isEmpty, let ws = ws, let acts = acts, let blocks = blocks, let srs = srs, let rds = rds,
              let recipes = recipes, let seeds = seeds else { return }
        // Each list is bounded by the file's size, their product is not: refuse a grid too large to expand.
        var combos = 1
        for n in [ws.count, acts.count, blocks.count, srs.count, rds.count, recipes.count, seeds.count] {
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
        for w in ws { for a in acts { for b in blocks { for s in srs { for r in rds { for rc in recipes { for sd in seeds {
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
            let cell = Cell(weights: w, acts: a, block: b, scaleRule: s, rounding: r, recipe: rc, seed: sd)
            if seen.insert(cell.id).inserted { m.cells.append(cell) }
        } } } } } } }
        m.skipped = skippedOrder.map { skippedCounts[$0]! > 1 ? "\($0) (\(skippedCounts[$0]!) cells)" : $0 }
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
        if !description.isEmpty { top["description"] = description }
        var d = try! JSONSerialization.data(withJSONObject: top, options: [.prettyPrinted, .sortedKeys])
        d.append(0x0A)
        return d
    }

    /// SHA-256 of `resolvedJSON()`: the manifest identity recorded with every result.
    public var sha256: String { SHA256.hex(of: resolvedJSON()) }
}
